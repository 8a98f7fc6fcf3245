package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// longKeyName is a key name at the 100-character limit.
const longKeyName = "A very long key name for the nightly reconciliation job that runs in eu-west-1 and us-east-2, blue"

// keyCreate is a key of the given name and top scope.
func keyCreate(name, scope string) keygate.APIKeyCreate {
	return keygate.APIKeyCreate{Name: name, Scopes: []keygate.Scope{keygate.Scope(scope)}}
}

// seedKeyTable gives an organization the keys of a busy team: 16 and more
// active keys, names at the length limit, keys created through the API by
// a key with a long name, expiring keys and a rolled key.
func seedKeyTable(tb testing.TB, app *App, org string, owner *keygate.User) {
	tb.Helper()
	automation, _ := app.MustKey(tb, owner, org, keygate.APIKeyCreate{Name: "Admin automation for the platform team's nightly key rotation and audits",
		Environment: keygate.EnvCI, Scopes: []keygate.Scope{keygate.ScopeAdmin}})
	for _, body := range []string{
		`{"name": "` + longKeyName + `", "environment": "production", "scopes": ["admin"]}`,
		`{"name": "reconciliation-worker-eu-west-1-and-us-east-2-blue-green-deployment-canary-01", "environment": "staging", "scopes": ["write"]}`,
		`{"name": "Webhook relay", "environment": "production", "scopes": ["write"], "expires_at": "` + app.Clock.Now().Add(20*time.Hour).UTC().Format(time.RFC3339) + `"}`,
		`{"name": "Node created", "environment": "development", "scopes": ["read"], "note": "from a script"}`,
	} {
		r := app.API(tb, http.MethodPost, "/api/v1/keys", "Token "+automation, body)
		if r.StatusCode != http.StatusCreated {
			tb.Fatalf("create through the API: %d %s", r.StatusCode, r.Raw)
		}
	}
	soon := app.Clock.Now().Add(3 * 24 * time.Hour)
	envs := []keygate.Environment{keygate.EnvProduction, keygate.EnvStaging, keygate.EnvDevelopment, keygate.EnvCI, keygate.EnvOther}
	for i, name := range []string{"CI deploy", "Staging worker", "Local development", "Billing service", "Payments worker",
		"Analytics exporter (read-only, quarterly board reports and dashboards)", "Search indexer", "Mobile app backend", "Partner integration", "Status page"} {
		in := keygate.APIKeyCreate{Name: name, Environment: envs[i%len(envs)], Scopes: []keygate.Scope{keygate.AllScopes[i%3]}}
		if i%4 == 0 {
			in.ExpiresAt = &soon
		}
		secret, _ := app.MustKey(tb, owner, org, in)
		if i == 0 {
			// A refused call: the row shows the last attempt too.
			app.API(tb, http.MethodGet, "/api/v1/members", "Token "+secret, "")
		}
	}
	relay := app.keyByName(tb, owner, org, "Webhook relay", keygate.KeyActive)
	if r := app.API(tb, http.MethodPost, "/api/v1/keys/"+relay.PublicID+"/roll", "Token "+automation, `{"grace_seconds": 3600}`); r.StatusCode != http.StatusCreated {
		tb.Fatalf("roll through the API: %d %s", r.StatusCode, r.Raw)
	}
	if err := app.Usage.Flush(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// squash collapses runs of white space, as a reader sees text.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestAPIKeysListRow(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	owner := app.MustUser(t, "ada@example.com")
	ci, ciKey := app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: "CI", Scopes: []keygate.Scope{keygate.ScopeAdmin}})
	r := app.API(t, http.MethodPost, "/api/v1/keys", "Token "+ci, `{"name": "Nightly job", "scopes": ["read"]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create through the API: %d %s", r.StatusCode, r.Raw)
	}
	nightly := app.keyByName(t, owner, org, "Nightly job", keygate.KeyActive)
	list := "/orgs/" + org + "/api-keys"

	t.Run("CompactCreator", func(t *testing.T) {
		p := c.Get(list)
		assertStatus(t, p, http.StatusOK)
		for _, tt := range []struct{ id, text, title string }{
			{ciKey.PublicID, "Ada", "Ada Lovelace"},
			{nightly.PublicID, "via key “CI”", "API key “CI” (" + ciKey.PublicID + ")"},
		} {
			creator := p.Doc.Find("[data-key-id=" + tt.id + "] [data-testid=key-creator]")
			if got := squash(creator.Text()); got != tt.text {
				t.Errorf("%s: creator = %q, want %q", tt.id, got, tt.text)
			}
			if got, _ := creator.Attr("title"); got != tt.title {
				t.Errorf("%s: creator title = %q, want %q", tt.id, got, tt.title)
			}
		}
	})

	t.Run("KeyIDWithCopy", func(t *testing.T) {
		p := c.Get(list)
		row := p.Doc.Find("[data-key-id=" + nightly.PublicID + "]")
		if got := squash(row.Find("[data-testid=key-id]").Text()); got != nightly.PublicID {
			t.Fatalf("key ID shown = %q, want %q", got, nightly.PublicID)
		}
		button := row.Find("button[data-copy-text=" + nightly.PublicID + "]")
		if label, _ := button.Attr("aria-label"); button.Length() != 1 || label != "Copy key ID of Nightly job" {
			t.Fatalf("copy button of the key ID: %d, label %q", button.Length(), label)
		}
		if row.Find("[data-copy-text*='…']").Length() != 0 {
			t.Fatal("a copy button copies the shortened hint")
		}
	})

	t.Run("RowMenu", func(t *testing.T) {
		p := c.Get(list)
		row := p.Doc.Find("[data-key-id=" + nightly.PublicID + "]")
		button := row.Find("button[aria-haspopup=menu]")
		if button.Length() != 1 {
			t.Fatalf("menu buttons = %d, want 1", button.Length())
		}
		if got, _ := button.Attr("aria-expanded"); got != "false" {
			t.Fatalf("aria-expanded = %q", got)
		}
		if got, _ := button.Attr("aria-label"); got != "Actions for Nightly job" {
			t.Fatalf("aria-label = %q", got)
		}
		menuID, _ := button.Attr("aria-controls")
		menu := row.Find("[role=menu]#" + menuID)
		if menu.Length() != 1 {
			t.Fatalf("aria-controls %q names no menu in the row", menuID)
		}
		keyPath := list + "/" + nightly.PublicID
		want := map[string]string{"View": keyPath, "Roll key": keyPath + "/roll", "Revoke": keyPath + "/revoke"}
		items := menu.Find("[role=menuitem]")
		if items.Length() != len(want) {
			t.Fatalf("menu items = %d, want %d", items.Length(), len(want))
		}
		items.Each(func(_ int, s *goquerySelection) {
			href, _ := s.Attr("href")
			if w, ok := want[squash(s.Text())]; !ok || href != w {
				t.Errorf("menu item %q links to %q", squash(s.Text()), href)
			}
		})
		if row.Find("button:contains('Roll key'), button:contains('Revoke')").Length() != 0 {
			t.Fatal("the row still shows Roll key and Revoke buttons")
		}
		// Without JavaScript the button is a plain way to the key page,
		// whose Roll or revoke section holds the actions.
		if form := button.Closest("form"); form.AttrOr("action", "") != keyPath || form.AttrOr("method", "") != "get" {
			t.Fatalf("the menu button's form goes to %q", form.AttrOr("action", ""))
		}
		page := c.Get(keyPath)
		if page.Doc.Find("a[href='"+keyPath+"/roll']").Length() != 1 || page.Doc.Find("a[href='"+keyPath+"/revoke']").Length() != 1 {
			t.Fatal("the key page does not offer Roll key and Revoke")
		}
	})

	t.Run("RolledKeysLinked", func(t *testing.T) {
		p := c.Post(list+"/"+nightly.PublicID+"/roll", url.Values{"grace": {"1h"}, "form_token": {"roll-nightly"}})
		assertStatus(t, p, http.StatusOK)
		next := app.keyByName(t, owner, org, "Nightly job", keygate.KeyActive)
		if next.PublicID == nightly.PublicID {
			next = nil
			keys, _, _ := app.Keys.FindAPIKeys(keygate.NewContextWithUser(t.Context(), owner), keygate.APIKeyFilter{OrgPublicID: org, Query: "Nightly"})
			for _, k := range keys {
				if k.PublicID != nightly.PublicID {
					next = k
				}
			}
		}
		p = c.Get(list)
		replaced := p.Doc.Find("[data-key-id=" + nightly.PublicID + "] [data-testid=key-replaced-by]")
		if got := squash(replaced.Text()); got != "Replaced by Nightly job" {
			t.Fatalf("old key says %q, want %q", got, "Replaced by Nightly job")
		}
		if href, _ := replaced.Find("a").Attr("href"); href != list+"/"+next.PublicID {
			t.Fatalf("Replaced by links to %q", href)
		}
		from := p.Doc.Find("[data-key-id=" + next.PublicID + "] [data-testid=key-rolled-from]")
		if got := squash(from.Text()); got != "Rolled from Nightly job" {
			t.Fatalf("new key says %q, want %q", got, "Rolled from Nightly job")
		}
		if href, _ := from.Find("a").Attr("href"); href != list+"/"+nightly.PublicID {
			t.Fatalf("Rolled from links to %q", href)
		}
	})

	t.Run("RevokedBySpaced", func(t *testing.T) {
		assertStatus(t, c.Post(list+"/"+ciKey.PublicID+"/revoke", nil), http.StatusSeeOther)
		p := c.Get(list + "?state=revoked")
		cell := p.Doc.Find("[data-key-id=" + ciKey.PublicID + "] [data-testid=key-revoked]")
		if got := squash(cell.Text()); got != "Revoked by Ada Lovelace just now" {
			t.Fatalf("revoked cell = %q", got)
		}
	})
}

// rowNames lists the key names of a page's rows, in order.
func rowNames(p *Page) []string {
	var out []string
	p.Doc.Find("[data-testid=api-key-row] .key-name").Each(func(_ int, s *goquerySelection) { out = append(out, squash(s.Text())) })
	return out
}

// sortCase is a table sorted by a query: the rows it shows, in order, and
// the header marked with aria-sort.
type sortCase struct {
	name, query string
	want        string // the rows' names, space-separated
	sorted, dir string // the header with aria-sort, and its value
}

// testSorts loads list with each case's query and checks the order of the
// rows (names lists them) and the aria-sort of the table testid's headers.
func testSorts(t *testing.T, c *Client, list, testid string, names func(*Page) []string, cases []sortCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p := c.Get(list + tt.query)
			assertStatus(t, p, http.StatusOK)
			if got := strings.Join(names(p), " "); got != tt.want {
				t.Fatalf("order = %s, want %s", got, tt.want)
			}
			sorted := p.Doc.Find("[data-testid=" + testid + "] thead th[aria-sort]")
			if sorted.Length() != 1 || sorted.AttrOr("data-sort", "") != tt.sorted || sorted.AttrOr("aria-sort", "") != tt.dir {
				t.Fatalf("aria-sort on %d headers: %q = %q, want %s = %s", sorted.Length(), sorted.AttrOr("data-sort", ""), sorted.AttrOr("aria-sort", ""), tt.sorted, tt.dir)
			}
		})
	}
}

// nextPage returns the address of p's Next link, after checking that it
// keeps the sort and leads to page 2.
func nextPage(t *testing.T, p *Page, sort, dir string) string {
	t.Helper()
	next, ok := p.Doc.Find("nav.pager a[rel=next]").Attr("href")
	if !ok {
		t.Fatal("no Next link")
	}
	u, _ := url.Parse(next)
	if q := u.Query(); q.Get("sort") != sort || q.Get("dir") != dir || q.Get("page") != "2" {
		t.Fatalf("Next = %s, want page 2 sorted by %s %s", next, sort, dir)
	}
	return u.RequestURI()
}

func TestAPIKeysListSort(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	owner := app.MustUser(t, "ada@example.com")
	now := app.Clock.Now()
	in := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	// Created in this order, a minute apart.
	for _, k := range []struct {
		name    string
		expires *time.Time
		used    time.Duration // before now; 0: never
	}{
		{"bravo", in(48 * time.Hour), 3 * time.Hour},
		{"Alpha", nil, 0},
		{"charlie", in(24 * time.Hour), time.Hour},
		{"delta", in(72 * time.Hour), 0},
	} {
		_, key := app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: k.name, Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: k.expires})
		if k.used > 0 {
			// No service sets a past "last used": it is written directly.
			if _, err := app.DB.WriteConn().Exec(`UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, now.Add(-k.used).UnixMilli(), key.ID); err != nil {
				t.Fatal(err)
			}
		}
		app.Clock.Advance(time.Minute)
	}
	list := "/orgs/" + org + "/api-keys"
	testSorts(t, c, list, "api-keys", rowNames, []sortCase{
		{"DefaultNewestFirst", "", "delta charlie Alpha bravo", "created", "descending"},
		{"CreatedAscending", "?sort=created&dir=asc", "bravo Alpha charlie delta", "created", "ascending"},
		{"NameAscending", "?sort=name&dir=asc", "Alpha bravo charlie delta", "name", "ascending"},
		{"NameDescending", "?sort=name&dir=desc", "delta charlie bravo Alpha", "name", "descending"},
		{"LastUsedDescending", "?sort=last_used&dir=desc", "charlie bravo delta Alpha", "last_used", "descending"},
		{"LastUsedNeverFirst", "?sort=last_used&dir=asc", "delta Alpha bravo charlie", "last_used", "ascending"},
		{"ExpirySoonestFirst", "?sort=expires&dir=asc", "charlie bravo delta Alpha", "expires", "ascending"},
		{"ExpiryLatestFirst", "?sort=expires&dir=desc", "Alpha delta bravo charlie", "expires", "descending"},
		{"UnknownSortIsDefault", "?sort=secret&dir=sideways", "delta charlie Alpha bravo", "created", "descending"},
	})

	t.Run("HeaderLinksToggleAndKeepFilters", func(t *testing.T) {
		p := c.Get(list + "?sort=name&dir=asc&q=a&env=production")
		link := func(col string) url.Values {
			href, ok := p.Doc.Find("[data-testid=api-keys] thead th[data-sort=" + col + "] a").Attr("href")
			if !ok {
				t.Fatalf("header %s has no link", col)
			}
			u, _ := url.Parse(href)
			return u.Query()
		}
		if q := link("name"); q.Get("sort") != "name" || q.Get("dir") != "desc" || q.Get("q") != "a" || q.Get("env") != "production" || q.Has("page") {
			t.Fatalf("Name link = %v, want name descending with the filters and no page", q)
		}
		if q := link("last_used"); q.Get("sort") != "last_used" || q.Get("dir") != "desc" {
			t.Fatalf("Last used link = %v, want it most recent first", q)
		}
		if q := link("expires"); q.Get("sort") != "expires" || q.Get("dir") != "asc" {
			t.Fatalf("Expiry link = %v, want it soonest first", q)
		}
		for _, name := range []string{"sort", "dir"} {
			if got, _ := p.Doc.Find("form[role=search] input[type=hidden][name=" + name + "]").Attr("value"); got != map[string]string{"sort": "name", "dir": "asc"}[name] {
				t.Fatalf("the filter form keeps %s = %q", name, got)
			}
		}
	})

	t.Run("PagesKeepTheSort", func(t *testing.T) {
		for i := 0; i < 50; i++ {
			app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: "zulu " + itoa(100+i), Scopes: []keygate.Scope{keygate.ScopeRead}})
		}
		p := c.Get(list + "?sort=name&dir=asc")
		if got := rowNames(p); len(got) != 50 || got[0] != "Alpha" {
			t.Fatalf("first page: %d rows starting %v", len(got), got[:1])
		}
		p = c.Get(nextPage(t, p, "name", "asc"))
		if got := rowNames(p); len(got) != 4 || got[3] != "zulu 149" {
			t.Fatalf("second page = %v", got)
		}
	})
}

