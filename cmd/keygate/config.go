package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/secretbox"
)

// Config is everything Keygate is told at start-up, by flag or by
// environment variable (KEYGATE_ + the flag name in upper case, dashes as
// underscores). Flags win over the environment.
type Config struct {
	DataDir             string
	Addr                string
	HTTPAddr            string
	BaseURL             string
	TLSCert             string
	TLSKey              string
	ACMEDomain          string
	ACMEEmail           string
	TrustedProxies      string
	Signup              string
	DefaultPlan         string
	LogFormat           string
	LogLevel            string
	RateLimit           string
	SignupRateLimit     string
	RequestLogRetention time.Duration
	SMTPURL             string
	SMTPFrom            string
	MetricsAddr         string
	MetricsToken        string
	// SecretKey is the master key of stored credentials, in base64; empty
	// means <data-dir>/secret.key.
	SecretKey string
	// Database is the PostgreSQL URL; empty means SQLite in DataDir.
	Database string
	// SSO is the single sign-on providers' configuration.
	SSO SSOConfig
	// MaxKeysPerOrg caps each organization's active API keys.
	MaxKeysPerOrg int
	// AllowPrivateDestinations lets requests to destinations organizations
	// configure (their identity providers) reach private and loopback
	// addresses.
	AllowPrivateDestinations bool
}

// commonFlags registers the flags every subcommand has.
func commonFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.DataDir, "data-dir", "./keygate-data", "directory for the database, keys and certificates")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// serveFlags registers the flags of the server.
func serveFlags(fs *flag.FlagSet, c *Config) {
	commonFlags(fs, c)
	fs.StringVar(&c.Addr, "addr", "localhost:8443", "HTTPS listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", "localhost:8080", "plain HTTP listen address, which redirects pages to HTTPS and refuses API calls and requests with an Authorization header; empty disables it")
	databaseFlag(fs, c)
	fs.StringVar(&c.BaseURL, "base-url", "", "public URL of this instance, used in links (e.g. https://keys.example.com)")
	tlsFlags(fs, c)
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact email for the ACME account")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For and X-Forwarded-Proto are believed")
	fs.StringVar(&c.Signup, "signup", "open", "who may sign up: open, invite or closed")
	// Empty means Professional, so that a Config literal without it is valid.
	fs.StringVar(&c.DefaultPlan, "default-plan", "", "plan of new organizations: free, professional (the default) or enterprise; the API needs professional or higher")
	fs.StringVar(&c.RateLimit, "rate-limit", "1000/h", "each API key's default rate limit, e.g. 1000/h or 60/m")
	fs.StringVar(&c.SignupRateLimit, "signup-rate-limit", "10/h", "signups allowed per client address, e.g. 10/h or 50/d (invitations do not count)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "send invitation emails through this SMTP server, e.g. smtp://user:pass@host:587")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "sender address of emails (default keygate@ the SMTP host)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this separate plain HTTP address (off by default)")
	fs.StringVar(&c.MetricsToken, "metrics-token", "", "serve Prometheus metrics at /metrics on the HTTPS listener to requests with this bearer token")
	ssoFlags(fs, &c.SSO)
	fs.BoolVar(&c.AllowPrivateDestinations, "allow-private-destinations", false, "let organizations' single sign-on providers be on private and loopback addresses (and plain http:// on loopback); off, Keygate reaches them over public https only")
	fs.DurationVar(&c.RequestLogRetention, "request-log-retention", 30*24*time.Hour, "how long the API request log is kept")
	fs.IntVar(&c.MaxKeysPerOrg, "max-keys-per-org", keygate.DefaultMaxKeysPerOrg, "most active (not revoked, not expired) API keys an organization may hold")
	secretKeyFlag(fs, c)
}

// tlsFlags registers the flags that choose the certificate, for the server
// and for cert, which shows it.
func tlsFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.ACMEDomain, "acme-domain", "", "get certificates from an ACME CA (Let's Encrypt) for these comma-separated domains")
}

// secretKeyFlag registers --secret-key, for the server and the commands
// that read stored credentials.
func secretKeyFlag(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.SecretKey, "secret-key", "", "master key that encrypts stored credentials: 32 bytes in base64 (prefer KEYGATE_SECRET_KEY: flags show in process lists); default: <data-dir>/secret.key, created on first start")
}

// parse parses args, then fills every flag not given from the environment.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := lookupEnv(getenv, envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", envName(f.Name), e)
			}
		}
	})
	return err
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	if getenv == nil {
		return os.LookupEnv(name)
	}
	v := getenv(name)
	return v, v != ""
}

// envName is the environment variable of a flag: KEYGATE_DATA_DIR.
func envName(flagName string) string {
	return "KEYGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// validate checks the server's configuration.
func (c *Config) validate() error {
	if err := c.checkDatabase(); err != nil {
		return err
	}
	switch c.Signup {
	case "open", "invite", "closed":
	default:
		return fmt.Errorf("--signup must be open, invite or closed, not %q", c.Signup)
	}
	if c.DefaultPlan != "" && !keygate.Plan(c.DefaultPlan).Valid() {
		return fmt.Errorf("--default-plan must be free, professional or enterprise, not %q", c.DefaultPlan)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	if _, err := ratelimit.ParseLimit(c.RateLimit); err != nil {
		return fmt.Errorf("--rate-limit: %w", err)
	}
	if _, err := c.signupRateLimit(); err != nil {
		return err
	}
	if c.RequestLogRetention <= 0 {
		return fmt.Errorf("--request-log-retention must be positive")
	}
	if c.MaxKeysPerOrg <= 0 {
		return fmt.Errorf("--max-keys-per-org must be positive")
	}
	if c.SecretKey != "" {
		// The error never repeats the value: it is a secret.
		if _, err := secretbox.ParseKey(c.SecretKey); err != nil {
			return fmt.Errorf("--secret-key: %w", err)
		}
	}
	if err := c.SSO.validate(c.BaseURL); err != nil {
		return err
	}
	return nil
}

// signupRateLimit parses --signup-rate-limit; empty gives the zero Limit,
// which the web server takes as its default (10/h).
func (c *Config) signupRateLimit() (ratelimit.Limit, error) {
	if c.SignupRateLimit == "" {
		return ratelimit.Limit{}, nil
	}
	l, err := ratelimit.ParseLimit(c.SignupRateLimit)
	if err != nil {
		return ratelimit.Limit{}, fmt.Errorf("--signup-rate-limit: %w", err)
	}
	return l, nil
}

// trustedProxies parses --trusted-proxies; a bare IP is a /32 or /128.
func (c *Config) trustedProxies() ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(c.TrustedProxies, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not an IP address or CIDR", part)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR", part)
		}
		out = append(out, n)
	}
	return out, nil
}
