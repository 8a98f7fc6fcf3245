package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// TestAPIGetKey: GET /api/v1/keys/{id} reads one key of the caller's
// organization, never its secret.
func TestAPIGetKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	other := mustAPIOrg(t, app, "Bob", "bob@example.com")
	secret, k := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "CI deploy", Environment: keygate.EnvCI,
		Scopes: []keygate.Scope{keygate.ScopeWrite}, Note: "Runs on merge"})

	tests := []struct {
		name, auth, id string
		status         int
		code           string
	}{
		{"OK", "Token " + org.Admin, k.PublicID, 200, ""},
		{"ErrNotFound", "Token " + org.Admin, "key_missing", 404, "not_found"},
		{"ErrOtherOrganization", "Token " + other.Admin, k.PublicID, 404, "not_found"},
		{"ErrScope", "Token " + org.Write, k.PublicID, 403, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.API(t, "GET", "/api/v1/keys/"+tt.id, tt.auth, "")
			wantAPI(t, r, tt.status, "", tt.code)
			if tt.status != 200 {
				return
			}
			for field, want := range map[string]any{"id": k.PublicID, "name": "CI deploy", "environment": "ci", "note": "Runs on merge",
				"hint": k.Hint, "state": "active", "rate_limit": nil} {
				if r.JSON[field] != want {
					t.Errorf("%s = %v, want %v", field, r.JSON[field], want)
				}
			}
			if _, has := r.JSON["key"]; has || strings.Contains(r.Raw, secret) {
				t.Fatalf("the secret is shown: %s", r.Raw)
			}
		})
	}
}

// TestAPIUpdateKey: PATCH /api/v1/keys/{id} changes a key's name, note,
// environment and rate limit, as the dashboard's edit does, and is audited.
func TestAPIUpdateKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	_, k := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "Worker", Scopes: []keygate.Scope{keygate.ScopeRead}})
	_, gone := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "Gone", Scopes: []keygate.Scope{keygate.ScopeRead}})
	ad := "Token " + org.Admin
	wantAPI(t, app.API(t, "DELETE", "/api/v1/keys/"+gone.PublicID, ad, ""), 204, "", "")
	path := "/api/v1/keys/" + k.PublicID

	tests := []struct {
		name, path, body string
		status           int
		code             string
		want             map[string]any
	}{
		{"OK", path, `{"name": " Queue worker ", "note": "Drains the queue", "environment": "staging", "rate_limit": "600/m"}`, 200, "",
			map[string]any{"name": "Queue worker", "note": "Drains the queue", "environment": "staging", "rate_limit": "600/m"}},
		{"OnlyNote", path, `{"note": ""}`, 200, "",
			map[string]any{"name": "Queue worker", "note": "", "environment": "staging", "rate_limit": "600/m"}},
		{"DefaultRateLimit", path, `{"rate_limit": null}`, 200, "",
			map[string]any{"name": "Queue worker", "rate_limit": nil}},
		{"RateLimitNormalized", path, `{"rate_limit": " 60/minute"}`, 200, "", map[string]any{"rate_limit": "60/m"}},
		{"Nothing", path, `{}`, 200, "", map[string]any{"name": "Queue worker"}},
		{"ErrFields", path, `{"name": "", "rate_limit": "lots"}`, 400, "invalid", nil},
		{"ErrScopesFixed", path, `{"scopes": ["admin"], "expires_at": null}`, 400, "invalid", nil},
		{"ErrRevoked", "/api/v1/keys/" + gone.PublicID, `{"name": "Back"}`, 400, "invalid", nil},
		{"ErrNotFound", "/api/v1/keys/key_missing", `{"name": "x"}`, 404, "not_found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.API(t, "PATCH", tt.path, ad, tt.body)
			wantAPI(t, r, tt.status, "", tt.code)
			for field, want := range tt.want {
				if r.JSON[field] != want {
					t.Errorf("%s = %v, want %v", field, r.JSON[field], want)
				}
			}
			if tt.want != nil {
				if got := app.API(t, "GET", path, ad, ""); mustJSON(t, got.JSON) != mustJSON(t, r.JSON) {
					t.Fatalf("GET after PATCH:\n%s\nPATCH answered:\n%s", got.Raw, r.Raw)
				}
			}
		})
	}
	t.Run("ScopesFixedMessage", func(t *testing.T) {
		r := app.API(t, "PATCH", path, ad, `{"scopes": ["admin"]}`)
		if msgs, _ := r.JSON["scopes"].([]any); len(msgs) != 1 || msgs[0] != "This field cannot be changed. Create another key and revoke this one." {
			t.Fatalf("body = %s", r.Raw)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		n := 0
		for _, e := range app.orgAuditEvents(t, org.Owner, org.ID, keygate.AuditAPIKeyUpdate) {
			if e.TargetID == k.PublicID {
				n++
			}
		}
		// OK, OnlyNote, DefaultRateLimit and RateLimitNormalized: an empty
		// object changes nothing.
		if n != 4 {
			t.Fatalf("%d update events, want 4", n)
		}
	})
	t.Run("RateLimitApplies", func(t *testing.T) {
		_, limited := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "Limited", Scopes: []keygate.Scope{keygate.ScopeRead}})
		wantAPI(t, app.API(t, "PATCH", "/api/v1/keys/"+limited.PublicID, ad, `{"rate_limit": "2/m"}`), 200, "", "")
		k, _, err := app.Keys.FindAPIKeys(keygate.NewContextWithUser(context.Background(), org.Owner), keygate.APIKeyFilter{OrgPublicID: org.ID, Query: "Limited"})
		if err != nil || len(k) != 1 || k[0].RateLimit != "2/m" {
			t.Fatalf("stored limit: %v %v", k, err)
		}
	})
}

