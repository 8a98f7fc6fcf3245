package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestAPIAuthentication(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	revoked, rk := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "gone", Scopes: []keygate.Scope{keygate.ScopeRead}})
	if _, err := app.Keys.RevokeAPIKey(keygate.NewContextWithUser(context.Background(), org.Owner), org.ID, rk.PublicID); err != nil {
		t.Fatal(err)
	}
	soon := app.Clock.Now().Add(time.Hour)
	expired, _ := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "old", Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &soon})
	valid := org.Read
	// The key with its last checksum character changed to another one.
	badChecksum := valid[:len(valid)-1] + "0"
	if badChecksum == valid {
		badChecksum = valid[:len(valid)-1] + "1"
	}
	app.Clock.Advance(2 * time.Hour) // the "old" key is now past its expiry

	tests := []struct {
		name, header string
		status       int
		detail, code string
	}{
		{"NoHeader", "", 401, "Authentication credentials were not provided.", "not_authenticated"},
		{"Basic", "Basic YWRhOnBhc3N3b3Jk", 401, "Authentication credentials were not provided.", "not_authenticated"},
		{"OtherScheme", "ApiKey " + valid, 401, "Authentication credentials were not provided.", "not_authenticated"},
		{"TokenAlone", "Token", 401, "Invalid token header. No credentials provided.", ""},
		{"BearerSpace", "Bearer   ", 401, "Invalid token header. No credentials provided.", "invalid_token_header"},
		{"Spaces", "Token " + valid + " extra", 401, "Invalid token header. Token string should not contain spaces.", ""},
		{"Malformed", "Token kg_short", 401, "Invalid token.", "invalid_token"},
		{"WrongPrefix", "Bearer sk_live_abc", 401, "Invalid token.", "invalid_token"},
		{"BadChecksum", "Token " + badChecksum, 401, "Invalid token.", "invalid_token"},
		{"Unknown", "Token " + apikey.MustGenerate().String(), 401, "Invalid token.", "invalid_token"},
		{"Revoked", "Token " + revoked, 401, "Invalid token.", "token_revoked"},
		{"Expired", "Bearer " + expired, 401, "Invalid token.", "token_expired"},
		{"Token", "Token " + valid, 200, "", ""},
		{"Bearer", "Bearer " + valid, 200, "", ""},
		{"LowerCase", "token " + valid, 200, "", ""},
		{"UpperCase", "BEARER " + valid, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.API(t, "GET", "/api/v1/me", tt.header, "")
			wantAPI(t, r, tt.status, tt.detail, tt.code)
			if tt.status == 401 {
				www := r.Header.Get("WWW-Authenticate")
				if !strings.Contains(www, "Token") || !strings.Contains(www, "Bearer") {
					t.Fatalf("WWW-Authenticate = %q", www)
				}
				if r.JSON["code"] == nil {
					t.Fatal("no code in the error body")
				}
			}
		})
	}
	t.Run("EmptyHeader", func(t *testing.T) {
		req, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
		req.Header["Authorization"] = []string{""}
		wantAPI(t, app.Do(t, req), 401, "Authentication credentials were not provided.", "not_authenticated")
	})
	t.Run("KeyInQueryOrCookieIgnored", func(t *testing.T) {
		for _, q := range []string{"?key=", "?api_key=", "?token=", "?access_token="} {
			wantAPI(t, app.API(t, "GET", "/api/v1/me"+q+valid, "", ""), 401, "Authentication credentials were not provided.", "not_authenticated")
		}
		req, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
		req.AddCookie(&http.Cookie{Name: "token", Value: valid})
		req.AddCookie(&http.Cookie{Name: "Authorization", Value: "Token " + valid})
		wantAPI(t, app.Do(t, req), 401, "Authentication credentials were not provided.", "not_authenticated")
	})
	t.Run("Me", func(t *testing.T) {
		r := app.API(t, "GET", "/api/v1/me", "Token "+org.Write, "")
		key, _ := r.JSON["key"].(map[string]any)
		o, _ := r.JSON["organization"].(map[string]any)
		if key["name"] != "write" || o["id"] != org.ID || o["name"] != "Ada Org" || key["environment"] != "production" {
			t.Fatalf("me = %s", r.Raw)
		}
		if scopes, _ := key["scopes"].([]any); len(scopes) != 2 || scopes[0] != "read" || scopes[1] != "write" {
			t.Fatalf("scopes = %v", key["scopes"])
		}
		if strings.Contains(r.Raw, org.Write) {
			t.Fatal("/me echoes the key")
		}
	})
}

