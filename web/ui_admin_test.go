package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// adminApp is an instance whose first user, Ada, is its superuser, and
// whose second, Bob, is not.
type adminApp struct {
	*App
	Ada, Bob       *Client
	AdaOrg, BobOrg string
	BobUser        *keygate.User
}

func mustAdminApp(tb testing.TB, opts ...Option) *adminApp {
	tb.Helper()
	a := &adminApp{App: MustOpenApp(tb, opts...)}
	a.Ada, a.Bob = a.NewClient(tb), a.NewClient(tb)
	a.AdaOrg = a.Ada.MustSignup("Ada", "ada@example.com", "Ada Org")
	a.BobOrg = a.Bob.MustSignup("Bob", "bob@example.com", "Bob Org")
	a.BobUser = a.MustUser(tb, "bob@example.com")
	if !a.MustUser(tb, "ada@example.com").IsSuperuser || a.BobUser.IsSuperuser {
		tb.Fatal("the first user must be the only superuser")
	}
	return a
}

// adminRoutes are every route of the admin area, for the 404 checks.
func adminRoutes(a *adminApp) []struct{ name, method, path string } {
	return []struct{ name, method, path string }{
		{"Overview", "GET", "/admin"},
		{"Organizations", "GET", "/admin/organizations"},
		{"SetPlan", "POST", "/admin/organizations/" + a.BobOrg + "/plan"},
		{"Users", "GET", "/admin/users"},
		{"ConfirmDisable", "GET", "/admin/users?confirm=disable&user=" + a.BobUser.PublicID},
		{"Disable", "POST", "/admin/users/" + a.BobUser.PublicID + "/disable"},
		{"Enable", "POST", "/admin/users/" + a.BobUser.PublicID + "/enable"},
		{"Settings", "GET", "/admin/settings"},
		{"SaveSettings", "POST", "/admin/settings"},
	}
}