// TestAPIKeysPaging: /api/v1/keys pages like every other list.
func TestAPIKeysPaging(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com") // three keys
	for _, name := range []string{"k4", "k5", "k6", "k7", "k8"} {
		app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: name, Scopes: []keygate.Scope{keygate.ScopeRead}})
	}
	ad := "Token " + org.Admin
	names := func(r *APIResponse) string {
		var out []string
		for _, k := range r.JSON["results"].([]any) {
			out = append(out, k.(map[string]any)["name"].(string))
		}
		return strings.Join(out, ",")
	}
	next := func(tb testing.TB, r *APIResponse, field string) string {
		tb.Helper()
		u, _ := r.JSON[field].(string)
		if !strings.HasPrefix(u, app.URL+"/api/v1/keys?") {
			tb.Fatalf("%s = %v", field, r.JSON[field])
		}
		return strings.TrimPrefix(u, app.URL)
	}
	p1 := app.API(t, "GET", "/api/v1/keys?limit=3", ad, "")
	wantAPI(t, p1, 200, "", "")
	p2 := app.API(t, "GET", next(t, p1, "next"), ad, "")
	p3 := app.API(t, "GET", next(t, p2, "next"), ad, "")
	back := app.API(t, "GET", next(t, p2, "previous"), ad, "")
	for _, tc := range []struct {
		name       string
		page       *APIResponse
		want       string
		next, prev bool
	}{
		{"First", p1, "k8,k7,k6", true, false},
		{"Second", p2, "k5,k4,admin", true, true},
		{"Last", p3, "write,read", false, true},
		{"BackToFirst", back, "k8,k7,k6", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(tc.page); got != tc.want {
				t.Fatalf("names = %s, want %s", got, tc.want)
			}
			if (tc.page.JSON["next"] != nil) != tc.next || (tc.page.JSON["previous"] != nil) != tc.prev {
				t.Fatalf("next %v, previous %v", tc.page.JSON["next"], tc.page.JSON["previous"])
			}
		})
	}
	t.Run("DefaultLimit", func(t *testing.T) {
		r := app.API(t, "GET", "/api/v1/keys", ad, "")
		if got := names(r); got != "k8,k7,k6,k5,k4,admin,write,read" || r.JSON["next"] != nil {
			t.Fatalf("names = %s, next = %v", got, r.JSON["next"])
		}
	})
	t.Run("StateKeptInLinks", func(t *testing.T) {
		for _, name := range []string{"old1", "old2"} {
			_, k := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: name, Scopes: []keygate.Scope{keygate.ScopeRead}})
			wantAPI(t, app.API(t, "DELETE", "/api/v1/keys/"+k.PublicID, ad, ""), 204, "", "")
		}
		r := app.API(t, "GET", "/api/v1/keys?state=revoked&limit=1", ad, "")
		if names(r) != "old2" {
			t.Fatalf("names = %s", names(r))
		}
		r = app.API(t, "GET", next(t, r, "next"), ad, "")
		if names(r) != "old1" || r.JSON["next"] != nil {
			t.Fatalf("names = %s, next = %v", names(r), r.JSON["next"])
		}
	})
	t.Run("ErrLimit", func(t *testing.T) {
		r := app.API(t, "GET", "/api/v1/keys?limit=0", ad, "")
		wantAPI(t, r, 400, "Invalid input.", "invalid")
		if r.JSON["limit"] == nil {
			t.Fatalf("body = %s", r.Raw)
		}
	})
}

