package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// keyForm is a create form with a fresh one-time token.
func keyForm(name, env string, scopes []string, expiration string) url.Values {
	return url.Values{
		"name": {name}, "environment": {env}, "scopes": scopes, "expiration": {expiration},
		"form_token": {"tok-" + name + "-" + env + "-" + strings.Join(scopes, "") + expiration + time.Now().Format(time.RFC3339Nano)},
		"from":       {"dialog"},
	}
}

// MustCreateKey creates a key through the form and returns the secret shown.
func (c *Client) MustCreateKey(orgID string, form url.Values) (string, *Page) {
	c.tb.Helper()
	p := c.Post("/orgs/"+orgID+"/api-keys", form)
	if p.StatusCode != http.StatusOK {
		c.tb.Fatalf("create status = %d; body: %.800s", p.StatusCode, p.Body)
	}
	secret, _ := p.Doc.Find("#new-api-key").Attr("value")
	if _, err := apikey.Parse(secret); err != nil {
		c.tb.Fatalf("modal shows %q: %v", secret, err)
	}
	return secret, p
}

// keyByName finds a key of the organization through the service.
func (a *App) keyByName(tb testing.TB, owner *keygate.User, orgID, name string, state keygate.KeyState) *keygate.APIKey {
	tb.Helper()
	keys, _, err := a.Keys.FindAPIKeys(keygate.NewContextWithUser(context.Background(), owner), keygate.APIKeyFilter{OrgPublicID: orgID, Query: name, State: state})
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == name {
			return k
		}
	}
	tb.Fatalf("no %s key named %q", state, name)
	return nil
}

