package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/web"
)

func TestSignup(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		p := c.Get("/signup")
		assertStatus(t, p, http.StatusOK)
		for _, label := range []string{"Name", "Email", "Password", "Organization name"} {
			if p.Doc.Find("label:contains('"+label+"')").Length() == 0 {
				t.Errorf("signup form has no label %q", label)
			}
		}
		orgID := c.MustSignup("Ada Lovelace", " Ada@Example.com ", "Analytical Engines")
		p = c.Get("/orgs/" + orgID)
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("h1"), "Overview"; got != want {
			t.Fatalf("h1 = %q, want %q", got, want)
		}
		if !strings.Contains(p.Text(".flash-success"), "You are the Owner of Analytical Engines") {
			t.Fatalf("flash = %q", p.Text(".flashes"))
		}
		if got := p.Text(".org-switcher summary .muted"); !strings.HasSuffix(got, "Owner") {
			t.Fatalf("role in switcher = %q, want Owner", got)
		}
		// The flash is shown once.
		if p := c.Get("/orgs/" + orgID); p.Doc.Find(".flash-success").Length() != 0 {
			t.Fatal("flash shown twice")
		}
		u := app.MustUser(t, "ada@example.com")
		if u.Email != "ada@example.com" || !u.IsSuperuser {
			t.Fatalf("user = %+v, want normalized email and first user superuser", u)
		}
	})

	t.Run("SecondUserSeesOnlyOwnOrganization", func(t *testing.T) {
		app := MustOpenApp(t)
		a, b := app.NewClient(t), app.NewClient(t)
		orgA := a.MustSignup("Ada", "ada@example.com", "Org A")
		orgB := b.MustSignup("Bob", "bob@example.com", "Org B")
		if app.MustUser(t, "bob@example.com").IsSuperuser {
			t.Fatal("second user is superuser")
		}
		p := b.Get("/orgs/" + orgB)
		assertStatus(t, p, http.StatusOK)
		if strings.Contains(p.Body, "Org A") || strings.Contains(p.Body, orgA) {
			t.Fatal("second user's page mentions the first organization")
		}
		for _, path := range []string{"", "/bots", "/conversations", "/api-keys", "/members", "/settings"} {
			p := b.Get("/orgs/" + orgA + path)
			assertStatus(t, p, http.StatusNotFound)
			if strings.Contains(p.Body, "Org A") {
				t.Fatalf("404 page for %s names the organization", path)
			}
		}
		for _, path := range []string{"/settings", "/delete"} {
			p := b.Post("/orgs/"+orgA+path, url.Values{"name": {"Hijacked"}, "confirm": {"Org A"}})
			assertStatus(t, p, http.StatusNotFound)
		}
		if p := a.Get("/orgs/" + orgA); !strings.Contains(p.Text("h1")+p.Body, "Org A") {
			t.Fatal("organization A changed or vanished")
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		tests := []struct {
			name   string
			form   url.Values
			fields map[string]string
		}{
			{"Empty", url.Values{}, map[string]string{
				"name": "Name is required.", "email": "Email is required.",
				"password": "Password must be at least 12 characters.", "organization": "Organization name is required.",
			}},
			{"BadEmail", url.Values{"name": {"A"}, "email": {"not-an-email"}, "password": {testPassword}, "organization": {"O"}},
				map[string]string{"email": "Enter a valid email address, like name@example.com."}},
			{"ShortPassword", url.Values{"name": {"A"}, "email": {"a@example.com"}, "password": {"short"}, "organization": {"O"}},
				map[string]string{"password": "Password must be at least 12 characters."}},
			{"CommonPassword", url.Values{"name": {"A"}, "email": {"a@example.com"}, "password": {"password1234"}, "organization": {"O"}},
				map[string]string{"password": "This password is too common. Choose a less predictable one."}},
			{"LongName", url.Values{"name": {strings.Repeat("n", 101)}, "email": {"a@example.com"}, "password": {testPassword}, "organization": {"O"}},
				map[string]string{"name": "Name must be at most 100 characters."}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				app := MustOpenApp(t)
				c := app.NewClient(t)
				p := c.Post("/signup", tt.form)
				assertStatus(t, p, http.StatusBadRequest)
				for field, want := range tt.fields {
					if got := fieldError(p, field); got != want {
						t.Errorf("error beside %s = %q, want %q", field, got, want)
					}
					if got, _ := p.Doc.Find("#f-" + field).Attr("aria-invalid"); got != "true" {
						t.Errorf("input %s not marked invalid", field)
					}
				}
				for _, field := range []string{"name", "email", "organization"} {
					if got, _ := p.Doc.Find("#f-" + field).Attr("value"); got != strings.TrimSpace(tt.form.Get(field)) {
						t.Errorf("input %s kept %q, want %q", field, got, tt.form.Get(field))
					}
				}
				if got, _ := p.Doc.Find("#f-password").Attr("value"); got != "" {
					t.Errorf("password echoed back: %q", got)
				}
				if n := app.Count(t, "users") + app.Count(t, "organizations") + app.Count(t, "memberships"); n != 0 {
					t.Fatalf("%d rows written on error", n)
				}
				if c.SessionCookie() != "" {
					t.Fatal("failed signup logged in")
				}
			})
		}
	})

	t.Run("ErrDuplicateEmail", func(t *testing.T) {
		app := MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		p := app.NewClient(t).Post("/signup", url.Values{"name": {"Other"}, "email": {"ADA@example.com"}, "password": {testPassword}, "organization": {"Org X"}})
		assertStatus(t, p, http.StatusConflict)
		if got := fieldError(p, "email"); !strings.Contains(got, "already exists") {
			t.Fatalf("email error = %q", got)
		}
		if n := app.Count(t, "organizations"); n != 1 {
			t.Fatalf("organizations = %d, want 1", n)
		}
	})

	for _, mode := range []string{"invite", "closed"} {
		t.Run("Mode_"+mode, func(t *testing.T) {
			app := MustOpenApp(t, WithSignupMode(mode))
			// The first user of an empty instance can always sign up.
			first := app.NewClient(t)
			p := first.Get("/signup")
			if p.Doc.Find("form[action='/signup']").Length() != 1 {
				t.Fatal("empty instance does not offer signup")
			}
			first.MustSignup("Ada", "ada@example.com", "Org A")

			c := app.NewClient(t)
			p = c.Get("/signup")
			assertStatus(t, p, http.StatusOK)
			if p.Doc.Find("form[action='/signup']").Length() != 0 {
				t.Fatal("signup form shown while signup is " + mode)
			}
			want := map[string]string{"invite": "by invitation only", "closed": "Signup is closed"}[mode]
			if !strings.Contains(p.Text(".flash-info"), want) {
				t.Fatalf("page says %q, want it to contain %q", p.Text(".flash-info"), want)
			}
			p = c.Post("/signup", url.Values{"name": {"Bob"}, "email": {"bob@example.com"}, "password": {testPassword}, "organization": {"B"}})
			assertStatus(t, p, http.StatusForbidden)
			if n := app.Count(t, "users"); n != 1 {
				t.Fatalf("users = %d, want 1", n)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")

	t.Run("OK", func(t *testing.T) {
		c := app.NewClient(t)
		p := c.Get("/orgs/" + orgID)
		assertStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/login?next=%2Forgs%2F"+orgID {
			t.Fatalf("redirect to %q", loc)
		}
		p = c.Post("/login", url.Values{"email": {"ADA@example.com "}, "password": {testPassword}, "next": {"/orgs/" + orgID + "/settings"}})
		assertStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/orgs/"+orgID+"/settings" {
			t.Fatalf("login redirected to %q", loc)
		}
		assertStatus(t, c.Follow(p), http.StatusOK)
	})

	t.Run("ErrOpenRedirect", func(t *testing.T) {
		c := app.NewClient(t)
		for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
			p := c.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}, "next": {next}})
			if loc := p.Header.Get("Location"); loc != "/" {
				t.Fatalf("next=%q redirected to %q", next, loc)
			}
		}
	})

	t.Run("ErrInvalidCredentials", func(t *testing.T) {
		for name, form := range map[string]url.Values{
			"WrongPassword": {"email": {"ada@example.com"}, "password": {"wrong password here"}},
			"UnknownEmail":  {"email": {"nobody@example.com"}, "password": {testPassword}},
		} {
			t.Run(name, func(t *testing.T) {
				c := app.NewClient(t)
				p := c.Post("/login", form)
				assertStatus(t, p, http.StatusUnauthorized)
				if got, want := p.Text("[role=alert]"), "Invalid email or password."; got != want {
					t.Fatalf("message = %q, want %q", got, want)
				}
				if got, _ := p.Doc.Find("#f-email").Attr("value"); got != form.Get("email") {
					t.Fatalf("email kept as %q", got)
				}
				if got, _ := p.Doc.Find("#f-password").Attr("value"); got != "" {
					t.Fatal("password echoed")
				}
				if c.SessionCookie() != "" {
					t.Fatal("failed login set a session")
				}
			})
		}
	})
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	t.Run("Account", func(t *testing.T) {
		app := MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		c := app.NewClient(t)
		bad := url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}
		for i := 1; i <= 4; i++ {
			assertStatus(t, c.Post("/login", bad), http.StatusUnauthorized)
		}
		p := c.Post("/login", bad)
		assertStatus(t, p, http.StatusTooManyRequests)
		if !strings.Contains(p.Text("[data-testid=error-page]"), "Try again in 15 minutes") {
			t.Fatalf("429 page says %q", p.Text("[data-testid=error-page]"))
		}
		if p.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		// Even the right password is refused while throttled.
		p = c.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
		assertStatus(t, p, http.StatusTooManyRequests)
	})

	t.Run("SuccessResetsAccount", func(t *testing.T) {
		app := MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		c := app.NewClient(t)
		bad := url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}
		for i := 0; i < 4; i++ {
			c.Post("/login", bad)
		}
		c.MustLogin("ada@example.com", testPassword)
		for i := 0; i < 4; i++ {
			assertStatus(t, app.NewClient(t).Post("/login", bad), http.StatusUnauthorized)
		}
	})

	t.Run("IP", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		for i := 0; i < 49; i++ {
			p := c.Post("/login", url.Values{"email": {"user" + itoa(i) + "@example.com"}, "password": {"whatever it is"}})
			assertStatus(t, p, http.StatusUnauthorized)
		}
		p := c.Post("/login", url.Values{"email": {"last@example.com"}, "password": {"whatever it is"}})
		assertStatus(t, p, http.StatusTooManyRequests)
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	old := c.SessionCookie()

	// GET does not log out.
	assertStatus(t, c.Get("/logout"), http.StatusNotFound)
	assertStatus(t, c.Get("/orgs/"+orgID), http.StatusOK)

	p := c.Post("/logout", nil)
	assertStatus(t, p, http.StatusSeeOther)
	if loc := p.Header.Get("Location"); loc != "/login?logged_out=1" {
		t.Fatalf("logout redirected to %q", loc)
	}
	if got := c.Follow(p).Text(".flash-success"); got != "You have been logged out." {
		t.Fatalf("flash = %q", got)
	}
	assertStatus(t, c.Get("/orgs/"+orgID), http.StatusSeeOther)

	// The old cookie, replayed, no longer works: the session ended on the server.
	replay := app.NewClient(t)
	replay.SetSessionCookie(old)
	assertStatus(t, replay.Get("/orgs/"+orgID), http.StatusSeeOther)
	if n := app.Count(t, "sessions"); n != 0 {
		t.Fatalf("sessions = %d after logout, want 0", n)
	}
}

