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
// owner) and opens (and migrates) the database.
func openDB(ctx context.Context, c *Config, migrate bool) (*sqlstore.DB, error) {
	if err := prepareDataDir(c.DataDir); err != nil {
		return nil, err
	}
	db := sqlstore.NewDB(filepath.Join(c.DataDir, "keygate.db"))
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

	sessionKey, err := loadOrCreateKey(filepath.Join(c.DataDir, "session.key"), 64)
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
	keys := sqlstore.NewAPIKeyService(db)
	keys.MaxKeysPerOrg = c.MaxKeysPerOrg
	verifier := apikey.NewVerifier(keys)
	db.OnKeysChanged = verifier.Invalidate
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
		Identities: sqlstore.NewIdentityService(db, users), OrgSSO: sqlstore.NewOrgSSOService(db, secretBox), Idempotency: idempotency,
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

	srv.Metrics().RegisterDB(db.WriteConn(), "writer")
	srv.Metrics().RegisterDB(db.ReadConn(), "reader")
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
	go sweepSessions(ctx, sessions, idempotency, logger)
	go sweepRequestLog(ctx, usageStore, c.RequestLogRetention, logger)
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
		"tls", tlsResult.Mode, "data_dir", c.DataDir, "signup", c.Signup, "version", buildVersion())

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

// sweepSessions deletes ended sessions, and the API answers kept for
// retries past keygate.IdempotencyTTL, every ten minutes.
func sweepSessions(ctx context.Context, sessions *sqlstore.SessionService, idempotency *sqlstore.IdempotencyService, logger *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if n, err := sessions.DeleteExpiredSessions(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("sweep sessions", "error", err.Error())
		} else if n > 0 {
			logger.Debug("swept sessions", "count", n)
		}
		if _, err := idempotency.DeleteIdempotentResponsesBefore(ctx, time.Now().Add(-keygate.IdempotencyTTL)); err != nil && ctx.Err() == nil {
			logger.Warn("sweep idempotency keys", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepRequestLog deletes the request log past the retention every few
// minutes, in small batches so the writer is never held for long.
func sweepRequestLog(ctx context.Context, store *sqlstore.UsageStore, retention time.Duration, logger *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		for {
			n, err := store.DeleteRequestLogBefore(ctx, time.Now().Add(-retention), 1000)
			if err != nil {
				if ctx.Err() == nil {
					logger.Warn("sweep request log", "error", err.Error())
				}
				break
			}
			if n < 1000 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loadOrCreateKey returns the key in path, creating n random bytes there
// (mode 0600) on first start.
func loadOrCreateKey(path string, n int) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) < 32 {
			return nil, fmt.Errorf("key file %s is too short: delete it to generate a new one", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read key: %w", err)
	}
	key = make([]byte, n)
	rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key: %w", err)
	}
	return key, f.Close()
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