// keysOf returns the organization's keys in state, as owner sees them.
func (a *App) keysOf(tb testing.TB, owner *keygate.User, orgID string, state keygate.KeyState) []*keygate.APIKey {
	tb.Helper()
	keys, _, err := a.Keys.FindAPIKeys(keygate.NewContextWithUser(context.Background(), owner), keygate.APIKeyFilter{OrgPublicID: orgID, State: state})
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

func TestCreateAPIKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	owner := app.MustUser(t, "ada@example.com")

	p := c.Get("/orgs/" + orgID + "/api-keys")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("button:contains('+ Create API Key')").Length() == 0 {
		t.Fatal("no + Create API Key")
	}
	if p.Text(".empty-state h2") != "No API keys yet" {
		t.Fatal("no empty state")
	}
	if got, _ := p.Doc.Find("#f-expiration option[selected]").Attr("value"); got != "90" {
		t.Fatalf("default expiration = %q, want 90", got)
	}

	day := func(n int) *time.Duration { d := time.Duration(n) * 24 * time.Hour; return &d }
	custom := app.Clock.Now().UTC().AddDate(0, 0, 10).Format(time.DateOnly)
	tests := []struct {
		env        string
		scopes     []string
		expiration string
		date       string
		note       string
		wantScopes string
		wantIn     *time.Duration // nil: no expiry
	}{
		{"production", []string{"read"}, "7", "", "", "read", day(7)},
		{"staging", []string{"write"}, "30", "", "deploys", "read,write", day(30)},
		{"development", []string{"admin"}, "60", "", "", "read,write,admin", day(60)},
		{"ci", []string{"read", "write"}, "90", "", "pipeline", "read,write", day(90)},
		{"other", []string{"read", "admin"}, "none", "", "", "read,write,admin", nil},
		{"production", []string{"write", "admin"}, "custom", custom, "until the audit", "read,write,admin", day(11)},
	}
	for i, tt := range tests {
		name := "key " + itoa(i)
		t.Run(tt.env+"_"+strings.Join(tt.scopes, "+")+"_"+tt.expiration, func(t *testing.T) {
			form := keyForm(name, tt.env, tt.scopes, tt.expiration)
			form.Set("expiration_date", tt.date)
			form.Set("note", tt.note)
			before := app.Clock.Now()
			secret, p := c.MustCreateKey(orgID, form)
			if got := p.Header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("Cache-Control = %q", got)
			}
			modal := p.Doc.Find("dialog#key-created")
			if got := strings.TrimSpace(modal.Find("h2").Text()); got != "API Key Created" {
				t.Fatalf("modal title = %q", got)
			}
			if got := strings.TrimSpace(modal.Find("#key-created-warning").Text()); got != "This is the only time you'll see this key. Copy it now and store it securely." {
				t.Fatalf("warning = %q", got)
			}
			if modal.Find("button:contains('Copy')").Length() != 1 || modal.Find(":contains('Done')").Length() == 0 {
				t.Fatal("modal lacks Copy or Done")
			}
			if got, want := strings.TrimSpace(modal.Find("pre code").Text()), `curl -H "Authorization: Token `+secret+`" `+app.URL+`/api/v1/me`; got != want {
				t.Fatalf("example = %q, want %q", got, want)
			}
			k := app.keyByName(t, owner, orgID, name, keygate.KeyActive)
			if k.Scopes.String() != tt.wantScopes || string(k.Environment) != tt.env || k.Note != tt.note {
				t.Fatalf("stored key = %+v", k)
			}
			if parsed, _ := apikey.Parse(secret); parsed.Hint() != k.Hint {
				t.Fatalf("hint %q does not match the secret", k.Hint)
			}
			if tt.wantIn == nil {
				if k.ExpiresAt != nil {
					t.Fatalf("expires at %v, want never", k.ExpiresAt)
				}
			} else if k.ExpiresAt == nil || k.ExpiresAt.Sub(before) < *tt.wantIn-24*time.Hour || k.ExpiresAt.Sub(before) > *tt.wantIn+time.Minute {
				t.Fatalf("expires at %v, want about %v from now", k.ExpiresAt, *tt.wantIn)
			}
			if k.CreatedByName != "Ada" {
				t.Fatalf("created by %q", k.CreatedByName)
			}
		})
	}

	t.Run("ListedNewestFirst", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/api-keys")
		rows := p.Doc.Find("[data-testid=api-key-row]")
		if rows.Length() != len(tests) {
			t.Fatalf("rows = %d, want %d", rows.Length(), len(tests))
		}
		if got := strings.TrimSpace(rows.First().Find(".key-name").Text()); got != "key 5" {
			t.Fatalf("first row = %q", got)
		}
		first := rows.First()
		if !strings.Contains(first.Text(), "Never") {
			t.Fatal("unused key does not say Never")
		}
		if got := strings.TrimSpace(rows.Eq(5).Find("[data-testid=key-expiry]").Text()); got != "Expires in 7 days" {
			t.Fatalf("7-day key expiry = %q", got)
		}
		if !rows.Eq(5).Find("[data-testid=key-expiry]").HasClass("badge-warning") {
			t.Fatal("expiry under 7 days is not highlighted")
		}
		if rows.Eq(4).Find("[data-testid=key-expiry]").HasClass("badge-warning") {
			t.Fatal("30-day expiry highlighted")
		}
		hint := strings.TrimSpace(first.Find("[data-testid=key-hint]").Text())
		id, _ := first.Attr("data-key-id")
		if copyText, _ := first.Find("[data-copy-text]").Attr("data-copy-text"); copyText != id || !strings.HasPrefix(id, "key_") || !strings.HasPrefix(hint, "kg_") {
			t.Fatalf("hint %q, copy button copies %q, want the key ID %q", hint, copyText, id)
		}
		if first.Find(".env-production").Length() != 1 || first.Find(".scope-admin").Length() != 1 {
			t.Fatal("badges missing")
		}
	})

	t.Run("AuditLogged", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/audit-log?action=api_key.create")
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find("[data-testid=audit-row]").Length(); n != len(tests) {
			t.Fatalf("create events = %d, want %d", n, len(tests))
		}
		if !strings.Contains(p.Doc.Find("[data-testid=audit-row]").First().Text(), "key 5") {
			t.Fatal("audit row does not name the key")
		}
	})
}

