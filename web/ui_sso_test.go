package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sso"
)

// The OP's test user and the email it asserts, verified.
const opEmail = "test-user@zitadel.ch"

func TestSSO_LoginPageButtons(t *testing.T) {
	t.Run("OKHiddenWithoutProviders", func(t *testing.T) {
		app := MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		p := app.NewClient(t).Get("/login")
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find(`[data-testid="sso-buttons"]`).Length(); n != 0 {
			t.Fatalf("sso buttons shown without providers")
		}
	})
	t.Run("OKShownWhenConfigured", func(t *testing.T) {
		app, _ := MustOpenAppWithOP(t, "Acme SSO")
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		c := app.NewClient(t)
		for _, path := range []string{"/login", "/signup"} {
			p := c.Get(path)
			assertStatus(t, p, http.StatusOK)
			if got, want := p.Text(`[data-testid="sso-oidc"]`), "Continue with Acme SSO"; got != want {
				t.Fatalf("%s: button = %q, want %q", path, got, want)
			}
			if got, want := p.Doc.Find(`[data-testid="sso-oidc"]`).AttrOr("href", ""), "/auth/oidc"; got != want {
				t.Fatalf("%s: href = %q, want %q", path, got, want)
			}
		}
	})
}

func TestSSO_OpenIDProvider(t *testing.T) {
	t.Run("OKNewUserSignsUp", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		c := app.NewClient(t)
		c.Get("/login")
		authURL := c.MustBeginSSO("oidc")
		before := c.SessionCookie()
		q := authURL.Query()
		if got, want := q.Get("code_challenge_method"), "S256"; got != want {
			t.Fatalf("code_challenge_method = %q, want %q", got, want)
		}
		if q.Get("nonce") == "" || q.Get("state") == "" || q.Get("code_challenge") == "" {
			t.Fatalf("authorization URL lacks nonce, state or PKCE: %s", authURL)
		}
		cb := c.MustAuthorizeAtOP(op, authURL, op.Username)
		p := c.GetURL(cb.String())
		assertStatus(t, p, http.StatusSeeOther)
		if got := location(t, p).Path; got != "/" {
			t.Fatalf("redirected to %s, want /", got)
		}
		if c.SessionCookie() == before {
			t.Fatal("session id not rotated at SSO login")
		}
		if got := c.LoggedInAs(); got != opEmail {
			t.Fatalf("logged in as %q, want %q", got, opEmail)
		}
		user := app.MustUser(t, opEmail)
		if user.HasPassword {
			t.Fatal("SSO user has a password")
		}
		orgs, err := app.Orgs.FindOrganizations(keygate.NewContextWithUser(context.Background(), user))
		if err != nil || len(orgs) != 1 || orgs[0].Name != "Test User's organization" || orgs[0].Role != keygate.RoleOwner {
			t.Fatalf("organizations = %+v, %v", orgs, err)
		}
		if got, want := app.Count(t, "identities"), 1; got != want {
			t.Fatalf("identities = %d, want %d", got, want)
		}
		assertAuditActions(t, app, keygate.AuditSignup, keygate.AuditIdentityLink, keygate.AuditLoginSSO)

		// The same person again, from another browser: the same account.
		c2 := app.NewClient(t)
		assertStatus(t, c2.GetURL(c2.MustSSOCallback(op).String()), http.StatusSeeOther)
		if got := c2.LoggedInAs(); got != opEmail {
			t.Fatalf("second login as %q", got)
		}
		if got, want := app.Count(t, "users"), 1; got != want {
			t.Fatalf("users = %d, want %d", got, want)
		}
	})

	t.Run("OKLinksVerifiedEmailOfExistingAccount", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		app.NewClient(t).MustSignup("Ada", opEmail, "Analytical")
		c := app.NewClient(t)
		p := c.GetURL(c.MustSSOCallback(op).String())
		assertStatus(t, p, http.StatusSeeOther)
		if got := c.LoggedInAs(); got != opEmail {
			t.Fatalf("logged in as %q", got)
		}
		if got, want := app.Count(t, "users"), 1; got != want {
			t.Fatalf("users = %d, want %d", got, want)
		}
		if got, want := app.Count(t, "identities"), 1; got != want {
			t.Fatalf("identities = %d, want %d", got, want)
		}
	})

	t.Run("OKInjectedRedirectURIAndVerifierIgnored", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		c := app.NewClient(t)
		cb := c.MustSSOCallback(op)
		q := cb.Query()
		q.Set("redirect_uri", "https://evil.example/steal")
		q.Set("code_verifier", "attacker-chosen-verifier-attacker-chosen-verifier")
		cb.RawQuery = q.Encode()
		// Had either reached the token request, the OP would refuse it.
		assertStatus(t, c.GetURL(cb.String()), http.StatusSeeOther)
		if got := c.LoggedInAs(); got != opEmail {
			t.Fatalf("logged in as %q", got)
		}
	})

	t.Run("ErrReplayedCallback", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		c := app.NewClient(t)
		cb := c.MustSSOCallback(op)
		assertStatus(t, c.GetURL(cb.String()), http.StatusSeeOther)
		fresh := app.NewClient(t)
		assertSSORefused(t, fresh, fresh.GetURL(cb.String()), http.StatusBadRequest, "not valid")
		// Even the browser that used it cannot use it twice.
		c.Post("/logout", nil)
		p := c.GetURL(cb.String())
		assertSSORefused(t, c, p, http.StatusBadRequest, "not valid")
	})

	t.Run("ErrAttackerSuppliedState", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		attacker := app.NewClient(t)
		cb := attacker.MustSSOCallback(op) // the attacker's own code and state
		victim := app.NewClient(t)
		victim.MustBeginSSO("oidc") // even with a flow of the victim's own
		assertSSORefused(t, victim, victim.GetURL(cb.String()), http.StatusBadRequest, "not valid")
		if victim.LoggedInAs() != "" {
			t.Fatal("victim logged in to the attacker's account")
		}
	})

	t.Run("ErrMissingOrWrongState", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		for _, mutate := range []func(url.Values){
			func(q url.Values) { q.Del("state") },
			func(q url.Values) { q.Set("state", "wrong") },
			func(q url.Values) { q.Set("state", q.Get("state")+"x") },
		} {
			c := app.NewClient(t)
			cb := c.MustSSOCallback(op)
			q := cb.Query()
			mutate(q)
			cb.RawQuery = q.Encode()
			assertSSORefused(t, c, c.GetURL(cb.String()), http.StatusBadRequest, "not valid")
			if c.LoggedInAs() != "" {
				t.Fatal("logged in with a bad state")
			}
		}
		if got := app.Count(t, "users"); got != 0 {
			t.Fatalf("users = %d, want 0", got)
		}
	})

	t.Run("ErrCallbackWithoutBegin", func(t *testing.T) {
		app, _ := MustOpenAppWithOP(t, "SSO")
		c := app.NewClient(t)
		assertSSORefused(t, c, c.Get("/auth/oidc/callback?code=abc&state=def"), http.StatusBadRequest, "not valid")
		assertSSORefused(t, c, c.Get("/auth/oidc/callback"), http.StatusBadRequest, "not valid")
	})

	t.Run("ErrAccessDeniedShownEscaped", func(t *testing.T) {
		app, _ := MustOpenAppWithOP(t, "SSO")
		c := app.NewClient(t)
		state := c.MustBeginSSO("oidc").Query().Get("state")
		desc := `<script>alert("x")</script><b>nope</b>`
		p := c.Get("/auth/oidc/callback?error=access_denied&state=" + url.QueryEscape(state) + "&error_description=" + url.QueryEscape(desc))
		assertSSORefused(t, c, p, http.StatusUnauthorized, desc)
		if strings.Contains(p.Body, "<script>alert") || p.Doc.Find(`[data-testid="sso-error"] b`).Length() != 0 {
			t.Fatal("error_description rendered as HTML")
		}
		if c.LoggedInAs() != "" {
			t.Fatal("logged in after access_denied")
		}
	})

	t.Run("ErrSignupClosed", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO", WithSignupMode("closed"))
		app.NewClient(t).MustSignup("First", "first@example.com", "First Org")
		c := app.NewClient(t)
		assertSSORefused(t, c, c.GetURL(c.MustSSOCallback(op).String()), http.StatusForbidden, "Signup is closed")
		if got := app.Count(t, "users"); got != 1 {
			t.Fatalf("users = %d, want 1", got)
		}
	})

	t.Run("ErrSignupByInvitation", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO", WithSignupMode("invite"))
		app.NewClient(t).MustSignup("First", "first@example.com", "First Org")
		c := app.NewClient(t)
		assertSSORefused(t, c, c.GetURL(c.MustSSOCallback(op).String()), http.StatusForbidden, "invitation")
	})
}

