package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keygate/keygate/internal/sso"
)

// fakeIdP serves discovery, JWKS and a token endpoint that answers with
// whatever ID token the test crafted. It checks PKCE S256 like a real one.
type fakeIdP struct {
	*httptest.Server
	key, otherKey *rsa.PrivateKey

	mu        sync.Mutex
	idToken   string
	challenge string
}

const fakeClientID = "keygate-client"

func newFakeIdP(tb testing.TB) *fakeIdP {
	tb.Helper()
	f := &fakeIdP{}
	f.key, _ = rsa.GenerateKey(rand.Reader, 2048)
	f.otherKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.URL, "authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token",
			"jwks_uri": f.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != f.challenge || r.PostFormValue("code") != "the-code" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": f.idToken})
	})
	f.Server = httptest.NewServer(mux)
	tb.Cleanup(f.Close)
	return f
}

// claims are a valid ID token's claims for nonce.
func (f *fakeIdP) claims(nonce string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": f.URL, "sub": "user-1", "aud": fakeClientID, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"nonce": nonce, "email": "sam@example.com", "email_verified": true, "name": "Sam",
	}
}

func sign(tb testing.TB, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	tb.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		tb.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func unsigned(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"k1"}`))
	payload, _ := json.Marshal(claims)
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// mustOpenAppWithFakeIdP starts Keygate with the fake as its OIDC provider.
func mustOpenAppWithFakeIdP(tb testing.TB) (*App, *fakeIdP) {
	tb.Helper()
	f := newFakeIdP(tb)
	reg := sso.NewRegistry()
	app := MustOpenApp(tb, WithSSO(reg))
	p, err := sso.NewOIDC(sso.OIDCConfig{Key: "oidc", Name: "Fake", Issuer: f.URL, ClientID: fakeClientID, ClientSecret: "s",
		CallbackURL: app.URL + "/auth/oidc/callback"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Discover(context.Background()); err != nil {
		tb.Fatal(err)
	}
	reg.Add(p.Provider())
	return app, f
}

// callbackWith begins a flow, has the fake answer with the token that
// mint makes for the flow's nonce, and returns Keygate's answer to the
// callback.
func (c *Client) callbackWith(f *fakeIdP, mint func(nonce string) string) *Page {
	c.tb.Helper()
	q := c.MustBeginSSO("oidc").Query()
	f.mu.Lock()
	f.challenge, f.idToken = q.Get("code_challenge"), mint(q.Get("nonce"))
	f.mu.Unlock()
	return c.Get("/auth/oidc/callback?code=the-code&state=" + url.QueryEscape(q.Get("state")))
}

func TestSSO_IDTokenChecks(t *testing.T) {
	t.Parallel()
	app, f := mustOpenAppWithFakeIdP(t)
	with := func(change func(map[string]any)) func(string) string {
		return func(nonce string) string {
			c := f.claims(nonce)
			change(c)
			return sign(t, jose.RS256, f.key, c)
		}
	}
	for _, tt := range []struct {
		name string
		mint func(nonce string) string
	}{
		{"ErrWrongAudience", with(func(c map[string]any) { c["aud"] = "another-client" })},
		{"ErrWrongIssuer", with(func(c map[string]any) { c["iss"] = "https://evil.example" })},
		{"ErrExpired", with(func(c map[string]any) {
			c["exp"], c["iat"] = time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-20*time.Minute).Unix()
		})},
		{"ErrWrongNonce", with(func(c map[string]any) { c["nonce"] = "not-the-nonce" })},
		{"ErrNoNonce", with(func(c map[string]any) { delete(c, "nonce") })},
		{"ErrBadSignature", func(nonce string) string { return sign(t, jose.RS256, f.otherKey, f.claims(nonce)) }},
		{"ErrAlgNone", func(nonce string) string { return unsigned(f.claims(nonce)) }},
		{"ErrAlgHS256", func(nonce string) string {
			return sign(t, jose.HS256, []byte("a-shared-secret-of-32-bytes-long"), f.claims(nonce))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := app.NewClient(t)
			assertSSORefused(t, c, c.callbackWith(f, tt.mint), http.StatusUnauthorized, "could not confirm who you are")
			if n := app.Count(t, "users"); n != 0 {
				t.Fatalf("users = %d, want 0", n)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		c := app.NewClient(t)
		p := c.callbackWith(f, func(nonce string) string { return sign(t, jose.RS256, f.key, f.claims(nonce)) })
		assertStatus(t, p, http.StatusSeeOther)
		if got := c.LoggedInAs(); got != "sam@example.com" {
			t.Fatalf("logged in as %q", got)
		}
	})
}

func TestSSO_UnverifiedEmailDoesNotLink(t *testing.T) {
	t.Parallel()
	app, f := mustOpenAppWithFakeIdP(t)
	app.NewClient(t).MustSignup("Sam", "sam@example.com", "Sam's Org")
	c := app.NewClient(t)
	p := c.callbackWith(f, func(nonce string) string {
		cl := f.claims(nonce)
		cl["email_verified"] = false
		cl["sub"] = "someone-else"
		return sign(t, jose.RS256, f.key, cl)
	})
	assertSSORefused(t, c, p, http.StatusConflict, "Log in with your password")
	if p.Doc.Find(`[data-testid="sso-error"] a[href="/login"]`).Length() == 0 {
		t.Fatal("no way back to the login page")
	}
	if n := app.Count(t, "identities"); n != 0 {
		t.Fatalf("identities = %d, want 0", n)
	}
}