func TestCreateAPIKeyInvalid(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	past := app.Clock.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)

	tests := []struct {
		name   string
		change func(url.Values)
		field  string
		want   string
	}{
		{"ErrNameRequired", func(v url.Values) { v.Set("name", " ") }, "name", "Name is required."},
		{"ErrNameTooLong", func(v url.Values) { v.Set("name", strings.Repeat("x", 101)) }, "name", "Name must be at most 100 characters."},
		{"ErrNoScope", func(v url.Values) { v.Del("scopes") }, "scopes", "Choose at least one scope."},
		{"ErrUnknownScope", func(v url.Values) { v.Set("scopes", "root") }, "scopes", "Unknown scope."},
		{"ErrEnvironment", func(v url.Values) { v.Set("environment", "moon") }, "environment", "Choose an environment."},
		{"ErrExpiration", func(v url.Values) { v.Set("expiration", "1000") }, "expiration", "Choose when the key expires."},
		{"ErrCustomDateMissing", func(v url.Values) { v.Set("expiration", "custom") }, "expiration_date", "Enter a valid date."},
		{"ErrCustomDatePast", func(v url.Values) { v.Set("expiration", "custom"); v.Set("expiration_date", past) }, "expiration_date", "Choose a date after today."},
		{"ErrNoteTooLong", func(v url.Values) { v.Set("note", strings.Repeat("n", 1001)) }, "note", "Note must be at most 1000 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, from := range []string{"dialog", "page"} {
				form := keyForm("CI deploy", "ci", []string{"read"}, "30")
				form.Set("from", from)
				form.Set("note", "kept note")
				tt.change(form)
				p := c.Post("/orgs/"+orgID+"/api-keys", form)
				assertStatus(t, p, http.StatusBadRequest)
				if got := fieldError(p, tt.field); got != tt.want {
					t.Fatalf("%s: error beside %s = %q, want %q", from, tt.field, got, tt.want)
				}
				if p.Doc.Find("#new-api-key").Length() != 0 {
					t.Fatal("a key was shown")
				}
				if from == "dialog" {
					if _, ok := p.Doc.Find("dialog#create-key-dialog").Attr("data-modal-open"); !ok {
						t.Fatal("dialog not reopened with the errors")
					}
				} else if p.Text("h1") != "Create API Key" {
					t.Fatal("plain page not re-rendered")
				}
				if tt.field != "name" {
					if got, _ := p.Doc.Find("#f-name").Attr("value"); got != "CI deploy" {
						t.Fatalf("name kept as %q", got)
					}
				}
				if got, _ := p.Doc.Find("#f-environment option[selected]").Attr("value"); tt.field != "environment" && got != "ci" {
					t.Fatalf("environment kept as %q", got)
				}
				if n := app.Count(t, "api_keys"); n != 0 {
					t.Fatalf("%d keys created on error", n)
				}
			}
		})
	}
}

func TestCreateAPIKeyResubmitted(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	form := keyForm("Backend", "production", []string{"read", "write"}, "90")
	secret, _ := c.MustCreateKey(orgID, form)

	// The browser posts the same form again (reload, back and submit).
	p := c.Post("/orgs/"+orgID+"/api-keys", form)
	assertStatus(t, p, http.StatusSeeOther)
	if loc := p.Header.Get("Location"); loc != "/orgs/"+orgID+"/api-keys" {
		t.Fatalf("redirect to %q", loc)
	}
	p = c.Follow(p)
	if strings.Contains(p.Body, secret) || p.Doc.Find("#new-api-key").Length() != 0 {
		t.Fatal("the key was shown again")
	}
	if !strings.Contains(p.Text(".flash-info"), "already submitted") {
		t.Fatalf("flash = %q", p.Text(".flashes"))
	}
	if n := app.Count(t, "api_keys"); n != 1 {
		t.Fatalf("keys = %d, want 1", n)
	}
	// Neither the list nor the key's page shows the secret.
	for _, path := range []string{"/orgs/" + orgID + "/api-keys", "/orgs/" + orgID + "/api-keys?state=revoked", "/orgs/" + orgID + "/audit-log"} {
		if strings.Contains(c.Get(path).Body, secret) {
			t.Fatalf("%s shows the secret", path)
		}
	}
}