// apiCase is one route and method with a body that is valid for it.
type apiCase struct {
	method, path, body string
	scope              keygate.Scope
	okStatus           int
}

func TestAPIScopes(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	mkBot := func() string {
		r := app.API(t, "POST", "/api/v1/bots", "Token "+org.Write, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "B"}`)
		wantAPI(t, r, 201, "", "")
		return r.JSON["id"].(string)
	}
	mkConv := func() string {
		r := app.API(t, "POST", "/api/v1/conversations", "Token "+org.Write, `{"title": "Standup"}`)
		wantAPI(t, r, 201, "", "")
		return r.JSON["id"].(string)
	}
	mkKey := func() string {
		_, k := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "victim", Scopes: []keygate.Scope{keygate.ScopeRead}})
		return k.PublicID
	}
	cases := []struct {
		name string
		c    func() apiCase
	}{
		{"GetMe", func() apiCase { return apiCase{"GET", "/api/v1/me", "", "", 200} }},
		{"ListBots", func() apiCase { return apiCase{"GET", "/api/v1/bots", "", keygate.ScopeRead, 200} }},
		{"CreateBot", func() apiCase {
			return apiCase{"POST", "/api/v1/bots", `{"meeting_url": "https://zoom.us/j/2", "bot_name": "X"}`, keygate.ScopeWrite, 201}
		}},
		{"GetBot", func() apiCase { return apiCase{"GET", "/api/v1/bots/" + mkBot(), "", keygate.ScopeRead, 200} }},
		{"PatchBot", func() apiCase {
			return apiCase{"PATCH", "/api/v1/bots/" + mkBot(), `{"bot_name": "Renamed"}`, keygate.ScopeWrite, 200}
		}},
		{"DeleteBot", func() apiCase { return apiCase{"DELETE", "/api/v1/bots/" + mkBot(), "", keygate.ScopeWrite, 204} }},
		{"LeaveBot", func() apiCase {
			return apiCase{"POST", "/api/v1/bots/" + mkBot() + "/leave", "", keygate.ScopeWrite, 200}
		}},
		{"ListConversations", func() apiCase { return apiCase{"GET", "/api/v1/conversations", "", keygate.ScopeRead, 200} }},
		{"CreateConversation", func() apiCase {
			return apiCase{"POST", "/api/v1/conversations", `{"title": "Call"}`, keygate.ScopeWrite, 201}
		}},
		{"GetConversation", func() apiCase { return apiCase{"GET", "/api/v1/conversations/" + mkConv(), "", keygate.ScopeRead, 200} }},
		{"DeleteConversation", func() apiCase {
			return apiCase{"DELETE", "/api/v1/conversations/" + mkConv(), "", keygate.ScopeWrite, 204}
		}},
		{"Analytics", func() apiCase { return apiCase{"GET", "/api/v1/analytics", "", keygate.ScopeRead, 200} }},
		{"Members", func() apiCase { return apiCase{"GET", "/api/v1/members", "", keygate.ScopeAdmin, 200} }},
		{"ListKeys", func() apiCase { return apiCase{"GET", "/api/v1/keys", "", keygate.ScopeAdmin, 200} }},
		{"CreateKey", func() apiCase {
			return apiCase{"POST", "/api/v1/keys", `{"name": "made by api", "scopes": ["read"]}`, keygate.ScopeAdmin, 201}
		}},
		{"RollKey", func() apiCase {
			return apiCase{"POST", "/api/v1/keys/" + mkKey() + "/roll", "", keygate.ScopeAdmin, 201}
		}},
		{"RevokeKey", func() apiCase { return apiCase{"DELETE", "/api/v1/keys/" + mkKey(), "", keygate.ScopeAdmin, 204} }},
	}
	keys := map[keygate.Scope]string{keygate.ScopeRead: org.Read, keygate.ScopeWrite: org.Write, keygate.ScopeAdmin: org.Admin}
	for _, tc := range cases {
		for _, held := range []keygate.Scope{keygate.ScopeRead, keygate.ScopeWrite, keygate.ScopeAdmin} {
			t.Run(tc.name+"/"+string(held), func(t *testing.T) {
				c := tc.c()
				r := app.API(t, c.method, c.path, "Token "+keys[held], c.body)
				allowed := c.scope == "" || keygate.NewScopes(held).Has(c.scope)
				if allowed {
					wantAPI(t, r, c.okStatus, "", "")
					return
				}
				wantAPI(t, r, 403, "Insufficient permissions: this API key lacks the '"+string(c.scope)+"' scope.", "insufficient_scope")
			})
		}
	}
}

func TestAPICrossOrganization(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	a := mustAPIOrg(t, app, "Ada", "ada@example.com")
	b := mustAPIOrg(t, app, "Bob", "bob@example.com")
	bot := app.API(t, "POST", "/api/v1/bots", "Token "+a.Write, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "A's bot"}`).JSON["id"].(string)
	conv := app.API(t, "POST", "/api/v1/conversations", "Token "+a.Write, `{"title": "A's call"}`).JSON["id"].(string)
	_, aKey := app.MustKey(t, a.Owner, a.ID, keygate.APIKeyCreate{Name: "a key", Scopes: []keygate.Scope{keygate.ScopeRead}})

	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/bots/" + bot, ""},
		{"PATCH", "/api/v1/bots/" + bot, `{"bot_name": "stolen"}`},
		{"DELETE", "/api/v1/bots/" + bot, ""},
		{"POST", "/api/v1/bots/" + bot + "/leave", ""},
		{"GET", "/api/v1/conversations/" + conv, ""},
		{"DELETE", "/api/v1/conversations/" + conv, ""},
		{"DELETE", "/api/v1/keys/" + aKey.PublicID, ""},
		{"POST", "/api/v1/keys/" + aKey.PublicID + "/roll", ""},
	} {
		wantAPI(t, app.API(t, c.method, c.path, "Token "+b.Admin, c.body), 404, "Not found.", "")
	}
	list := app.API(t, "GET", "/api/v1/bots", "Token "+b.Read, "")
	if res := list.JSON["results"].([]any); len(res) != 0 {
		t.Fatalf("org B sees %d bots", len(res))
	}
	if r := app.API(t, "POST", "/api/v1/conversations", "Token "+b.Write, `{"title": "x", "bot_id": "`+bot+`"}`); r.StatusCode != 400 || r.JSON["bot_id"] == nil {
		t.Fatalf("bot of another org accepted: %s", r.Raw)
	}
	if r := app.API(t, "GET", "/api/v1/bots/"+bot, "Token "+a.Read, ""); r.JSON["bot_name"] != "A's bot" {
		t.Fatal("org A's bot changed")
	}
}

func TestAPIRevokeTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	secret, _ := c.MustCreateKey(orgID, keyForm("CI", "ci", []string{"admin"}, "30"))
	k := app.keyByName(t, app.MustUser(t, "ada@example.com"), orgID, "CI", keygate.KeyActive)
	for i := 0; i < 3; i++ { // warm the cache
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), 200, "", "")
	}
	assertStatus(t, c.Post("/orgs/"+orgID+"/api-keys/"+k.PublicID+"/revoke", nil), http.StatusSeeOther)
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), 401, "Invalid token.", "token_revoked")

	// Revoking through the API works the same, on the very next request.
	other, _ := c.MustCreateKey(orgID, keyForm("Other", "ci", []string{"admin"}, "30"))
	ok := app.keyByName(t, app.MustUser(t, "ada@example.com"), orgID, "Other", keygate.KeyActive)
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Bearer "+other, ""), 200, "", "")
	wantAPI(t, app.API(t, "DELETE", "/api/v1/keys/"+ok.PublicID, "Bearer "+other, ""), 204, "", "")
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Bearer "+other, ""), 401, "Invalid token.", "token_revoked")
}

func TestAPIExpiryAtTheInstant(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	at := app.Clock.Now().Add(time.Hour).Truncate(time.Millisecond)
	secret, _ := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "short", Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &at})
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), 200, "", "")
	app.Clock.Advance(at.Sub(app.Clock.Now()) - 50*time.Millisecond)
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), 200, "", "")
	app.Clock.Advance(at.Sub(app.Clock.Now()))
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), 401, "Invalid token.", "token_expired")
}

