package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/atomicfile"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/tlsconf"
	"github.com/keygate/keygate/internal/usage"
	"github.com/keygate/keygate/web"
)

// shutdownTimeout bounds how long in-flight requests may take at shutdown.
const shutdownTimeout = 15 * time.Second

func runServe(args []string, stdout, stderr io.Writer) error {
	var c Config
	fs := newFlagSet("serve", "keygate serve [flags]", stderr)
	serveFlags(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if err := c.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, &c, newLogger(&c, stderr))
}

// openDB creates the data directory (or restricts an existing one to its
// owner) and opens (and migrates) the database: SQLite in the data
// directory, or the PostgreSQL database of --database.
func openDB(ctx context.Context, c *Config, migrate bool) (*sqlstore.DB, error) {
	if err := c.checkDatabase(); err != nil {
		return nil, err
	}
	if err := prepareDataDir(c.DataDir); err != nil {
		return nil, err
	}
	db := c.newDB()
	if !migrate {
		return db, db.Open()
	}
	return db, db.OpenAndMigrate(ctx)
}

// serve runs both listeners until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, c *Config, logger *slog.Logger) error {
	db, err := openDB(ctx, c, true)
	if err != nil {
		return err
	}
	defer db.Close()
	// Replicas on PostgreSQL derive their session key from the secret key:
	// without one, each would create keys of its own.
	if c.onPostgres() && c.SecretKey == "" {
		return errReplicaSecretKey
	}
	// The master key of stored credentials is checked first, before
	// anything else is created or written: a wrong key stops here.
	secretBox, newSecretKey, err := openSecretBox(ctx, c, db)
	if err != nil {
		return err
	}
	if newSecretKey {
		logger.Info("generated the secret key of stored credentials: back it up to a password manager or secret store, apart from the database backups (see the README, section Integrations and the secret key)",
			"path", secretKeyPath(c), "readme", "README.md#integrations-and-the-secret-key")
	}

	sessionKey, err := loadSessionKey(c, logger)
	if err != nil {
		return err
	}
	tlsResult, err := tlsconf.Load(tlsconf.Options{
		DataDir: c.DataDir, CertFile: c.TLSCert, KeyFile: c.TLSKey,
		ACMEDomains: splitList(c.ACMEDomain), ACMEEmail: c.ACMEEmail, BaseURL: c.BaseURL,
	})
	if err != nil {
		return err
	}
	proxies, _ := c.trustedProxies()

	db.DefaultPlan = keygate.Plan(c.DefaultPlan)
	users := sqlstore.NewUserService(db, password.NewHasher(password.DefaultParams, 0))
	users.SignupMode = c.Signup
	ssoProviders, err := buildSSO(ctx, &c.SSO, c.BaseURL, logger)
	if err != nil {
		return err
	}
	sessions := sqlstore.NewSessionService(db)
	idempotency := sqlstore.NewIdempotencyService(db)
	shared := newSharedState(db, idempotency, logger)
	keys := sqlstore.NewAPIKeyService(db)
	keys.MaxKeysPerOrg = c.MaxKeysPerOrg
	verifier := apikey.NewVerifier(keys)
	db.OnKeysChanged = verifier.Invalidate
	// On PostgreSQL other replicas change keys too: the listener hears of
	// it, and until it listens the cache reads through.
	var listener web.ListenerStatus
	if db.Engine() == sqlstore.EnginePostgres {
		l := sqlstore.NewListener(c.Database, verifier, logger)
		db.Bus, listener = l, l
		go l.Run(ctx)
	}
	usageStore := sqlstore.NewUsageStore(db)
	usageBuf := usage.NewBuffer(usageStore)
	rateLimit, _ := ratelimit.ParseLimit(c.RateLimit)
	signupRateLimit, _ := c.signupRateLimit()
	var mail web.Mailer
	if c.SMTPURL != "" {
		m, err := mailer.New(c.SMTPURL, c.SMTPFrom)
		if err != nil {
			return err
		}
		mail = m
	}

	httpsLn, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", c.Addr, err)
	}
	_, httpsPort, _ := net.SplitHostPort(httpsLn.Addr().String())
	// The address as configured, for links without --base-url (and the
	// log line below): never the Host header of a request.
	listenURL := "https://" + displayAddr(c.Addr, httpsLn.Addr().String())

	srv, err := web.NewServer(web.Config{
		BaseURL: c.BaseURL, HTTPSPort: httpsPort, ListenURL: listenURL, TrustedProxies: proxies, SessionKey: sessionKey, SignupMode: c.Signup,
		RateLimit: rateLimit, SignupRateLimit: signupRateLimit, MetricsToken: c.MetricsToken, SSO: ssoProviders,
		AllowPrivateDestinations: c.AllowPrivateDestinations, TLSMode: tlsResult.Mode, TLSCertFile: tlsResult.CertFile,
	}, web.Services{
		Users: users, Orgs: sqlstore.NewOrganizationService(db), Sessions: sessions,
		APIKeys: keys, Audit: sqlstore.NewAuditService(db),
		Bots: sqlstore.NewBotService(db), Conversations: sqlstore.NewConversationService(db), Analytics: sqlstore.NewAnalyticsService(db),
		Verifier: verifier, Exposer: keys, Usage: usageBuf, DB: db,
		Admin:       sqlstore.NewAdminService(db, users),
		Memberships: sqlstore.NewMembershipService(db), Mailer: mail, Monitoring: sqlstore.NewMonitoringService(db), Integrations: sqlstore.NewIntegrationService(db, secretBox),
		Identities: sqlstore.NewIdentityService(db, users), OrgSSO: sqlstore.NewOrgSSOService(db, secretBox), Idempotency: idempotency, Listener: listener,
		Limiter: shared.limiter, Throttles: shared.throttles, IdempotencyClaims: shared.claims,
	}, logger)
	if err != nil {
		httpsLn.Close()
		return err
	}

	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	httpsSrv := &http.Server{
		Handler: srv.Handler(), TLSConfig: tlsResult.Config, ErrorLog: httpsErrorLog(logger, tlsResult.Mode, tlsResult.CertFile),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
	servers := []*http.Server{httpsSrv}
	errc := make(chan error, 2)
	go func() { errc <- httpsSrv.Serve(tls.NewListener(httpsLn, tlsResult.Config)) }()

	httpURL := ""
	if c.HTTPAddr != "" {
		httpLn, err := net.Listen("tcp", c.HTTPAddr)
		if err != nil {
			httpsSrv.Close()
			return fmt.Errorf("listen on --http-addr %s: %w", c.HTTPAddr, err)
		}
		httpSrv := &http.Server{
			Handler: tlsResult.HTTPHandler(srv.PlainHandler()), ErrorLog: errLog,
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		}
		servers = append(servers, httpSrv)
		httpURL = "http://" + displayAddr(c.HTTPAddr, httpLn.Addr().String())
		go func() { errc <- httpSrv.Serve(httpLn) }()
	}

	if db.ReadConn() == db.WriteConn() {
		srv.Metrics().RegisterDB(db.WriteConn(), "pool") // PostgreSQL: one pool
	} else {
		srv.Metrics().RegisterDB(db.WriteConn(), "writer")
		srv.Metrics().RegisterDB(db.ReadConn(), "reader")
	}
	if c.MetricsAddr != "" {
		mln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return fmt.Errorf("listen on --metrics-addr %s: %w", c.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler(c.MetricsToken))
		msrv := &http.Server{Handler: mux, ErrorLog: errLog, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
		logger.Info("metrics", "url", "http://"+displayAddr(c.MetricsAddr, mln.Addr().String())+"/metrics")
	}
	go runJob(ctx, db, "sweep sessions", 10*time.Minute, logger, sweepSessions(sessions, idempotency, sqlstore.NewRateLimitStore(db), logger))
	go runJob(ctx, db, "sweep request log", 5*time.Minute, logger, sweepRequestLog(usageStore, c.RequestLogRetention))
	// Usage is flushed once a second, and once more after the listeners
	// have drained at shutdown.
	usageCtx, stopUsage := context.WithCancel(context.Background())
	defer stopUsage()
	usageDone := make(chan struct{})
	go func() {
		defer close(usageDone)
		usageBuf.Run(usageCtx, time.Second, func(err error) { logger.Error("flush usage", "error", err.Error()) })
	}()

	url := c.BaseURL
	if url == "" {
		url = listenURL
	}
	// Said before "running", which those who wait for the start wait for.
	logFirstRun(ctx, users, url, logger)
	logger.Info("Keygate is running", "url", url, "https_addr", httpsLn.Addr().String(), "http_redirect", httpURL,
		"tls", tlsResult.Mode, "data_dir", c.DataDir, slog.Group("", databaseAttrs(c, db)...), "signup", c.Signup, "version", buildVersion())

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			logger.Warn("shutdown", "error", err.Error())
		}
	}
	stopUsage()
	<-usageDone
	logger.Info("stopped")
	return nil
}

// displayAddr is an address people can open: the host they configured
// (localhost for an unspecified one) with the port the listener got.
func displayAddr(configured, actual string) string {
	host, _, err := net.SplitHostPort(configured)
	if err != nil {
		host = configured
	}
	_, port, err := net.SplitHostPort(actual)
	if err != nil {
		return actual
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
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

// loadOrCreateKey returns the n-byte key in path, creating it (mode 0600)
// on first start. An empty file is what a write interrupted before the
// key files were written atomically can leave; it holds nothing to keep,
// so it is replaced, and the log says so. A file of any other wrong length
// is refused: its key may still matter.
func loadOrCreateKey(path string, n int, logger *slog.Logger) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case err == nil && len(key) == n:
		return key, nil
	case err == nil && len(key) != 0:
		return nil, fmt.Errorf("key file %s is %d bytes, want %d: it is damaged; delete it to generate a new one (everyone will have to sign in again)", path, len(key), n)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read key: %w", err)
	}
	key = make([]byte, n)
	rand.Read(key)
	if err == nil { // empty
		logger.Warn(filepath.Base(path)+" was empty, so a new key was generated", "file", path)
		return key, atomicfile.Write(path, key, 0o600)
	}
	return key, atomicfile.Create(path, key, 0o600)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
