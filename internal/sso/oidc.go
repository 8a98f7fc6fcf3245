package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/markbates/goth"
	"golang.org/x/oauth2"
)

// OIDCConfig configures a generic OpenID Connect provider.
type OIDCConfig struct {
	Key          string // "oidc"
	Name         string // display name, e.g. "Okta"
	Issuer       string // pinned: discovery must return exactly this issuer
	ClientID     string
	ClientSecret string
	CallbackURL  string // <base URL>/auth/<key>/callback
	// HTTPClient talks to the provider; nil means one with a 15 s timeout.
	HTTPClient *http.Client
	// Now is the clock that ID tokens' exp and iat are checked against.
	Now func() time.Time
}

// OIDC is Keygate's goth Provider for any OpenID Connect provider, on
// go-oidc and x/oauth2. Unlike goth's openidConnect it verifies the ID
// token's signature against the provider's JWKS, its issuer, audience,
// expiry and nonce, always uses PKCE (S256), and pins the issuer.
type OIDC struct {
	cfg    OIDCConfig
	name   string
	client *http.Client

	mu       sync.RWMutex
	provider *oidc.Provider
}

var _ goth.Provider = (*OIDC)(nil)

// NewOIDC returns a provider that is not usable until Discover succeeds.
func NewOIDC(cfg OIDCConfig) (*OIDC, error) {
	if err := ValidateIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: client id required")
	}
	if cfg.Key == "" {
		cfg.Key = "oidc"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &OIDC{cfg: cfg, name: cfg.Key, client: client}, nil
}

// Discover fetches the provider's configuration once. The issuer it
// returns must equal the configured one (go-oidc refuses otherwise).
func (p *OIDC) Discover(ctx context.Context) error {
	// The provider keeps this context for fetching keys later: it must
	// outlive the call, so it is not ctx.
	keep := oidc.ClientContext(context.Background(), p.client)
	dctx, cancel := context.WithCancel(keep)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-dctx.Done():
		}
	}()
	prov, err := oidc.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("oidc discovery of %s: %w", p.cfg.Issuer, err)
	}
	var meta struct {
		Issuer string `json:"issuer"`
	}
	if err := prov.Claims(&meta); err != nil || meta.Issuer != p.cfg.Issuer {
		return fmt.Errorf("oidc discovery of %s: issuer mismatch", p.cfg.Issuer)
	}
	p.mu.Lock()
	p.provider = prov
	p.mu.Unlock()
	return nil
}

// Ready reports whether discovery has succeeded.
func (p *OIDC) Ready() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.provider != nil
}

