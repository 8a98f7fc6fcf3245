package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// permissionsPath is Settings > Permissions of org.
func permissionsPath(org string) string { return "/orgs/" + org + "/settings/permissions" }

// mustAddPermission adds a permission through the form and follows the
// redirect.
func (c *Client) mustAddPermission(org, name, description string) *Page {
	c.tb.Helper()
	p := c.Post(permissionsPath(org), url.Values{"name": {name}, "description": {description}})
	assertStatus(c.tb, p, http.StatusSeeOther)
	return c.Follow(p)
}

// permissionRows maps each listed permission to its "Keys holding it".
func permissionRows(p *Page) map[string]string {
	out := map[string]string{}
	p.Doc.Find("[data-testid=permission]").Each(func(_ int, s *goquerySelection) {
		out[strings.TrimSpace(s.Find("[data-testid=permission-name]").Text())] = strings.TrimSpace(s.Find("[data-testid=permission-keys]").Text())
	})
	return out
}

// texts returns the trimmed texts of the elements sel matches.
func texts(p *Page, sel string) []string {
	var out []string
	p.Doc.Find(sel).Each(func(_ int, s *goquerySelection) { out = append(out, strings.TrimSpace(s.Text())) })
	return out
}

// keyRecord is what a fresh lookup of secret gives request-time checks.
func (a *App) keyRecord(tb testing.TB, secret string) *apikey.Record {
	tb.Helper()
	k, err := apikey.Parse(secret)
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := a.Keys.LookupKeyByHash(context.Background(), k.Hash())
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

func TestPermissionsPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	ada := app.MustUser(t, "ada@example.com")

	t.Run("OKSubnavLink", func(t *testing.T) {
		p := owner.Get("/orgs/" + org + "/settings")
		assertStatus(t, p, http.StatusOK)
		href, _ := p.Doc.Find(`nav[aria-label="Organization settings"] a:contains("Permissions")`).Attr("href")
		if href != permissionsPath(org) {
			t.Fatalf("Permissions link = %q", href)
		}
	})

	t.Run("OKAdd", func(t *testing.T) {
		p := owner.Get(permissionsPath(org))
		assertStatus(t, p, http.StatusOK)
		if p.Doc.Find("[data-testid=permissions-empty]").Length() != 1 {
			t.Fatal("no empty state")
		}
		p = owner.mustAddPermission(org, "invoices:write", "Create and change invoices")
		if got, want := p.Doc.Find(".flash-success").Last().Text(), "Permission invoices:write added."; got != want {
			t.Fatalf("flash = %q, want %q", got, want)
		}
		if got := permissionRows(p); got["invoices:write"] != "0" || len(got) != 1 {
			t.Fatalf("rows = %v", got)
		}
		if !strings.Contains(p.Doc.Find("[data-testid=permission]").Text(), "Create and change invoices") {
			t.Fatal("description not shown")
		}
	})

	for _, tt := range []struct{ name, in, want string }{
		{"ErrCharacters", "Invoices Write", "Use lowercase letters, digits and : . _ - only."},
		{"ErrTooLong", strings.Repeat("x", 101), "Name must be at most 100 characters."},
		{"ErrDuplicate", "invoices:write", "This organization already has a permission named invoices:write."},
		{"ErrBuiltIn", "write", `"write" is a built-in scope. Choose another name.`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := owner.Post(permissionsPath(org), url.Values{"name": {tt.in}, "description": {"kept"}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "name"); got != tt.want {
				t.Fatalf("name error = %q, want %q", got, tt.want)
			}
			if v, _ := p.Doc.Find("#f-description").Attr("value"); v != "kept" {
				t.Fatalf("description = %q, want it kept", v)
			}
		})
	}

	t.Run("MemberForbidden", func(t *testing.T) {
		member := MustAddMember(t, app, org, "Mia", "mia@example.com", keygate.RoleMember)
		p := member.Get(permissionsPath(org))
		assertStatus(t, p, http.StatusForbidden)
		if !strings.Contains(p.Body, "You need the Admin role to manage permissions") {
			t.Fatalf("403 page says %q", p.Text("[data-testid=error-page]"))
		}
		assertStatus(t, member.Post(permissionsPath(org), url.Values{"name": {"m"}}), http.StatusForbidden)
		assertStatus(t, member.Get(permissionsPath(org)+"/invoices:write/delete"), http.StatusForbidden)
		assertStatus(t, member.Post(permissionsPath(org)+"/invoices:write/delete", nil), http.StatusForbidden)
		stranger := app.NewClient(t)
		stranger.MustSignup("Bob", "bob@example.com", "Org B")
		assertStatus(t, stranger.Get(permissionsPath(org)), http.StatusNotFound)
		assertStatus(t, stranger.Post(permissionsPath(org)+"/invoices:write/delete", nil), http.StatusNotFound)
	})

	if got := len(app.orgAuditEvents(t, ada, org, keygate.AuditPermissionCreated)); got != 1 {
		t.Fatalf("%d permission.created events, want 1", got)
	}
}

