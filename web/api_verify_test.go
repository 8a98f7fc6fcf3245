package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// verify calls POST /api/v1/keys/verify with body and no Authorization.
func verify(tb testing.TB, app *App, body string, headers ...string) *APIResponse {
	tb.Helper()
	req, _ := http.NewRequest("POST", app.URL+"/api/v1/keys/verify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return app.Do(tb, req)
}

func TestVerifyAPI(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	o := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ctx := keygate.NewContextWithUser(context.Background(), o.Owner)
	expires := app.Clock.Now().Add(30 * 24 * time.Hour)
	secret, k := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "Billing service", Scopes: []keygate.Scope{keygate.ScopeWrite},
		Environment: keygate.EnvStaging, ExpiresAt: &expires})

	t.Run("Valid", func(t *testing.T) {
		r := verify(t, app, `{"key": "`+secret+`", "scope": "write", "service": "billing"}`)
		wantAPI(t, r, http.StatusOK, "", "")
		if r.JSON["valid"] != true {
			t.Fatalf("body = %s", r.Raw)
		}
		key, _ := r.JSON["key"].(map[string]any)
		for f, want := range map[string]any{"id": k.PublicID, "name": "Billing service", "organization": o.ID, "environment": "staging",
			"expires_at": k.ExpiresAt.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)} {
			if got := key[f]; got != want {
				t.Errorf("key.%s = %v, want %v", f, got, want)
			}
		}
		if got, _ := key["scopes"].([]any); len(got) != 2 || got[0] != "read" || got[1] != "write" {
			t.Errorf("key.scopes = %v", key["scopes"])
		}
		if got, ok := key["permissions"].([]any); !ok || len(got) != 0 {
			t.Errorf("key.permissions = %v, want []", key["permissions"])
		}
		rl, _ := r.JSON["ratelimit"].(map[string]any)
		if rl["limit"] != float64(1000) || rl["remaining"] != float64(999) || rl["reset"].(float64) < float64(app.Clock.Now().Unix()) {
			t.Errorf("ratelimit = %v", rl)
		}
		// The answer is about the key in the body: the response has no
		// rate limit headers of its own to confuse with it.
		if r.Header.Get("X-RateLimit-Remaining") != "" {
			t.Error("verify answered with rate limit headers")
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		revokedSecret, revoked := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "old", Scopes: []keygate.Scope{keygate.ScopeRead}})
		if _, err := app.Keys.RevokeAPIKey(ctx, o.ID, revoked.PublicID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, body, code string }{
			{"Revoked", `{"key": "` + revokedSecret + `"}`, "token_revoked"},
			{"Unknown", `{"key": "kg_nope"}`, "invalid_token"},
			{"ReadKeyForWrite", `{"key": "` + o.Read + `", "scope": "write"}`, "insufficient_scope"},
			{"MissingPermission", `{"key": "` + o.Admin + `", "permission": "invoices:write"}`, "insufficient_scope"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := verify(t, app, tc.body)
				wantAPI(t, r, http.StatusOK, "", "")
				if r.JSON["valid"] != false || r.JSON["code"] != tc.code {
					t.Errorf("body = %s, want valid false, code %s", r.Raw, tc.code)
				}
				if _, ok := r.JSON["key"]; ok {
					t.Errorf("an invalid key's answer describes it: %s", r.Raw)
				}
			})
		}
	})
	t.Run("Expired", func(t *testing.T) {
		soon := app.Clock.Now().Add(time.Hour)
		s, _ := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "short", Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &soon})
		app.Clock.Advance(2 * time.Hour)
		r := verify(t, app, `{"key": "`+s+`"}`)
		if r.JSON["valid"] != false || r.JSON["code"] != "token_expired" {
			t.Errorf("body = %s", r.Raw)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		r := verify(t, app, `{"scope": "root", "service": "Not A Service", "ip": "here"}`)
		wantAPI(t, r, http.StatusBadRequest, "", "invalid")
		for _, f := range []string{"key", "scope", "service", "ip"} {
			if _, ok := r.JSON[f]; !ok {
				t.Errorf("no message for %s: %s", f, r.Raw)
			}
		}
		wantAPI(t, verify(t, app, `{"key": `), http.StatusBadRequest, "", "parse_error")
	})
	t.Run("CountsAgainstTheLimit", func(t *testing.T) {
		s, lk := app.MustKey(t, o.Owner, o.ID, keygate.APIKeyCreate{Name: "limited", Scopes: []keygate.Scope{keygate.ScopeRead}})
		limit := "2/m"
		if _, err := app.Keys.UpdateAPIKey(ctx, o.ID, lk.PublicID, keygate.APIKeyUpdate{RateLimit: &limit}); err != nil {
			t.Fatal(err)
		}
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+s, ""), http.StatusOK, "", "")
		if r := verify(t, app, `{"key": "`+s+`"}`); r.JSON["valid"] != true {
			t.Fatalf("second call = %s", r.Raw)
		}
		r := verify(t, app, `{"key": "`+s+`"}`)
		if r.JSON["valid"] != false || r.JSON["code"] != "rate_limited" {
			t.Fatalf("third call = %s", r.Raw)
		}
		// What a middleware needs for its own 429's Retry-After.
		if rl, _ := r.JSON["ratelimit"].(map[string]any); rl["remaining"] != float64(0) || rl["retry_after"].(float64) < 1 {
			t.Errorf("ratelimit of the refusal = %v", r.JSON["ratelimit"])
		}
	})
	t.Run("Logged", func(t *testing.T) {
		if err := app.Usage.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows := app.Query(t, `SELECT route, status, code, service FROM request_log WHERE route = '/api/v1/keys/verify' AND service = 'billing'`)
		if len(rows) != 1 || rows[0][1] != "200" {
			t.Errorf("billing verifications logged = %q", rows)
		}
		rows = app.Query(t, `SELECT status FROM request_log WHERE route = '/api/v1/keys/verify' AND code = 'token_revoked'`)
		if len(rows) != 1 || rows[0][0] != "401" {
			t.Errorf("revoked verification logged as %q, want one 401", rows)
		}
	})
}
