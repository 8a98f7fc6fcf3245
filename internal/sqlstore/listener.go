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

// keysChannel is the PostgreSQL channel of changes to what API keys may do.
const keysChannel = "keygate_keys"

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
	// EchoWait bounds how long a committed change waits to hear its own
	// notification back, after which every replica has been sent it: 1 s.
	EchoWait time.Duration

	seq                       atomic.Uint64
	connected                 atomic.Bool
	reconnects, notifications atomic.Uint64

	mu sync.Mutex
	// heard holds this process's notifications heard and not yet waited
	// for: a set, since transactions commit (and are heard) in another
	// order than they published.
	heard map[uint64]bool
	wake  chan struct{} // closed at each of them
}

// maxHeard bounds heard, which keeps the notifications whose waiter gave
// up: past it, it starts over (and a waiter may wait EchoWait for nothing).
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
		heard: map[uint64]bool{}, wake: make(chan struct{}),
	}
}

// Publish queues a notification of the change in tx. Once tx has
// committed, the commit waits (up to EchoWait) for this Listener to hear
// it: PostgreSQL then has sent it to every replica, so one that a client
// calls next has all but surely heard of the change.
func (l *Listener) Publish(ctx context.Context, tx *Tx, change string) error {
	seq := l.seq.Add(1)
	payload := l.id + " " + strconv.FormatUint(seq, 10) + " " + change
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, keysChannel, payload); err != nil {
		return err
	}
	tx.afterCommit = append(tx.afterCommit, func() { l.awaitEcho(seq) })
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
	if _, err := conn.Exec(ctx, "LISTEN "+keysChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
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
			l.heardNotification(n.Payload)
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

// heardNotification drops the cache, whoever made the change.
func (l *Listener) heardNotification(payload string) {
	l.notifications.Add(1)
	l.cache.Invalidate()
	id, rest, _ := strings.Cut(payload, " ")
	if id != l.id {
		return
	}
	num, _, _ := strings.Cut(rest, " ")
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heard) >= maxHeard {
		clear(l.heard)
	}
	l.heard[seq] = true
	close(l.wake)
	l.wake = make(chan struct{})
}

// awaitEcho waits until this process's notification seq is heard back,
// EchoWait at most; not at all while the Listener is not listening.
func (l *Listener) awaitEcho(seq uint64) {
	if !l.connected.Load() {
		return
	}
	timer := time.NewTimer(l.EchoWait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		heard, wake := l.heard[seq], l.wake
		delete(l.heard, seq)
		l.mu.Unlock()
		if heard {
			return
		}
		select {
		case <-wake:
		case <-timer.C:
			return
		}
	}
}