// Start runs discovery in the background, retrying with backoff (up to a
// minute apart) until it succeeds or ctx ends, so that an identity
// provider that is down never keeps Keygate from starting.
func (p *OIDC) Start(ctx context.Context, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	go func() {
		wait := time.Second
		for {
			err := p.Discover(ctx)
			if err == nil {
				logger.Info("sso provider ready", "provider", p.cfg.Key, "issuer", p.cfg.Issuer)
				return
			}
			logger.Warn("sso provider discovery failed; retrying", "provider", p.cfg.Key, "error", err.Error(), "retry_in", wait.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(wait*2, time.Minute)
		}
	}()
}

func (p *OIDC) current() *oidc.Provider {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.provider
}

func (p *OIDC) oauthConfig(prov *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.CallbackURL,
		Endpoint: prov.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// Name returns the provider's key.
func (p *OIDC) Name() string { return p.name }

// SetName renames the provider.
func (p *OIDC) SetName(name string) { p.name = name }

// Debug does nothing.
func (p *OIDC) Debug(bool) {}

// RefreshTokenAvailable is false: Keygate keeps no tokens.
func (p *OIDC) RefreshTokenAvailable() bool { return false }

// RefreshToken is not supported: Keygate keeps no tokens.
func (p *OIDC) RefreshToken(string) (*oauth2.Token, error) {
	return nil, errors.New("oidc: refresh tokens are not kept")
}

// BeginAuth starts a flow with a fresh nonce and PKCE verifier.
func (p *OIDC) BeginAuth(state string) (goth.Session, error) {
	prov := p.current()
	if prov == nil {
		return nil, ErrUnavailable
	}
	if state == "" {
		return nil, errors.New("oidc: empty state")
	}
	s := &OIDCSession{Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	s.AuthURL = p.oauthConfig(prov).AuthCodeURL(state, oidc.Nonce(s.Nonce), oauth2.S256ChallengeOption(s.Verifier))
	return s, nil
}

// UnmarshalSession reads a session that Marshal wrote.
func (p *OIDC) UnmarshalSession(data string) (goth.Session, error) {
	var s OIDCSession
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		return nil, fmt.Errorf("oidc session: %w", err)
	}
	if s.Nonce == "" || s.Verifier == "" {
		return nil, errors.New("oidc session: incomplete")
	}
	return &s, nil
}

// FetchUser returns the person that Authorize verified. It carries no
// tokens.
func (p *OIDC) FetchUser(gs goth.Session) (goth.User, error) {
	s, ok := gs.(*OIDCSession)
	if !ok || s.claims == nil {
		return goth.User{}, errors.New("oidc: session not authorized")
	}
	c := s.claims
	return goth.User{
		Provider: p.name, UserID: c.Subject, Email: c.Email, Name: c.Name,
		FirstName: c.GivenName, LastName: c.FamilyName,
		RawData: map[string]any{"iss": c.Issuer, "sub": c.Subject, "email": c.Email, "email_verified": bool(c.EmailVerified)},
	}, nil
}

// Identify makes an identity of a user that FetchUser returned. An email
// counts as trusted only if the provider marks it verified.
func (p *OIDC) Identify(u goth.User) (*keygate.ExternalIdentity, error) {
	verified, _ := u.RawData["email_verified"].(bool)
	return &keygate.ExternalIdentity{
		Issuer: p.cfg.Issuer, Subject: u.UserID, Email: u.Email, Name: displayName(u), EmailTrusted: verified && u.Email != "",
	}, nil
}

// Provider wraps p for a Registry.
func (p *OIDC) Provider() *Provider {
	name := p.cfg.Name
	if name == "" {
		name = "SSO"
	}
	return &Provider{Key: p.cfg.Key, Name: name, Goth: p, Identify: p.Identify}
}

// OIDCSession is one flow's secrets, kept server-side between begin and
// callback. Tokens are never in it.
type OIDCSession struct {
	AuthURL  string `json:"auth_url"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`

	claims *idClaims
}

// GetAuthURL returns the provider's authorization URL.
func (s *OIDCSession) GetAuthURL() (string, error) { return s.AuthURL, nil }

// Marshal encodes the session for server-side storage.
func (s *OIDCSession) Marshal() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Authorize is AuthorizeContext without a request: goth's interface has
// none.
func (s *OIDCSession) Authorize(gp goth.Provider, params goth.Params) (string, error) {
	return s.AuthorizeContext(context.Background(), gp, params)
}

// AuthorizeContext exchanges the code (with the PKCE verifier) and verifies
// the ID token, within ctx and at most 30 s. Only params.Get("code") is
// read. It returns no token.
func (s *OIDCSession) AuthorizeContext(ctx context.Context, gp goth.Provider, params goth.Params) (string, error) {
	p, ok := gp.(*OIDC)
	if !ok {
		return "", errors.New("oidc: wrong provider")
	}
	prov := p.current()
	if prov == nil {
		return "", ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The token, keys and userinfo requests all go through p.client, so
	// its outbound guard applies to each.
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client)
	tok, err := p.oauthConfig(prov).Exchange(ctx, params.Get("code"), oauth2.VerifierOption(s.Verifier))
	if err != nil {
		return "", fmt.Errorf("oidc token exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("oidc: no id_token in the token response")
	}
	// Signature (JWKS; "none" is never accepted), iss, aud and exp.
	verifier := prov.VerifierContext(ctx, &oidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.Now})
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("oidc id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(s.Nonce)) != 1 {
		return "", errors.New("oidc id token: nonce mismatch")
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		return "", fmt.Errorf("oidc id token claims: %w", err)
	}
	c.Issuer, c.Subject = idt.Issuer, idt.Subject
	if c.Email == "" && prov.UserInfoEndpoint() != "" {
		if err := s.userInfo(ctx, prov, tok, &c); err != nil {
			return "", err
		}
	}
	s.claims = &c
	return "", nil
}

// userInfo fills the email and name from the userinfo endpoint, for
// providers that leave them out of the ID token. Its subject must be the
// ID token's.
func (s *OIDCSession) userInfo(ctx context.Context, prov *oidc.Provider, tok *oauth2.Token, c *idClaims) error {
	info, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("oidc userinfo: %w", err)
	}
	if info.Subject != c.Subject {
		return errors.New("oidc userinfo: subject mismatch")
	}
	var extra idClaims
	if err := info.Claims(&extra); err != nil {
		return fmt.Errorf("oidc userinfo: %w", err)
	}
	c.Email, c.EmailVerified = info.Email, flexBool(info.EmailVerified)
	if c.Name == "" {
		c.Name, c.GivenName, c.FamilyName = extra.Name, extra.GivenName, extra.FamilyName
	}
	return nil
}

type idClaims struct {
	Issuer        string   `json:"-"`
	Subject       string   `json:"-"`
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	Name          string   `json:"name"`
	GivenName     string   `json:"given_name"`
	FamilyName    string   `json:"family_name"`
}

// flexBool reads true or "true": some providers send the string.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	*b = flexBool(s == "true")
	return nil
}

// displayName is the best name a provider gave.
func displayName(u goth.User) string {
	if n := strings.TrimSpace(u.Name); n != "" {
		return n
	}
	if n := strings.TrimSpace(u.FirstName + " " + u.LastName); n != "" {
		return n
	}
	return strings.TrimSpace(u.NickName)
}
