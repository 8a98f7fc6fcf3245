package web_test

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

// forward asks /auth/forward about a request, as a proxy would: the
// original method and URI in Caddy's headers (or nginx's when nginx is
// set), the key in Authorization.
func forward(tb testing.TB, app *App, query, method, uri, auth string, extra ...string) *APIResponse {
	tb.Helper()
	req, _ := http.NewRequest("GET", app.URL+"/auth/forward"+query, nil)
	req.Header.Set("X-Forwarded-Method", method)
	req.Header.Set("X-Forwarded-Uri", uri)
	req.Header.Set("X-Forwarded-Host", "billing.example.com")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	return app.Do(tb, req)
}

func TestForwardAuth(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	o := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ctx := keygate.NewContextWithUser(context.Background(), o.Owner)

	t.Run("Allowed", func(t *testing.T) {
		r := forward(t, app, "", "GET", "/invoices/42?expand=lines", "Token "+o.Read)
		wantAPI(t, r, http.StatusOK, "", "")
		keys, _, err := app.Keys.FindAPIKeys(ctx, keygate.APIKeyFilter{OrgPublicID: o.ID, Query: "read"})
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys = %v, %v", keys, err)
		}
		for h, want := range map[string]string{
			"X-Keygate-Key-Id": keys[0].PublicID, "X-Keygate-Key-Name": "read", "X-Keygate-Organization": o.ID,
			"X-Keygate-Environment": "production", "X-Keygate-Scopes": "read", "X-Keygate-Permissions": "",
			"X-Ratelimit-Limit": "1000",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if _, ok := r.Header["X-Keygate-Permissions"]; !ok {
			t.Error("X-Keygate-Permissions is missing: an upstream must be able to tell no permissions from no header")
		}
		if r.Header.Get("RateLimit") == "" {
			t.Error("no RateLimit header for the proxy to copy")
		}
		// Bearer works as well as Token, and the admin key passes writes.
		wantAPI(t, forward(t, app, "", "POST", "/invoices", "Bearer "+o.Admin), http.StatusOK, "", "")
	})
	t.Run("Refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name, query, method, auth string
			status                    int
			code                      string
		}{
			{"NoKey", "", "GET", "", http.StatusUnauthorized, "not_authenticated"},
			{"BadHeader", "", "GET", "Token a b", http.StatusUnauthorized, "invalid_token_header"},
			{"UnknownKey", "", "GET", "Token kg_nothing", http.StatusUnauthorized, "invalid_token"},
			{"ReadKeyWrites", "", "POST", "Token " + o.Read, http.StatusForbidden, "insufficient_scope"},
			{"ReadKeyDeletes", "", "DELETE", "Token " + o.Read, http.StatusForbidden, "insufficient_scope"},
			{"AdminLocation", "?scope=admin", "GET", "Token " + o.Write, http.StatusForbidden, "insufficient_scope"},
			{"PermissionLocation", "?permission=invoices:write", "GET", "Token " + o.Admin, http.StatusForbidden, "insufficient_scope"},
			{"OtherOrganization", "?org=org_someoneelse", "GET", "Token " + o.Admin, http.StatusUnauthorized, "invalid_token"},
			{"BadScopeInURL", "?scope=root", "GET", "Token " + o.Admin, http.StatusBadRequest, "invalid_request"},
			{"BadServiceInURL", "?service=Bill%20ing", "GET", "Token " + o.Admin, http.StatusBadRequest, "invalid_request"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := forward(t, app, tc.query, tc.method, "/invoices", tc.auth)
				wantAPI(t, r, tc.status, "", tc.code)
				if r.Header.Get("X-Keygate-Key-Id") != "" {
					t.Error("a refusal carries X-Keygate-Key-Id")
				}
				if tc.status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
		r := forward(t, app, "", "POST", "/invoices", "Token "+o.Read)
		if want := "Insufficient permissions: this API key lacks the 'write' scope."; r.JSON["detail"] != want {
			t.Errorf("detail = %v, want %q", r.JSON["detail"], want)
		}
		// The organization's own key passes when the location names it.
		wantAPI(t, forward(t, app, "?org="+o.ID, "GET", "/invoices", "Token "+o.Read), http.StatusOK, "", "")
	})
	t.Run("NginxHeaders", func(t *testing.T) {
		// nginx's auth_request always sends GET: the recipe passes the
		// original method in X-Original-Method.
		req, _ := http.NewRequest("GET", app.URL+"/auth/forward", nil)
		req.Header.Set("X-Original-Method", "PUT")
		req.Header.Set("X-Original-URI", "/invoices/1")
		req.Header.Set("Authorization", "Token "+o.Read)
		wantAPI(t, app.Do(t, req), http.StatusForbidden, "", "insufficient_scope")
		req.Header.Set("X-Original-Method", "HEAD")
		wantAPI(t, app.Do(t, req), http.StatusOK, "", "")
	})
	t.Run("AnyMethod", func(t *testing.T) {
		// Traefik may call with the original method itself.
		req, _ := http.NewRequest("PATCH", app.URL+"/auth/forward", nil)
		req.Header.Set("Authorization", "Token "+o.Read)
		wantAPI(t, app.Do(t, req), http.StatusForbidden, "", "insufficient_scope")
		req.Header.Set("Authorization", "Token "+o.Write)
		wantAPI(t, app.Do(t, req), http.StatusOK, "", "")
	})
	t.Run("RevokedAtOnce", func(t *testing.T) {
		secret, k := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "soon gone", Scopes: []keygate.Scope{keygate.ScopeRead}})
		wantAPI(t, forward(t, app, "", "GET", "/", "Token "+secret), http.StatusOK, "", "")
		if _, err := app.Keys.RevokeAPIKey(ctx, o.ID, k.PublicID); err != nil {
			t.Fatal(err)
		}
		wantAPI(t, forward(t, app, "", "GET", "/", "Token "+secret), http.StatusUnauthorized, "Invalid token.", "token_revoked")
	})
	t.Run("RateLimited", func(t *testing.T) {
		secret, k := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "limited", Scopes: []keygate.Scope{keygate.ScopeRead}})
		limit := "2/m"
		if _, err := app.Keys.UpdateAPIKey(ctx, o.ID, k.PublicID, keygate.APIKeyUpdate{RateLimit: &limit}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			wantAPI(t, forward(t, app, "", "GET", "/", "Token "+secret), http.StatusOK, "", "")
		}
		r := forward(t, app, "", "GET", "/", "Token "+secret)
		wantAPI(t, r, http.StatusTooManyRequests, "", "throttled")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		// Forward-auth and the API share the key's limit.
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusTooManyRequests, "", "throttled")
	})
}