func TestAdmin_SuperuserPages(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t)
	a.MustKey(t, a.BobUser, a.BobOrg, keygate.APIKeyCreate{Scopes: []keygate.Scope{keygate.ScopeRead}})

	t.Run("MenuLink", func(t *testing.T) {
		p := a.Ada.Get("/orgs/" + a.AdaOrg)
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Doc.Find(".user-menu [data-testid=admin-link]").AttrOr("href", ""), "/admin"; got != want {
			t.Fatalf("admin link = %q, want %q", got, want)
		}
	})
	t.Run("Overview", func(t *testing.T) {
		p := a.Ada.Get("/admin")
		assertStatus(t, p, http.StatusOK)
		got := map[string]string{}
		p.Doc.Find("[data-testid=admin-stats] [data-testid=stat]").Each(func(_ int, s *goquerySelection) {
			got[strings.TrimSpace(s.Find("dt").Text())] = strings.TrimSpace(s.Find("dd").Text())
		})
		for label, want := range map[string]string{"Organizations": "2", "Professional": "2", "Free": "0", "Users": "2", "Superusers": "1", "Active API keys": "1"} {
			if got[label] != want {
				t.Errorf("%s = %q, want %q", label, got[label], want)
			}
		}
	})
	t.Run("Organizations", func(t *testing.T) {
		p := a.Ada.Get("/admin/organizations")
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Doc.Find("[data-testid=admin-org]").Length(), 2; got != want {
			t.Fatalf("rows = %d, want %d", got, want)
		}
		row := p.Doc.Find("[data-testid=admin-org][data-id=" + a.BobOrg + "]")
		if got := strings.TrimSpace(row.Find("th").Text()); got != "Bob Org" {
			t.Fatalf("name = %q", got)
		}
		if m, k := strings.TrimSpace(row.Find("[data-testid=members]").Text()), strings.TrimSpace(row.Find("[data-testid=keys]").Text()); m != "1" || k != "1" {
			t.Fatalf("members %q, keys %q, want 1 and 1", m, k)
		}
		if got := row.Find("select[name=plan] option[selected]").AttrOr("value", ""); got != "professional" {
			t.Fatalf("plan = %q, want professional", got)
		}
		action := row.Find("form").AttrOr("action", "")
		p = a.Ada.Post(action, url.Values{"plan": {"enterprise"}})
		assertStatus(t, p, http.StatusSeeOther)
		p = a.Ada.Follow(p)
		if got, want := p.Text(".flash-success"), "“Bob Org” is now on the Enterprise plan."; got != want {
			t.Fatalf("flash = %q, want %q", got, want)
		}
		row = p.Doc.Find("[data-testid=admin-org][data-id=" + a.BobOrg + "]")
		if got := row.Find("select[name=plan] option[selected]").AttrOr("value", ""); got != "enterprise" {
			t.Fatalf("plan = %q, want enterprise", got)
		}
	})
	t.Run("Users", func(t *testing.T) {
		p := a.Ada.Get("/admin/users")
		assertStatus(t, p, http.StatusOK)
		bob := p.Doc.Find("[data-testid=admin-user][data-id=" + a.BobUser.PublicID + "]")
		if got := strings.TrimSpace(bob.Find("[data-testid=orgs]").Text()); got != "Bob Org (Owner)" {
			t.Fatalf("Bob's organizations = %q", got)
		}
		if got := strings.TrimSpace(bob.Find("[data-testid=superuser]").Text()); got != "No" {
			t.Fatalf("Bob superuser = %q", got)
		}
		if got := strings.TrimSpace(bob.Find("[data-testid=status]").Text()); got != "Active" {
			t.Fatalf("Bob status = %q", got)
		}
		confirm := bob.Find("a[aria-label='Disable Bob']").AttrOr("href", "")
		if confirm == "" {
			t.Fatal("no Disable for Bob")
		}
		if p.Doc.Find("dialog").Length() != 0 {
			t.Fatal("a confirmation is open before anyone asked")
		}
		p = a.Ada.Get(confirm)
		assertStatus(t, p, http.StatusOK)
		if q := p.Text("#admin-confirm-question"); !strings.HasPrefix(q, "Disable Bob (bob@example.com)?") {
			t.Fatalf("question = %q", q)
		}
		if got, want := p.Doc.Find("#admin-confirm form").AttrOr("action", ""), "/admin/users/"+a.BobUser.PublicID+"/disable"; got != want {
			t.Fatalf("form action = %q, want %q", got, want)
		}
	})
	t.Run("Settings", func(t *testing.T) {
		p := a.Ada.Get("/admin/settings")
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("#f-signup_mode option[value='']"), "Use the --signup flag (open)"; got != want {
			t.Fatalf("flag option = %q, want %q", got, want)
		}
		if got, want := p.Text("#f-default_plan option[value='']"), "Use the --default-plan flag (Professional)"; got != want {
			t.Fatalf("flag option = %q, want %q", got, want)
		}
		p = a.Ada.Post("/admin/settings", url.Values{"signup_mode": {"invite"}, "default_plan": {"free"}})
		assertStatus(t, p, http.StatusSeeOther)
		p = a.Ada.Follow(p)
		if got := p.Doc.Find("#f-signup_mode option[selected]").AttrOr("value", ""); got != "invite" {
			t.Fatalf("signup mode = %q, want invite", got)
		}
		if got := p.Doc.Find("#f-default_plan option[selected]").AttrOr("value", ""); got != "free" {
			t.Fatalf("default plan = %q, want free", got)
		}
		p = a.Ada.Post("/admin/settings", url.Values{"signup_mode": {"sometimes"}, "default_plan": {""}})
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "signup_mode"), "Choose open, invite or closed, or leave it to the --signup flag."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
	})
}

func TestAdmin_NotFoundForOthers(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t)
	anonymous := a.NewClient(t)
	for _, rt := range adminRoutes(a) {
		for who, c := range map[string]*Client{"NotSuperuser": a.Bob, "Anonymous": anonymous} {
			t.Run(who+"/"+rt.name, func(t *testing.T) {
				var p *Page
				if rt.method == "POST" {
					p = c.Post(rt.path, url.Values{"plan": {"free"}, "signup_mode": {"closed"}})
				} else {
					p = c.Get(rt.path)
				}
				assertStatus(t, p, http.StatusNotFound)
				// The same page as any unknown address: nothing says the area exists.
				if got := p.Text("[data-testid=error-page]"); !strings.Contains(got, "There is nothing at this address.") {
					t.Fatalf("page says %q", got)
				}
			})
		}
	}
	// Nothing changed.
	if got := a.MustUser(t, "bob@example.com").DisabledAt; got != nil {
		t.Fatal("Bob was disabled")
	}
	p := a.Bob.Get("/orgs/" + a.BobOrg + "/settings")
	if got := p.Text("[data-testid=org-plan]"); got != "Professional" {
		t.Fatalf("plan = %q", got)
	}
	if a.Bob.Get("/orgs/"+a.BobOrg).Doc.Find("[data-testid=admin-link]").Length() != 0 {
		t.Fatal("a non-superuser sees the Admin link")
	}
}