func TestAPIRollGracePeriod(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	old, k := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "svc", Scopes: []keygate.Scope{keygate.ScopeWrite}})
	r := app.API(t, "POST", "/api/v1/keys/"+k.PublicID+"/roll", "Token "+org.Admin, `{"grace_seconds": 3600}`)
	wantAPI(t, r, 201, "", "")
	next, _ := r.JSON["key"].(string)
	if _, err := apikey.Parse(next); err != nil || r.JSON["name"] != "svc" {
		t.Fatalf("roll answer: %s", r.Raw)
	}
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+old, ""), 200, "", "")
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+next, ""), 200, "", "")
	app.Clock.Advance(time.Hour)
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+old, ""), 401, "Invalid token.", "token_expired")
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+next, ""), 200, "", "")
	_, k2 := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "svc2", Scopes: []keygate.Scope{keygate.ScopeRead}})
	bad := app.API(t, "POST", "/api/v1/keys/"+k2.PublicID+"/roll", "Token "+org.Admin, `{"grace_seconds": 5}`)
	if bad.StatusCode != 400 || bad.JSON["grace_seconds"] == nil {
		t.Fatalf("bad grace accepted: %s", bad.Raw)
	}
	expiredRoll := app.API(t, "POST", "/api/v1/keys/"+k.PublicID+"/roll", "Token "+org.Admin, "")
	wantAPI(t, expiredRoll, 400, "Only an active key can be rolled.", "")
}

func TestAPIKeysEndpoint(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	r := app.API(t, "POST", "/api/v1/keys", "Token "+org.Admin, `{"name": "Deploy bot", "environment": "ci", "scopes": ["write"]}`)
	wantAPI(t, r, 201, "", "")
	secret, _ := r.JSON["key"].(string)
	if _, err := apikey.Parse(secret); err != nil {
		t.Fatalf("created key: %s", r.Raw)
	}
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), 200, "", "")
	list := app.API(t, "GET", "/api/v1/keys", "Token "+org.Admin, "")
	if strings.Contains(list.Raw, secret) || !strings.Contains(list.Raw, "Deploy bot") {
		t.Fatal("list shows the secret or lacks the key")
	}
	// The audit log says which key created it.
	c := app.NewClient(t)
	c.MustLogin("ada@example.com", testPassword)
	p := c.Get("/orgs/" + org.ID + "/audit-log?action=api_key.create")
	row := p.Doc.Find("[data-testid=audit-row]").First()
	adminKey := app.keyByName(t, org.Owner, org.ID, "admin", keygate.KeyActive)
	if !strings.Contains(row.Text(), "API key “admin”") || !strings.Contains(row.Text(), "Deploy bot") ||
		strings.TrimSpace(row.Find("[data-testid=audit-summary]").Text()) != "created by key “admin” ("+adminKey.PublicID+")" {
		t.Fatalf("audit row = %q", row.Text())
	}
	// One made in the dashboard names the person.
	if got := strings.TrimSpace(p.Doc.Find("[data-testid=audit-row]").Last().Find("[data-testid=audit-summary]").Text()); got != "created by Ada" {
		t.Fatalf("first key's summary = %q", got)
	}
	bad := app.API(t, "POST", "/api/v1/keys", "Token "+org.Admin, `{"name": "", "scopes": []}`)
	if bad.StatusCode != 400 || bad.JSON["name"] == nil || bad.JSON["scopes"] == nil {
		t.Fatalf("invalid create: %s", bad.Raw)
	}
}