func TestAPIKeysForbiddenAndNotFound(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgA := owner.MustSignup("Ada", "ada@example.com", "Org A")
	owner.MustCreateKey(orgA, keyForm("A key", "production", []string{"read"}, "30"))
	keyA := app.keyByName(t, app.MustUser(t, "ada@example.com"), orgA, "A key", keygate.KeyActive)
	member := MustAddMember(t, app, orgA, "Mia", "mia@example.com", keygate.RoleMember)

	stranger := app.NewClient(t)
	orgB := stranger.MustSignup("Bob", "bob@example.com", "Org B")

	keyPath := "/orgs/" + orgA + "/api-keys/" + keyA.PublicID
	gets := []string{"/orgs/" + orgA + "/api-keys", "/orgs/" + orgA + "/api-keys/new", keyPath, keyPath + "/revoke", keyPath + "/roll", "/orgs/" + orgA + "/audit-log"}
	posts := map[string]url.Values{
		"/orgs/" + orgA + "/api-keys": keyForm("M", "production", []string{"read"}, "30"),
		keyPath:                       {"name": {"Renamed"}, "environment": {"staging"}},
		keyPath + "/revoke":           {},
		keyPath + "/roll":             {"grace": {"1h"}, "form_token": {"t1"}},
	}
	t.Run("MemberForbidden", func(t *testing.T) {
		for _, path := range gets {
			p := member.Get(path)
			assertStatus(t, p, http.StatusForbidden)
			if path != "/orgs/"+orgA+"/audit-log" && !strings.Contains(p.Body, "You need the Admin role to manage API keys") {
				t.Fatalf("%s: 403 page says %q", path, p.Text("[data-testid=error-page]"))
			}
		}
		for path, form := range posts {
			assertStatus(t, member.Post(path, form), http.StatusForbidden)
		}
	})
	t.Run("OtherOrganizationNotFound", func(t *testing.T) {
		for _, path := range gets {
			assertStatus(t, stranger.Get(path), http.StatusNotFound)
		}
		for path, form := range posts {
			assertStatus(t, stranger.Post(path, form), http.StatusNotFound)
		}
		// Org A's key id under org B's own path is not found either.
		bPath := "/orgs/" + orgB + "/api-keys/" + keyA.PublicID
		assertStatus(t, stranger.Get(bPath), http.StatusNotFound)
		assertStatus(t, stranger.Post(bPath+"/revoke", nil), http.StatusNotFound)
		assertStatus(t, stranger.Post(bPath+"/roll", url.Values{"grace": {"0"}, "form_token": {"t2"}}), http.StatusNotFound)
	})
	k := app.keyByName(t, app.MustUser(t, "ada@example.com"), orgA, "A key", keygate.KeyActive)
	if k.RevokedAt != nil || k.Name != "A key" || app.Count(t, "api_keys") != 1 {
		t.Fatal("a forbidden request changed keys")
	}
}

func TestRevokeAPIKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	owner := app.MustUser(t, "ada@example.com")
	c.MustCreateKey(orgID, keyForm("CI deploy", "ci", []string{"read"}, "30"))
	k := app.keyByName(t, owner, orgID, "CI deploy", keygate.KeyActive)

	p := c.Get("/orgs/" + orgID + "/api-keys")
	q, _ := p.Doc.Find("[data-revoke]").Attr("data-question")
	if q != "Revoke “CI deploy”? Applications using it will stop working immediately. This cannot be undone." {
		t.Fatalf("question = %q", q)
	}
	// Without JavaScript the same question is a page.
	page := c.Get("/orgs/" + orgID + "/api-keys/" + k.PublicID + "/revoke")
	if !strings.Contains(page.Body, "Revoke “CI deploy”? Applications using it will stop working immediately. This cannot be undone.") {
		t.Fatal("confirmation page lacks the question")
	}

	p = c.Post("/orgs/"+orgID+"/api-keys/"+k.PublicID+"/revoke", nil)
	assertStatus(t, p, http.StatusSeeOther)
	p = c.Follow(p)
	if got := p.Text(".flash-success"); got != "Key “CI deploy” revoked. Requests using it now fail." {
		t.Fatalf("flash = %q", got)
	}
	if p.Doc.Find("[data-testid=api-key-row]").Length() != 0 {
		t.Fatal("revoked key still in the active list")
	}
	p = c.Get("/orgs/" + orgID + "/api-keys?state=revoked")
	row := p.Doc.Find("[data-testid=api-key-row]")
	if row.Length() != 1 || !strings.Contains(row.Text(), "Revoked") || !strings.Contains(row.Text(), "by Ada") {
		t.Fatalf("revoked list row = %q", row.Text())
	}
	if row.Find("[data-roll]").Length() != 0 || row.Find("[data-revoke]").Length() != 0 {
		t.Fatal("a revoked key offers roll or revoke")
	}
	// It cannot be restored or revoked twice.
	p = c.Follow(c.Post("/orgs/"+orgID+"/api-keys/"+k.PublicID+"/revoke", nil))
	if !strings.Contains(p.Text(".flash-info"), "already revoked") {
		t.Fatalf("second revoke flash = %q", p.Text(".flashes"))
	}
	p = c.Post("/orgs/"+orgID+"/api-keys/"+k.PublicID, url.Values{"name": {"Back"}, "environment": {"ci"}})
	assertStatus(t, p, http.StatusBadRequest)
	if n := len(c.Get("/orgs/" + orgID + "/audit-log?action=api_key.revoke").Doc.Find("[data-testid=audit-row]").Nodes); n != 1 {
		t.Fatalf("revoke events = %d", n)
	}
}

func TestRollAPIKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		grace      string
		wantExpiry string
	}{
		{"0", ""},
		{"1h", "Expires in 1 hour"},
		{"24h", "Expires in 1 day"},
		{"168h", "Expires in 7 days"},
	}
	for _, tt := range tests {
		t.Run("Grace_"+tt.grace, func(t *testing.T) {
			app := MustOpenApp(t)
			c := app.NewClient(t)
			orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
			owner := app.MustUser(t, "ada@example.com")
			form := keyForm("Backend", "staging", []string{"write"}, "none")
			form.Set("note", "the backend")
			oldSecret, _ := c.MustCreateKey(orgID, form)
			old := app.keyByName(t, owner, orgID, "Backend", keygate.KeyActive)

			roll := url.Values{"grace": {tt.grace}, "form_token": {"roll-" + tt.grace}}
			p := c.Post("/orgs/"+orgID+"/api-keys/"+old.PublicID+"/roll", roll)
			assertStatus(t, p, http.StatusOK)
			newSecret, _ := p.Doc.Find("#new-api-key").Attr("value")
			if _, err := apikey.Parse(newSecret); err != nil || newSecret == oldSecret {
				t.Fatalf("rolled secret %q: %v", newSecret, err)
			}
			if got := strings.TrimSpace(p.Doc.Find("dialog#key-created h2").Text()); got != "Key rolled" {
				t.Fatalf("modal = %q", got)
			}
			// Resubmitting the roll creates nothing.
			assertStatus(t, c.Post("/orgs/"+orgID+"/api-keys/"+old.PublicID+"/roll", roll), http.StatusSeeOther)
			if n := app.Count(t, "api_keys"); n != 2 {
				t.Fatalf("keys = %d, want 2", n)
			}

			keys, _, _ := app.Keys.FindAPIKeys(keygate.NewContextWithUser(context.Background(), owner), keygate.APIKeyFilter{OrgPublicID: orgID})
			var next *keygate.APIKey
			for _, k := range keys {
				if k.PublicID != old.PublicID {
					next = k
				}
			}
			if next == nil || next.Name != "Backend" || next.Environment != "staging" || next.Scopes.String() != "read,write" || next.RolledFrom != old.PublicID || next.ExpiresAt != nil {
				t.Fatalf("new key = %+v", next)
			}
			p = c.Get("/orgs/" + orgID + "/api-keys")
			oldRow := p.Doc.Find("[data-key-id=" + old.PublicID + "]")
			if tt.grace == "0" {
				if oldRow.Length() != 0 {
					t.Fatal("old key still active after a roll with no grace")
				}
				if app.keyByName(t, owner, orgID, "Backend", keygate.KeyRevoked).PublicID != old.PublicID {
					t.Fatal("old key not revoked")
				}
				return
			}
			if got := strings.TrimSpace(oldRow.Find("[data-testid=key-expiry]").Text()); got != tt.wantExpiry {
				t.Fatalf("old key expiry = %q, want %q", got, tt.wantExpiry)
			}
			// Past the grace period the old key is expired.
			app.Clock.Advance(graceDuration(tt.grace) + time.Second)
			c.MustLogin("ada@example.com", testPassword)
			if app.keyByName(t, owner, orgID, "Backend", keygate.KeyExpired).PublicID != old.PublicID {
				t.Fatal("old key not expired after the grace period")
			}
			p = c.Get("/orgs/" + orgID + "/api-keys?state=expired")
			if p.Doc.Find("[data-key-id="+old.PublicID+"]").Length() != 1 {
				t.Fatal("old key not in the Expired filter")
			}
		})
	}

	t.Run("KeepsEarlierExpiry", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
		owner := app.MustUser(t, "ada@example.com")
		c.MustCreateKey(orgID, keyForm("Soon", "production", []string{"read"}, "7"))
		old := app.keyByName(t, owner, orgID, "Soon", keygate.KeyActive)
		assertStatus(t, c.Post("/orgs/"+orgID+"/api-keys/"+old.PublicID+"/roll", url.Values{"grace": {"168h"}, "form_token": {"x"}}), http.StatusOK)
		after, err := app.Keys.FindAPIKeyByID(keygate.NewContextWithUser(context.Background(), owner), orgID, old.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if !after.ExpiresAt.Equal(*old.ExpiresAt) {
			t.Fatalf("expiry moved from %v to %v", old.ExpiresAt, after.ExpiresAt)
		}
	})

	t.Run("ErrGrace", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
		c.MustCreateKey(orgID, keyForm("K", "production", []string{"read"}, "7"))
		k := app.keyByName(t, app.MustUser(t, "ada@example.com"), orgID, "K", keygate.KeyActive)
		p := c.Post("/orgs/"+orgID+"/api-keys/"+k.PublicID+"/roll", url.Values{"grace": {"2h"}, "form_token": {"y"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "grace"); got != "Choose how long the old key keeps working." {
			t.Fatalf("error = %q", got)
		}
		if app.Count(t, "api_keys") != 1 {
			t.Fatal("a key was created")
		}
	})
}

func graceDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

func TestEditAPIKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	owner := app.MustUser(t, "ada@example.com")
	c.MustCreateKey(orgID, keyForm("Old name", "production", []string{"admin"}, "30"))
	k := app.keyByName(t, owner, orgID, "Old name", keygate.KeyActive)
	path := "/orgs/" + orgID + "/api-keys/" + k.PublicID

	p := c.Get(path)
	assertStatus(t, p, http.StatusOK)
	if !strings.Contains(p.Text("[data-testid=immutable-note]"), "Scopes, permissions and expiration cannot be changed") {
		t.Fatal("page does not say scopes and expiry are fixed")
	}
	if p.Doc.Find("form input[name=scopes], form select[name=expiration]").Length() != 0 {
		t.Fatal("edit form offers scopes or expiration")
	}

	p = c.Post(path, url.Values{"name": {""}, "environment": {"staging"}, "note": {"n"}})
	assertStatus(t, p, http.StatusBadRequest)
	if got := fieldError(p, "name"); got != "Name is required." {
		t.Fatalf("error = %q", got)
	}
	if app.keyByName(t, owner, orgID, "Old name", keygate.KeyActive).Environment != "production" {
		t.Fatal("invalid edit changed the key")
	}

	p = c.Post(path, url.Values{"name": {"New name"}, "environment": {"staging"}, "note": {"rotated monthly"}, "scopes": {"read"}})
	assertStatus(t, p, http.StatusSeeOther)
	after := app.keyByName(t, owner, orgID, "New name", keygate.KeyActive)
	if after.Environment != "staging" || after.Note != "rotated monthly" || after.Scopes.String() != "read,write,admin" || !after.ExpiresAt.Equal(*k.ExpiresAt) {
		t.Fatalf("after edit: %+v", after)
	}
	if got := c.Follow(p).Text(".flash-success"); got != "Key “New name” saved." {
		t.Fatalf("flash = %q", got)
	}
	if n := c.Get("/orgs/" + orgID + "/audit-log?action=api_key.update").Doc.Find("[data-testid=audit-row]").Length(); n != 1 {
		t.Fatalf("update events = %d", n)
	}
}

