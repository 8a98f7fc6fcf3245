package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/sso"
)

// fakeSocial answers for Google, GitHub and Microsoft: a client whose
// transport sends every request here stands in for the real hosts.
type fakeSocial struct {
	*httptest.Server

	mu             sync.Mutex
	googleUser     map[string]any
	githubEmails   []map[string]any
	microsoftUser  map[string]any
	microsoftToken string
	tokenRequests  []url.Values
}

func newFakeSocial(tb testing.TB) *fakeSocial {
	tb.Helper()
	f := &fakeSocial{
		googleUser:   map[string]any{"id": "g-123", "email": "gina@example.com", "verified_email": true, "name": "Gina"},
		githubEmails: []map[string]any{{"email": "octo@example.com", "primary": true, "verified": true}},
		microsoftUser: map[string]any{"id": "00000000-0000-0000-0000-0000000000aa", "mail": "mia@example.com",
			"displayName": "Mia", "userPrincipalName": "mia@contoso.example"},
	}
	claims, _ := json.Marshal(map[string]string{"tid": "tenant-1", "oid": "00000000-0000-0000-0000-0000000000aa"})
	f.microsoftToken = "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(claims) + ".sig"
	token := func(accessToken func() string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			f.mu.Lock()
			f.tokenRequests = append(f.tokenRequests, r.PostForm)
			f.mu.Unlock()
			if r.PostForm.Get("code") != "the-code" {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken(), "token_type": "Bearer", "expires_in": 3600})
		}
	}
	serve := func(v func() any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v())
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST oauth2.googleapis.com/token", token(func() string { return "google-at" }))
	mux.HandleFunc("GET www.googleapis.com/oauth2/v2/userinfo", serve(func() any { return f.googleUser }))
	mux.HandleFunc("POST github.com/login/oauth/access_token", token(func() string { return "github-at" }))
	mux.HandleFunc("GET api.github.com/user", serve(func() any {
		return map[string]any{"id": 4242, "login": "octocat", "name": "Octo Cat", "email": "public@example.com"}
	}))
	mux.HandleFunc("GET api.github.com/user/emails", serve(func() any { return f.githubEmails }))
	mux.HandleFunc("POST login.microsoftonline.com/{tenant}/oauth2/v2.0/token", token(func() string { return f.microsoftToken }))
	mux.HandleFunc("GET graph.microsoft.com/v1.0/me", serve(func() any { return f.microsoftUser }))
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = r.Header.Get("X-Original-Host")
		mux.ServeHTTP(w, r)
	}))
	tb.Cleanup(f.Close)
	return f
}