func TestAPIKeyScopesRadio(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	owner := app.MustUser(t, "ada@example.com")

	p := c.Get("/orgs/" + org + "/api-keys/new")
	assertStatus(t, p, http.StatusOK)
	if n := p.Doc.Find("input[name=scopes][type=checkbox]").Length(); n != 0 {
		t.Fatalf("%d scope checkboxes", n)
	}
	radios := p.Doc.Find("fieldset input[name=scopes][type=radio]")
	var labels []string
	radios.Each(func(_ int, s *goquerySelection) {
		id, _ := s.Attr("id")
		help := p.Doc.Find("#" + s.AttrOr("aria-describedby", "none"))
		labels = append(labels, squash(p.Doc.Find("label[for="+id+"]").Text())+": "+squash(help.Text()))
	})
	want := []string{
		"Read: View bots, conversations and analytics.",
		"Write: Create and change bots and conversations. Includes Read.",
		"Admin: Full access, including keys and members. Includes Write and Read.",
	}
	if strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Fatalf("scope radios:\n%s\nwant:\n%s", strings.Join(labels, "\n"), strings.Join(want, "\n"))
	}
	if got, _ := p.Doc.Find("input[name=scopes][checked]").Attr("value"); got != "read" {
		t.Fatalf("default scope = %q, want read", got)
	}
	if got := squash(p.Doc.Find("fieldset:has(input[name=scopes]) legend").Text()); got != "Scopes" {
		t.Fatalf("legend = %q", got)
	}

	tests := []struct {
		name   string
		scopes []string
		want   string
	}{
		{"Read", []string{"read"}, "read"},
		{"Write", []string{"write"}, "read,write"},
		{"Admin", []string{"admin"}, "read,write,admin"},
		// What checkboxes used to post is still read the same way.
		{"ReadAndAdmin", []string{"read", "admin"}, "read,write,admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.MustCreateKey(org, keyForm("scope "+tt.name, "production", tt.scopes, "30"))
			if got := app.keyByName(t, owner, org, "scope "+tt.name, keygate.KeyActive).Scopes.String(); got != tt.want {
				t.Fatalf("saved scopes = %s, want %s", got, tt.want)
			}
		})
	}

	t.Run("ErrorKeepsTheChoice", func(t *testing.T) {
		form := keyForm("", "production", []string{"write"}, "30")
		p := c.Post("/orgs/"+org+"/api-keys", form)
		assertStatus(t, p, http.StatusBadRequest)
		if got, _ := p.Doc.Find("#create-key-dialog input[name=scopes][checked]").Attr("value"); got != "write" {
			t.Fatalf("checked scope after an error = %q, want write", got)
		}
	})

	t.Run("APIStillTakesAList", func(t *testing.T) {
		secret, _ := app.MustKey(t, owner, org, keyCreate("automation", "admin"))
		for _, tt := range []struct{ body, want string }{
			{`{"name": "api read+admin", "scopes": ["read", "admin"]}`, "[read write admin]"},
			{`{"name": "api write", "scopes": ["write"]}`, "[read write]"},
		} {
			r := app.API(t, http.MethodPost, "/api/v1/keys", "Token "+secret, tt.body)
			wantAPI(t, r, http.StatusCreated, "", "")
			if got := fmtScopes(r.JSON["scopes"]); got != tt.want {
				t.Fatalf("%s: scopes = %s, want %s", tt.body, got, tt.want)
			}
		}
	})
}

