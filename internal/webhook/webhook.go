// Package webhook delivers organizations' webhook events: it claims the
// deliveries the store's outbox holds when they are due, posts each
// event signed the Standard Webhooks way, and records the outcome, which
// schedules the retries. Every request goes through the outbound guard.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/internal/sqlstore"
)

// Store is what the worker needs of the database; *sqlstore.WebhookService
// is one.
type Store interface {
	ClaimDueDeliveries(ctx context.Context, now time.Time, limit, perEndpoint int, lease time.Duration) ([]*sqlstore.DueDelivery, error)
	ReleaseClaims(ctx context.Context, now time.Time) (int, error)
	UnblockDeliveries(ctx context.Context) (int, error)
	RecordDeliveryAttempt(ctx context.Context, d *sqlstore.DueDelivery, res sqlstore.DeliveryResult, now time.Time) (*sqlstore.DisabledEndpoint, error)
}

// Mailer sends email; *mailer.Mailer is one.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Defaults of a Worker.
const (
	// DefaultConcurrency bounds how many endpoints are sent to at once.
	DefaultConcurrency = 4
	// batch is how many deliveries a tick claims; perEndpoint how many of
	// one endpoint, sent one after another, so that they end within lease
	// even if each takes the whole timeout.
	batch       = 100
	perEndpoint = 10
	lease       = 5 * time.Minute
	// responseExcerpt is how much of a response body is kept.
	responseExcerpt = 2048
)

// UserAgent is the User-Agent of every delivery.
const UserAgent = "Keygate-Webhooks"

// Worker sends due deliveries. Run it in a goroutine of its own: it never
// holds up a request.
type Worker struct {
	store  Store
	client *http.Client
	mailer Mailer
	logger *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
	// Concurrency bounds how many endpoints are sent to at once.
	Concurrency int
	// Poll is how often Run looks for due deliveries.
	Poll time.Duration
	// Shared says that other processes send from the same database
	// (replicas on PostgreSQL). A worker that is not shared starts by
	// sending again what a crash left claimed and never recorded; shared
	// ones leave that to the lease, and unblock every minute the
	// deliveries that two replicas' writes at once left blocked.
	Shared bool
}

// unblockEvery is how often a shared worker unblocks deliveries.
const unblockEvery = time.Minute

// New returns a Worker over store whose requests policy guards. mailer
// (nil for none) tells Owners of a disabled endpoint; logger may be nil.
func New(store Store, policy outbound.Policy, mailer Mailer, logger *slog.Logger) *Worker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{store: store, client: policy.Client(keygate.WebhookTimeout), mailer: mailer, logger: logger,
		Now: time.Now, Concurrency: DefaultConcurrency, Poll: time.Second}
}

// Run sends due deliveries until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	if !w.Shared {
		if n, err := w.store.ReleaseClaims(ctx, w.Now()); err != nil {
			w.logger.Warn("webhooks: release claims", "error", err.Error())
		} else if n > 0 {
			w.logger.Info("webhooks: sending again what was in flight when the server stopped", "deliveries", n)
		}
	}
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	var unblocked time.Time
	for {
		if w.Shared && time.Since(unblocked) >= unblockEvery {
			if _, err := w.store.UnblockDeliveries(ctx); err != nil && ctx.Err() == nil {
				w.logger.Warn("webhooks: unblock deliveries", "error", err.Error())
			}
			unblocked = time.Now()
		}
		n, err := w.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			w.logger.Warn("webhooks", "error", err.Error())
		}
		// A tick that sent something may have made the next delivery of
		// a key due (they go one at a time, in order): look again at
		// once rather than a poll later.
		if n > 0 && err == nil && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick claims the deliveries due now, sends them (endpoints concurrently,
// each endpoint's one after another, oldest first) and records each
// outcome. It returns how many it claimed.
func (w *Worker) Tick(ctx context.Context) (int, error) {
	due, err := w.store.ClaimDueDeliveries(ctx, w.Now(), batch, perEndpoint, lease)
	if err != nil && len(due) == 0 {
		return 0, err
	}
	var order []int64
	byEndpoint := map[int64][]*sqlstore.DueDelivery{}
	for _, d := range due {
		if _, ok := byEndpoint[d.EndpointID]; !ok {
			order = append(order, d.EndpointID)
		}
		byEndpoint[d.EndpointID] = append(byEndpoint[d.EndpointID], d)
	}
	sem := make(chan struct{}, max(w.Concurrency, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr = err
	for _, ep := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func(list []*sqlstore.DueDelivery) {
			defer func() { <-sem; wg.Done() }()
			for _, d := range list {
				if err := w.deliver(ctx, d); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
				}
			}
		}(byEndpoint[ep])
	}
	wg.Wait()
	return len(due), firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// deliver makes one attempt of d and records it.
func (w *Worker) deliver(ctx context.Context, d *sqlstore.DueDelivery) error {
	res := w.send(ctx, d)
	if !res.OK {
		w.logger.Debug("webhook delivery failed", "event", d.EventID, "attempt", d.Attempts+1, "status", res.ResponseCode, "error", res.Error)
	}
	// Recorded even if ctx ended meanwhile: the attempt was made.
	disabled, err := w.store.RecordDeliveryAttempt(context.WithoutCancel(ctx), d, res, w.Now())
	if err != nil {
		return err
	}
	if disabled != nil {
		w.notify(ctx, disabled)
	}
	return nil
}

// notify emails the Owners of a disabled endpoint, when email is set up.
func (w *Worker) notify(ctx context.Context, e *sqlstore.DisabledEndpoint) {
	w.logger.Warn("webhook endpoint disabled after three days of failures", "endpoint", e.PublicID, "organization", e.OrgPublicID)
	if w.mailer == nil {
		return
	}
	subject, body := e.OwnerNotice()
	for _, to := range e.OwnerEmails {
		if err := w.mailer.Send(ctx, to, subject, body); err != nil {
			w.logger.Warn("webhook endpoint disabled: email to an Owner failed", "endpoint", e.PublicID, "error", err.Error())
		}
	}
}

// send posts d's payload, signed, and reports the outcome.
func (w *Worker) send(ctx context.Context, d *sqlstore.DueDelivery) sqlstore.DeliveryResult {
	ctx, cancel := context.WithTimeout(ctx, keygate.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, strings.NewReader(string(d.Payload)))
	if err != nil {
		return sqlstore.DeliveryResult{Error: "invalid URL: " + err.Error()}
	}
	ts := w.Now().Unix()
	req.Header.Set("webhook-id", d.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Signature(d.Secrets, d.EventID, ts, d.Payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	start := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		res := sqlstore.DeliveryResult{Duration: time.Since(start), Error: err.Error()}
		if msg := outbound.Message(err); msg != "" {
			res.Error = msg
		} else if errors.Is(err, context.DeadlineExceeded) {
			res.Error = "no response within 10 seconds"
		}
		return res
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, responseExcerpt))
	// The rest is read (a little of it) so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return sqlstore.DeliveryResult{
		OK: resp.StatusCode >= 200 && resp.StatusCode < 300, ResponseCode: resp.StatusCode,
		Duration: time.Since(start), ResponseBody: excerpt(body),
	}
}

// excerpt makes a response body fit to store as text: valid UTF-8, no NUL.
func excerpt(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// Signature returns the webhook-signature header of a message: "v1," and
// the base64 HMAC-SHA256 of "id.timestamp.body" under each secret's key
// (the base64 after "whsec_"), space-separated.
func Signature(secrets []string, id string, timestamp int64, body []byte) string {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			continue
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}