func TestAPIKeyListFilters(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	ctx := keygate.NewContextWithUser(context.Background(), app.MustUser(t, "ada@example.com"))
	for i := 0; i < 120; i++ {
		env := keygate.EnvProduction
		if i%3 == 0 {
			env = keygate.EnvStaging
		}
		name := "worker " + itoa(i)
		if i == 7 {
			name = "100%_special"
		}
		if _, _, err := app.Keys.CreateAPIKey(ctx, orgID, &keygate.APIKeyCreate{Name: name, Environment: env, Scopes: []keygate.Scope{keygate.ScopeRead}}); err != nil {
			t.Fatal(err)
		}
	}
	base := "/orgs/" + orgID + "/api-keys"
	p := c.Get(base)
	if n := p.Doc.Find("[data-testid=api-key-row]").Length(); n != 50 {
		t.Fatalf("page 1 rows = %d", n)
	}
	if got := strings.TrimSpace(p.Doc.Find("[data-testid=api-key-row] .key-name").First().Text()); got != "worker 119" {
		t.Fatalf("first = %q", got)
	}
	if !strings.Contains(p.Text(".pager"), "Page 1 of 3") {
		t.Fatalf("pager = %q", p.Text(".pager"))
	}
	next, _ := p.Doc.Find("a[rel=next]").Attr("href")
	p = c.Get(next)
	if got := strings.TrimSpace(p.Doc.Find("[data-testid=api-key-row] .key-name").First().Text()); got != "worker 69" {
		t.Fatalf("page 2 first = %q", got)
	}
	p = c.Get(base + "?env=staging")
	if n := p.Doc.Find("[data-testid=api-key-row]").Length(); n != 40 {
		t.Fatalf("staging rows = %d, want 40", n)
	}
	p = c.Get(base + "?q=" + url.QueryEscape("WORKER 11"))
	if n := p.Doc.Find("[data-testid=api-key-row]").Length(); n != 11 {
		t.Fatalf("search rows = %d, want 11 (11, 110-119)", n)
	}
	p = c.Get(base + "?q=" + url.QueryEscape("%_"))
	if n := p.Doc.Find("[data-testid=api-key-row]").Length(); n != 1 {
		t.Fatalf("wildcard search rows = %d, want 1", n)
	}
	p = c.Get(base + "?state=revoked")
	if p.Text(".empty-state h2") != "No keys match" {
		t.Fatal("no empty state for an empty filter")
	}
}

func TestAuditInSameTransaction(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	// Make the audit insert fail after the key insert succeeded: no service
	// can break the audit log, so the trigger is installed with SQL.
	if _, err := app.DB.WriteConn().Exec(`CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events
		WHEN NEW.action LIKE 'api_key.%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	p := c.Post("/orgs/"+orgID+"/api-keys", keyForm("Doomed", "production", []string{"read"}, "30"))
	assertStatus(t, p, http.StatusInternalServerError)
	if strings.Contains(p.Body, "injected") || p.Doc.Find("#new-api-key").Length() != 0 {
		t.Fatal("500 page leaks the error or shows a key")
	}
	ada := app.MustUser(t, "ada@example.com")
	if events := app.orgAuditEvents(t, ada, orgID, keygate.AuditAPIKeyCreate); len(events) != 0 {
		t.Fatalf("api_key.create audit events = %d, want 0", len(events))
	}
	if keys := app.keysOf(t, ada, orgID, keygate.KeyActive); len(keys) != 0 {
		t.Fatalf("keys = %d after a failed audit insert, want 0", len(keys))
	}
}

func TestSecretStoredNowhere(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	secret, _ := c.MustCreateKey(orgID, keyForm("Secret keeper", "production", []string{"admin"}, "none"))
	// More traffic after creation: sessions saved, pages read.
	c.Get("/orgs/" + orgID + "/api-keys")
	c.Get("/orgs/" + orgID + "/audit-log")
	k := app.keyByName(t, app.MustUser(t, "ada@example.com"), orgID, "Secret keeper", keygate.KeyActive)
	c.Post("/orgs/"+orgID+"/api-keys/"+k.PublicID, url.Values{"name": {"Secret keeper"}, "environment": {"staging"}})

	random := secret[len("kg_") : len("kg_")+32]
	needles := [][]byte{[]byte(secret), []byte(random), []byte(random[:16]), []byte(random[16:])}
	files, _ := filepath.Glob(app.DB.Path + "*")
	if len(files) < 2 {
		t.Fatalf("expected the database and its WAL, found %v", files)
	}
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(buf, n) {
				t.Fatalf("%s contains the key", filepath.Base(f))
			}
		}
	}
	rows, err := app.DB.WriteConn().Query(`SELECT data, user_agent, ip FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sessions int
	for rows.Next() {
		var data []byte
		var ua, ip string
		rows.Scan(&data, &ua, &ip)
		sessions++
		if bytes.Contains(data, []byte(random)) || strings.Contains(ua+ip, random) {
			t.Fatal("a session row contains the key")
		}
	}
	if sessions == 0 {
		t.Fatal("no session rows to check")
	}
	if strings.Contains(app.Logs.String(), random) {
		t.Fatal("logs contain the key")
	}
	if !strings.Contains(app.Logs.String(), "POST /orgs/{org}/api-keys") {
		t.Fatal("logs did not record the create request at all")
	}
}
