package loadtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/app"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
	"github.com/keygate/keygate/web"
)

// neverThrottle is a default rate limit no benchmark can reach.
var neverThrottle = ratelimit.Limit{Count: 1_000_000_000, Period: time.Hour}

// stack is Keygate's real HTTPS handler on real services over a fresh
// database, wired by internal/app as cmd/keygate's serve wires them, with
// one organization that owns every key and the bots. On PostgreSQL a stack is one replica,
// and replicas share one database (replicas lists them all, on the first).
type stack struct {
	engine   sqlstore.Engine
	path     string // the SQLite file, or the redacted PostgreSQL URL
	db       *sqlstore.DB
	verifier *apikey.Verifier
	usage    *usage.Buffer
	services web.Services // what the server was given
	server   *tlsServer
	commits  *atomic.Uint64 // SQLite only
	replicas []*stack       // the stacks on this database, this one first
	dbCPU    *pgCPU         // PostgreSQL only; nil where its CPU cannot be read
	cancel   context.CancelFunc

	keys     []string // secrets; keys[0] is the benchmark's own key
	bots     []string // the bots' public ids
	flush    time.Duration
	stop     chan struct{}
	done     chan struct{}
	flushErr atomic.Pointer[error] // the first failed flush's
	closed   bool
}

// openStack creates the SQLite database under dir, seeds it with nKeys
// keys and nBots bots, and starts the server.
func openStack(ctx context.Context, dir string, nKeys, nBots int, flush time.Duration, tlsCfg *tls.Config) (*stack, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	s := &stack{engine: sqlstore.EngineSQLite, path: filepath.Join(dir, "keygate.db"), flush: flush}
	s.commits = countCommits(s.path)
	s.db = sqlstore.NewDB(s.path)
	return s.start(ctx, nKeys, nBots, tlsCfg, nil)
}

// openPostgresStacks migrates the empty PostgreSQL database at dsn, seeds
// it with nKeys keys and nBots bots, and starts n replicas on it, each
// with its own pool, key cache, listener and usage buffer.
func openPostgresStacks(ctx context.Context, dsn string, n, nKeys, nBots int, flush time.Duration, tlsCfg *tls.Config) ([]*stack, error) {
	var out []*stack
	for i := range n {
		s := &stack{engine: sqlstore.EnginePostgres, path: sqlstore.RedactDSN(dsn), flush: flush}
		s.db = sqlstore.NewPostgresDB(dsn)
		var first *stack
		if i > 0 {
			first = out[0]
		}
		if _, err := s.start(ctx, nKeys, nBots, tlsCfg, first); err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, s)
	}
	out[0].replicas = out
	return out, nil
}

// start opens and migrates the database, seeds it unless first (an
// earlier replica on the same database) did, and starts the server.
func (s *stack) start(ctx context.Context, nKeys, nBots int, tlsCfg *tls.Config, first *stack) (_ *stack, err error) {
	if err := s.db.OpenAndMigrate(ctx); err != nil {
		if s.commits != nil {
			forgetCommits(s.path)
		}
		return nil, err
	}
	s.replicas = []*stack{s}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	// Cheap password hashing: only the seeding signs up, and the API
	// never hashes passwords. The seeded organization holds nKeys active
	// keys, which may be more than the default cap (the bulk insert does
	// not check it).
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		return nil, err
	}
	a := app.New(s.db, app.Options{
		Hasher:    password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0),
		SecretBox: box, SignupMode: keygate.SignupOpen, MaxKeysPerOrg: max(nKeys, keygate.DefaultMaxKeysPerOrg),
	})
	s.verifier, s.usage, s.services = a.Verifier, a.Usage, a.Services
	if a.Listener != nil {
		// As serve runs a replica: the listener keeps the key cache in
		// step with the others.
		var lctx context.Context
		lctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
		go a.Listener.Run(lctx)
		if err := waitListening(ctx, a.Listener); err != nil {
			return nil, err
		}
	}
	if s.engine == sqlstore.EnginePostgres {
		if s.dbCPU, err = newPGCPU(ctx, s.db); err != nil {
			return nil, err
		}
	}

	if first == nil {
		if err := s.mustBeEmpty(ctx); err != nil {
			return nil, err
		}
		if err := s.seed(ctx, a.Users, a.Keys, a.Bots, nKeys, nBots); err != nil {
			return nil, err
		}
	} else {
		s.keys, s.bots = first.keys, first.bots
	}

	// Production logs one line per request at Info; formatting it is part
	// of the cost, writing it to a terminal is not.
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := web.NewServer(web.Config{SessionKey: []byte("loadtest-session-key-loadtest-session-key-loadtest-session-key!!"),
		SignupMode: keygate.SignupOpen, RateLimit: neverThrottle,
	}, s.services, logger)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	if s.server, err = startTLS(srv.Handler(), tlsCfg); err != nil {
		return nil, err
	}
	return s, nil
}

