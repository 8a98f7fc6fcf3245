// Package sso is single sign-on: the providers people may sign in with,
// each a goth Provider, and what Keygate needs around them to run an
// authorization-code flow safely. It does no HTTP routing: web/ owns the
// begin and callback handlers and keeps each flow's state server-side.
package sso

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/markbates/goth"
)

// ErrUnavailable is returned by Begin while a provider is not usable yet,
// such as an OpenID provider whose discovery has not succeeded.
var ErrUnavailable = errors.New("sso: provider unavailable")

// Provider is one way to sign in that Keygate offers.
type Provider struct {
	// Key names the provider in URLs (/auth/{Key}) and in identities:
	// "oidc", "google", "github" or "microsoft".
	Key string
	// Name is shown to people: "Continue with {Name}".
	Name string
	// Goth does the protocol.
	Goth goth.Provider
	// Identify turns what Goth fetched into an identity, deciding whether
	// the provider is trusted for the email.
	Identify func(goth.User) (*keygate.ExternalIdentity, error)
}

// Begin starts a flow bound to state. It returns the URL to send the
// browser to and the flow's session (nonce, PKCE verifier), which the
// caller keeps server-side until the callback.
func (p *Provider) Begin(state string) (authURL, session string, err error) {
	sess, err := p.Goth.BeginAuth(state)
	if err != nil {
		return "", "", fmt.Errorf("begin %s: %w", p.Key, err)
	}
	authURL, err = sess.GetAuthURL()
	if err != nil {
		return "", "", fmt.Errorf("begin %s: %w", p.Key, err)
	}
	return authURL, sess.Marshal(), nil
}

// Complete exchanges code within the flow's session and identifies the
// person. Only the code reaches the provider: nothing else of the callback
// request, so an injected redirect_uri or code_verifier is never used. The
// tokens are dropped when it returns.
func (p *Provider) Complete(ctx context.Context, session, code string) (*keygate.ExternalIdentity, error) {
	if code == "" {
		return nil, errors.New("complete: no code")
	}
	sess, err := p.Goth.UnmarshalSession(session)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", p.Key, err)
	}
	if err := authorize(ctx, p.Goth, sess, codeOnly(code)); err != nil {
		return nil, fmt.Errorf("complete %s: %w", p.Key, err)
	}
	user, err := p.Goth.FetchUser(sess)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", p.Key, err)
	}
	ext, err := p.Identify(user)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", p.Key, err)
	}
	ext.Provider = p.Key
	ext.Email = keygate.NormalizeEmail(ext.Email)
	if ext.Issuer == "" || ext.Subject == "" {
		return nil, fmt.Errorf("complete %s: no issuer or subject", p.Key)
	}
	return ext, nil
}

// contextAuthorizer is a session whose exchange follows the request's
// context (OIDCSession).
type contextAuthorizer interface {
	AuthorizeContext(ctx context.Context, gp goth.Provider, params goth.Params) (string, error)
}

// authorize exchanges the code within ctx where the session can. goth's
// own sessions cannot: their exchange is bounded by the provider's HTTP
// client timeout only, so ctx is checked before it.
func authorize(ctx context.Context, gp goth.Provider, sess goth.Session, params goth.Params) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if ca, ok := sess.(contextAuthorizer); ok {
		_, err = ca.AuthorizeContext(ctx, gp, params)
	} else {
		_, err = sess.Authorize(gp, params)
	}
	return err
}

// codeOnly is the only callback parameter a provider sees.
type codeOnly string

func (c codeOnly) Get(name string) string {
	if name == "code" {
		return string(c)
	}
	return ""
}

// Registry holds the providers an instance offers, in the order they are
// shown. Providers may be added after the server has started.
type Registry struct {
	mu   sync.RWMutex
	list []*Provider
}

// NewRegistry returns a registry of providers.
func NewRegistry(providers ...*Provider) *Registry {
	return &Registry{list: providers}
}

// Add adds p, replacing a provider with the same key.
func (r *Registry) Add(p *Provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, q := range r.list {
		if q.Key == p.Key {
			r.list[i] = p
			return
		}
	}
	r.list = append(r.list, p)
}

// Get returns the provider with key, or nil.
func (r *Registry) Get(key string) *Provider {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, p := range r.list {
		if p.Key == key {
			return p
		}
	}
	return nil
}

// All returns the providers in order.
func (r *Registry) All() []*Provider {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*Provider(nil), r.list...)
}

// ValidateIssuer checks an issuer URL: https, or plain http on a loopback
// host for development and tests.
func ValidateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q is not an absolute URL", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("issuer %q must use https:// (plain http:// only on 127.0.0.1 or localhost)", issuer)
	}
	return fmt.Errorf("issuer %q must use https://", issuer)
}