// fmtScopes prints a JSON list of scopes as [a b c].
func fmtScopes(v any) string {
	list, _ := v.([]any)
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i], _ = s.(string)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestCreateAPIKeyDateError(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	for _, date := range []string{"", "31/01/2027", "2027-02-30"} {
		form := keyForm("Dated", "production", []string{"read"}, "custom")
		form.Set("expiration_date", date)
		p := c.Post("/orgs/"+org+"/api-keys", form)
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "expiration_date"); got != "Enter a valid date." {
			t.Fatalf("%q: error = %q, want %q", date, got, "Enter a valid date.")
		}
	}
}

func TestRollAPIKeyModal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		grace    string
		wantNote func(until time.Time) string
	}{
		{"0", func(time.Time) string { return "The old key stopped working now." }},
		{"1h", func(until time.Time) string {
			return "The old key keeps working for 1 hour, until " + until.UTC().Format("2006-01-02 15:04 UTC") + "."
		}},
		{"168h", func(until time.Time) string {
			return "The old key keeps working for 7 days, until " + until.UTC().Format("2006-01-02 15:04 UTC") + "."
		}},
	}
	for _, tt := range tests {
		t.Run("Grace_"+tt.grace, func(t *testing.T) {
			app := MustOpenApp(t)
			c := app.NewClient(t)
			org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
			owner := app.MustUser(t, "ada@example.com")
			_, old := app.MustKey(t, owner, org, keyCreate("Webhook relay", "write"))
			p := c.Post("/orgs/"+org+"/api-keys/"+old.PublicID+"/roll", url.Values{"grace": {tt.grace}, "form_token": {"roll"}})
			assertStatus(t, p, http.StatusOK)
			modal := p.Doc.Find("dialog#key-created")
			if got := squash(modal.Find("h2").Text()); got != "Key rolled" {
				t.Fatalf("title = %q, want Key rolled", got)
			}
			after, err := app.Keys.FindAPIKeyByID(keygate.NewContextWithUser(t.Context(), owner), org, old.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			var until time.Time
			if after.ExpiresAt != nil {
				until = *after.ExpiresAt
			}
			if got, want := squash(modal.Find("[data-testid=old-key-note]").Text()), tt.wantNote(until); got != want {
				t.Fatalf("note = %q, want %q", got, want)
			}
		})
	}

	t.Run("CreateKeepsItsTitle", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
		_, p := c.MustCreateKey(org, keyForm("Fresh", "production", []string{"read"}, "30"))
		if got := squash(p.Doc.Find("dialog#key-created h2").Text()); got != "API Key Created" {
			t.Fatalf("title = %q", got)
		}
		if p.Doc.Find("[data-testid=old-key-note]").Length() != 0 {
			t.Fatal("a create talks about an old key")
		}
	})
}

func TestEditAPIKeyErrorKeepsPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	owner := app.MustUser(t, "ada@example.com")
	_, k := app.MustKey(t, owner, org, keyCreate("Throttle test", "read"))
	path := "/orgs/" + org + "/api-keys/" + k.PublicID

	p := c.Post(path, url.Values{"name": {"Throttle test"}, "environment": {"production"}, "note": {"kept"}, "rate_limit": {"abc"}})
	assertStatus(t, p, http.StatusBadRequest)
	if got := fieldError(p, "rate_limit"); got != "Enter a limit like 1000/h, 60/m or 10/s." {
		t.Fatalf("error beside Rate limit = %q", got)
	}
	input := p.Doc.Find("#f-rate_limit")
	if input.AttrOr("value", "") != "abc" || input.AttrOr("aria-invalid", "") != "true" {
		t.Fatalf("rate limit input: value %q, aria-invalid %q", input.AttrOr("value", ""), input.AttrOr("aria-invalid", ""))
	}
	if got := squash(p.Doc.Find("#f-note").Text()); got != "kept" {
		t.Fatalf("note kept as %q", got)
	}
	for _, h := range []string{"Details", "Usage", "Edit", "Roll or revoke"} {
		if p.Doc.Find("h2:contains('"+h+"')").Length() != 1 {
			t.Errorf("the page re-rendered without its %s section", h)
		}
	}
	if got, _ := app.Keys.FindAPIKeyByID(keygate.NewContextWithUser(t.Context(), owner), org, k.PublicID); got.RateLimit != "" || got.Note != "" {
		t.Fatalf("the invalid edit changed the key: %+v", got)
	}
}
