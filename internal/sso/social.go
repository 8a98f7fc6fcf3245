package sso

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/azureadv2"
	"github.com/markbates/goth/providers/github"
	"github.com/markbates/goth/providers/google"
)

// OAuthConfig configures one of goth's providers.
type OAuthConfig struct {
	ClientID     string
	ClientSecret string
	CallbackURL  string // <base URL>/auth/<key>/callback
	// HTTPClient talks to the provider; nil means one with a 15 s timeout.
	// Tests point it at fake endpoints.
	HTTPClient *http.Client
}

func (c *OAuthConfig) client() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// Issuers Keygate records for the social providers' identities.
const (
	GoogleIssuer = "https://accounts.google.com"
	GitHubIssuer = "https://github.com"
)

// NewGoogle returns Google through goth. Google's user id is the
// identity; its email is trusted only when Google marks it verified.
func NewGoogle(cfg OAuthConfig) *Provider {
	g := google.New(cfg.ClientID, cfg.ClientSecret, cfg.CallbackURL, "openid", "email", "profile")
	g.HTTPClient = cfg.client()
	g.SetName("google")
	return &Provider{Key: "google", Name: "Google", Goth: g, Identify: func(u goth.User) (*keygate.ExternalIdentity, error) {
		verified, _ := u.RawData["verified_email"].(bool)
		if v, ok := u.RawData["email_verified"].(bool); ok {
			verified = v
		}
		return &keygate.ExternalIdentity{Issuer: GoogleIssuer, Subject: u.UserID, Email: u.Email, Name: displayName(u),
			EmailTrusted: verified && u.Email != ""}, nil
	}}
}

// ErrNoVerifiedGitHubEmail: the GitHub account has no verified primary
// email, so Keygate can neither match nor create an account.
var ErrNoVerifiedGitHubEmail = github.ErrNoVerifiedGitHubPrimaryEmail

// NewGitHub returns GitHub through goth. The numeric user id is the
// identity; the email is trusted only if GitHub lists it as the verified
// primary address, which Keygate checks itself: goth takes the public
// profile email as it is.
func NewGitHub(cfg OAuthConfig) *Provider {
	client := cfg.client()
	g := github.New(cfg.ClientID, cfg.ClientSecret, cfg.CallbackURL, "read:user", "user:email")
	g.HTTPClient = client
	g.SetName("github")
	return &Provider{Key: "github", Name: "GitHub", Goth: g, Identify: func(u goth.User) (*keygate.ExternalIdentity, error) {
		email, err := githubPrimaryEmail(client, u.AccessToken)
		if err != nil {
			return nil, err
		}
		name := displayName(u)
		if name == "" {
			name = u.NickName
		}
		return &keygate.ExternalIdentity{Issuer: GitHubIssuer, Subject: u.UserID, Email: email, Name: name, EmailTrusted: true}, nil
	}}
}

func githubPrimaryEmail(client *http.Client, accessToken string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, github.EmailURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("github emails: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("github emails: status %d", resp.StatusCode)
	}
	var list []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return "", fmt.Errorf("github emails: %w", err)
	}
	for _, e := range list {
		if e.Primary && e.Verified {
			return e.Email, nil
		}
	}
	return "", ErrNoVerifiedGitHubEmail
}

// NewMicrosoft returns Microsoft (Entra ID and personal accounts) through
// goth's azureadv2, for tenant ("common", "organizations", "consumers" or
// a tenant id). The identity is the tenant and the object id; Microsoft's
// email is not verified, so it never links to an account by itself.
func NewMicrosoft(cfg OAuthConfig, tenant string) *Provider {
	if tenant == "" {
		tenant = "common"
	}
	m := azureadv2.New(cfg.ClientID, cfg.ClientSecret, cfg.CallbackURL, azureadv2.ProviderOptions{Tenant: azureadv2.TenantType(tenant)})
	m.HTTPClient = cfg.client()
	m.SetName("microsoft")
	return &Provider{Key: "microsoft", Name: "Microsoft", Goth: m, Identify: func(u goth.User) (*keygate.ExternalIdentity, error) {
		tid := tenantOf(u.AccessToken)
		if tid == "" {
			// Personal accounts get opaque tokens: they are all in the
			// consumers tenant.
			tid = "consumers"
		}
		if u.UserID == "" {
			return nil, errors.New("microsoft: no object id")
		}
		email := u.Email
		if upn, ok := u.RawData["userPrincipalName"].(string); email == "" && ok && strings.Contains(upn, "@") {
			email = upn
		}
		return &keygate.ExternalIdentity{Issuer: "https://login.microsoftonline.com/" + tid + "/v2.0", Subject: u.UserID,
			Email: email, Name: displayName(u), EmailTrusted: false}, nil
	}}
}

// tenantOf reads the tid claim of a Microsoft access token, which came
// straight from Microsoft's token endpoint over TLS; "" if it is opaque.
func tenantOf(accessToken string) string {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		TID string `json:"tid"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.TID
}