func TestForwardAuthLogsServiceMethodAndPath(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	ada := app.MustUser(t, "ada@example.com")
	secret, _ := app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "Billing", Scopes: []keygate.Scope{keygate.ScopeRead}})
	wantAPI(t, forward(t, app, "?service=billing", "GET", "/invoices/42?token=hidden", "Token "+secret), http.StatusOK, "", "")
	wantAPI(t, forward(t, app, "?service=billing", "DELETE", "/invoices/42", "Token "+secret), http.StatusForbidden, "", "insufficient_scope")
	wantAPI(t, forward(t, app, "", "GET", "/status", "Token "+secret), http.StatusOK, "", "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := app.Query(t, `SELECT method, route, path, status, code, service FROM request_log ORDER BY id`)
	want := [][]string{
		{"GET", "/auth/forward", "/invoices/42", "200", "", "billing"},
		{"DELETE", "/auth/forward", "/invoices/42", "403", "insufficient_scope", "billing"},
		{"GET", "/auth/forward", "/status", "200", "", "default"},
	}
	if len(rows) != len(want) {
		t.Fatalf("request log = %q, want %q", rows, want)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
		}
	}
	counts := app.Query(t, `SELECT service, SUM(count) FROM usage_service_hourly GROUP BY service ORDER BY service`)
	if got := flatten(counts); got != "billing=2 default=1" {
		t.Errorf("calls per service = %s", got)
	}
}

func flatten(rows [][]string) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = strings.Join(r, "=")
	}
	return strings.Join(parts, " ")
}

