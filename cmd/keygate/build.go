package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/keygate/keygate/internal/app"
	"github.com/keygate/keygate/internal/atomicfile"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/tlsconf"
	"github.com/keygate/keygate/web"
)

// instance is Keygate built from the configuration over an open database:
// its services, its TLS and the web configuration but for the addresses,
// which only the listeners know.
type instance struct {
	app *app.App
	tls *tlsconf.Result
	cfg web.Config
}

// newInstance checks the keys, loads TLS and wires the services. Nothing
// listens yet.
func newInstance(ctx context.Context, c *Config, db *sqlstore.DB, logger *slog.Logger) (*instance, error) {
	// Replicas on PostgreSQL derive their session key from the secret key:
	// without one, each would create keys of its own.
	if c.onPostgres() && c.SecretKey == "" {
		return nil, errReplicaSecretKey
	}
	// The master key of stored credentials is checked first, before
	// anything else is created or written: a wrong key stops here.
	secretBox, newSecretKey, err := openSecretBox(ctx, c, db)
	if err != nil {
		return nil, err
	}
	if newSecretKey {
		logger.Info("generated the secret key of stored credentials: back it up to a password manager or secret store, apart from the database backups (see the README, section Integrations and the secret key)",
			"path", secretKeyPath(c), "readme", "README.md#integrations-and-the-secret-key")
	}
	sessionKey, err := loadSessionKey(c, logger)
	if err != nil {
		return nil, err
	}
	tlsResult, err := tlsconf.Load(tlsconf.Options{
		DataDir: c.DataDir, CertFile: c.TLSCert, KeyFile: c.TLSKey,
		ACMEDomains: splitList(c.ACMEDomain), ACMEEmail: c.ACMEEmail, BaseURL: c.BaseURL,
	})
	if err != nil {
		return nil, err
	}
	ssoProviders, err := buildSSO(ctx, &c.SSO, c.BaseURL, logger)
	if err != nil {
		return nil, err
	}
	var mail web.Mailer
	if c.SMTPURL != "" {
		m, err := mailer.New(c.SMTPURL, c.SMTPFrom)
		if err != nil {
			return nil, err
		}
		mail = m
	}

	db.DefaultPlan = keygate.Plan(c.DefaultPlan)
	a := app.New(db, app.Options{
		Hasher: password.NewHasher(password.DefaultParams, 0), SecretBox: secretBox, Mailer: mail,
		SignupMode: c.Signup, MaxKeysPerOrg: c.MaxKeysPerOrg, Logger: logger,
	})
	proxies, _ := c.trustedProxies()
	rateLimit, _ := ratelimit.ParseLimit(c.RateLimit)
	signupRateLimit, _ := c.signupRateLimit()
	return &instance{app: a, tls: tlsResult, cfg: web.Config{
		BaseURL: c.BaseURL, TrustedProxies: proxies, SessionKey: sessionKey, SignupMode: c.Signup,
		RateLimit: rateLimit, SignupRateLimit: signupRateLimit, MetricsToken: c.MetricsToken, SSO: ssoProviders,
		AllowPrivateDestinations: c.AllowPrivateDestinations, TLSMode: tlsResult.Mode, TLSCertFile: tlsResult.CertFile,
	}}, nil
}

// webServer builds the handlers for the HTTPS listener at httpsAddr, with
// the pool statistics of db in its metrics.
func (in *instance) webServer(c *Config, db *sqlstore.DB, httpsAddr net.Addr, logger *slog.Logger) (*web.Server, error) {
	cfg := in.cfg
	_, cfg.HTTPSPort, _ = net.SplitHostPort(httpsAddr.String())
	// The address as configured, for links without --base-url (and the
	// log line): never the Host header of a request.
	cfg.ListenURL = "https://" + displayAddr(c.Addr, httpsAddr.String())
	srv, err := web.NewServer(cfg, in.app.Services, logger)
	if err != nil {
		return nil, err
	}
	if db.ReadConn() == db.WriteConn() {
		srv.Metrics().RegisterDB(poolStats(db.WriteConn()), "pool") // PostgreSQL: one pool
	} else {
		srv.Metrics().RegisterDB(poolStats(db.WriteConn()), "writer")
		srv.Metrics().RegisterDB(poolStats(db.ReadConn()), "reader")
	}
	return srv, nil
}

// poolStats reads the statistics of pool for web's metrics.
func poolStats(pool *sql.DB) func() web.PoolStats {
	return func() web.PoolStats {
		s := pool.Stats()
		return web.PoolStats{
			MaxOpen: s.MaxOpenConnections, Open: s.OpenConnections, InUse: s.InUse, Idle: s.Idle,
			WaitCount: s.WaitCount, WaitDuration: s.WaitDuration,
			MaxIdleClosed: s.MaxIdleClosed, MaxIdleTimeClosed: s.MaxIdleTimeClosed, MaxLifetimeClosed: s.MaxLifetimeClosed,
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