func TestSSO_SignInMethods(t *testing.T) {
	t.Run("OKLinkAndUnlink", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "Acme SSO")
		c := app.NewClient(t)
		c.MustSignup("Grace", "grace@example.com", "Navy")
		p := c.Get("/settings/sign-in-methods")
		assertStatus(t, p, http.StatusOK)
		if p.Doc.Find(`[data-testid="identity-row"]`).Length() != 0 {
			t.Fatal("identities before linking")
		}
		p = c.Post("/settings/sign-in-methods/oidc/link", nil)
		assertStatus(t, p, http.StatusSeeOther)
		cb := c.MustAuthorizeAtOP(op, location(t, p), op.Username)
		p = c.GetURL(cb.String())
		assertStatus(t, p, http.StatusSeeOther)
		p = c.Follow(p)
		assertStatus(t, p, http.StatusOK)
		rows := p.Doc.Find(`[data-testid="identity-row"]`)
		if rows.Length() != 1 || !strings.Contains(rows.Text(), "Acme SSO") || !strings.Contains(rows.Text(), opEmail) {
			t.Fatalf("identities = %q", rows.Text())
		}
		assertAuditActions(t, app, keygate.AuditIdentityLink)

		// The identity now logs in to Grace's account, not a new one.
		c2 := app.NewClient(t)
		assertStatus(t, c2.GetURL(c2.MustSSOCallback(op).String()), http.StatusSeeOther)
		if got := c2.LoggedInAs(); got != "grace@example.com" {
			t.Fatalf("logged in as %q", got)
		}

		action := rows.Find("form").AttrOr("action", "")
		p = c.Post(action, nil)
		assertStatus(t, p, http.StatusSeeOther)
		p = c.Follow(p)
		if p.Doc.Find(`[data-testid="identity-row"]`).Length() != 0 {
			t.Fatal("identity still linked after unlink")
		}
		assertAuditActions(t, app, keygate.AuditIdentityUnlink)
	})

	t.Run("ErrUnlinkLastWayIn", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		c := app.NewClient(t)
		assertStatus(t, c.GetURL(c.MustSSOCallback(op).String()), http.StatusSeeOther)
		p := c.Get("/settings/sign-in-methods")
		action := p.Doc.Find(`[data-testid="identity-row"] form`).AttrOr("action", "")
		p = c.Follow(c.Post(action, nil))
		if got := p.Text(".flash-error"); !strings.Contains(got, "only way to log in") {
			t.Fatalf("flash = %q", got)
		}
		if got := app.Count(t, "identities"); got != 1 {
			t.Fatalf("identities = %d, want 1", got)
		}
	})

	t.Run("ErrLinkFlowOfAnotherUser", func(t *testing.T) {
		app, op := MustOpenAppWithOP(t, "SSO")
		c := app.NewClient(t)
		c.MustSignup("Grace", "grace@example.com", "Navy")
		p := c.Post("/settings/sign-in-methods/oidc/link", nil)
		cb := c.MustAuthorizeAtOP(op, location(t, p), op.Username)
		c.Post("/logout", nil)
		assertSSORefused(t, c, c.GetURL(cb.String()), http.StatusBadRequest, "not valid")
		if got := app.Count(t, "identities"); got != 0 {
			t.Fatalf("identities = %d, want 0", got)
		}
	})
}

