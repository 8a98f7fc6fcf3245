package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// MustKey creates a key for orgID as user and returns its secret and id.
func (a *App) MustKey(tb testing.TB, user *keygate.User, orgID string, in keygate.APIKeyCreate) (string, *keygate.APIKey) {
	tb.Helper()
	if in.Name == "" {
		in.Name = "test key"
	}
	if in.Environment == "" {
		in.Environment = keygate.EnvProduction
	}
	k, secret, err := a.Keys.CreateAPIKey(keygate.NewContextWithUser(context.Background(), user), orgID, &in)
	if err != nil {
		tb.Fatal(err)
	}
	return secret, k
}

// APIResponse is an API answer with its decoded JSON body.
type APIResponse struct {
	*http.Response
	Raw  string
	JSON map[string]any
}

// API calls the API with a key in the Authorization header.
func (a *App) API(tb testing.TB, method, path, auth, body string) *APIResponse {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.URL+path, r)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.Do(tb, req)
}

// Do sends a prepared API request.
func (a *App) Do(tb testing.TB, req *http.Request) *APIResponse {
	tb.Helper()
	resp, err := a.Server.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &APIResponse{Response: resp, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.JSON); err != nil {
			var list []any
			if json.Unmarshal(raw, &list) != nil {
				tb.Fatalf("response is not JSON: %v: %.300s", err, raw)
			}
		}
	}
	return out
}

// wantAPI fails unless the response has status and, if given, detail and
// code.
func wantAPI(tb testing.TB, r *APIResponse, status int, detail, code string) {
	tb.Helper()
	if r.StatusCode != status {
		tb.Fatalf("status = %d, want %d; body %s", r.StatusCode, status, r.Raw)
	}
	if detail != "" && r.JSON["detail"] != detail {
		tb.Fatalf("detail = %q, want %q", r.JSON["detail"], detail)
	}
	if code != "" && r.JSON["code"] != code {
		tb.Fatalf("code = %q, want %q", r.JSON["code"], code)
	}
}

// apiOrg is an organization with an owner and a key of each scope.
type apiOrg struct {
	ID                 string
	Owner              *keygate.User
	Read, Write, Admin string
}

func mustAPIOrg(tb testing.TB, app *App, name, email string) apiOrg {
	tb.Helper()
	c := app.NewClient(tb)
	id := c.MustSignup(name, email, name+" Org")
	o := apiOrg{ID: id, Owner: app.MustUser(tb, email)}
	o.Read, _ = app.MustKey(tb, o.Owner, id, keygate.APIKeyCreate{Name: "read", Scopes: []keygate.Scope{keygate.ScopeRead}})
	o.Write, _ = app.MustKey(tb, o.Owner, id, keygate.APIKeyCreate{Name: "write", Scopes: []keygate.Scope{keygate.ScopeWrite}})
	o.Admin, _ = app.MustKey(tb, o.Owner, id, keygate.APIKeyCreate{Name: "admin", Scopes: []keygate.Scope{keygate.ScopeAdmin}})
	return o
}

// orgAuditEvents returns the organization's audit events of action (at most
// 100, newest first), read by owner through the audit service.
func (a *App) orgAuditEvents(tb testing.TB, owner *keygate.User, orgID, action string) []*keygate.AuditEvent {
	tb.Helper()
	ctx := keygate.NewContextWithUser(context.Background(), owner)
	events, _, err := sqlstore.NewAuditService(a.DB).FindAuditEvents(ctx, keygate.AuditFilter{OrgPublicID: orgID, Action: action, Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	return events
}