// TestAPIKeyDefaultExpiry: a key created without an expiry gets the same
// one through the API as through the dashboard's form as it is offered.
func TestAPIKeyDefaultExpiry(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	c := app.NewClient(t)
	c.MustLogin("ada@example.com", testPassword)
	ad := "Token " + org.Admin

	// The dashboard: the form submitted with its preselected expiry.
	form := c.Get("/orgs/" + org.ID + "/api-keys/new")
	assertStatus(t, form, http.StatusOK)
	choice, _ := form.Doc.Find(`select[name=expiration] option[selected]`).Attr("value")
	token, _ := form.Doc.Find(`input[name=form_token]`).Attr("value")
	c.MustCreateKey(org.ID, map[string][]string{"name": {"From the form"}, "environment": {"production"}, "scopes": {"read"},
		"expiration": {choice}, "form_token": {token}, "from": {"page"}})
	ui := app.keyByName(t, org.Owner, org.ID, "From the form", keygate.KeyActive)

	// The API, without expires_at.
	r := app.API(t, "POST", "/api/v1/keys", ad, `{"name": "From the API", "scopes": ["read"]}`)
	wantAPI(t, r, 201, "", "")
	if ui.ExpiresAt == nil || r.JSON["expires_at"] == nil {
		t.Fatalf("dashboard expiry %v, API expiry %v", ui.ExpiresAt, r.JSON["expires_at"])
	}
	apiExpiry, err := time.Parse(time.RFC3339Nano, r.JSON["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	created, _ := time.Parse(time.RFC3339Nano, r.JSON["created_at"].(string))
	if got, want := apiExpiry.Sub(created), ui.ExpiresAt.Sub(ui.CreatedAt); got.Round(time.Minute) != want.Round(time.Minute) {
		t.Fatalf("API key lives %v, dashboard key %v", got, want)
	}
	if got := apiExpiry.Sub(created); got != 90*24*time.Hour {
		t.Fatalf("default lifetime = %v, want 90 days", got)
	}

	t.Run("NullNeverExpires", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/keys", ad, `{"name": "Forever", "scopes": ["read"], "expires_at": null}`)
		wantAPI(t, r, 201, "", "")
		if r.JSON["expires_at"] != nil {
			t.Fatalf("expires_at = %v", r.JSON["expires_at"])
		}
	})
	t.Run("Explicit", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/keys", ad, `{"name": "Dated", "scopes": ["read"], "expires_at": "2099-01-01T00:00:00Z"}`)
		wantAPI(t, r, 201, "", "")
		if r.JSON["expires_at"] != "2099-01-01T00:00:00Z" {
			t.Fatalf("expires_at = %v", r.JSON["expires_at"])
		}
	})
}

// TestAPIKeyCreatedBy: created_by is an object naming a person or a key.
func TestAPIKeyCreatedBy(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ad := "Token " + org.Admin
	byKey := app.API(t, "POST", "/api/v1/keys", ad, `{"name": "Made by a key", "scopes": ["read"]}`)
	wantAPI(t, byKey, 201, "", "")
	admin := app.keyByName(t, org.Owner, org.ID, "admin", keygate.KeyActive)
	list := app.API(t, "GET", "/api/v1/keys", ad, "")
	byName := map[string]any{}
	for _, k := range list.JSON["results"].([]any) {
		byName[k.(map[string]any)["name"].(string)] = k.(map[string]any)["created_by"]
	}
	for _, tc := range []struct {
		name string
		got  any
		want map[string]any
	}{
		{"User", byName["read"], map[string]any{"type": "user", "id": org.Owner.PublicID, "name": "Ada"}},
		{"Key", byName["Made by a key"], map[string]any{"type": "key", "id": admin.PublicID, "name": "admin"}},
		{"KeyInCreateAnswer", byKey.JSON["created_by"], map[string]any{"type": "key", "id": admin.PublicID, "name": "admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, b := mustJSON(t, tc.got), mustJSON(t, tc.want); a != b {
				t.Fatalf("created_by = %s, want %s", a, b)
			}
		})
	}
}