func TestAPIPlainHTTP(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	plain := httptest.NewServer(app.Web.PlainHandler())
	defer plain.Close()
	req, _ := http.NewRequest("GET", plain.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Token "+org.Read)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Location") != "" {
		t.Fatalf("plain HTTP API call: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	k := app.keyByName(t, org.Owner, org.ID, "read", keygate.KeyActive)
	if k.ExposedAt == nil {
		t.Fatal("key not marked exposed")
	}
	c := app.NewClient(t)
	c.MustLogin("ada@example.com", testPassword)
	p := c.Get("/orgs/" + org.ID + "/api-keys")
	row := p.Doc.Find("[data-key-id=" + k.PublicID + "]")
	if !strings.Contains(row.Text(), "Exposed") {
		t.Fatalf("row does not say exposed: %q", row.Text())
	}
	if n := c.Get("/orgs/" + org.ID + "/audit-log?action=api_key.exposed").Doc.Find("[data-testid=audit-row]").Length(); n != 1 {
		t.Fatalf("exposed events = %d", n)
	}
}

func TestAPIRateLimit(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithRateLimit(ratelimit.Limit{Count: 3, Period: time.Minute}))
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	for i := 0; i < 3; i++ {
		r := app.API(t, "GET", "/api/v1/me", "Token "+org.Read, "")
		wantAPI(t, r, 200, "", "")
		h := r.Header
		if h.Get("RateLimit-Policy") != `"default";q=3;w=60` || h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != itoa(2-i) {
			t.Fatalf("request %d headers: policy %q limit %q remaining %q", i, h.Get("RateLimit-Policy"), h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"))
		}
		if !strings.HasPrefix(h.Get("RateLimit"), `"default";r=`+itoa(2-i)+";t=") || h.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("RateLimit = %q", h.Get("RateLimit"))
		}
	}
	r := app.API(t, "GET", "/api/v1/me", "Token "+org.Read, "")
	wantAPI(t, r, 429, "Request was throttled. Expected available in 20 seconds.", "throttled")
	if r.Header.Get("Retry-After") != "20" {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	// Other keys have their own budget.
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+org.Write, ""), 200, "", "")
	app.Clock.Advance(20 * time.Second)
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+org.Read, ""), 200, "", "")
}

// TestAPIUnknownPath: a path no route matches is 404 Not found. With a
// usable key it is still an API request (rate limit, headers, usage);
// without one nothing is spent or logged.
func TestAPIUnknownPath(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithRateLimit(ratelimit.Limit{Count: 3, Period: time.Minute}))
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	for _, auth := range []string{"", "Token kg_nope", "Basic YWRhOnB3", "Bearer"} {
		r := app.API(t, "GET", "/api/v1/nope", auth, "")
		wantAPI(t, r, 404, "Not found.", "not_found")
		if r.Header.Get("X-RateLimit-Limit") != "" || r.Header.Get("WWW-Authenticate") != "" {
			t.Fatalf("auth %q: headers %v", auth, r.Header)
		}
	}
	for i, path := range []string{"/api/v1/nope", "/api/v2/me"} {
		r := app.API(t, "GET", path, "Token "+org.Read, "")
		wantAPI(t, r, 404, "Not found.", "not_found")
		if r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("X-RateLimit-Remaining") != itoa(2-i) || r.Header.Get("RateLimit") == "" {
			t.Fatalf("%s: headers %v", path, r.Header)
		}
	}
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+org.Read, ""), 200, "", "")
	r := app.API(t, "DELETE", "/api/v1/bots/bot_x/nope", "Token "+org.Read, "")
	wantAPI(t, r, 429, "", "throttled")
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %v", r.Header)
	}
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _, err := sqlstore.NewMonitoringService(app.DB).FindRequestLog(keygate.NewContextWithUser(context.Background(), org.Owner),
		keygate.RequestLogFilter{OrgPublicID: org.ID, Sort: keygate.LogOldest, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Method+" "+e.Route+" "+strconv.Itoa(e.Status))
	}
	if want := "GET /api/ 404,GET /api/ 404,GET /api/v1/me 200,DELETE /api/ 429"; strings.Join(got, ",") != want {
		t.Fatalf("request log = %q, want %q", got, want)
	}
}

func TestAPIKeyOwnRateLimit(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	secret, _ := c.MustCreateKey(orgID, keyForm("Limited", "production", []string{"read"}, "30"))
	k := app.keyByName(t, app.MustUser(t, "ada@example.com"), orgID, "Limited", keygate.KeyActive)
	path := "/orgs/" + orgID + "/api-keys/" + k.PublicID
	p := c.Post(path, map[string][]string{"name": {"Limited"}, "environment": {"production"}, "rate_limit": {"lots"}})
	assertStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "rate_limit") == "" {
		t.Fatal("no error beside the rate limit")
	}
	assertStatus(t, c.Post(path, map[string][]string{"name": {"Limited"}, "environment": {"production"}, "rate_limit": {"2/m"}}), http.StatusSeeOther)
	for i := 0; i < 2; i++ {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), 200, "", "")
	}
	r := app.API(t, "GET", "/api/v1/me", "Token "+secret, "")
	wantAPI(t, r, 429, "", "throttled")
	if r.Header.Get("X-RateLimit-Limit") != "2" {
		t.Fatalf("limit header = %q", r.Header.Get("X-RateLimit-Limit"))
	}
}
