package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// crumbs reads a page's breadcrumb trail: each item's text and link ("" for
// the current page, which must carry aria-current).
func crumbs(t *testing.T, p *Page) [][2]string {
	t.Helper()
	var out [][2]string
	p.Doc.Find(`nav[aria-label="Breadcrumb"] li`).Each(func(_ int, li *goquerySelection) {
		href, _ := li.Find("a").Attr("href")
		if href == "" {
			if cur, _ := li.Find("[aria-current=page]").Attr("aria-current"); cur != "page" {
				t.Errorf("breadcrumb %q has no link and no aria-current", strings.TrimSpace(li.Text()))
			}
		}
		label := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(li.Text()), "›"))
		out = append(out, [2]string{label, href})
	})
	return out
}

// assertCardLabels checks that every cell of every data table on the page
// names its column in data-label, so a phone can show each row as a card.
// A column whose header is visually hidden (row actions) needs no label; a
// header may add a sort arrow to the label.
func assertCardLabels(t *testing.T, p *Page) {
	t.Helper()
	tables := p.Doc.Find("table.table")
	if tables.Length() == 0 {
		t.Fatal("no table on the page")
	}
	tables.Each(func(_ int, table *goquerySelection) {
		var cols []string
		table.Find("thead th").Each(func(_ int, th *goquerySelection) {
			if th.Children().Filter(".visually-hidden").Length() > 0 && strings.TrimSpace(th.Children().Not(".visually-hidden").Text()) == "" {
				cols = append(cols, "")
				return
			}
			cols = append(cols, strings.TrimSpace(th.Text()))
		})
		table.Find("tbody tr").Each(func(_ int, tr *goquerySelection) {
			tr.Children().Each(func(i int, cell *goquerySelection) {
				if cell.Is("th") || i >= len(cols) || cols[i] == "" {
					return
				}
				if got, want := cell.AttrOr("data-label", ""), cols[i]; got == "" || !strings.HasPrefix(want, got) {
					id, _ := table.Attr("data-testid")
					t.Errorf("table %s column %d: data-label = %q, want %q", id, i, got, want)
				}
			})
		})
	})
}

func TestLayoutNavigation(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	member := MustAddMember(t, app, org, "Mia Member", "mia@example.com", keygate.RoleMember)
	secret, key := app.MustKey(t, app.MustUser(t, "ada@example.com"), org, keygate.APIKeyCreate{Name: "CI deploy", Scopes: []keygate.Scope{keygate.ScopeRead}})
	app.API(t, "GET", "/api/v1/me", "Token "+secret, "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sidebar := func(p *Page) map[string]string {
		links := map[string]string{}
		p.Doc.Find(`nav[aria-label="Main"] .nav a`).Each(func(_ int, a *goquerySelection) {
			links[strings.TrimSpace(a.Text())] = a.AttrOr("href", "")
		})
		return links
	}

	t.Run("OKTitleNamesOrganization", func(t *testing.T) {
		for _, tt := range []struct{ path, want string }{
			{"/orgs/" + org + "/api-keys", "API Keys · Acme · Keygate"},
			{"/orgs/" + org, "Overview · Acme · Keygate"},
			{"/orgs/" + org + "/settings", "Organization settings · Acme · Keygate"},
			{"/settings", "Settings · Keygate"},
		} {
			p := owner.Get(tt.path)
			assertStatus(t, p, http.StatusOK)
			if got := p.Text("title"); got != tt.want {
				t.Errorf("%s: title = %q, want %q", tt.path, got, tt.want)
			}
		}
	})

	t.Run("OKAuditLogInSidebar", func(t *testing.T) {
		p := owner.Get("/orgs/" + org)
		assertStatus(t, p, http.StatusOK)
		if got, want := sidebar(p)["Audit log"], "/orgs/"+org+"/audit-log"; got != want {
			t.Fatalf("sidebar Audit log = %q, want %q", got, want)
		}
		p = owner.Get("/orgs/" + org + "/audit-log")
		assertStatus(t, p, http.StatusOK)
		if got := p.Text(`nav[aria-label="Main"] .nav a[aria-current=page]`); got != "Audit log" {
			t.Fatalf("current sidebar link on the audit log = %q, want Audit log", got)
		}
	})

	t.Run("OKNoAuditLogForMembers", func(t *testing.T) {
		p := member.Get("/orgs/" + org)
		assertStatus(t, p, http.StatusOK)
		links := sidebar(p)
		if _, ok := links["Audit log"]; ok {
			t.Fatalf("a Member's sidebar links the audit log: %v", links)
		}
		if _, ok := links["Overview"]; !ok {
			t.Fatalf("sidebar = %v", links)
		}
	})

	t.Run("OKSettingsTabsShowCurrent", func(t *testing.T) {
		for _, tt := range []struct{ path, want string }{
			{"/orgs/" + org + "/settings", "General"},
			{"/orgs/" + org + "/settings/integrations", "Integrations"},
			{"/orgs/" + org + "/settings/sso", "Single sign-on"},
		} {
			p := owner.Get(tt.path)
			assertStatus(t, p, http.StatusOK)
			nav := p.Doc.Find(`nav[aria-label="Organization settings"]`)
			if got := nav.Find("a").First().Text(); got != "General" {
				t.Errorf("%s: first tab = %q, want General", tt.path, got)
			}
			cur := nav.Find("a[aria-current=page]")
			if cur.Length() != 1 || strings.TrimSpace(cur.Text()) != tt.want {
				t.Errorf("%s: current tab = %q (%d), want %q", tt.path, cur.Text(), cur.Length(), tt.want)
			}
		}
	})

	t.Run("OKBreadcrumbsOnKeyPage", func(t *testing.T) {
		p := owner.Get("/orgs/" + org + "/api-keys/" + key.PublicID)
		assertStatus(t, p, http.StatusOK)
		got := crumbs(t, p)
		want := [][2]string{{"API Keys", "/orgs/" + org + "/api-keys"}, {"CI deploy", ""}}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("breadcrumbs = %v, want %v", got, want)
		}
	})

	t.Run("OKPhoneMenuButton", func(t *testing.T) {
		p := owner.Get("/orgs/" + org)
		assertStatus(t, p, http.StatusOK)
		button := p.Doc.Find(`nav[aria-label="Main"] [aria-controls][aria-expanded]`)
		if button.Length() != 1 {
			t.Fatalf("menu buttons = %d, want 1", button.Length())
		}
		if got := strings.TrimSpace(button.Text()); got != "Menu" {
			t.Errorf("menu button text = %q, want Menu", got)
		}
		if got := button.AttrOr("aria-expanded", ""); got != "false" {
			t.Errorf("aria-expanded = %q, want false", got)
		}
		panel := p.Doc.Find("#" + button.AttrOr("aria-controls", ""))
		if panel.Find(`a[href="/orgs/`+org+`/api-keys"]`).Length() != 1 {
			t.Fatalf("the menu button controls %q, which does not hold the navigation", button.AttrOr("aria-controls", ""))
		}
	})

	t.Run("OKTablesLabelTheirCells", func(t *testing.T) {
		for _, path := range []string{"/orgs/" + org + "/audit-log", "/orgs/" + org + "/logs", "/orgs/" + org + "/api-keys/" + key.PublicID, "/settings"} {
			p := owner.Get(path)
			assertStatus(t, p, http.StatusOK)
			assertCardLabels(t, p)
		}
	})
}