// Client returns an HTTP client that sends every request to the fake,
// keeping the host it was meant for in a header.
func (f *fakeSocial) HTTPClient() *http.Client {
	target, _ := url.Parse(f.URL)
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("X-Original-Host", r.URL.Host)
		r.URL.Scheme, r.URL.Host, r.Host = target.Scheme, target.Host, target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func mustOpenAppWithSocial(tb testing.TB) (*App, *fakeSocial) {
	tb.Helper()
	f := newFakeSocial(tb)
	reg := sso.NewRegistry()
	app := MustOpenApp(tb, WithSSO(reg))
	cfg := func(key string) sso.OAuthConfig {
		return sso.OAuthConfig{ClientID: key + "-id", ClientSecret: key + "-secret", CallbackURL: app.URL + "/auth/" + key + "/callback", HTTPClient: f.HTTPClient()}
	}
	reg.Add(sso.NewGoogle(cfg("google")))
	reg.Add(sso.NewGitHub(cfg("github")))
	reg.Add(sso.NewMicrosoft(cfg("microsoft"), "common"))
	return app, f
}

// socialCallback begins a flow at provider, checks where it sends the
// browser, and returns Keygate's answer to the provider's redirect back.
func (c *Client) socialCallback(provider, wantHost string) *Page {
	c.tb.Helper()
	authURL := c.MustBeginSSO(provider)
	if authURL.Host != wantHost {
		c.tb.Fatalf("sent to %s, want %s", authURL, wantHost)
	}
	q := authURL.Query()
	if q.Get("state") == "" || !strings.HasSuffix(q.Get("redirect_uri"), "/auth/"+provider+"/callback") {
		c.tb.Fatalf("authorization URL %s", authURL)
	}
	return c.Get("/auth/" + provider + "/callback?code=the-code&state=" + url.QueryEscape(q.Get("state")) + "&redirect_uri=https://evil.example/")
}

func TestSSO_Social(t *testing.T) {
	t.Parallel()
	t.Run("OKGoogle", func(t *testing.T) {
		app, f := mustOpenAppWithSocial(t)
		c := app.NewClient(t)
		// An empty instance opens on signup, which offers the same buttons.
		if got := c.Get("/signup").Text(`[data-testid="sso-google"]`); got != "Continue with Google" {
			t.Fatalf("button = %q", got)
		}
		assertStatus(t, c.socialCallback("google", "accounts.google.com"), http.StatusSeeOther)
		if got := c.LoggedInAs(); got != "gina@example.com" {
			t.Fatalf("logged in as %q", got)
		}
		for _, form := range f.tokenRequests {
			if got := form.Get("redirect_uri"); !strings.HasPrefix(got, app.URL) {
				t.Fatalf("token request redirect_uri = %q", got)
			}
		}
	})

	t.Run("ErrGoogleUnverifiedEmailDoesNotLink", func(t *testing.T) {
		app, f := mustOpenAppWithSocial(t)
		app.NewClient(t).MustSignup("Gina", "gina@example.com", "Gina's")
		f.googleUser["verified_email"] = false
		c := app.NewClient(t)
		assertSSORefused(t, c, c.socialCallback("google", "accounts.google.com"), http.StatusConflict, "Log in with your password")
		if n := app.Count(t, "identities"); n != 0 {
			t.Fatalf("identities = %d", n)
		}
	})

	t.Run("OKGitHubVerifiedPrimaryLinks", func(t *testing.T) {
		app, _ := mustOpenAppWithSocial(t)
		app.NewClient(t).MustSignup("Octo", "octo@example.com", "Octo's")
		c := app.NewClient(t)
		assertStatus(t, c.socialCallback("github", "github.com"), http.StatusSeeOther)
		// The verified primary address, not the public profile one.
		if got := c.LoggedInAs(); got != "octo@example.com" {
			t.Fatalf("logged in as %q", got)
		}
		if n := app.Count(t, "users"); n != 1 {
			t.Fatalf("users = %d", n)
		}
	})

	t.Run("ErrGitHubNoVerifiedPrimaryEmail", func(t *testing.T) {
		app, f := mustOpenAppWithSocial(t)
		f.githubEmails = []map[string]any{{"email": "octo@example.com", "primary": true, "verified": false}, {"email": "other@example.com", "primary": false, "verified": true}}
		c := app.NewClient(t)
		assertSSORefused(t, c, c.socialCallback("github", "github.com"), http.StatusUnauthorized, "no verified primary email")
		if n := app.Count(t, "users"); n != 0 {
			t.Fatalf("users = %d", n)
		}
	})

	t.Run("OKMicrosoftNewUser", func(t *testing.T) {
		app, _ := mustOpenAppWithSocial(t)
		c := app.NewClient(t)
		assertStatus(t, c.socialCallback("microsoft", "login.microsoftonline.com"), http.StatusSeeOther)
		if got := c.LoggedInAs(); got != "mia@example.com" {
			t.Fatalf("logged in as %q", got)
		}
		ids, err := sqlstore.NewIdentityService(app.DB, app.Users).FindIdentities(keygate.NewContextWithUser(context.Background(), app.MustUser(t, "mia@example.com")))
		if err != nil || len(ids) != 1 {
			t.Fatalf("identities = %v, %v; want one", ids, err)
		}
		if issuer, subject := ids[0].Issuer, ids[0].Subject; issuer != "https://login.microsoftonline.com/tenant-1/v2.0" || subject != "00000000-0000-0000-0000-0000000000aa" {
			t.Fatalf("identity = %s %s", issuer, subject)
		}
	})

	t.Run("ErrMicrosoftEmailNeverLinks", func(t *testing.T) {
		app, _ := mustOpenAppWithSocial(t)
		app.NewClient(t).MustSignup("Mia", "mia@example.com", "Mia's")
		c := app.NewClient(t)
		assertSSORefused(t, c, c.socialCallback("microsoft", "login.microsoftonline.com"), http.StatusConflict, "Log in with your password")
	})

	t.Run("ErrStateOfAnotherProvider", func(t *testing.T) {
		app, _ := mustOpenAppWithSocial(t)
		c := app.NewClient(t)
		state := c.MustBeginSSO("google").Query().Get("state")
		assertSSORefused(t, c, c.Get("/auth/github/callback?code=the-code&state="+url.QueryEscape(state)), http.StatusBadRequest, "not valid")
	})
}
