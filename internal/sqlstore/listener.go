package sqlstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// keysChannel is the PostgreSQL channel of changes to what API keys may
// do; heardChannel the one on which each Listener says it heard one from
// another replica and dropped its cache.
const (
	keysChannel  = "keygate_keys"
	heardChannel = "keygate_keys_heard"
)

// ListenerApplicationName is the application_name of a Listener's
// connection, by which pg_stat_activity shows it.
const ListenerApplicationName = "keygate-listener"

// KeyCache is what a Listener keeps in step with the database: the API
// key verifier's cache (apikey.Verifier).
type KeyCache interface {
	// Invalidate drops everything the cache holds.
	Invalidate()
	// SetTrusted says whether the cache hears of every change: untrusted,
	// it reads the database on every lookup; trusted again, it starts
	// over.
	SetTrusted(bool)
}

// Listener is the Bus of PostgreSQL, for replicas that share a database.
// A change is announced with pg_notify inside the transaction that makes
// it, so PostgreSQL delivers it when, and only if, the transaction
// commits. Each replica's Listener holds one connection of its own (not
// the pool's) that LISTENs, and drops its cache at every notification.
//
// The replica that made the change answers its client only once every
// Listener on the database has dropped its cache: each says so on
// heardChannel, and the change's transaction counted the Listeners
// (pg_stat_activity) before it committed. So a client that revokes a key
// on one replica and calls another next is refused there. A Listener that
// does not answer within EchoWait (one that lost its connection without a
// word) is not waited for longer.
//
// A notification sent while a Listener is not listening is lost, so the
// cache is untrusted from the moment the connection fails until it
// listens again, and then starts over. A connection that dies without a
// word (a network that drops packets) is found by a ping every
// PingInterval that must answer within PingTimeout: until then the cache
// trusts what it holds, which bounds how long a change can go unheard at
// PingInterval + PingTimeout (and never past the cache's max age).
type Listener struct {
	dsn    string
	cache  KeyCache
	logger *slog.Logger
	// id tells this process's notifications from the others'.
	id string

	// PingInterval is how long the connection may be silent before a
	// ping; PingTimeout how long the ping may take. 5 s and 2 s.
	PingInterval, PingTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts to
	// connect again, which doubles from one to the other: 100 ms, 30 s.
	MinBackoff, MaxBackoff time.Duration
	// EchoWait bounds how long a committed change waits for every
	// Listener to have heard it: 1 s.
	EchoWait time.Duration

	seq                       atomic.Uint64
	connected                 atomic.Bool
	reconnects, notifications atomic.Uint64

	mu sync.Mutex
	// heard counts, for each of this process's notifications not yet
	// waited for, the Listeners that heard it (this one included): a map,
	// since transactions commit (and are heard) in another order than they
	// published.
	heard map[uint64]int
	wake  chan struct{} // closed at each count
}

// maxHeard bounds heard, which keeps the counts whose waiter gave up: past
// it, it starts over (and a waiter may wait EchoWait for nothing).
const maxHeard = 4096

// NewListener returns a Listener for the database at dsn that keeps cache
// in step; cache is untrusted until Run has connected. Set it as the DB's
// Bus, and run it.
func NewListener(dsn string, cache KeyCache, logger *slog.Logger) *Listener {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cache.SetTrusted(false)
	return &Listener{
		dsn: dsn, cache: cache, logger: logger, id: strings.ToLower(rand.Text()[:12]),
		PingInterval: 5 * time.Second, PingTimeout: 2 * time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, EchoWait: time.Second,
		heard: map[uint64]int{}, wake: make(chan struct{}),
	}
}

// Publish queues a notification of the change in tx and counts the
// Listeners on the database. Once tx has committed, the commit waits (up
// to EchoWait) until that many Listeners have heard it, and so dropped
// their caches: the replica a client calls next has heard of the change.
// Key changes are rare; the count costs one read of pg_stat_activity each.
func (l *Listener) Publish(ctx context.Context, tx *Tx, change string) error {
	seq := l.seq.Add(1)
	payload := l.id + " " + strconv.FormatUint(seq, 10) + " " + change
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, keysChannel, payload); err != nil {
		return err
	}
	var listeners int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, ListenerApplicationName).Scan(&listeners); err != nil {
		return err
	}
	tx.afterCommit = append(tx.afterCommit, func() { l.awaitHeard(seq, listeners) })
	return nil
}