func TestSessionRegeneratedAtLogin(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	ada := app.NewClient(t)
	ada.MustSignup("Ada", "ada@example.com", "Org A")
	app.NewClient(t).MustSignup("Bob", "bob@example.com", "Org B")

	// A browser carrying a session cookie (here a live one) logs in: the
	// cookie it had must not be the cookie it gets.
	c := app.NewClient(t)
	planted := ada.SessionCookie()
	c.SetSessionCookie(planted)
	c.MustLogin("bob@example.com", testPassword)
	if got := c.SessionCookie(); got == "" || got == planted {
		t.Fatal("session id not regenerated at login")
	}
	// The planted session was ended, so its holder is logged out.
	assertStatus(t, ada.Get("/settings"), http.StatusSeeOther)
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	p := c.Post("/signup", url.Values{"name": {"Ada"}, "email": {"ada@example.com"}, "password": {testPassword}, "organization": {"A"}})
	var found bool
	for _, ck := range p.Cookies() {
		if ck.Name != web.SessionCookieName {
			continue
		}
		found = true
		if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
			t.Fatalf("cookie = %+v", ck)
		}
		if len(ck.Value) < 40 {
			t.Fatalf("cookie value too short: %d", len(ck.Value))
		}
	}
	if !found {
		t.Fatal("no session cookie set")
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	for name, hdr := range map[string][2]string{
		"SecFetchSite": {"Sec-Fetch-Site", "cross-site"},
		"Origin":       {"Origin", "https://evil.example"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, app.URL+"/orgs/"+orgID+"/settings", strings.NewReader("name=Hijacked"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(hdr[0], hdr[1])
			p := c.Do(req)
			assertStatus(t, p, http.StatusForbidden)
			if !strings.Contains(p.Body, "Cross-origin request refused") {
				t.Fatalf("body: %.300s", p.Body)
			}
		})
	}
	if got := c.Get("/orgs/" + orgID + "/settings"); strings.Contains(got.Body, "Hijacked") {
		t.Fatal("cross-origin POST changed the organization")
	}
	// A cross-origin signup is refused too: nothing written.
	req, _ := http.NewRequest(http.MethodPost, app.URL+"/signup", strings.NewReader(url.Values{"name": {"E"}, "email": {"e@example.com"}, "password": {testPassword}, "organization": {"E"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	assertStatus(t, app.NewClient(t).Do(req), http.StatusForbidden)
	if n := app.Count(t, "users"); n != 1 {
		t.Fatalf("users = %d, want 1", n)
	}
}