// mustBeEmpty refuses a database that has users: the benchmark seeds and
// loads its own, and must not write into anybody's data.
func (s *stack) mustBeEmpty(ctx context.Context) error {
	var n int
	if err := s.db.ReadConn().QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("the database %s has %d users: the benchmark needs an empty database of its own (CREATE DATABASE)", s.path, n)
	}
	return nil
}

// waitListening waits until the listener listens: until then the key
// cache reads through, which is not the steady state being measured.
func waitListening(ctx context.Context, l *sqlstore.Listener) error {
	deadline := time.Now().Add(10 * time.Second)
	for !l.Connected() {
		if time.Now().After(deadline) {
			return fmt.Errorf("the PostgreSQL listener did not connect in 10s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// seed creates the owner, the organization, the benchmark's key through the
// service, nKeys-1 more keys in bulk and nBots bots.
func (s *stack) seed(ctx context.Context, users *sqlstore.UserService, keys *sqlstore.APIKeyService, bots *sqlstore.BotService, nKeys, nBots int) error {
	user, org, err := users.CreateUser(ctx, &keygate.Signup{
		Name: "Load Test", Email: "loadtest@example.com", Password: "correct horse battery staple", OrganizationName: "Load Test",
	}, false)
	if err != nil {
		return fmt.Errorf("seed user: %w", err)
	}
	_, secret, err := keys.CreateAPIKey(keygate.NewContextWithUser(ctx, user), org.PublicID, &keygate.APIKeyCreate{
		Name: "load test", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead},
	})
	if err != nil {
		return fmt.Errorf("seed key: %w", err)
	}
	bulk, err := insertKeys(ctx, s.db, org.ID, user.ID, nKeys-1)
	if err != nil {
		return err
	}
	s.keys = append([]string{secret}, bulk...)
	// The bulk insert bypassed the services, so tell the cache as they would.
	s.verifier.Invalidate()

	botCtx := keygate.NewContextWithOrganization(ctx, org.ID)
	for i := range nBots {
		b, err := bots.CreateBot(botCtx, &keygate.BotCreate{
			MeetingURL: fmt.Sprintf("https://meet.example.com/load-test-%03d", i), BotName: fmt.Sprintf("Load bot %d", i),
			Metadata: []byte(`{"team":"load","n":` + fmt.Sprint(i) + `}`),
		})
		if err != nil {
			return fmt.Errorf("seed bot: %w", err)
		}
		s.bots = append(s.bots, b.PublicID)
	}
	return nil
}

// startUsage flushes the usage buffer every flush interval, as serve does
// with usage.Buffer.Run. Run is not used because stopping it cancels the
// context of a flush in progress, which then fails and drops its batch:
// here stopping waits for that flush, then flushes what is left.
func (s *stack) startUsage() {
	stop, done := make(chan struct{}), make(chan struct{})
	s.stop, s.done = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(s.flush)
		defer t.Stop()
		for {
			select {
			case <-stop:
				s.flushUsage()
				return
			case <-t.C:
				s.flushUsage()
			}
		}
	}()
}

func (s *stack) flushUsage() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.usage.Flush(ctx); err != nil {
		s.flushErr.CompareAndSwap(nil, &err)
	}
}

// stopUsage stops the flushing and waits for its final flush.
func (s *stack) stopUsage() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
}

// requestLogRows counts the requests in the request log.
func (s *stack) requestLogRows(ctx context.Context) (int, error) {
	var n int
	if err := s.db.ReadConn().QueryRowContext(ctx, `SELECT COUNT(*) FROM request_log`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count request log: %w", err)
	}
	return n, nil
}

// Close stops the server and the flushing and closes the database. It may
// be called more than once.
func (s *stack) Close() {
	if s.closed {
		return
	}
	s.closed = true
	if s.server != nil {
		s.server.Close()
	}
	s.stopUsage()
	if s.cancel != nil {
		s.cancel()
	}
	s.db.Close()
	if s.commits != nil {
		forgetCommits(s.path)
	}
}