// Connected reports whether the Listener is listening.
func (l *Listener) Connected() bool { return l.connected.Load() }

// Reconnects returns how many times the Listener listened again after
// losing its connection.
func (l *Listener) Reconnects() uint64 { return l.reconnects.Load() }

// Notifications returns how many notifications the Listener heard.
func (l *Listener) Notifications() uint64 { return l.notifications.Load() }

// Run listens until ctx ends, connecting again after every failure.
func (l *Listener) Run(ctx context.Context) {
	backoff := l.MinBackoff
	for attempt := 0; ; attempt++ {
		listened, err := l.listen(ctx, attempt > 0)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = l.MinBackoff
		}
		// Jitter keeps replicas that lost the database together from
		// coming back in step.
		wait := backoff/2 + mrand.N(backoff/2+1)
		l.logger.Warn("database listener: not listening; API keys are read from the database until it is back",
			"error", redactedDSNError(l.dsn, err), "retry_in", wait.Round(time.Millisecond).String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, l.MaxBackoff)
	}
}

// listen connects, listens, starts the cache over and waits for
// notifications until the connection fails. listened reports whether it
// got as far as listening.
func (l *Listener) listen(ctx context.Context, again bool) (listened bool, err error) {
	conn, err := l.connect(ctx)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	for _, channel := range []string{keysChannel, heardChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
			return false, fmt.Errorf("listen: %w", err)
		}
	}
	// Listening first, then starting over: a change that commits in
	// between is both heard and read.
	l.cache.SetTrusted(true)
	l.connected.Store(true)
	defer func() {
		l.cache.SetTrusted(false)
		l.connected.Store(false)
	}()
	if again {
		l.reconnects.Add(1)
	}
	l.logger.Info("database listener: listening", "reconnects", l.reconnects.Load())
	for {
		wctx, cancel := context.WithTimeout(ctx, l.PingInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			if err := l.heardNotification(ctx, conn, n); err != nil {
				return true, err
			}
			continue
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, l.PingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("ping: %w", err)
		}
	}
}

// connect opens the Listener's own connection, named so that
// pg_stat_activity shows it, with TCP keepalives as often as the pings.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(l.dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	dialer := &net.Dialer{KeepAlive: l.PingInterval}
	cfg.DialFunc = dialer.DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

// heardNotification drops the cache at a change, whoever made it, and
// tells the replica that made it; or counts another Listener's word that
// it heard one of this process's changes.
func (l *Listener) heardNotification(ctx context.Context, conn *pgx.Conn, n *pgconn.Notification) error {
	origin, rest, _ := strings.Cut(n.Payload, " ")
	num, _, _ := strings.Cut(rest, " ")
	if n.Channel == heardChannel {
		if origin == l.id {
			l.countHeard(num)
		}
		return nil
	}
	l.notifications.Add(1)
	l.cache.Invalidate()
	if origin == l.id {
		l.countHeard(num)
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, l.PingTimeout)
	defer cancel()
	if _, err := conn.Exec(actx, `SELECT pg_notify($1, $2)`, heardChannel, origin+" "+num); err != nil {
		return fmt.Errorf("say a change was heard: %w", err)
	}
	return nil
}

// countHeard counts one more Listener that heard this process's
// notification num.
func (l *Listener) countHeard(num string) {
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heard) >= maxHeard {
		clear(l.heard)
	}
	l.heard[seq]++
	close(l.wake)
	l.wake = make(chan struct{})
}

// awaitHeard waits until listeners Listeners (this one included) have
// heard this process's notification seq, EchoWait at most; not at all
// while this Listener is not listening.
func (l *Listener) awaitHeard(seq uint64, listeners int) {
	if !l.connected.Load() {
		return
	}
	timer := time.NewTimer(l.EchoWait)
	defer timer.Stop()
	defer func() {
		l.mu.Lock()
		delete(l.heard, seq)
		l.mu.Unlock()
	}()
	for {
		l.mu.Lock()
		heard, wake := l.heard[seq], l.wake
		l.mu.Unlock()
		if heard >= max(listeners, 1) {
			return
		}
		select {
		case <-wake:
		case <-timer.C:
			return
		}
	}
}
