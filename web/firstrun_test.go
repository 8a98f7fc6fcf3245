package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// firstAccountNote is what the signup page of an empty instance says.
const firstAccountNote = "No accounts yet: the first account becomes the instance's administrator (superuser)."

func TestFirstRun(t *testing.T) {
	t.Parallel()
	t.Run("OKEmptyInstanceOpensOnSignup", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		for _, path := range []string{"/", "/login", "/login?next=%2Fsettings"} {
			p := c.Get(path)
			assertStatus(t, p, http.StatusSeeOther)
			if got, want := p.Header.Get("Location"), "/signup"; got != want {
				t.Fatalf("GET %s: Location = %q, want %q", path, got, want)
			}
		}
	})

	for _, mode := range []string{"open", "invite", "closed"} {
		t.Run("OKSignupSaysSuperuser_"+mode, func(t *testing.T) {
			app := MustOpenApp(t, WithSignupMode(mode))
			p := app.NewClient(t).Get("/signup")
			assertStatus(t, p, http.StatusOK)
			if got := p.Text("[data-testid=first-account-note]"); got != firstAccountNote {
				t.Fatalf("note = %q, want %q", got, firstAccountNote)
			}
			if p.Doc.Find("form[action='/signup'] label[for=f-email]").Length() != 1 {
				t.Fatal("no signup form on an empty instance")
			}
		})
	}

	t.Run("OKLoginOnceAnAccountExists", func(t *testing.T) {
		app := MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		c := app.NewClient(t)
		p := c.Get("/login")
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("h1"), "Log in to Keygate"; got != want {
			t.Fatalf("h1 = %q, want %q", got, want)
		}
		p = c.Get("/")
		assertStatus(t, p, http.StatusSeeOther)
		if got, want := p.Header.Get("Location"), "/login"; got != want {
			t.Fatalf("GET /: Location = %q, want %q", got, want)
		}
		p = c.Get("/signup")
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find("[data-testid=first-account-note]").Length(); n != 0 {
			t.Fatal("the second person is told they become the superuser")
		}
	})

	t.Run("OKFirstAccountIsSuperuser", func(t *testing.T) {
		app := MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		if !app.MustUser(t, "ada@example.com").IsSuperuser {
			t.Fatal("the first account is not the superuser")
		}
	})
}

func TestLoginForm(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")

	t.Run("OKSignupLinkAfterFailedLogin", func(t *testing.T) {
		p := app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {"not the password"}})
		assertStatus(t, p, http.StatusUnauthorized)
		if got := p.Doc.Find(`.auth-switch a[href="/signup"]`).Text(); got != "Create an account" {
			t.Fatalf("signup link after a failed login = %q, want %q", got, "Create an account")
		}
	})

	t.Run("OKNoSignupLinkWhenClosed", func(t *testing.T) {
		closed := MustOpenApp(t, WithSignupMode("closed"))
		closed.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		p := closed.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {"not the password"}})
		assertStatus(t, p, http.StatusUnauthorized)
		if n := p.Doc.Find(`a[href="/signup"]`).Length(); n != 0 {
			t.Fatal("signup link offered while signup is closed")
		}
	})

	tests := []struct {
		name   string
		form   url.Values
		fields map[string]string // field: message beside it; "" means none
	}{
		{"ErrEmpty", url.Values{}, map[string]string{"email": "Enter your email.", "password": "Enter your password."}},
		{"ErrEmptyEmail", url.Values{"email": {"  "}, "password": {testPassword}}, map[string]string{"email": "Enter your email.", "password": ""}},
		{"ErrEmptyPassword", url.Values{"email": {"ada@example.com"}}, map[string]string{"email": "", "password": "Enter your password."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := app.NewClient(t)
			p := c.Post("/login", tt.form)
			assertStatus(t, p, http.StatusBadRequest)
			for field, want := range tt.fields {
				if got := fieldError(p, field); got != want {
					t.Errorf("error beside %s = %q, want %q", field, got, want)
				}
			}
			if got := p.Text("[role=alert]"); strings.Contains(got, "Invalid email or password.") {
				t.Errorf("empty form answered %q", got)
			}
			if got, _ := p.Doc.Find("#f-email").Attr("value"); got != strings.TrimSpace(tt.form.Get("email")) {
				t.Errorf("email kept as %q", got)
			}
			if p.Doc.Find(`.auth-switch a[href="/signup"]`).Length() != 1 {
				t.Error("no signup link")
			}
			if c.SessionCookie() != "" {
				t.Fatal("empty form logged in")
			}
		})
	}

	t.Run("OKEmptyFormsAreNotCounted", func(t *testing.T) {
		c := app.NewClient(t)
		// More than the account's allowance of failures (5): none counts.
		for range 8 {
			assertStatus(t, c.Post("/login", url.Values{"email": {"ada@example.com"}}), http.StatusBadRequest)
		}
		assertStatus(t, c.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}), http.StatusSeeOther)
	})
}

func TestErrorPageActions(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")

	// crossSite posts as another site's form would: refused with a 403.
	crossSite := func(c *Client, path string) *Page {
		req, _ := http.NewRequest(http.MethodPost, app.URL+path, strings.NewReader("name=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		return c.Do(req)
	}
	action := func(p *Page) (text, href string) {
		a := p.Doc.Find("[data-testid=error-page] [data-testid=error-action]")
		if a.Length() != 1 {
			t.Fatalf("%d actions on the error page; body: %.400s", a.Length(), p.Body)
		}
		return strings.TrimSpace(a.Text()), a.AttrOr("href", "")
	}

	t.Run("OKLoggedOut429LogIn", func(t *testing.T) {
		c := app.NewClient(t)
		bad := url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}
		var p *Page
		for range 5 {
			p = c.Post("/login", bad)
		}
		assertStatus(t, p, http.StatusTooManyRequests)
		if text, href := action(p); text != "Log in" || href != "/login" {
			t.Fatalf("action = %q → %q, want %q → /login", text, href, "Log in")
		}
		if strings.Contains(p.Text("[data-testid=error-page]"), "Go to the dashboard") {
			t.Fatal("a logged-out person is offered the dashboard")
		}
	})

	t.Run("OKLoggedOut403LogIn", func(t *testing.T) {
		p := crossSite(app.NewClient(t), "/login")
		assertStatus(t, p, http.StatusForbidden)
		if text, href := action(p); text != "Log in" || href != "/login" {
			t.Fatalf("action = %q → %q, want %q → /login", text, href, "Log in")
		}
	})

	t.Run("OKLoggedIn403Dashboard", func(t *testing.T) {
		p := crossSite(owner, "/orgs/"+orgID+"/settings")
		assertStatus(t, p, http.StatusForbidden)
		if text, href := action(p); text != "Go to the dashboard" || href != "/" {
			t.Fatalf("action = %q → %q, want %q → /", text, href, "Go to the dashboard")
		}
	})
}