// TestPermissionsOnKeys defines a permission, grants it to keys through the
// dashboard and the API, and deletes it.
func TestPermissionsOnKeys(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	ada := app.MustUser(t, "ada@example.com")
	adminKey, _ := app.MustKey(t, ada, org, keygate.APIKeyCreate{Name: "admin", Scopes: []keygate.Scope{keygate.ScopeAdmin}})
	auth := "Token " + adminKey

	p := owner.Get("/orgs/" + org + "/api-keys")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("[data-testid=permission-choices]").Length() != 0 {
		t.Fatal("the create dialog lists permissions before there are any")
	}
	if got := p.Text(`label[for=f-allowed_ips]`); !strings.HasPrefix(got, "Allowed IP addresses") {
		t.Fatalf("allowlist label = %q", got)
	}
	owner.mustAddPermission(org, "invoices:write", "")
	owner.mustAddPermission(org, "invoices:read", "")

	p = owner.Get("/orgs/" + org + "/api-keys")
	if got := strings.Join(texts(p, "[data-testid=permission-choices] label"), ","); got != "invoices:read,invoices:write" {
		t.Fatalf("create dialog permissions = %q", got)
	}

	form := keyForm("Billing", "production", []string{"read"}, "30")
	form["permissions"] = []string{"invoices:write"}
	form.Set("allowed_ips", "203.0.113.7\n10.1.2.3/8")
	secret, _ := owner.MustCreateKey(org, form)
	billing := app.keyByName(t, ada, org, "Billing", keygate.KeyActive)

	t.Run("DashboardKeyPage", func(t *testing.T) {
		p := owner.Get("/orgs/" + org + "/api-keys/" + billing.PublicID)
		assertStatus(t, p, http.StatusOK)
		if got := strings.Join(texts(p, "[data-testid=key-permissions] [data-testid=key-permission]"), ","); got != "invoices:write" {
			t.Fatalf("key page permissions = %q", got)
		}
		if got := p.Text("[data-testid=key-allowed-ips]"); got != "203.0.113.7/32, 10.0.0.0/8" {
			t.Fatalf("key page allowed IPs = %q", got)
		}
		list := owner.Get("/orgs/" + org + "/api-keys")
		if got := strings.Join(texts(list, `tr:contains("Billing") [data-testid=key-permission]`), ","); got != "invoices:write" {
			t.Fatalf("list badges = %q", got)
		}
	})

	t.Run("DashboardErrUnknownAndBadIP", func(t *testing.T) {
		form := keyForm("Bad", "production", []string{"read"}, "30")
		form["permissions"] = []string{"nope"}
		form.Set("allowed_ips", "10.0.0.300")
		p := owner.Post("/orgs/"+org+"/api-keys", form)
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "allowed_ips"); !strings.Contains(got, `"10.0.0.300" is not an IP address`) {
			t.Fatalf("allowed_ips error = %q", got)
		}
		if got := p.Text("#f-allowed_ips"); got != "10.0.0.300" {
			t.Fatalf("textarea = %q, want the input kept", got)
		}
		form.Set("allowed_ips", "")
		form.Set("form_token", form.Get("form_token")+"2")
		p = owner.Post("/orgs/"+org+"/api-keys", form)
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "permissions"), `Unknown permission "nope". Define it in Settings > Permissions first.`; got != want {
			t.Fatalf("permissions error = %q, want %q", got, want)
		}
		if len(app.keysOf(t, ada, org, keygate.KeyActive)) != 2 {
			t.Fatal("a refused form saved a key")
		}
	})

	t.Run("DashboardEditAllowedIPs", func(t *testing.T) {
		path := "/orgs/" + org + "/api-keys/" + billing.PublicID
		edit := url.Values{"name": {"Billing"}, "environment": {"production"}, "allowed_ips": {"2001:db8::1/32"}}
		p := owner.Post(path, edit)
		assertStatus(t, p, http.StatusSeeOther)
		p = owner.Follow(p)
		if got := p.Text("[data-testid=key-allowed-ips]"); got != "2001:db8::/32" {
			t.Fatalf("allowed IPs = %q", got)
		}
		if got := app.keyRecord(t, secret).AllowedIPs; got != "2001:db8::/32" {
			t.Fatalf("record allowed IPs = %q", got)
		}
		edit.Set("allowed_ips", "nonsense")
		p = owner.Post(path, edit)
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "allowed_ips"); !strings.Contains(got, `"nonsense" is not an IP address`) {
			t.Fatalf("allowed_ips error = %q", got)
		}
		if got := p.Text("#f-allowed_ips"); got != "nonsense" {
			t.Fatalf("textarea = %q, want the input kept", got)
		}
		events := app.orgAuditEvents(t, ada, org, keygate.AuditAPIKeyUpdate)
		if len(events) != 1 || events[0].TargetName != "Billing (allowed IPs: 2001:db8::/32)" {
			t.Fatalf("update events = %+v", events)
		}
	})

	var apiKeyID string
	t.Run("API", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/keys", auth, `{"name": "Invoicer", "scopes": ["read"], "permissions": ["invoices:read", "invoices:write"], "allowed_ips": ["198.51.100.0/24"]}`)
		wantAPI(t, r, http.StatusCreated, "", "")
		apiKeyID, _ = r.JSON["id"].(string)
		if got := jsonStrings(r.JSON["permissions"]); got != "invoices:read,invoices:write" {
			t.Fatalf("permissions = %q", got)
		}
		if got := jsonStrings(r.JSON["allowed_ips"]); got != "198.51.100.0/24" {
			t.Fatalf("allowed_ips = %q", got)
		}
		r = app.API(t, "GET", "/api/v1/keys/"+apiKeyID, auth, "")
		wantAPI(t, r, http.StatusOK, "", "")
		if got := jsonStrings(r.JSON["permissions"]); got != "invoices:read,invoices:write" {
			t.Fatalf("GET permissions = %q", got)
		}
		r = app.API(t, "PATCH", "/api/v1/keys/"+apiKeyID, auth, `{"allowed_ips": ["203.0.113.9"]}`)
		wantAPI(t, r, http.StatusOK, "", "")
		if got := jsonStrings(r.JSON["allowed_ips"]); got != "203.0.113.9/32" {
			t.Fatalf("PATCH allowed_ips = %q", got)
		}
		r = app.API(t, "GET", "/api/v1/keys", auth, "")
		wantAPI(t, r, http.StatusOK, "", "")
		for _, item := range r.JSON["results"].([]any) {
			k := item.(map[string]any)
			if _, ok := k["permissions"].([]any); !ok {
				t.Fatalf("listed key %v has permissions %v, want an array", k["name"], k["permissions"])
			}
			if _, ok := k["allowed_ips"].([]any); !ok {
				t.Fatalf("listed key %v has allowed_ips %v, want an array", k["name"], k["allowed_ips"])
			}
		}
	})

	t.Run("APIErrors", func(t *testing.T) {
		for _, tt := range []struct{ name, method, path, body, field, want string }{
			{"UnknownPermission", "POST", "/api/v1/keys", `{"name": "x", "scopes": ["read"], "permissions": ["nope"]}`, "permissions", `Unknown permission "nope". Define it in Settings > Permissions first.`},
			{"BadCIDR", "POST", "/api/v1/keys", `{"name": "x", "scopes": ["read"], "allowed_ips": ["10.0.0.0/33"]}`, "allowed_ips", `"10.0.0.0/33" is not an IP address or CIDR range (like 203.0.113.7 or 203.0.113.0/24).`},
			{"NotAList", "POST", "/api/v1/keys", `{"name": "x", "scopes": ["read"], "allowed_ips": "10.0.0.1"}`, "allowed_ips", "Expected a list of IP addresses or CIDR ranges."},
			{"PatchBadCIDR", "PATCH", "/api/v1/keys/" + apiKeyID, `{"allowed_ips": ["nope"]}`, "allowed_ips", `"nope" is not an IP address or CIDR range (like 203.0.113.7 or 203.0.113.0/24).`},
			{"PatchPermissions", "PATCH", "/api/v1/keys/" + apiKeyID, `{"permissions": []}`, "permissions", "This field cannot be changed. Create another key and revoke this one."},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := app.API(t, tt.method, tt.path, auth, tt.body)
				wantAPI(t, r, http.StatusBadRequest, "", "")
				if got := jsonStrings(r.JSON[tt.field]); got != tt.want {
					t.Fatalf("%s = %q, want %q; body %s", tt.field, got, tt.want, r.Raw)
				}
			})
		}
		if got := len(app.keysOf(t, ada, org, keygate.KeyActive)); got != 3 {
			t.Fatalf("%d active keys, want 3: a refused call saved one", got)
		}
	})

	t.Run("RollKeeps", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/keys/"+apiKeyID+"/roll", auth, `{"grace_seconds": 3600}`)
		wantAPI(t, r, http.StatusCreated, "", "")
		if got := jsonStrings(r.JSON["permissions"]); got != "invoices:read,invoices:write" {
			t.Fatalf("rolled permissions = %q", got)
		}
		if got := jsonStrings(r.JSON["allowed_ips"]); got != "203.0.113.9/32" {
			t.Fatalf("rolled allowed_ips = %q", got)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		p := owner.Get(permissionsPath(org))
		if got := permissionRows(p)["invoices:write"]; got != "3" {
			t.Fatalf("invoices:write held by %q keys, want 3", got)
		}
		href, _ := p.Doc.Find(`[data-name="invoices:write"] a:contains("Delete")`).Attr("href")
		p = owner.Get(href)
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text(".card p"), "3 API keys hold invoices:write. Deleting it removes it from them. This cannot be undone."; got != want {
			t.Fatalf("question = %q, want %q", got, want)
		}
		action, _ := p.Doc.Find(".card form").Attr("action")
		p = owner.Post(action, nil)
		assertStatus(t, p, http.StatusSeeOther)
		p = owner.Follow(p)
		if got, want := p.Doc.Find(".flash-success").Last().Text(), "Permission invoices:write deleted and removed from 3 API keys."; got != want {
			t.Fatalf("flash = %q, want %q", got, want)
		}
		if got := permissionRows(p); len(got) != 1 || got["invoices:read"] != "2" {
			t.Fatalf("rows = %v", got)
		}
		p = owner.Get("/orgs/" + org + "/api-keys/" + billing.PublicID)
		if got := p.Text("[data-testid=key-permissions]"); got != "None" {
			t.Fatalf("key page permissions = %q", got)
		}
		if got := app.keyRecord(t, secret).Permissions; len(got) != 0 {
			t.Fatalf("record permissions = %q", got)
		}
		events := app.orgAuditEvents(t, ada, org, keygate.AuditPermissionDeleted)
		if len(events) != 1 || events[0].TargetName != "invoices:write (removed from 3 keys)" {
			t.Fatalf("delete events = %+v", events)
		}
		log := owner.Get("/orgs/" + org + "/audit-log?action=" + keygate.AuditPermissionDeleted)
		assertStatus(t, log, http.StatusOK)
		if text := log.Doc.Find("main").Text(); !strings.Contains(text, "invoices:write (removed from 3 keys)") || !strings.Contains(text, "permission deleted by Ada") {
			t.Fatalf("audit log does not show the deletion: %.600s", strings.Join(strings.Fields(text), " "))
		}
	})
}

// jsonStrings joins a JSON string or list of strings with commas.
func jsonStrings(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var out []string
		for _, s := range v {
			str, _ := s.(string)
			out = append(out, str)
		}
		return strings.Join(out, ",")
	}
	return ""
}
