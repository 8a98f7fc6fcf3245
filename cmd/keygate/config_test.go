package main

import (
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeEnv is a getenv over a map; a missing or empty variable is unset.
func fakeEnv(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// newServeFlags returns the serve flag set writing into c, silenced.
func newServeFlags(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	serveFlags(fs, c)
	return fs
}

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"data-dir":        "KEYGATE_DATA_DIR",
		"addr":            "KEYGATE_ADDR",
		"http-addr":       "KEYGATE_HTTP_ADDR",
		"trusted-proxies": "KEYGATE_TRUSTED_PROXIES",
		"acme-domain":     "KEYGATE_ACME_DOMAIN",
		"log-format":      "KEYGATE_LOG_FORMAT",
	} {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Run("OKDefaults", func(t *testing.T) {
		var c Config
		if err := parse(newServeFlags(&c), nil, fakeEnv(nil)); err != nil {
			t.Fatal(err)
		}
		if got, want := c.DataDir, "./keygate-data"; got != want {
			t.Errorf("DataDir = %q, want %q", got, want)
		}
		if got, want := c.Addr, "localhost:8443"; got != want {
			t.Errorf("Addr = %q, want %q", got, want)
		}
		if got, want := c.HTTPAddr, "localhost:8080"; got != want {
			t.Errorf("HTTPAddr = %q, want %q", got, want)
		}
		if got, want := c.Signup, "open"; got != want {
			t.Errorf("Signup = %q, want %q", got, want)
		}
		if got, want := c.RequestLogRetention, 30*24*time.Hour; got != want {
			t.Errorf("RequestLogRetention = %v, want %v", got, want)
		}
		if got, want := c.SignupRateLimit, "10/h"; got != want {
			t.Errorf("SignupRateLimit = %q, want %q", got, want)
		}
		if got, want := c.MaxKeysPerOrg, 1000; got != want {
			t.Errorf("MaxKeysPerOrg = %d, want %d", got, want)
		}
		if c.AllowPrivateDestinations {
			t.Error("AllowPrivateDestinations is on by default")
		}
		if err := c.validate(); err != nil {
			t.Errorf("defaults do not validate: %v", err)
		}
	})

	t.Run("OKEnvFillsUnsetFlags", func(t *testing.T) {
		var c Config
		env := fakeEnv(map[string]string{
			"KEYGATE_DATA_DIR":                   "/var/lib/keygate",
			"KEYGATE_ADDR":                       ":9443",
			"KEYGATE_HTTP_ADDR":                  ":9080",
			"KEYGATE_BASE_URL":                   "https://keys.example.com",
			"KEYGATE_TRUSTED_PROXIES":            "10.0.0.0/8,192.168.1.1",
			"KEYGATE_SIGNUP":                     "invite",
			"KEYGATE_LOG_FORMAT":                 "json",
			"KEYGATE_ACME_DOMAIN":                "keys.example.com",
			"KEYGATE_RATE_LIMIT":                 "60/m",
			"KEYGATE_SIGNUP_RATE_LIMIT":          "50/d",
			"KEYGATE_REQUEST_LOG_RETENTION":      "24h",
			"KEYGATE_MAX_KEYS_PER_ORG":           "250",
			"KEYGATE_ALLOW_PRIVATE_DESTINATIONS": "true",
			"KEYGATE_UNRELATED":                  "ignored",
		})
		if err := parse(newServeFlags(&c), nil, env); err != nil {
			t.Fatal(err)
		}
		want := Config{
			DataDir: "/var/lib/keygate", Addr: ":9443", HTTPAddr: ":9080", BaseURL: "https://keys.example.com",
			TrustedProxies: "10.0.0.0/8,192.168.1.1", Signup: "invite", LogFormat: "json", LogLevel: "info",
			ACMEDomain: "keys.example.com", RateLimit: "60/m", SignupRateLimit: "50/d", RequestLogRetention: 24 * time.Hour, MaxKeysPerOrg: 250,
			AllowPrivateDestinations: true,
		}
		if c != want {
			t.Fatalf("config = %+v\nwant     %+v", c, want)
		}
	})

	t.Run("OKFlagWinsOverEnv", func(t *testing.T) {
		var c Config
		env := fakeEnv(map[string]string{
			"KEYGATE_DATA_DIR":  "/from/env",
			"KEYGATE_HTTP_ADDR": ":9080",
			"KEYGATE_SIGNUP":    "closed",
			"KEYGATE_ADDR":      ":9443",
		})
		// --http-addr= is given empty on purpose: an explicit empty flag
		// (disable the listener) must still beat the environment.
		args := []string{"--data-dir", "/from/flag", "--http-addr=", "-signup=invite"}
		if err := parse(newServeFlags(&c), args, env); err != nil {
			t.Fatal(err)
		}
		if got, want := c.DataDir, "/from/flag"; got != want {
			t.Errorf("DataDir = %q, want %q", got, want)
		}
		if got, want := c.HTTPAddr, ""; got != want {
			t.Errorf("HTTPAddr = %q, want %q", got, want)
		}
		if got, want := c.Signup, "invite"; got != want {
			t.Errorf("Signup = %q, want %q", got, want)
		}
		// Flags not on the command line still come from the environment.
		if got, want := c.Addr, ":9443"; got != want {
			t.Errorf("Addr = %q, want %q", got, want)
		}
	})

	t.Run("ErrBadEnvDuration", func(t *testing.T) {
		var c Config
		err := parse(newServeFlags(&c), nil, fakeEnv(map[string]string{"KEYGATE_REQUEST_LOG_RETENTION": "forever"}))
		if err == nil {
			t.Fatal("no error for KEYGATE_REQUEST_LOG_RETENTION=forever")
		}
		if !strings.HasPrefix(err.Error(), "KEYGATE_REQUEST_LOG_RETENTION: ") {
			t.Fatalf("error %q does not start with the variable's name", err)
		}
	})

	t.Run("OKBadEnvIgnoredWhenFlagGiven", func(t *testing.T) {
		var c Config
		env := fakeEnv(map[string]string{"KEYGATE_REQUEST_LOG_RETENTION": "forever"})
		if err := parse(newServeFlags(&c), []string{"--request-log-retention", "1h"}, env); err != nil {
			t.Fatal(err)
		}
		if got, want := c.RequestLogRetention, time.Hour; got != want {
			t.Fatalf("RequestLogRetention = %v, want %v", got, want)
		}
	})

	t.Run("ErrBadEnvBool", func(t *testing.T) {
		var c Config
		var superuser bool
		fs := flag.NewFlagSet("user create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		commonFlags(fs, &c)
		fs.BoolVar(&superuser, "superuser", false, "")
		err := parse(fs, nil, fakeEnv(map[string]string{"KEYGATE_SUPERUSER": "perhaps"}))
		if err == nil {
			t.Fatal("no error for KEYGATE_SUPERUSER=perhaps")
		}
		if !strings.HasPrefix(err.Error(), "KEYGATE_SUPERUSER: ") {
			t.Fatalf("error %q does not start with the variable's name", err)
		}
	})

	t.Run("OKBoolEnv", func(t *testing.T) {
		var c Config
		var superuser bool
		fs := flag.NewFlagSet("user create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		commonFlags(fs, &c)
		fs.BoolVar(&superuser, "superuser", false, "")
		if err := parse(fs, nil, fakeEnv(map[string]string{"KEYGATE_SUPERUSER": "true"})); err != nil {
			t.Fatal(err)
		}
		if !superuser {
			t.Fatal("KEYGATE_SUPERUSER=true did not set --superuser")
		}
	})

	t.Run("ErrUnknownFlag", func(t *testing.T) {
		var c Config
		if err := parse(newServeFlags(&c), []string{"--no-such-flag"}, fakeEnv(nil)); err == nil {
			t.Fatal("no error for an unknown flag")
		}
	})
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Signup: "open", LogFormat: "text", LogLevel: "info", RateLimit: "1000/h", RequestLogRetention: time.Hour, MaxKeysPerOrg: 1000}
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" means valid
	}{
		{"OKOpen", func(c *Config) { c.Signup = "open" }, ""},
		{"OKInvite", func(c *Config) { c.Signup = "invite" }, ""},
		{"OKClosed", func(c *Config) { c.Signup = "closed" }, ""},
		{"OKJSON", func(c *Config) { c.LogFormat = "json" }, ""},
		{"OKProxies", func(c *Config) { c.TrustedProxies = "10.0.0.0/8, 192.168.1.1,::1, fd00::/8," }, ""},
		{"ErrSignupEmpty", func(c *Config) { c.Signup = "" }, "--signup"},
		{"ErrSignupUpperCase", func(c *Config) { c.Signup = "OPEN" }, "--signup"},
		{"ErrSignupUnknown", func(c *Config) { c.Signup = "sometimes" }, `--signup must be open, invite or closed, not "sometimes"`},
		{"ErrLogFormat", func(c *Config) { c.LogFormat = "xml" }, `--log-format must be text or json, not "xml"`},
		{"ErrProxiesNotIP", func(c *Config) { c.TrustedProxies = "10.0.0.0/8,proxy.local" }, `--trusted-proxies: "proxy.local"`},
		{"ErrProxiesBadMask", func(c *Config) { c.TrustedProxies = "10.0.0.0/33" }, `--trusted-proxies: "10.0.0.0/33"`},
		{"OKRateLimitMinute", func(c *Config) { c.RateLimit = "60/m" }, ""},
		{"ErrRateLimit", func(c *Config) { c.RateLimit = "lots" }, "--rate-limit"},
		{"ErrRateLimitEmpty", func(c *Config) { c.RateLimit = "" }, "--rate-limit"},
		{"OKSignupRateLimit", func(c *Config) { c.SignupRateLimit = "50/d" }, ""},
		{"OKSignupRateLimitEmptyIsDefault", func(c *Config) { c.SignupRateLimit = "" }, ""},
		{"ErrSignupRateLimit", func(c *Config) { c.SignupRateLimit = "lots" }, `--signup-rate-limit: ratelimit: invalid limit "lots"`},
		{"ErrSignupRateLimitZero", func(c *Config) { c.SignupRateLimit = "0/h" }, "--signup-rate-limit"},
		{"ErrRetentionZero", func(c *Config) { c.RequestLogRetention = 0 }, "--request-log-retention"},
		{"ErrRetentionNegative", func(c *Config) { c.RequestLogRetention = -time.Hour }, "--request-log-retention"},
		{"ErrProxiesBadV6Mask", func(c *Config) { c.TrustedProxies = "fd00::/129" }, `--trusted-proxies: "fd00::/129"`},
		{"OKMaxKeysPerOrg", func(c *Config) { c.MaxKeysPerOrg = 1 }, ""},
		{"ErrMaxKeysPerOrgZero", func(c *Config) { c.MaxKeysPerOrg = 0 }, "--max-keys-per-org must be positive"},
		{"ErrMaxKeysPerOrgNegative", func(c *Config) { c.MaxKeysPerOrg = -5 }, "--max-keys-per-org must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(&c)
			err := c.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	c := Config{TrustedProxies: " 10.1.2.3/8 , 192.168.1.1, 2001:db8::/32, ::1 "}
	nets, err := c.trustedProxies()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.1/32", "2001:db8::/32", "::1/128"}
	if len(nets) != len(want) {
		t.Fatalf("got %d networks %v, want %v", len(nets), nets, want)
	}
	for i, n := range nets {
		if got := n.String(); got != want[i] {
			t.Errorf("network %d = %s, want %s", i, got, want[i])
		}
	}
	// A bare IPv4 address is a 4-byte /32, so it matches itself only.
	if got, want := len(nets[1].IP), net.IPv4len; got != want {
		t.Errorf("bare IPv4 has %d-byte IP, want %d", got, want)
	}

	contains := func(ip string) bool {
		for _, n := range nets {
			if n.Contains(net.ParseIP(ip)) {
				return true
			}
		}
		return false
	}
	for ip, want := range map[string]bool{
		"10.200.0.1":    true,
		"11.0.0.1":      false,
		"192.168.1.1":   true,
		"192.168.1.2":   false,
		"2001:db8:1::5": true,
		"2001:db9::1":   false,
		"::1":           true,
		"::2":           false,
		"127.0.0.1":     false,
	} {
		if got := contains(ip); got != want {
			t.Errorf("trusted(%s) = %v, want %v", ip, got, want)
		}
	}

	t.Run("OKEmpty", func(t *testing.T) {
		nets, err := (&Config{TrustedProxies: " , "}).trustedProxies()
		if err != nil || len(nets) != 0 {
			t.Fatalf("trustedProxies() = %v, %v; want none, nil", nets, err)
		}
	})
}
