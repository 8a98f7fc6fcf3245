package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/keygate/keygate/internal/sso"
)

// SSOConfig is the instance-wide single sign-on configuration.
type SSOConfig struct {
	OIDCIssuer           string
	OIDCClientID         string
	OIDCClientSecret     string
	OIDCClientSecretFile string
	OIDCName             string

	GoogleClientID, GoogleClientSecret, GoogleClientSecretFile          string
	GitHubClientID, GitHubClientSecret, GitHubClientSecretFile          string
	MicrosoftClientID, MicrosoftClientSecret, MicrosoftClientSecretFile string
	MicrosoftTenant                                                     string
}

// ssoFlags registers the single sign-on flags of the server.
func ssoFlags(fs *flag.FlagSet, c *SSOConfig) {
	fs.StringVar(&c.OIDCIssuer, "oidc-issuer", "", "issuer URL of an OpenID Connect provider to sign in with (https://, or http:// on 127.0.0.1/localhost)")
	fs.StringVar(&c.OIDCClientID, "oidc-client-id", "", "client id registered at the OpenID Connect provider")
	fs.StringVar(&c.OIDCClientSecret, "oidc-client-secret", "", "client secret of the OpenID Connect provider (prefer --oidc-client-secret-file)")
	fs.StringVar(&c.OIDCClientSecretFile, "oidc-client-secret-file", "", "file holding the client secret of the OpenID Connect provider")
	fs.StringVar(&c.OIDCName, "oidc-name", "", `name of the OpenID Connect provider on the login page, "Continue with <name>" (default "SSO")`)
	for _, p := range c.social() {
		fs.StringVar(p.id, p.key+"-client-id", "", "OAuth client id of "+p.name+" sign-in")
		fs.StringVar(p.secret, p.key+"-client-secret", "", "OAuth client secret of "+p.name+" sign-in (prefer --"+p.key+"-client-secret-file)")
		fs.StringVar(p.file, p.key+"-client-secret-file", "", "file holding the OAuth client secret of "+p.name+" sign-in")
	}
	fs.StringVar(&c.MicrosoftTenant, "microsoft-tenant", "", `Microsoft tenant: common, organizations, consumers or a tenant id (default "common")`)
}

// socialFlags are the flags of one of goth's providers.
type socialFlags struct {
	key, name        string
	id, secret, file *string
}

func (c *SSOConfig) social() []socialFlags {
	return []socialFlags{
		{"google", "Google", &c.GoogleClientID, &c.GoogleClientSecret, &c.GoogleClientSecretFile},
		{"github", "GitHub", &c.GitHubClientID, &c.GitHubClientSecret, &c.GitHubClientSecretFile},
		{"microsoft", "Microsoft", &c.MicrosoftClientID, &c.MicrosoftClientSecret, &c.MicrosoftClientSecretFile},
	}
}

// enabled reports whether any provider is configured.
func (c *SSOConfig) enabled() bool {
	if c.OIDCIssuer != "" || c.OIDCClientID != "" {
		return true
	}
	for _, p := range c.social() {
		if *p.id != "" || *p.secret != "" || *p.file != "" {
			return true
		}
	}
	return false
}

// validate checks the single sign-on flags; baseURL is --base-url, which
// the callback URLs are made of.
func (c *SSOConfig) validate(baseURL string) error {
	if !c.enabled() {
		return nil
	}
	if c.OIDCIssuer != "" || c.OIDCClientID != "" {
		if c.OIDCIssuer == "" || c.OIDCClientID == "" {
			return errors.New("--oidc-issuer and --oidc-client-id go together")
		}
		if err := sso.ValidateIssuer(c.OIDCIssuer); err != nil {
			return fmt.Errorf("--oidc-issuer: %w", err)
		}
		if c.OIDCClientSecret != "" && c.OIDCClientSecretFile != "" {
			return errors.New("give --oidc-client-secret or --oidc-client-secret-file, not both")
		}
	}
	for _, p := range c.social() {
		if *p.id == "" && (*p.secret != "" || *p.file != "") {
			return fmt.Errorf("--%s-client-secret needs --%s-client-id", p.key, p.key)
		}
		if *p.id != "" && *p.secret == "" && *p.file == "" {
			return fmt.Errorf("--%s-client-id needs --%s-client-secret or --%s-client-secret-file", p.key, p.key, p.key)
		}
		if *p.secret != "" && *p.file != "" {
			return fmt.Errorf("give --%s-client-secret or --%s-client-secret-file, not both", p.key, p.key)
		}
	}
	if u, err := url.Parse(baseURL); baseURL == "" || err != nil || u.Host == "" {
		return errors.New("single sign-on needs --base-url: the provider redirects to <base URL>/auth/<provider>/callback")
	}
	return nil
}

// secret returns a flag's value or the trimmed content of its file.
func readSecret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// buildSSO makes the configured providers. OpenID discovery runs in the
// background until it succeeds, so a provider that is down delays only
// its own button, never Keygate's start.
func buildSSO(ctx context.Context, c *SSOConfig, baseURL string, logger *slog.Logger) (*sso.Registry, error) {
	reg := sso.NewRegistry()
	base := strings.TrimSuffix(baseURL, "/")
	if c.OIDCIssuer != "" {
		secret, err := readSecret(c.OIDCClientSecret, c.OIDCClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		p, err := sso.NewOIDC(sso.OIDCConfig{Key: "oidc", Name: c.OIDCName, Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID,
			ClientSecret: secret, CallbackURL: base + "/auth/oidc/callback"})
		if err != nil {
			return nil, err
		}
		p.Start(ctx, logger)
		reg.Add(p.Provider())
	}
	for _, f := range c.social() {
		if *f.id == "" {
			continue
		}
		secret, err := readSecret(*f.secret, *f.file)
		if err != nil {
			return nil, fmt.Errorf("--%s-client-secret-file: %w", f.key, err)
		}
		cfg := sso.OAuthConfig{ClientID: *f.id, ClientSecret: secret, CallbackURL: base + "/auth/" + f.key + "/callback"}
		switch f.key {
		case "google":
			reg.Add(sso.NewGoogle(cfg))
		case "github":
			reg.Add(sso.NewGitHub(cfg))
		case "microsoft":
			reg.Add(sso.NewMicrosoft(cfg, c.MicrosoftTenant))
		}
	}
	return reg, nil
}