func TestAdmin_DisableUser(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t)
	secret, _ := a.MustKey(t, a.BobUser, a.BobOrg, keygate.APIKeyCreate{Scopes: []keygate.Scope{keygate.ScopeRead}})
	wantAPI(t, a.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusOK, "", "")
	assertStatus(t, a.Bob.Get("/orgs/"+a.BobOrg), http.StatusOK)

	p := a.Ada.Get("/admin/users?confirm=disable&user=" + a.BobUser.PublicID)
	p = a.Ada.Post(p.Doc.Find("#admin-confirm form").AttrOr("action", ""), url.Values{})
	assertStatus(t, p, http.StatusSeeOther)
	p = a.Ada.Follow(p)
	if got, want := p.Text(".flash-success"), "Bob is disabled. Their sessions have ended."; got != want {
		t.Fatalf("flash = %q, want %q", got, want)
	}
	row := p.Doc.Find("[data-testid=admin-user][data-id=" + a.BobUser.PublicID + "]")
	if got := strings.TrimSpace(row.Find("[data-testid=status]").Text()); got != "Disabled" {
		t.Fatalf("status = %q, want Disabled", got)
	}

	t.Run("SessionEnded", func(t *testing.T) {
		p := a.Bob.Get("/orgs/" + a.BobOrg)
		assertStatus(t, p, http.StatusSeeOther)
		if loc, _ := p.Location(); loc.Path != "/login" {
			t.Fatalf("redirect to %s, want /login", loc)
		}
		if n := a.Count(t, "sessions WHERE user_id = "+itoa(int(a.BobUser.ID))); n != 0 {
			t.Fatalf("Bob's sessions = %d, want 0", n)
		}
	})
	t.Run("LoginFails", func(t *testing.T) {
		p := a.NewClient(t).Post("/login", url.Values{"email": {"bob@example.com"}, "password": {testPassword}})
		assertStatus(t, p, http.StatusUnauthorized)
		if got, want := p.Text(".flash-error"), "Invalid email or password."; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
	})
	t.Run("KeysStop", func(t *testing.T) {
		wantAPI(t, a.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusUnauthorized, "Invalid token.", "invalid_token")
	})
	t.Run("EnableRestores", func(t *testing.T) {
		p := a.Ada.Get("/admin/users?confirm=enable&user=" + a.BobUser.PublicID)
		if q := p.Text("#admin-confirm-question"); !strings.HasPrefix(q, "Enable Bob (bob@example.com)?") {
			t.Fatalf("question = %q", q)
		}
		p = a.Ada.Post(p.Doc.Find("#admin-confirm form").AttrOr("action", ""), url.Values{})
		assertStatus(t, p, http.StatusSeeOther)
		c := a.NewClient(t)
		c.MustLogin("bob@example.com", testPassword)
		assertStatus(t, c.Get("/orgs/"+a.BobOrg), http.StatusOK)
		wantAPI(t, a.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusOK, "", "")
	})
}

func TestAdmin_DisabledUserKeysKeep(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t)
	carol := a.NewClient(t)
	carolOrg := carol.MustSignup("Carol", "carol@example.com", "Carol Org")
	if err := a.Orgs.AddMember(t.Context(), carolOrg, a.BobUser.ID, keygate.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	inCarol, _ := a.MustKey(t, a.BobUser, carolOrg, keygate.APIKeyCreate{Scopes: []keygate.Scope{keygate.ScopeRead}})
	inBob, _ := a.MustKey(t, a.BobUser, a.BobOrg, keygate.APIKeyCreate{Scopes: []keygate.Scope{keygate.ScopeRead}})

	// Only the Owner chooses; an Admin reads the choice.
	p := a.Bob.Get("/orgs/" + carolOrg + "/settings")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("#f-disabled_user_keys").Length() != 0 {
		t.Fatal("an Admin gets the choice")
	}
	if got := p.Text("[data-testid=key-rule]"); got != "Stop working" {
		t.Fatalf("rule = %q, want Stop working", got)
	}
	p = a.Bob.Post("/orgs/"+carolOrg+"/settings", url.Values{"name": {"Carol Org"}, "disabled_user_keys": {"keep"}})
	assertStatus(t, p, http.StatusForbidden)

	p = carol.Get("/orgs/" + carolOrg + "/settings")
	if got := p.Doc.Find("#f-disabled_user_keys option[selected]").AttrOr("value", ""); got != "stop" {
		t.Fatalf("default = %q, want stop", got)
	}
	p = carol.Post("/orgs/"+carolOrg+"/settings", url.Values{"name": {"Carol Org"}, "disabled_user_keys": {"keep"}})
	assertStatus(t, p, http.StatusSeeOther)
	p = carol.Follow(p)
	if got := p.Doc.Find("#f-disabled_user_keys option[selected]").AttrOr("value", ""); got != "keep" {
		t.Fatalf("saved = %q, want keep", got)
	}

	assertStatus(t, a.Ada.Post("/admin/users/"+a.BobUser.PublicID+"/disable", url.Values{}), http.StatusSeeOther)
	wantAPI(t, a.API(t, "GET", "/api/v1/me", "Token "+inCarol, ""), http.StatusOK, "", "")
	wantAPI(t, a.API(t, "GET", "/api/v1/me", "Token "+inBob, ""), http.StatusUnauthorized, "Invalid token.", "invalid_token")

	// Changing her mind stops the key at the next request.
	p = carol.Post("/orgs/"+carolOrg+"/settings", url.Values{"name": {"Carol Org"}, "disabled_user_keys": {"stop"}})
	assertStatus(t, p, http.StatusSeeOther)
	wantAPI(t, a.API(t, "GET", "/api/v1/me", "Token "+inCarol, ""), http.StatusUnauthorized, "Invalid token.", "invalid_token")
}