func TestAdminLayout(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t)
	for _, tt := range []struct{ path, tab, crumb string }{
		{"/admin/organizations", "Organizations", "Organizations"},
		{"/admin/users", "Users", "Users"},
		{"/admin/domains", "SSO domains", "SSO domains"},
		{"/admin/settings", "Settings", "Settings"},
	} {
		t.Run("OK"+strings.ReplaceAll(tt.tab, " ", ""), func(t *testing.T) {
			p := a.Ada.Get(tt.path)
			assertStatus(t, p, http.StatusOK)
			if got := p.Text(`nav[aria-label="Instance administration"] a[aria-current=page]`); got != tt.tab {
				t.Errorf("current tab = %q, want %q", got, tt.tab)
			}
			got := crumbs(t, p)
			want := [][2]string{{"Admin", "/admin"}, {tt.crumb, ""}}
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("breadcrumbs = %v, want %v", got, want)
			}
			if p.Doc.Find("table.table").Length() > 0 {
				assertCardLabels(t, p)
			}
		})
	}
}

func TestFormErrorSummary(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)

	t.Run("OKFieldErrorsLinked", func(t *testing.T) {
		p := c.Post("/signup", url.Values{"name": {""}, "email": {"ada@example.com"}, "password": {"short"}, "organization": {"Acme"}})
		assertStatus(t, p, http.StatusBadRequest)
		sum := p.Doc.Find("[data-testid=error-summary]")
		if sum.Length() != 1 {
			t.Fatalf("error summaries = %d, want 1", sum.Length())
		}
		if got := strings.TrimSpace(sum.Find("h2").Text()); got != "There is a problem" {
			t.Errorf("summary heading = %q", got)
		}
		links := map[string]string{}
		sum.Find("li a").Each(func(_ int, a *goquerySelection) { links[a.AttrOr("href", "")] = strings.TrimSpace(a.Text()) })
		if len(links) != 2 || links["#f-name"] != fieldError(p, "name") || links["#f-password"] != fieldError(p, "password") || links["#f-name"] == "" {
			t.Fatalf("summary links = %v; field errors %q, %q", links, fieldError(p, "name"), fieldError(p, "password"))
		}
		// The form keeps what was typed, except the password.
		if got := p.Doc.Find("#f-organization").AttrOr("value", ""); got != "Acme" {
			t.Errorf("organization = %q, want Acme", got)
		}
	})

	t.Run("OKFormErrorWithoutFields", func(t *testing.T) {
		p := c.Post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password 123"}})
		if p.StatusCode < 400 || p.StatusCode > 499 {
			t.Fatalf("status = %d", p.StatusCode)
		}
		if got := p.Text(".flash-error"); got != "Invalid email or password." {
			t.Fatalf("form error = %q", got)
		}
		if n := p.Doc.Find("[data-testid=error-summary] li a").Length(); n != 0 {
			t.Fatalf("summary links = %d, want none", n)
		}
	})
}