// TestIPAllowlist: a key with an allowlist works from its networks only,
// on the API, forward-auth and verify alike; the client address is the
// peer's, or the one a trusted proxy reports.
func TestIPAllowlist(t *testing.T) {
	t.Parallel()
	_, proxy, _ := net.ParseCIDR("127.0.0.1/32")
	app := MustOpenApp(t, func(c *web.Config, _ *App) { c.TrustedProxies = []*net.IPNet{proxy} })
	o := mustAPIOrg(t, app, "Ada", "ada@example.com")
	secret, _ := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "office", Scopes: []keygate.Scope{keygate.ScopeWrite},
		AllowedIPs: []string{"203.0.113.0/24", "2001:db8::1"}})
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	call := func(ip string) *APIResponse {
		req, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Token "+secret)
		req.Header.Set("X-Forwarded-For", ip)
		return app.Do(t, req)
	}
	const detail = "This API key cannot be used from this IP address."
	wantAPI(t, call("203.0.113.7"), http.StatusOK, "", "")
	wantAPI(t, call("2001:db8::1"), http.StatusOK, "", "")
	wantAPI(t, call("198.51.100.1"), http.StatusForbidden, detail, "ip_not_allowed")
	wantAPI(t, forward(t, app, "", "GET", "/", "Token "+secret, from("203.0.113.200")...), http.StatusOK, "", "")
	wantAPI(t, forward(t, app, "", "GET", "/", "Token "+secret, from("192.0.2.1")...), http.StatusForbidden, detail, "ip_not_allowed")
	v := verify(t, app, `{"key": "`+secret+`"}`, from("192.0.2.1")...)
	if v.JSON["valid"] != false || v.JSON["code"] != "ip_not_allowed" {
		t.Errorf("verify from elsewhere = %s", v.Raw)
	}
	// A service that verifies keys passes its client's address.
	v = verify(t, app, `{"key": "`+secret+`", "ip": "203.0.113.9"}`, from("192.0.2.1")...)
	if v.JSON["valid"] != true {
		t.Errorf("verify for a client in the allowlist = %s", v.Raw)
	}
	v = verify(t, app, `{"key": "`+secret+`", "ip": "192.0.2.1"}`, from("203.0.113.9")...)
	if v.JSON["valid"] != false || v.JSON["code"] != "ip_not_allowed" {
		t.Errorf("verify for a client outside the allowlist = %s", v.Raw)
	}
	// Refused calls spend none of the key's quota and show in the logs.
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := app.Query(t, `SELECT COUNT(*) FROM request_log WHERE code = 'ip_not_allowed'`)
	if rows[0][0] != "4" {
		t.Errorf("logged ip_not_allowed refusals = %s, want 4", rows[0][0])
	}
	// Without a trusted proxy, X-Forwarded-For is the client's word, not
	// its address.
	plain := MustOpenApp(t)
	po := mustAPIOrg(t, plain, "Bea", "bea@example.com")
	s2, _ := plain.MustKey(t, po.Owner, po.ID, keygate.APIKeyCreate{Name: "office", Scopes: []keygate.Scope{keygate.ScopeRead},
		AllowedIPs: []string{"203.0.113.0/24"}})
	req, _ := http.NewRequest("GET", plain.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Token "+s2)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	wantAPI(t, plain.Do(t, req), http.StatusForbidden, detail, "ip_not_allowed")
}

// Query returns a query's rows, each column as text.
func (a *App) Query(tb testing.TB, query string) [][]string {
	tb.Helper()
	rows, err := a.DB.WriteConn().Query(query)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestForwardAuthPermissions: a location that asks for an organization
// permission lets keys holding it through, whatever the method, tells the
// upstream which permissions the key holds, and stops the key the moment
// the permission is deleted.
func TestForwardAuthPermissions(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	o := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ctx := keygate.NewContextWithUser(context.Background(), o.Owner)
	perms := sqlstore.NewPermissionService(app.DB)
	for _, name := range []string{"invoices:write", "reports:export"} {
		if _, err := perms.CreatePermission(ctx, o.ID, &keygate.PermissionCreate{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	secret, _ := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "invoicer", Scopes: []keygate.Scope{keygate.ScopeRead},
		Permissions: []string{"reports:export", "invoices:write"}})

	r := forward(t, app, "?permission=invoices:write&service=billing", "POST", "/invoices", "Token "+secret)
	wantAPI(t, r, http.StatusOK, "", "")
	if got := r.Header.Get("X-Keygate-Permissions"); got != "invoices:write,reports:export" {
		t.Errorf("X-Keygate-Permissions = %q", got)
	}
	// The permission replaces the method's scope; asking for both needs both.
	wantAPI(t, forward(t, app, "?permission=invoices:write&scope=write", "POST", "/invoices", "Token "+secret), http.StatusForbidden, "", "insufficient_scope")
	wantAPI(t, forward(t, app, "?permission=invoices:write", "POST", "/invoices", "Token "+o.Admin), http.StatusForbidden,
		"Insufficient permissions: this API key lacks the 'invoices:write' permission.", "insufficient_scope")
	v := verify(t, app, `{"key": "`+secret+`", "permission": "reports:export"}`)
	if key, _ := v.JSON["key"].(map[string]any); v.JSON["valid"] != true || len(key["permissions"].([]any)) != 2 {
		t.Errorf("verify = %s", v.Raw)
	}

	if _, err := perms.DeletePermission(ctx, o.ID, "invoices:write"); err != nil {
		t.Fatal(err)
	}
	wantAPI(t, forward(t, app, "?permission=invoices:write", "POST", "/invoices", "Token "+secret), http.StatusForbidden, "", "insufficient_scope")
	r = forward(t, app, "?permission=reports:export", "GET", "/export", "Token "+secret)
	wantAPI(t, r, http.StatusOK, "", "")
	if got := r.Header.Get("X-Keygate-Permissions"); got != "reports:export" {
		t.Errorf("after the delete, X-Keygate-Permissions = %q", got)
	}
}