func TestSSO_ProviderDownAtStart(t *testing.T) {
	t.Parallel()
	reg := sso.NewRegistry()
	app := MustOpenApp(t, WithSSO(reg))
	// A port nothing listens on.
	p, err := sso.NewOIDC(sso.OIDCConfig{Key: "oidc", Name: "SSO", Issuer: "http://127.0.0.1:1/", ClientID: "x", CallbackURL: app.URL + "/auth/oidc/callback"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p.Start(ctx, nil)
	reg.Add(p.Provider())

	c := app.NewClient(t)
	assertSSORefused(t, c, c.Get("/auth/oidc"), http.StatusServiceUnavailable, "cannot be reached")
	c.MustSignup("Ada", "ada@example.com", "Analytical")
	c.Post("/logout", nil)
	c.MustLogin("ada@example.com", testPassword)
	if got := c.LoggedInAs(); got != "ada@example.com" {
		t.Fatalf("password login with the IdP down: logged in as %q", got)
	}
}

// assertSSORefused checks that p is the SSO problem page with status and a
// message containing want, and that c is not logged in.
func assertSSORefused(tb testing.TB, c *Client, p *Page, status int, want string) {
	tb.Helper()
	assertStatus(tb, p, status)
	if got := p.Text(`[data-testid="sso-error-message"]`); !strings.Contains(got, want) {
		tb.Fatalf("message = %q, want it to contain %q", got, want)
	}
	if who := c.LoggedInAs(); who != "" {
		tb.Fatalf("logged in as %s after a refused sign-in", who)
	}
}

// assertAuditActions checks that the audit log holds each action. Sign-in
// events may belong to no organization, which no service lists: hence SQL.
func assertAuditActions(tb testing.TB, app *App, actions ...string) {
	tb.Helper()
	for _, a := range actions {
		var n int
		if err := app.DB.WriteConn().QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = $1`, a).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			tb.Fatalf("no %s audit event", a)
		}
	}
}
