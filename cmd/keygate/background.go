package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/app"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/webhook"
	"github.com/keygate/keygate/web"
)

// background is what serve runs besides the listeners: the PostgreSQL
// listener and the sweeps (the jobs), and the usage flush.
type background struct {
	cancelJobs context.CancelFunc
	jobs       sync.WaitGroup
	jobsCtx    context.Context

	stopUsage context.CancelFunc
	usageDone chan struct{}
	stopOnce  sync.Once
}

// newBackground returns a background whose jobs end with ctx or stop.
func newBackground(ctx context.Context) *background {
	b := &background{usageDone: make(chan struct{})}
	b.jobsCtx, b.cancelJobs = context.WithCancel(ctx)
	b.stopUsage = func() { close(b.usageDone) } // until runUsage
	return b
}

// startBackground starts the listener (on PostgreSQL), the sweeps and the
// usage flush of a.
func startBackground(ctx context.Context, c *Config, db *sqlstore.DB, a *app.App, logger *slog.Logger) *background {
	b := newBackground(ctx)
	// On PostgreSQL other replicas change keys too: the listener hears of
	// it, and until it listens the cache reads through.
	if l := a.Listener; l != nil {
		b.goJob(l.Run)
	}
	b.goJob(func(ctx context.Context) {
		runJob(ctx, db, "sweep sessions", 10*time.Minute, logger, sweepSessions(a.Sessions, a.Idempotency, a.RateLimits, logger))
	})
	b.goJob(func(ctx context.Context) {
		runJob(ctx, db, "sweep request log", 5*time.Minute, logger, sweepRequestLog(a.UsageStore, c.RequestLogRetention))
	})
	// The key policy's unused keys: warned of, then revoked.
	b.goJob(func(ctx context.Context) {
		runJob(ctx, db, "key policy", time.Hour, logger, web.KeyPolicyJob(a.KeyPolicies, a.Services.Mailer, c.BaseURL, logger))
	})
	// Reminders of keys' expiry: key.expiring and key.expired, the bell
	// and emails.
	b.goJob(func(ctx context.Context) {
		runJob(ctx, db, "key reminders", time.Hour, logger, web.KeyReminderJob(a.Notifications, a.Services.Mailer, c.BaseURL, logger))
	})
	// Webhook deliveries: every replica sends, each delivery claimed by
	// one of them.
	if a.Webhooks != nil {
		var mail webhook.Mailer
		if a.Services.Mailer != nil {
			mail = a.Services.Mailer
		}
		w := webhook.New(a.Webhooks, outbound.Policy{AllowPrivate: c.AllowPrivateDestinations}, mail, logger)
		// On SQLite this is the only process that sends: what a crash
		// left claimed is sent again at once.
		w.Shared = db.Engine() == sqlstore.EnginePostgres
		b.goJob(w.Run)
		b.goJob(func(ctx context.Context) {
			runJob(ctx, db, "sweep webhooks", time.Hour, logger, sweepWebhooks(a.Webhooks))
		})
	}
	// Usage is flushed once a second, and once more at stop.
	b.runUsage(func(ctx context.Context) {
		a.Usage.Run(ctx, time.Second, flushErrorLog(logger, time.Now))
	})
	return b
}

// flushErrorLog logs a failed usage flush. A full disk fails every flush
// alike until space is freed: it is logged once a minute, with how many
// flushes failed since, as the requests it refuses are.
func flushErrorLog(logger *slog.Logger, now func() time.Time) func(error) {
	var last time.Time
	var failed int
	return func(err error) {
		if !sqlstore.StorageFull(err) {
			logger.Error("flush usage", "error", err.Error())
			return
		}
		failed++
		if t := now(); last.IsZero() || t.Sub(last) >= time.Minute {
			logger.Error("flush usage: storage is full, usage is being dropped", "failed_flushes", failed, "error", err.Error())
			last, failed = t, 0
		}
	}
}

// goJob runs fn until the background stops.
func (b *background) goJob(fn func(context.Context)) {
	b.jobs.Add(1)
	go func() {
		defer b.jobs.Done()
		fn(b.jobsCtx)
	}()
}

// runUsage runs flush, which must flush a last time when its context
// ends. Its context is not the jobs': the last flush comes after the
// listeners have drained, whatever ended serve.
func (b *background) runUsage(flush func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	b.stopUsage = cancel
	go func() {
		defer close(b.usageDone)
		flush(ctx)
	}()
}

// stop ends the jobs and waits for them, then the usage flush and waits
// for its last flush. Call it after the listeners have drained, so that
// their last requests' usage is written, and before the database closes:
// a sweep cut off mid-run must not find it closed. It may be called more
// than once.
func (b *background) stop() {
	b.stopOnce.Do(func() {
		b.cancelJobs()
		b.jobs.Wait()
		b.stopUsage()
		<-b.usageDone
	})
}

// sweepSessions is the job that deletes ended sessions, the API answers
// kept for retries past keygate.IdempotencyTTL, and what replicas left of
// their rate limits, login throttles and Idempotency-Key claims once it no
// longer counts.
func sweepSessions(sessions *sqlstore.SessionService, idempotency *sqlstore.IdempotencyService, limits *sqlstore.RateLimitStore, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		n, err := sessions.DeleteExpiredSessions(ctx)
		if err != nil {
			return err
		} else if n > 0 {
			logger.Debug("swept sessions", "count", n)
		}
		now := time.Now()
		if _, err := idempotency.DeleteIdempotentResponsesBefore(ctx, now.Add(-keygate.IdempotencyTTL)); err != nil {
			return err
		}
		if _, err := idempotency.DeleteLapsedIdempotencyClaims(ctx, now); err != nil {
			return err
		}
		if _, err := limits.DeleteFullBuckets(ctx, now); err != nil {
			return err
		}
		_, err = limits.DeleteExpiredThrottles(ctx, now)
		return err
	}
}

// sweepRequestLog is the job that deletes the request log past the
// retention, in small batches so the writer is never held for long.
func sweepRequestLog(store *sqlstore.UsageStore, retention time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			n, err := store.DeleteRequestLogBefore(ctx, time.Now().Add(-retention), 1000)
			if err != nil || n < 1000 {
				return err
			}
		}
	}
}

// sweepWebhooks is the job that deletes, in small batches, the webhook
// deliveries and events past keygate.WebhookHistoryRetention that nothing
// waits for.
func sweepWebhooks(store *sqlstore.WebhookService) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			n, err := store.DeleteWebhookHistoryBefore(ctx, time.Now().Add(-keygate.WebhookHistoryRetention), 1000)
			if err != nil || n == 0 {
				return err
			}
		}
	}
}
