package web_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/web"
)

// MustAddMember signs a new user up and adds them to orgID with role; it
// returns their logged-in client.
func MustAddMember(tb testing.TB, app *App, orgID, name, email string, role keygate.Role) *Client {
	tb.Helper()
	c := app.NewClient(tb)
	c.MustSignup(name, email, name+"'s own org")
	u := app.MustUser(tb, email)
	if err := app.Orgs.AddMember(context.Background(), orgID, u.ID, role); err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestMemberForbiddenOnAdminPages(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")
	member := MustAddMember(t, app, orgID, "Mia", "mia@example.com", keygate.RoleMember)
	admin := MustAddMember(t, app, orgID, "Al", "al@example.com", keygate.RoleAdmin)

	p := member.Get("/orgs/" + orgID)
	assertStatus(t, p, http.StatusOK)
	nav := p.Doc.Find("nav[aria-label=Main]")
	for _, hidden := range []string{"API Keys", "Members"} {
		if nav.Find("a:contains('"+hidden+"')").Length() != 0 {
			t.Errorf("Member sees %q in the sidebar", hidden)
		}
	}
	for _, shown := range []string{"Overview", "Bots", "Conversations", "Settings"} {
		if nav.Find("a:contains('"+shown+"')").Length() == 0 {
			t.Errorf("Member does not see %q in the sidebar", shown)
		}
	}

	p = member.Get("/orgs/" + orgID + "/api-keys")
	assertStatus(t, p, http.StatusForbidden)
	if got := p.Text("[data-testid=error-page] p:not(.error-status)"); got != "You need the Admin role to manage API keys" {
		t.Fatalf("403 message = %q", got)
	}
	if p.Doc.Find("nav[aria-label=Main]").Length() != 1 {
		t.Fatal("403 page is not in the dashboard layout")
	}
	assertStatus(t, member.Get("/orgs/"+orgID+"/members"), http.StatusForbidden)

	// A Member may read the organization settings, not change them.
	p = member.Get("/orgs/" + orgID + "/settings")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("form[action$='/settings']").Length() != 0 || p.Doc.Find("form[action$='/delete']").Length() != 0 {
		t.Fatal("Member is offered organization forms")
	}
	assertStatus(t, member.Post("/orgs/"+orgID+"/settings", url.Values{"name": {"Renamed"}}), http.StatusForbidden)
	assertStatus(t, member.Post("/orgs/"+orgID+"/delete", url.Values{"confirm": {"Org A"}}), http.StatusForbidden)

	// An Admin manages but cannot delete.
	p = admin.Get("/orgs/" + orgID + "/api-keys")
	assertStatus(t, p, http.StatusOK)
	p = admin.Get("/orgs/" + orgID + "/settings")
	if p.Doc.Find("form[action$='/delete']").Length() != 0 {
		t.Fatal("Admin is offered deletion")
	}
	assertStatus(t, admin.Post("/orgs/"+orgID+"/delete", url.Values{"confirm": {"Org A"}}), http.StatusForbidden)
	if n := app.Count(t, "organizations"); n != 3 {
		t.Fatalf("organizations = %d, want 3", n)
	}
}

func TestOrganizationSettings(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")

	t.Run("ErrNameRequired", func(t *testing.T) {
		p := c.Post("/orgs/"+orgID+"/settings", url.Values{"name": {"  "}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "name"); got != "Organization name is required." {
			t.Fatalf("error = %q", got)
		}
		if got := c.Get("/orgs/" + orgID + "/settings").Text("#f-name"); got != "" {
			t.Fatalf("input text = %q", got)
		}
	})
	t.Run("Rename", func(t *testing.T) {
		p := c.Post("/orgs/"+orgID+"/settings", url.Values{"name": {"Org Renamed"}})
		assertStatus(t, p, http.StatusSeeOther)
		p = c.Follow(p)
		if got, _ := p.Doc.Find("#f-name").Attr("value"); got != "Org Renamed" {
			t.Fatalf("name = %q", got)
		}
		if got := p.Text(".flash-success"); got != "Organization saved." {
			t.Fatalf("flash = %q", got)
		}
	})
	t.Run("ErrDeleteConfirm", func(t *testing.T) {
		p := c.Post("/orgs/"+orgID+"/delete", url.Values{"confirm": {"org renamed"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "confirm"); got != "Type the organization's name exactly to confirm." {
			t.Fatalf("error = %q", got)
		}
		if got, _ := p.Doc.Find("#f-confirm").Attr("value"); got != "org renamed" {
			t.Fatalf("confirm kept as %q", got)
		}
		if n := app.Count(t, "organizations"); n != 1 {
			t.Fatal("organization deleted on a wrong confirmation")
		}
	})
	t.Run("Delete", func(t *testing.T) {
		p := c.Post("/orgs/"+orgID+"/delete", url.Values{"confirm": {"Org Renamed"}})
		assertStatus(t, p, http.StatusSeeOther)
		if n := app.Count(t, "organizations") + app.Count(t, "memberships"); n != 0 {
			t.Fatalf("rows left = %d", n)
		}
		assertStatus(t, c.Get("/orgs/"+orgID), http.StatusNotFound)
		// With no organization left, home leads to creating one.
		p = c.Get("/")
		if loc := p.Header.Get("Location"); loc != "/orgs/new" {
			t.Fatalf("home redirects to %q", loc)
		}
	})
}

func TestCreateAndSwitchOrganization(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	first := c.MustSignup("Ada", "ada@example.com", "Zeta Corp")

	p := c.Post("/orgs", url.Values{"name": {""}})
	assertStatus(t, p, http.StatusBadRequest)
	if got := fieldError(p, "name"); got != "Organization name is required." {
		t.Fatalf("error = %q", got)
	}
	p = c.Post("/orgs", url.Values{"name": {"Alpha Labs"}})
	assertStatus(t, p, http.StatusSeeOther)
	p = c.Follow(p)
	assertStatus(t, p, http.StatusOK)
	if got := p.Text(".org-switcher .org-name"); got != "Alpha Labs" {
		t.Fatalf("current org = %q", got)
	}
	var names []string
	p.Doc.Find(".org-switcher li a").Each(func(_ int, s *goquerySelection) {
		names = append(names, strings.TrimSpace(s.Contents().First().Text()))
	})
	if strings.Join(names, ",") != "Alpha Labs,Zeta Corp" {
		t.Fatalf("switcher lists %v", names)
	}
	if href, _ := p.Doc.Find(".org-switcher li a:contains('Zeta Corp')").Attr("href"); href != "/orgs/"+first {
		t.Fatalf("switch link = %q", href)
	}
}

func TestUserSettings(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	c.MustSignup("Ada", "ada@example.com", "Org A")
	other := app.NewClient(t)
	other.MustLogin("ada@example.com", testPassword)

	t.Run("Profile", func(t *testing.T) {
		p := c.Post("/settings/profile", url.Values{"name": {""}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "name"); got != "Name is required." {
			t.Fatalf("error = %q", got)
		}
		p = c.Follow(c.Post("/settings/profile", url.Values{"name": {"Ada King"}}))
		if got, _ := p.Doc.Find("#f-name").Attr("value"); got != "Ada King" {
			t.Fatalf("name = %q", got)
		}
		if got := p.Text(".user-name"); got != "Ada King" {
			t.Fatalf("menu shows %q", got)
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		p := c.Get("/settings")
		rows := p.Doc.Find("[data-testid=session-row]")
		if rows.Length() != 2 {
			t.Fatalf("sessions listed = %d, want 2", rows.Length())
		}
		if n := p.Doc.Find("[data-testid=session-row]:contains('This session')").Length(); n != 1 {
			t.Fatalf("current session marked %d times", n)
		}
		if !strings.Contains(rows.First().Text(), "127.0.0.1") || !strings.Contains(rows.First().Text(), "Go HTTP client") {
			t.Fatalf("row = %q", rows.First().Text())
		}
		action, ok := p.Doc.Find("[data-testid=session-row] form").Attr("action")
		if !ok {
			t.Fatal("no End button for the other session")
		}
		// Another user cannot end this user's session.
		stranger := app.NewClient(t)
		stranger.MustSignup("Eve", "eve@example.com", "Org E")
		assertStatus(t, stranger.Post(action, nil), http.StatusNotFound)
		assertStatus(t, other.Get("/settings"), http.StatusOK)

		p = c.Post(action, nil)
		assertStatus(t, p, http.StatusSeeOther)
		assertStatus(t, other.Get("/settings"), http.StatusSeeOther)
		assertStatus(t, c.Get("/settings"), http.StatusOK)
	})

	t.Run("EndOthers", func(t *testing.T) {
		o1, o2 := app.NewClient(t), app.NewClient(t)
		o1.MustLogin("ada@example.com", testPassword)
		o2.MustLogin("ada@example.com", testPassword)
		p := c.Follow(c.Post("/settings/sessions/end-others", nil))
		if got := p.Text(".flash-success"); got != "Ended 2 other sessions." {
			t.Fatalf("flash = %q", got)
		}
		assertStatus(t, o1.Get("/settings"), http.StatusSeeOther)
		assertStatus(t, o2.Get("/settings"), http.StatusSeeOther)
		assertStatus(t, c.Get("/settings"), http.StatusOK)
	})

	t.Run("Password", func(t *testing.T) {
		o := app.NewClient(t)
		o.MustLogin("ada@example.com", testPassword)
		before := c.SessionCookie()

		p := c.Post("/settings/password", url.Values{"current_password": {"not it at all"}, "new_password": {"short"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "current_password"); got != "Current password is incorrect." {
			t.Fatalf("current error = %q", got)
		}
		if got := fieldError(p, "new_password"); got != "Password must be at least 12 characters." {
			t.Fatalf("new error = %q", got)
		}
		const next = "a different long passphrase"
		p = c.Post("/settings/password", url.Values{"current_password": {testPassword}, "new_password": {next}})
		assertStatus(t, p, http.StatusSeeOther)
		if c.SessionCookie() == before {
			t.Fatal("session id not regenerated after a password change")
		}
		assertStatus(t, c.Get("/settings"), http.StatusOK)
		assertStatus(t, o.Get("/settings"), http.StatusSeeOther)
		bad := app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
		assertStatus(t, bad, http.StatusUnauthorized)
		app.NewClient(t).MustLogin("ada@example.com", next)
	})
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	for _, path := range []string{"/login", "/signup", "/nope", "/"} {
		p := c.Get(path)
		h := p.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s CSP = %q", path, csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "strict-origin-when-cross-origin",
			"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s %s = %q, want %q", path, k, got, want)
			}
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s has no X-Request-Id", path)
		}
	}
	// No inline script anywhere: every <script> has a src.
	p := c.Get("/signup")
	p.Doc.Find("script").Each(func(_ int, s *goquerySelection) {
		if _, ok := s.Attr("src"); !ok || strings.TrimSpace(s.Text()) != "" {
			t.Error("inline script on /signup")
		}
	})
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	p := c.Get("/signup")
	href, _ := p.Doc.Find("link[rel=stylesheet]").Attr("href")
	if !strings.HasPrefix(href, "/static/app.") || len(href) < len("/static/app.123456789012.css") {
		t.Fatalf("stylesheet href = %q", href)
	}
	css := c.Get(href)
	assertStatus(t, css, http.StatusOK)
	if got := css.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Fatalf("Cache-Control = %q", got)
	}
	if !strings.Contains(css.Header.Get("Content-Type"), "text/css") || !strings.Contains(css.Body, "prefers-color-scheme: dark") {
		t.Fatal("stylesheet not served as CSS with dark mode")
	}
	assertStatus(t, c.Get("/static/app.css"), http.StatusNotFound)
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	p := c.Get("/no/such/page")
	assertStatus(t, p, http.StatusNotFound)
	if got := p.Text("h1"); got != "Page not found" {
		t.Fatalf("h1 = %q", got)
	}
	if p.Text("[data-testid=request-id]") != p.Header.Get("X-Request-Id") {
		t.Fatal("request id on the page differs from the header")
	}
}

// failingOrgs fails every call with an internal error carrying SQL-ish text.
type failingOrgs struct{ keygate.OrganizationService }

func (failingOrgs) FindOrganizationByID(context.Context, string) (*keygate.Organization, error) {
	return nil, errors.New("find organization: SQL logic error near SELECT secret_column")
}

func (failingOrgs) FindOrganizations(context.Context) ([]*keygate.Organization, error) {
	return nil, errors.New("boom")
}

func TestInternalErrorPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")

	logs := &syncBuffer{}
	srv, err := web.NewServer(web.Config{SessionKey: []byte(strings.Repeat("k", 64))},
		web.Services{Users: app.Users, Orgs: failingOrgs{app.Orgs}, Sessions: app.Sessions},
		slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	broken := httptest.NewTLSServer(srv.Handler())
	defer broken.Close()
	req, _ := http.NewRequest(http.MethodGet, broken.URL+"/orgs/"+orgID, nil)
	req.Header.Set("Cookie", web.SessionCookieName+"="+c.SessionCookie())
	p := (&Client{Client: broken.Client(), app: app, tb: t}).Do(req)
	assertStatus(t, p, http.StatusInternalServerError)
	if strings.Contains(p.Body, "SQL") || strings.Contains(p.Body, "secret_column") || strings.Contains(p.Body, "goroutine") {
		t.Fatal("500 page leaks internals")
	}
	id := p.Text("[data-testid=request-id]")
	if id == "" || id != p.Header.Get("X-Request-Id") {
		t.Fatalf("request id %q on page, header %q", id, p.Header.Get("X-Request-Id"))
	}
	if !strings.Contains(logs.String(), "secret_column") || !strings.Contains(logs.String(), id) {
		t.Fatal("internal error not logged with its request id")
	}
}

func TestPlainHTTP(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	// An instance with an account, whose /login shows the form.
	app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
	_, proxy, _ := net.ParseCIDR("10.0.0.0/8")
	srv, err := web.NewServer(web.Config{SessionKey: []byte(strings.Repeat("k", 64)), HTTPSPort: "8443", TrustedProxies: []*net.IPNet{proxy}},
		web.Services{Users: app.Users, Orgs: app.Orgs, Sessions: app.Sessions}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.PlainHandler()
	tests := []struct {
		name, method, path, remote, proto string
		wantStatus                        int
		wantLocation, wantBody            string
	}{
		{"PageRedirects", "GET", "/login?x=1", "192.0.2.1:5000", "", 308, "https://keygate.test:8443/login?x=1", ""},
		{"PostRedirectsKeepingMethod", "POST", "/login", "192.0.2.1:5000", "", 308, "https://keygate.test:8443/login", ""},
		{"APIRefused", "GET", "/api/v1/me", "192.0.2.1:5000", "", 403, "", `{"code":"https_required","detail":"HTTPS is required."}`},
		{"UntrustedForwardedProtoIgnored", "GET", "/api/v1/me", "192.0.2.1:5000", "https", 403, "", "https_required"},
		{"TrustedProxyHTTPS", "GET", "/login", "10.1.2.3:5000", "https", 200, "", "Log in to Keygate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://keygate.test:8080"+tt.path, nil)
			req.RemoteAddr = tt.remote
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Location"); got != tt.wantLocation {
				t.Fatalf("Location = %q, want %q", got, tt.wantLocation)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Fatalf("body = %q, want %q", w.Body.String(), tt.wantBody)
			}
			if w.Header().Get("Strict-Transport-Security") != "" && tt.proto == "" {
				t.Fatal("HSTS over plain HTTP")
			}
		})
	}
}

// Assets are served without looking at the session: a stylesheet fetched
// a minute after the last page view does not touch the session's row.
func TestStaticAssetsSkipSessions(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	c.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	href, _ := c.Get("/settings").Doc.Find("link[rel=stylesheet]").Attr("href")
	app.Clock.Advance(2 * time.Minute)
	req, _ := http.NewRequest(http.MethodGet, app.URL+href, nil)
	req.Header.Set("User-Agent", "AssetFetcher/1.0")
	assertStatus(t, c.Do(req), http.StatusOK)
	if p := c.Get("/settings"); strings.Contains(p.Body, "AssetFetcher") {
		t.Fatal("fetching an asset updated the session's user agent")
	}
}