func TestAdmin_CannotDisableSelf(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t)
	ada := a.MustUser(t, "ada@example.com")

	p := a.Ada.Get("/admin/users?confirm=disable&user=" + ada.PublicID)
	assertStatus(t, p, http.StatusOK)
	row := p.Doc.Find("[data-testid=admin-user][data-id=" + ada.PublicID + "]")
	if row.Find("a[aria-label='Disable Ada']").Length() != 0 {
		t.Fatal("Ada is offered to disable herself")
	}
	if got := strings.TrimSpace(row.Find(".badge-accent").Text()); got != "You" {
		t.Fatalf("badge = %q, want You", got)
	}
	if p.Doc.Find("#admin-confirm").Length() != 0 {
		t.Fatal("a confirmation to disable herself is open")
	}

	p = a.Ada.Post("/admin/users/"+ada.PublicID+"/disable", url.Values{})
	assertStatus(t, p, http.StatusBadRequest)
	if got := p.Text("[data-testid=error-page]"); !strings.Contains(got, "You cannot disable your own account.") {
		t.Fatalf("page says %q", got)
	}
	if a.MustUser(t, "ada@example.com").DisabledAt != nil {
		t.Fatal("Ada is disabled")
	}
	assertStatus(t, a.Ada.Get("/admin"), http.StatusOK)
}

func TestAdmin_SignupOverride(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t) // --signup open
	visitor := a.NewClient(t)

	tests := []struct {
		mode, want string
	}{
		{"closed", "Signup is closed on this instance. Ask its administrator for an account."},
		{"invite", "Signup on this instance is by invitation only. Ask an administrator of your organization for an invitation link."},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			assertStatus(t, a.Ada.Post("/admin/settings", url.Values{"signup_mode": {tt.mode}}), http.StatusSeeOther)
			p := visitor.Get("/signup")
			assertStatus(t, p, http.StatusOK)
			if got := p.Text(".flash-info"); got != tt.want {
				t.Fatalf("message = %q, want %q", got, tt.want)
			}
			if p.Doc.Find("form[action='/signup']").Length() != 0 {
				t.Fatal("the signup form is shown")
			}
			p = visitor.Post("/signup", url.Values{"name": {"Eve"}, "email": {"eve@example.com"}, "password": {testPassword}, "organization": {"Eve Org"}})
			assertStatus(t, p, http.StatusForbidden)
		})
	}
	t.Run("BackToTheFlag", func(t *testing.T) {
		assertStatus(t, a.Ada.Post("/admin/settings", url.Values{"signup_mode": {""}}), http.StatusSeeOther)
		if visitor.Get("/signup").Doc.Find("form[action='/signup']").Length() != 1 {
			t.Fatal("no signup form under --signup open")
		}
		visitor.MustSignup("Eve", "eve@example.com", "Eve Org")
	})
}

func TestAdmin_SignupOverrideOpensClosedFlag(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithSignupMode("closed"))
	ada := app.NewClient(t)
	ada.MustSignup("Ada", "ada@example.com", "Ada Org") // the first user always may
	form := url.Values{"name": {"Eve"}, "email": {"eve@example.com"}, "password": {testPassword}, "organization": {"Eve Org"}}
	eve := app.NewClient(t)
	assertStatus(t, eve.Post("/signup", form), http.StatusForbidden)
	assertStatus(t, ada.Post("/admin/settings", url.Values{"signup_mode": {"open"}}), http.StatusSeeOther)
	eve.MustSignup("Eve", "eve@example.com", "Eve Org")
}
