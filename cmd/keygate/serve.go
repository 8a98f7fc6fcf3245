package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/tlsconf"
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

// serve runs the listeners until ctx ends, then shuts down gracefully:
// the listeners drain, the background jobs end, the usage is flushed a
// last time, and only then does the database close.
func serve(ctx context.Context, c *Config, logger *slog.Logger) error {
	db, err := openDB(ctx, c, true)
	if err != nil {
		return err
	}
	defer db.Close()
	in, err := newInstance(ctx, c, db, logger)
	if err != nil {
		return err
	}
	ls, err := listen(c)
	if err != nil {
		return err
	}
	srv, err := in.webServer(c, db, ls.https.Addr(), logger)
	if err != nil {
		ls.close()
		return err
	}
	bg := startBackground(ctx, c, db, in.app, logger)
	defer bg.stop()
	errc := ls.serve(srv, in.tls, c.MetricsToken, logger)

	url := c.BaseURL
	if url == "" {
		url = "https://" + displayAddr(c.Addr, ls.https.Addr().String())
	}
	if ls.metrics != nil {
		logger.Info("metrics", "url", "http://"+displayAddr(c.MetricsAddr, ls.metrics.Addr().String())+"/metrics")
	}
	// Said before "running", which those who wait for the start wait for.
	logFirstRun(ctx, in.app.Users, url, logger)
	logger.Info("Keygate is running", "url", url, "https_addr", ls.https.Addr().String(), "http_redirect", ls.httpURL(c),
		"tls", in.tls.Mode, "data_dir", c.DataDir, slog.Group("", databaseAttrs(c, db)...), "signup", c.Signup, "version", buildVersion())

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("serve: %w", err)
		}
	}
	if serveErr == nil {
		logger.Info("shutting down")
	}
	ls.shutdown(logger)
	// Emails the last requests started (password resets) are sent before
	// the database closes.
	srv.WaitBackground()
	bg.stop()
	if serveErr != nil {
		return serveErr
	}
	logger.Info("stopped")
	return nil
}

// listeners are serve's sockets: HTTPS, and the optional plain-HTTP
// redirect and metrics ones (nil when not configured).
type listeners struct {
	https, http, metrics net.Listener
	servers              []*http.Server
}

// listen opens every configured listener, or none.
func listen(c *Config) (*listeners, error) {
	ls := &listeners{}
	var err error
	if ls.https, err = net.Listen("tcp", c.Addr); err != nil {
		return nil, fmt.Errorf("listen on --addr %s: %w", c.Addr, err)
	}
	if c.HTTPAddr != "" {
		if ls.http, err = net.Listen("tcp", c.HTTPAddr); err != nil {
			ls.close()
			return nil, fmt.Errorf("listen on --http-addr %s: %w", c.HTTPAddr, err)
		}
	}
	if c.MetricsAddr != "" {
		if ls.metrics, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			ls.close()
			return nil, fmt.Errorf("listen on --metrics-addr %s: %w", c.MetricsAddr, err)
		}
	}
	return ls, nil
}

// httpURL is the plain-HTTP listener's address for the log, "" without one.
func (ls *listeners) httpURL(c *Config) string {
	if ls.http == nil {
		return ""
	}
	return "http://" + displayAddr(c.HTTPAddr, ls.http.Addr().String())
}

// serve serves srv on every listener. The channel receives the first
// error of any of them.
func (ls *listeners) serve(srv *web.Server, tlsResult *tlsconf.Result, metricsToken string, logger *slog.Logger) <-chan error {
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	errc := make(chan error, 3)
	httpsSrv := &http.Server{
		Handler: srv.Handler(), TLSConfig: tlsResult.Config, ErrorLog: httpsErrorLog(logger, tlsResult.Mode, tlsResult.CertFile),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
	ls.servers = append(ls.servers, httpsSrv)
	go func() { errc <- httpsSrv.Serve(tls.NewListener(ls.https, tlsResult.Config)) }()
	if ls.http != nil {
		httpSrv := &http.Server{
			Handler: tlsResult.HTTPHandler(srv.PlainHandler()), ErrorLog: errLog,
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		}
		ls.servers = append(ls.servers, httpSrv)
		go func() { errc <- httpSrv.Serve(ls.http) }()
	}
	if ls.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler(metricsToken))
		msrv := &http.Server{Handler: mux, ErrorLog: errLog, ReadHeaderTimeout: 10 * time.Second}
		ls.servers = append(ls.servers, msrv)
		go func() { errc <- msrv.Serve(ls.metrics) }()
	}
	return errc
}

// shutdown lets in-flight requests finish, for up to shutdownTimeout.
func (ls *listeners) shutdown(logger *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, s := range ls.servers {
		if err := s.Shutdown(sctx); err != nil {
			logger.Warn("shutdown", "error", err.Error())
		}
	}
}

// close closes listeners that serve nothing yet.
func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.https, ls.http, ls.metrics} {
		if l != nil {
			l.Close()
		}
	}
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
