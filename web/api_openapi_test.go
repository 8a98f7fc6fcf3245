package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// wantOperations lists every route and method of apiRoutes in
// web/routes.go, with the scope each needs ("" for any valid key, "-" for
// no key at all). The document must describe exactly these.
var wantOperations = map[string]string{
	"GET /api/v1/openapi.json":                                "-",
	"GET /api/v1/me":                                          "",
	"GET /api/v1/bots":                                        "read",
	"POST /api/v1/bots":                                       "write",
	"GET /api/v1/bots/{id}":                                   "read",
	"PATCH /api/v1/bots/{id}":                                 "write",
	"DELETE /api/v1/bots/{id}":                                "write",
	"POST /api/v1/bots/{id}/leave":                            "write",
	"GET /api/v1/conversations":                               "read",
	"POST /api/v1/conversations":                              "write",
	"GET /api/v1/conversations/{id}":                          "read",
	"DELETE /api/v1/conversations/{id}":                       "write",
	"GET /api/v1/analytics":                                   "read",
	"GET /api/v1/members":                                     "admin",
	"PATCH /api/v1/members/{id}":                              "admin",
	"DELETE /api/v1/members/{id}":                             "admin",
	"GET /api/v1/invitations":                                 "admin",
	"POST /api/v1/invitations":                                "admin",
	"GET /api/v1/keys":                                        "admin",
	"POST /api/v1/keys":                                       "admin",
	"GET /api/v1/keys/{id}":                                   "admin",
	"PATCH /api/v1/keys/{id}":                                 "admin",
	"DELETE /api/v1/keys/{id}":                                "admin",
	"POST /api/v1/keys/{id}/roll":                             "admin",
	"GET /api/v1/integrations":                                "admin",
	"GET /api/v1/webhooks":                                    "admin",
	"POST /api/v1/webhooks":                                   "admin",
	"GET /api/v1/webhooks/{id}":                               "admin",
	"PATCH /api/v1/webhooks/{id}":                             "admin",
	"DELETE /api/v1/webhooks/{id}":                            "admin",
	"POST /api/v1/webhooks/{id}/roll-secret":                  "admin",
	"POST /api/v1/webhooks/{id}/test":                         "admin",
	"GET /api/v1/webhooks/{id}/deliveries":                    "admin",
	"POST /api/v1/webhooks/{id}/deliveries/{delivery}/resend": "admin",
	"POST /api/v1/keys/report-leak":                           "-",
	"POST /api/v1/keys/verify":                                "-",
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := mustContract(t, app)

	t.Run("Served", func(t *testing.T) {
		r := app.API(t, "GET", "/api/v1/openapi.json", "", "")
		wantAPI(t, r, 200, "", "")
		if got := r.Header.Get("Cache-Control"); got != "public, max-age=300" {
			t.Fatalf("Cache-Control = %q", got)
		}
		if !c.doc.IsOpenAPI31OrLater() || c.doc.OpenAPI != "3.1.0" {
			t.Fatalf("openapi = %q", c.doc.OpenAPI)
		}
	})
	t.Run("OperationsMatchRoutes", func(t *testing.T) {
		var got, want []string
		for k := range c.operations() {
			got = append(got, k)
		}
		for k := range wantOperations {
			want = append(want, k)
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("operations:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("Security", func(t *testing.T) {
		schemes := c.doc.Components.SecuritySchemes
		tok, bearer := schemes["TokenAuth"], schemes["BearerAuth"]
		if tok == nil || tok.Value.Type != "apiKey" || tok.Value.In != "header" || tok.Value.Name != "Authorization" || tok.Value.Description == "" {
			t.Fatalf("TokenAuth = %+v", tok)
		}
		if bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" {
			t.Fatalf("BearerAuth = %+v", bearer)
		}
		if len(c.doc.Servers) != 1 || c.doc.Servers[0].URL != "/" {
			t.Fatalf("servers = %v", c.doc.Servers)
		}
	})
	t.Run("EveryOperationDescribed", func(t *testing.T) {
		for key, op := range c.operations() {
			scope := wantOperations[key]
			if op.OperationID == "" || op.Summary == "" || op.Description == "" {
				t.Errorf("%s: missing operationId, summary or description", key)
			}
			if scope == "-" {
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s: should need no key", key)
				}
				continue
			}
			got, ok := op.Extensions["x-required-scope"]
			if !ok || (scope == "" && got != nil) || (scope != "" && got != scope) {
				t.Errorf("%s: x-required-scope = %v, want %q", key, got, scope)
			}
			if scope != "" && !strings.Contains(op.Description, "`"+scope+"` scope") {
				t.Errorf("%s: description does not name the %s scope", key, scope)
			}
			for _, status := range []int{401, 403, 405, 429} {
				if op.Responses.Status(status) == nil {
					t.Errorf("%s: %d not documented", key, status)
				}
			}
		}
	})
}

// TestOpenAPIContract drives every operation through the real server, in
// its success and error cases, and checks each response against the
// document. At the end every documented status of every operation, 500
// aside, must have been seen.
func TestOpenAPIContract(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := mustContract(t, app)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	rd, wr, ad := "Token "+org.Read, "Token "+org.Write, "Bearer "+org.Admin

	mkBot := func() string {
		return c.do(t, app, apiCall{method: "POST", path: "/api/v1/bots", auth: wr, wantStatus: 201,
			body: `{"meeting_url": "https://zoom.us/j/123456789", "bot_name": "My Bot"}`, validRequest: true}).JSON["id"].(string)
	}
	mkConv := func(body string) string {
		return c.do(t, app, apiCall{method: "POST", path: "/api/v1/conversations", auth: wr, body: body, wantStatus: 201, validRequest: true}).JSON["id"].(string)
	}
	mkKey := func(name string) string {
		_, k := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: name, Scopes: []keygate.Scope{keygate.ScopeRead}})
		return k.PublicID
	}
	bot, doomedBot, endedBot := mkBot(), mkBot(), mkBot()
	c.do(t, app, apiCall{method: "POST", path: "/api/v1/bots/" + endedBot + "/leave", auth: wr, wantStatus: 200, validRequest: true})
	conv := mkConv(`{"title": "Weekly standup", "bot_id": "` + bot + `", "started_at": "2026-01-31T09:30:00Z", "participants": ["Ada"], "transcript": [{"speaker": "Ada", "text": "Hi.", "start_ms": 0, "end_ms": 900}]}`)
	bare, doomedConv := mkConv(`{"title": "Call"}`), mkConv(`{"title": "Doomed"}`)
	revoked := mkKey("revoked")
	c.do(t, app, apiCall{method: "DELETE", path: "/api/v1/keys/" + revoked, auth: ad, wantStatus: 204})
	rollMe, rollIdem, rollBad := mkKey("roll"), mkKey("roll twice"), mkKey("bad grace")
	// mkMember invites someone through the API and signs them up through
	// the invitation link, as a browser would.
	mkMember := func(name, email, role string) string {
		r := c.do(t, app, apiCall{method: "POST", path: "/api/v1/invitations", auth: ad, wantStatus: 201, validRequest: true,
			body: `{"email": "` + email + `", "role": "` + role + `"}`})
		link, _ := r.JSON["link"].(string)
		token, ok := strings.CutPrefix(link, app.URL+"/invitations/")
		if !ok || token == "" {
			t.Fatalf("invitation link = %q", link)
		}
		web := app.NewClient(t)
		assertStatus(t, web.Post("/signup", url.Values{"invite": {token}, "name": {name}, "email": {email}, "password": {"correct horse battery staple"}}), http.StatusSeeOther)
		return app.MustUser(t, email).PublicID
	}
	bob, carol, dave := mkMember("Bob", "bob@example.com", "member"), mkMember("Carol", "carol@example.com", "admin"), mkMember("Dave", "dave@example.com", "member")
	// A pending invitation, for the list.
	c.do(t, app, apiCall{method: "POST", path: "/api/v1/invitations", auth: ad, wantStatus: 201, validRequest: true, body: `{"email": "erin@example.com"}`})
	ownerCtx := keygate.NewContextWithUser(context.Background(), org.Owner)
	for _, in := range []keygate.IntegrationSave{
		{Kind: keygate.IntegrationZoom, ClientID: "zoom-client", Secret: "zoom-secret-Q7fJ2kLm9PzX4vB8nR1tY6wE3uI0oA5s"},
		{Kind: keygate.IntegrationOther, Name: "Short", Secret: "tiny"},
	} {
		if _, err := app.Integrations.SaveIntegration(ownerCtx, org.ID, &in); err != nil {
			t.Fatal(err)
		}
	}
	big := `{"bot_name": "` + strings.Repeat("x", 1<<20) + `"}`
	// Webhook endpoints on a public address (no DNS lookup); nothing is
	// delivered in this test.
	mkHook := func() string {
		return c.do(t, app, apiCall{method: "POST", path: "/api/v1/webhooks", auth: ad, wantStatus: 201, validRequest: true,
			body: `{"url": "https://203.0.113.10/hooks", "events": ["key.created", "member.added"], "description": "Sync"}`}).JSON["id"].(string)
	}
	hook, doomedHook := mkHook(), mkHook()
	delivery := c.do(t, app, apiCall{method: "POST", path: "/api/v1/webhooks/" + hook + "/test", auth: ad, wantStatus: 202, validRequest: true}).JSON["id"].(string)

	t.Run("Success", func(t *testing.T) {
		c.run(t, app, []apiCall{
			{name: "ReportLeak", method: "POST", path: "/api/v1/keys/report-leak", body: `{"key": "kg_nope", "url": "https://example.com/x", "source": "test"}`, wantStatus: 202, validRequest: true},
			{name: "ReportLeakGitHub", method: "POST", path: "/api/v1/keys/report-leak", body: `[{"token": "kg_nope", "type": "keygate_api_key", "url": "https://example.com/x", "source": "commit"}]`, wantStatus: 202, validRequest: true},
			{name: "VerifyValid", method: "POST", path: "/api/v1/keys/verify", body: `{"key": "` + org.Write + `", "scope": "write", "service": "billing"}`, wantStatus: 200, validRequest: true},
			{name: "VerifyRefused", method: "POST", path: "/api/v1/keys/verify", body: `{"key": "` + org.Read + `", "scope": "admin", "ip": "203.0.113.7"}`, wantStatus: 200, validRequest: true},
			{name: "VerifyUnknown", method: "POST", path: "/api/v1/keys/verify", body: `{"key": "kg_nope"}`, wantStatus: 200, validRequest: true},
			{name: "Me", method: "GET", path: "/api/v1/me", auth: rd, wantStatus: 200, validRequest: true},
			{name: "MeBearer", method: "GET", path: "/api/v1/me", auth: "Bearer " + org.Write, wantStatus: 200, validRequest: true},
			{name: "ListBots", method: "GET", path: "/api/v1/bots", auth: rd, wantStatus: 200, validRequest: true},
			{name: "ListBotsFiltered", method: "GET", path: "/api/v1/bots?state=ended&limit=5", auth: rd, wantStatus: 200, validRequest: true},
			{name: "CreateBotScheduled", method: "POST", path: "/api/v1/bots", auth: wr, wantStatus: 201, validRequest: true,
				body: `{"meeting_url": "https://meet.example.com/abc", "bot_name": "Later", "join_at": "2099-01-01T09:00:00Z", "metadata": {"team": "sales", "n": [1, true, null]}}`},
			{name: "GetBot", method: "GET", path: "/api/v1/bots/" + bot, auth: rd, wantStatus: 200, validRequest: true},
			{name: "ListWebhooks", method: "GET", path: "/api/v1/webhooks", auth: ad, wantStatus: 200, validRequest: true},
			{name: "GetWebhook", method: "GET", path: "/api/v1/webhooks/" + hook, auth: ad, wantStatus: 200, validRequest: true},
			{name: "PatchWebhook", method: "PATCH", path: "/api/v1/webhooks/" + hook, auth: ad, body: `{"events": ["key.revoked"], "disabled": false}`, wantStatus: 200, validRequest: true},
			{name: "RollWebhookSecret", method: "POST", path: "/api/v1/webhooks/" + hook + "/roll-secret", auth: ad, wantStatus: 200, validRequest: true},
			{name: "ListDeliveries", method: "GET", path: "/api/v1/webhooks/" + hook + "/deliveries?limit=5", auth: ad, wantStatus: 200, validRequest: true},
			{name: "ResendDelivery", method: "POST", path: "/api/v1/webhooks/" + hook + "/deliveries/" + delivery + "/resend", auth: ad, wantStatus: 202, validRequest: true},
			{name: "DeleteWebhook", method: "DELETE", path: "/api/v1/webhooks/" + doomedHook, auth: ad, wantStatus: 204, validRequest: true},
			{name: "PatchBot", method: "PATCH", path: "/api/v1/bots/" + bot, auth: wr, body: `{"bot_name": "Renamed", "metadata": {"a": 1}}`, wantStatus: 200, validRequest: true},
			{name: "PatchBotNothing", method: "PATCH", path: "/api/v1/bots/" + bot, auth: wr, body: `{}`, wantStatus: 200, validRequest: true},
			{name: "RenameEndedBot", method: "PATCH", path: "/api/v1/bots/" + endedBot, auth: wr, body: `{"bot_name": "Gone"}`, wantStatus: 200, validRequest: true},
			{name: "DeleteBot", method: "DELETE", path: "/api/v1/bots/" + doomedBot, auth: wr, wantStatus: 204, validRequest: true},
			{name: "ListConversations", method: "GET", path: "/api/v1/conversations", auth: rd, wantStatus: 200, validRequest: true},
			{name: "ListConversationsFiltered", method: "GET", path: "/api/v1/conversations?bot_id=" + bot + "&started_after=2026-01-01&started_before=2030-01-01T00:00:00Z&limit=100", auth: rd, wantStatus: 200, validRequest: true},
			{name: "CreateConversation", method: "POST", path: "/api/v1/conversations", auth: wr, wantStatus: 201, validRequest: true,
				body: `{"title": "Weekly standup", "started_at": "2026-01-31T09:30:00Z", "ended_at": "2026-01-31T09:45:00Z", "participants": ["Ada", "Grace"], "transcript": [{"speaker": "Ada", "text": "Good morning.", "start_ms": 0, "end_ms": 1800}]}`},
			{name: "GetConversation", method: "GET", path: "/api/v1/conversations/" + conv, auth: rd, wantStatus: 200, validRequest: true},
			{name: "GetConversationNoTranscript", method: "GET", path: "/api/v1/conversations/" + bare, auth: rd, wantStatus: 200, validRequest: true},
			{name: "DeleteConversation", method: "DELETE", path: "/api/v1/conversations/" + doomedConv, auth: wr, wantStatus: 204, validRequest: true},
			{name: "Analytics", method: "GET", path: "/api/v1/analytics", auth: rd, wantStatus: 200, validRequest: true},
			{name: "AnalyticsRange", method: "GET", path: "/api/v1/analytics?from=2026-01-01&to=2026-02-01T00:00:00Z", auth: rd, wantStatus: 200, validRequest: true},
			{name: "Members", method: "GET", path: "/api/v1/members", auth: ad, wantStatus: 200, validRequest: true},
			{name: "ChangeRole", method: "PATCH", path: "/api/v1/members/" + bob, auth: ad, body: `{"role": "admin"}`, wantStatus: 200, validRequest: true},
			{name: "ChangeRoleSame", method: "PATCH", path: "/api/v1/members/" + bob, auth: ad, body: `{"role": "admin"}`, wantStatus: 200, validRequest: true},
			{name: "RemoveMember", method: "DELETE", path: "/api/v1/members/" + carol, auth: ad, wantStatus: 204, validRequest: true},
			{name: "RemoveMemberRevokeKeys", method: "DELETE", path: "/api/v1/members/" + dave + "?revoke_keys=true", auth: ad, wantStatus: 204, validRequest: true},
			{name: "ListInvitations", method: "GET", path: "/api/v1/invitations", auth: ad, wantStatus: 200, validRequest: true},
			{name: "Invite", method: "POST", path: "/api/v1/invitations", auth: ad, body: `{"email": "frank@example.com", "role": "admin"}`, wantStatus: 201, validRequest: true},
			{name: "InviteDefaultRole", method: "POST", path: "/api/v1/invitations", auth: ad, body: `{"email": "grace@example.com"}`, wantStatus: 201, validRequest: true},
			{name: "ListIntegrations", method: "GET", path: "/api/v1/integrations", auth: ad, wantStatus: 200, validRequest: true},
			{name: "ListKeys", method: "GET", path: "/api/v1/keys", auth: ad, wantStatus: 200, validRequest: true},
			{name: "ListRevokedKeys", method: "GET", path: "/api/v1/keys?state=revoked", auth: ad, wantStatus: 200, validRequest: true},
			{name: "ListKeysPage", method: "GET", path: "/api/v1/keys?limit=2", auth: ad, wantStatus: 200, validRequest: true},
			{name: "GetKey", method: "GET", path: "/api/v1/keys/" + rollBad, auth: ad, wantStatus: 200, validRequest: true},
			{name: "PatchKey", method: "PATCH", path: "/api/v1/keys/" + mkKey("patch me"), auth: ad, wantStatus: 200, validRequest: true,
				body: `{"name": "Queue worker", "note": "Drains the queue", "environment": "staging", "rate_limit": "600/m"}`},
			{name: "PatchKeyDefaultLimit", method: "PATCH", path: "/api/v1/keys/" + mkKey("patch limit"), auth: ad, body: `{"rate_limit": null}`, wantStatus: 200, validRequest: true},
			{name: "CreateKeyDefaultExpiry", method: "POST", path: "/api/v1/keys", auth: ad, wantStatus: 201, validRequest: true, body: `{"name": "Default", "scopes": ["read"]}`},
			{name: "CreateKeyNeverExpires", method: "POST", path: "/api/v1/keys", auth: ad, wantStatus: 201, validRequest: true, body: `{"name": "Forever", "scopes": ["read"], "expires_at": null}`},
			{name: "CreateKey", method: "POST", path: "/api/v1/keys", auth: ad, wantStatus: 201, validRequest: true,
				body: `{"name": "Deploy bot", "environment": "ci", "scopes": ["write"], "note": "CI", "expires_at": "2099-01-01T00:00:00Z"}`},
			{name: "RevokeKey", method: "DELETE", path: "/api/v1/keys/" + mkKey("revoke me"), auth: ad, wantStatus: 204, validRequest: true},
			{name: "RollKey", method: "POST", path: "/api/v1/keys/" + rollMe + "/roll", auth: ad, wantStatus: 201, validRequest: true},
			{name: "RollKeyGrace", method: "POST", path: "/api/v1/keys/" + mkKey("graceful") + "/roll", auth: ad, body: `{"grace_seconds": 3600}`, wantStatus: 201, validRequest: true},
			{name: "OpenAPI", method: "GET", path: "/api/v1/openapi.json", wantStatus: 200, validRequest: true},
		})
	})

	t.Run("Pagination", func(t *testing.T) {
		for list, auth := range map[string]string{"/api/v1/bots": rd, "/api/v1/conversations": rd, "/api/v1/keys": ad} {
			p1 := c.do(t, app, apiCall{method: "GET", path: list + "?limit=1", auth: auth, wantStatus: 200, validRequest: true})
			next, _ := p1.JSON["next"].(string)
			if !strings.HasPrefix(next, app.URL+list+"?") {
				t.Fatalf("%s next = %q", list, next)
			}
			p2 := c.do(t, app, apiCall{method: "GET", path: strings.TrimPrefix(next, app.URL), auth: auth, wantStatus: 200, validRequest: true})
			if p2.JSON["previous"] == nil {
				t.Fatalf("%s page 2 has no previous: %s", list, p2.Raw)
			}
		}
	})

	t.Run("BadRequest", func(t *testing.T) {
		c.run(t, app, []apiCall{
			{name: "ReportLeakNoKey", method: "POST", path: "/api/v1/keys/report-leak", body: `{"url": "https://example.com"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "VerifyNoKey", method: "POST", path: "/api/v1/keys/verify", body: `{"scope": "root"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "BotFieldRequired", method: "POST", path: "/api/v1/bots", auth: wr, body: `{"bot_name": "My Bot"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "BotFields", method: "POST", path: "/api/v1/bots", auth: wr, body: `{"meeting_url": "ftp://x", "bot_name": "` + strings.Repeat("b", 101) + `", "metadata": [1], "join_at": "soon"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "BotParseError", method: "POST", path: "/api/v1/bots", auth: wr, body: `{"meeting_url": `, wantStatus: 400, wantCode: "parse_error"},
			{name: "BotLimit", method: "GET", path: "/api/v1/bots?limit=0", auth: rd, wantStatus: 400, wantCode: "invalid"},
			{name: "BotState", method: "GET", path: "/api/v1/bots?state=flying", auth: rd, wantStatus: 400, wantCode: "invalid"},
			{name: "PatchMeetingURL", method: "PATCH", path: "/api/v1/bots/" + bot, auth: wr, body: `{"meeting_url": "https://zoom.us/j/2"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "ConversationTime", method: "GET", path: "/api/v1/conversations?started_after=tomorrow", auth: rd, wantStatus: 400, wantCode: "invalid"},
			{name: "ConversationTitle", method: "POST", path: "/api/v1/conversations", auth: wr, body: `{"participants": "Ada", "bot_id": "bot_nope"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "AnalyticsTime", method: "GET", path: "/api/v1/analytics?from=yesterday", auth: rd, wantStatus: 400, wantCode: "invalid"},
			{name: "AnalyticsRange", method: "GET", path: "/api/v1/analytics?from=2026-02-01&to=2026-01-01", auth: rd, wantStatus: 400, wantCode: "invalid"},
			{name: "KeyState", method: "GET", path: "/api/v1/keys?state=lost", auth: ad, wantStatus: 400, wantCode: "invalid"},
			{name: "KeyLimit", method: "GET", path: "/api/v1/keys?limit=-1", auth: ad, wantStatus: 400, wantCode: "invalid"},
			{name: "KeyCursor", method: "GET", path: "/api/v1/keys?cursor=bm9wZQ", auth: ad, wantStatus: 400, wantCode: "invalid_cursor"},
			{name: "PatchKeyFields", method: "PATCH", path: "/api/v1/keys/" + rollBad, auth: ad, body: `{"name": "", "rate_limit": "lots", "scopes": ["admin"]}`, wantStatus: 400, wantCode: "invalid"},
			{name: "PatchRevokedKey", method: "PATCH", path: "/api/v1/keys/" + revoked, auth: ad, body: `{"name": "Back"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "LeaveIdempotencyKeyTooLong", method: "POST", path: "/api/v1/bots/" + bot + "/leave", auth: wr, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, wantStatus: 400, wantCode: "invalid_request"},
			{name: "CreateKeyIdempotencyKeyTooLong", method: "POST", path: "/api/v1/keys", auth: ad, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, body: `{"name": "long", "scopes": ["read"]}`, wantStatus: 400, wantCode: "invalid_request"},
			{name: "KeyFields", method: "POST", path: "/api/v1/keys", auth: ad, body: `{"name": "", "scopes": [], "expires_at": "2001-01-01T00:00:00Z"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "RevokeRevoked", method: "DELETE", path: "/api/v1/keys/" + revoked, auth: ad, wantStatus: 400, wantCode: "invalid"},
			{name: "RollRevoked", method: "POST", path: "/api/v1/keys/" + revoked + "/roll", auth: ad, wantStatus: 400, wantCode: "invalid"},
			{name: "RollGrace", method: "POST", path: "/api/v1/keys/" + rollBad + "/roll", auth: ad, body: `{"grace_seconds": 5}`, wantStatus: 400, wantCode: "invalid"},
			{name: "BotCursor", method: "GET", path: "/api/v1/bots?cursor=bm9wZQ", auth: rd, wantStatus: 400, wantCode: "invalid_cursor"},
			{name: "ConversationCursor", method: "GET", path: "/api/v1/conversations?cursor=!", auth: rd, wantStatus: 400, wantCode: "invalid_cursor"},
			{name: "MemberRole", method: "PATCH", path: "/api/v1/members/" + bob, auth: ad, body: `{"role": "boss"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "MemberRoleMissing", method: "PATCH", path: "/api/v1/members/" + bob, auth: ad, body: `{}`, wantStatus: 400, wantCode: "invalid"},
			{name: "MemberParseError", method: "PATCH", path: "/api/v1/members/" + bob, auth: ad, body: `[`, wantStatus: 400, wantCode: "parse_error"},
			{name: "InviteFields", method: "POST", path: "/api/v1/invitations", auth: ad, body: `{"email": "not an email", "role": "boss"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "InviteParseError", method: "POST", path: "/api/v1/invitations", auth: ad, body: `"x"`, wantStatus: 400, wantCode: "parse_error"},
			{name: "WebhookFields", method: "POST", path: "/api/v1/webhooks", auth: ad, body: `{"url": "", "events": []}`, wantStatus: 400, wantCode: "invalid"},
			{name: "PatchWebhookURL", method: "PATCH", path: "/api/v1/webhooks/" + hook, auth: ad, body: `{"url": "http://203.0.113.10/hooks"}`, wantStatus: 400, wantCode: "invalid"},
			{name: "DeliveriesLimit", method: "GET", path: "/api/v1/webhooks/" + hook + "/deliveries?limit=0", auth: ad, wantStatus: 400, wantCode: "invalid"},
		})
		// Field errors are reported under the API's field names.
		for _, tc := range []struct{ name, method, path, body, field string }{
			{"KeyExpiresInPast", "POST", "/api/v1/keys", `{"name": "late", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}`, "expires_at"},
			{"InviteOwner", "POST", "/api/v1/invitations", `{"email": "owner@example.com", "role": "owner"}`, "role"},
			{"InviteEmail", "POST", "/api/v1/invitations", `{"email": "nope"}`, "email"},
			{"InviteMember", "POST", "/api/v1/invitations", `{"email": "bob@example.com"}`, "email"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(t, app, apiCall{method: tc.method, path: tc.path, auth: ad, body: tc.body, wantStatus: 400, wantCode: "invalid"})
				if msgs, _ := r.JSON[tc.field].([]any); len(msgs) == 0 || len(r.JSON) != 4 || r.JSON["request_id"] != r.Header.Get("X-Request-Id") {
					t.Fatalf("want a field map on %s only, and the request's id: %s", tc.field, r.Raw)
				}
			})
		}
	})

	t.Run("Forbidden", func(t *testing.T) {
		owner := org.Owner.PublicID
		c.run(t, app, []apiCall{
			{name: "GrantOwner", method: "PATCH", path: "/api/v1/members/" + bob, auth: ad, body: `{"role": "owner"}`, wantStatus: 403, wantCode: "forbidden"},
			{name: "ChangeOwner", method: "PATCH", path: "/api/v1/members/" + owner, auth: ad, body: `{"role": "member"}`, wantStatus: 403, wantCode: "forbidden"},
			{name: "RemoveOwner", method: "DELETE", path: "/api/v1/members/" + owner, auth: ad, wantStatus: 403, wantCode: "forbidden"},
		})
	})

	t.Run("NotFound", func(t *testing.T) {
		c.run(t, app, []apiCall{
			{name: "GetBot", method: "GET", path: "/api/v1/bots/bot_missing", auth: rd, wantStatus: 404, wantCode: "not_found"},
			{name: "PatchBot", method: "PATCH", path: "/api/v1/bots/bot_missing", auth: wr, body: `{"bot_name": "x"}`, wantStatus: 404, wantCode: "not_found"},
			{name: "DeleteBot", method: "DELETE", path: "/api/v1/bots/" + doomedBot, auth: wr, wantStatus: 404, wantCode: "not_found"},
			{name: "LeaveBot", method: "POST", path: "/api/v1/bots/bot_missing/leave", auth: wr, wantStatus: 404, wantCode: "not_found"},
			{name: "GetConversation", method: "GET", path: "/api/v1/conversations/conv_missing", auth: rd, wantStatus: 404, wantCode: "not_found"},
			{name: "DeleteConversation", method: "DELETE", path: "/api/v1/conversations/" + doomedConv, auth: wr, wantStatus: 404, wantCode: "not_found"},
			{name: "RevokeKey", method: "DELETE", path: "/api/v1/keys/key_missing", auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "GetKey", method: "GET", path: "/api/v1/keys/key_missing", auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "PatchKey", method: "PATCH", path: "/api/v1/keys/key_missing", auth: ad, body: `{"name": "x"}`, wantStatus: 404, wantCode: "not_found"},
			{name: "RollKey", method: "POST", path: "/api/v1/keys/key_missing/roll", auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "ChangeRole", method: "PATCH", path: "/api/v1/members/usr_missing", auth: ad, body: `{"role": "member"}`, wantStatus: 404, wantCode: "not_found"},
			{name: "RemoveMember", method: "DELETE", path: "/api/v1/members/" + carol, auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "GetWebhook", method: "GET", path: "/api/v1/webhooks/whk_missing", auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "PatchWebhook", method: "PATCH", path: "/api/v1/webhooks/whk_missing", auth: ad, body: `{"description": "x"}`, wantStatus: 404, wantCode: "not_found"},
			{name: "DeleteWebhook", method: "DELETE", path: "/api/v1/webhooks/" + doomedHook, auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "RollWebhookSecret", method: "POST", path: "/api/v1/webhooks/whk_missing/roll-secret", auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "TestWebhook", method: "POST", path: "/api/v1/webhooks/whk_missing/test", auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "ListDeliveries", method: "GET", path: "/api/v1/webhooks/whk_missing/deliveries", auth: ad, wantStatus: 404, wantCode: "not_found"},
			{name: "ResendDelivery", method: "POST", path: "/api/v1/webhooks/" + hook + "/deliveries/dlv_missing/resend", auth: ad, wantStatus: 404, wantCode: "not_found"},
		})
	})

	t.Run("Conflict", func(t *testing.T) {
		idem := map[string]string{"Idempotency-Key": "once-" + bot}
		c.run(t, app, []apiCall{
			{name: "LeaveTwice", method: "POST", path: "/api/v1/bots/" + endedBot + "/leave", auth: wr, wantStatus: 409, wantCode: "conflict"},
			{name: "RescheduleEnded", method: "PATCH", path: "/api/v1/bots/" + endedBot, auth: wr, body: `{"join_at": "2099-01-01T00:00:00Z"}`, wantStatus: 409, wantCode: "conflict"},
			{name: "CreateKeyOnce", method: "POST", path: "/api/v1/keys", auth: ad, header: idem, body: `{"name": "once", "scopes": ["read"]}`, wantStatus: 201, validRequest: true},
			{name: "CreateKeyReplayed", method: "POST", path: "/api/v1/keys", auth: ad, header: idem, body: `{"name": "once", "scopes": ["read"]}`, wantStatus: 201, validRequest: true},
			{name: "CreateKeyOtherBody", method: "POST", path: "/api/v1/keys", auth: ad, header: idem, body: `{"name": "twice", "scopes": ["read"]}`, wantStatus: 422, wantCode: "idempotency_key_reused"},
			{name: "RollOnce", method: "POST", path: "/api/v1/keys/" + rollIdem + "/roll", auth: ad, header: map[string]string{"Idempotency-Key": "roll-" + rollIdem}, body: `{"grace_seconds": 3600}`, wantStatus: 201, validRequest: true},
			{name: "RollReplayed", method: "POST", path: "/api/v1/keys/" + rollIdem + "/roll", auth: ad, header: map[string]string{"Idempotency-Key": "roll-" + rollIdem}, body: `{"grace_seconds": 3600}`, wantStatus: 201, validRequest: true},
			{name: "RollOtherBody", method: "POST", path: "/api/v1/keys/" + rollIdem + "/roll", auth: ad, header: map[string]string{"Idempotency-Key": "roll-" + rollIdem}, body: `{"grace_seconds": 0}`, wantStatus: 422, wantCode: "idempotency_key_reused"},
		})
		// Every POST: a reused key with another body, and a retry while
		// the first request still runs.
		for _, tc := range []struct{ path, auth, body, other string }{
			{"/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/7", "bot_name": "Retry"}`, `{"meeting_url": "https://zoom.us/j/8", "bot_name": "Retry"}`},
			{"/api/v1/bots/" + mkBot() + "/leave", wr, "", `{"x": 1}`},
			{"/api/v1/conversations", wr, `{"title": "Retry"}`, `{"title": "Other"}`},
			{"/api/v1/invitations", ad, `{"email": "retry@example.com"}`, `{"email": "other@example.com"}`},
			{"/api/v1/keys", ad, `{"name": "Retry", "scopes": ["read"]}`, `{"name": "Other", "scopes": ["read"]}`},
			{"/api/v1/keys/" + mkKey("retry roll") + "/roll", ad, "", `{"grace_seconds": 3600}`},
			{"/api/v1/webhooks", ad, `{"url": "https://203.0.113.10/retry", "events": ["key.created"]}`, `{"url": "https://203.0.113.10/other", "events": ["key.created"]}`},
			{"/api/v1/webhooks/" + hook + "/roll-secret", ad, "", `{"x": 1}`},
			{"/api/v1/webhooks/" + hook + "/test", ad, "", `{"x": 1}`},
			{"/api/v1/webhooks/" + hook + "/deliveries/" + delivery + "/resend", ad, "", `{"x": 1}`},
		} {
			t.Run("Retry"+tc.path, func(t *testing.T) {
				h := map[string]string{"Idempotency-Key": "retry-" + tc.path}
				first := apiCall{method: "POST", path: tc.path, auth: tc.auth, body: tc.body, header: h}
				c.doInFlight(t, app, first, apiCall{method: "POST", path: tc.path, auth: tc.auth, body: tc.body, header: h, wantStatus: 409, wantCode: "idempotency_key_in_use"})
				c.do(t, app, apiCall{method: "POST", path: tc.path, auth: tc.auth, body: tc.other, header: h, wantStatus: 422, wantCode: "idempotency_key_reused"})
			})
		}
	})

	// The remaining cases apply to every operation alike.
	ops := c.operations()
	var keys []string
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	concrete := func(key string) (method, path string) {
		method, path, _ = strings.Cut(key, " ")
		return method, strings.NewReplacer("{id}", "missing", "{delivery}", "missing").Replace(path)
	}

	t.Run("Unauthenticated", func(t *testing.T) {
		for _, key := range keys {
			if wantOperations[key] == "-" {
				continue
			}
			method, path := concrete(key)
			c.do(t, app, apiCall{name: key, method: method, path: path, wantStatus: 401, wantCode: "not_authenticated"})
		}
		gone, gk := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "gone", Scopes: []keygate.Scope{keygate.ScopeRead}})
		c.do(t, app, apiCall{method: "DELETE", path: "/api/v1/keys/" + gk.PublicID, auth: ad, wantStatus: 204})
		soon := app.Clock.Now().Add(time.Minute)
		expired, _ := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "brief", Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &soon})
		app.Clock.Advance(2 * time.Minute)
		c.run(t, app, []apiCall{
			{name: "NoKey", method: "GET", path: "/api/v1/me", auth: "Token", wantStatus: 401, wantCode: "invalid_token_header"},
			{name: "Malformed", method: "GET", path: "/api/v1/me", auth: "Token kg_short", wantStatus: 401, wantCode: "invalid_token"},
			{name: "Revoked", method: "GET", path: "/api/v1/me", auth: "Token " + gone, wantStatus: 401, wantCode: "token_revoked"},
			{name: "Expired", method: "GET", path: "/api/v1/me", auth: "Bearer " + expired, wantStatus: 401, wantCode: "token_expired"},
		})
	})

	t.Run("InsufficientScope", func(t *testing.T) {
		weaker := map[string]string{"write": rd, "admin": wr}
		for _, key := range keys {
			auth, ok := weaker[wantOperations[key]]
			if !ok {
				continue
			}
			method, path := concrete(key)
			c.do(t, app, apiCall{name: key, method: method, path: path, auth: auth, body: `{}`, wantStatus: 403, wantCode: "insufficient_scope"})
		}
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		for path, item := range c.doc.Paths.Map() {
			if path == "/api/v1/openapi.json" {
				continue // the catch-all answers other methods with 404
			}
			var documented []string
			for m := range item.Operations() {
				documented = append(documented, m)
			}
			_, p := concrete("PUT " + path)
			r := c.do(t, app, apiCall{name: path, method: "PUT", path: p, auth: ad, body: `{}`, wantStatus: 405, wantCode: "method_not_allowed"})
			allow := strings.Split(r.Header.Get("Allow"), ", ")
			sort.Strings(allow)
			sort.Strings(documented)
			if !slices.Equal(allow, documented) {
				t.Errorf("%s: Allow = %v, document has %v", path, allow, documented)
			}
		}
	})

	t.Run("BodyErrors", func(t *testing.T) {
		for _, key := range keys {
			if ops[key].RequestBody == nil {
				continue
			}
			method, path := concrete(key)
			if strings.HasSuffix(path, "/roll") {
				path = "/api/v1/keys/" + rollBad + "/roll"
			}
			c.do(t, app, apiCall{name: key + "/415", method: method, path: path, auth: ad, body: "name=x", contentType: "text/plain", wantStatus: 415, wantCode: "unsupported_media_type"})
			c.do(t, app, apiCall{name: key + "/413", method: method, path: path, auth: ad, body: big, wantStatus: 413, wantCode: "request_too_large"})
		}
	})

	t.Run("HTTPSRequired", func(t *testing.T) {
		plain := httptest.NewServer(app.Web.PlainHandler())
		defer plain.Close()
		for _, key := range keys {
			method, path := concrete(key)
			c.do(t, app, apiCall{name: key, method: method, path: path, wantStatus: 403, wantCode: "https_required"}, plain.URL)
		}
	})

	t.Run("Throttled", func(t *testing.T) {
		limited := MustOpenApp(t, WithRateLimit(ratelimit.Limit{Count: 1, Period: time.Minute}))
		lorg := mustAPIOrg(t, limited, "Bo", "bo@example.com")
		c.do(t, limited, apiCall{method: "GET", path: "/api/v1/me", auth: "Token " + lorg.Admin, wantStatus: 200})
		for _, key := range keys {
			if wantOperations[key] == "-" {
				continue
			}
			method, path := concrete(key)
			r := c.do(t, limited, apiCall{name: key, method: method, path: path, auth: "Token " + lorg.Admin, body: `{}`, wantStatus: 429, wantCode: "throttled"})
			if r.Header.Get("Retry-After") == "" || r.Header.Get("X-RateLimit-Remaining") != "0" {
				t.Fatalf("%s: Retry-After %q, remaining %q", key, r.Header.Get("Retry-After"), r.Header.Get("X-RateLimit-Remaining"))
			}
		}
		// Leak reports are limited per client address, not per key.
		for range 10 {
			limited.API(t, "POST", "/api/v1/keys/report-leak", "", `{"key": "kg_nope"}`)
		}
		c.do(t, limited, apiCall{name: "ReportLeak", method: "POST", path: "/api/v1/keys/report-leak", body: `{"key": "kg_nope"}`, wantStatus: 429, wantCode: "throttled"})
	})

	// Every documented status of every operation was seen, 500 aside.
	for _, key := range keys {
		for status := range ops[key].Responses.Map() {
			var code int
			fmt.Sscan(status, &code)
			if code != 500 && !c.seen[key][code] {
				t.Errorf("%s: documented %s never exercised", key, status)
			}
		}
	}
}

// TestOpenAPIContractRejectsMismatches makes sure the validation is not
// vacuous: answers that stray from the document fail it.
func TestOpenAPIContractRejectsMismatches(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := mustContract(t, app)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	created := app.API(t, "POST", "/api/v1/bots", "Token "+org.Write, `{"meeting_url": "https://zoom.us/j/123456789", "bot_name": "My Bot"}`)
	wantAPI(t, created, 201, "", "")
	path := "/api/v1/bots/" + created.JSON["id"].(string)
	real := app.API(t, "GET", path, "Token "+org.Read, "")
	req, _ := http.NewRequest("GET", app.URL+path, nil)
	if _, err := c.validate(req, real.StatusCode, real.Header, []byte(real.Raw)); err != nil {
		t.Fatalf("the real answer does not match: %v", err)
	}
	body := func(edit func(map[string]string)) []byte {
		m := map[string]string{}
		for k, v := range real.JSON {
			b, _ := json.Marshal(v)
			m[k] = string(b)
		}
		edit(m)
		var b bytes.Buffer
		b.WriteString("{")
		first := true
		for k, v := range m {
			if !first {
				b.WriteString(",")
			}
			first = false
			fmt.Fprintf(&b, "%q:%s", k, v)
		}
		b.WriteString("}")
		return b.Bytes()
	}
	header := func(edit func(http.Header)) http.Header {
		h := real.Header.Clone()
		edit(h)
		return h
	}
	cases := []struct {
		name   string
		status int
		header http.Header
		body   []byte
	}{
		{"UnknownState", 200, real.Header, body(func(m map[string]string) { m["state"] = `"flying"` })},
		{"NullableWrongType", 200, real.Header, body(func(m map[string]string) { m["join_at"] = `5` })},
		{"MetadataNotObject", 200, real.Header, body(func(m map[string]string) { m["metadata"] = `[1]` })},
		{"MissingField", 200, real.Header, body(func(m map[string]string) { delete(m, "bot_name") })},
		{"BadDateTime", 200, real.Header, body(func(m map[string]string) { m["created_at"] = `"tomorrow"` })},
		{"ExtraField", 200, real.Header, body(func(m map[string]string) { m["secret"] = `"x"` })},
		{"MissingRateLimitHeader", 200, header(func(h http.Header) { h.Del("X-RateLimit-Remaining") }), []byte(real.Raw)},
		{"RateLimitHeaderNotInteger", 200, header(func(h http.Header) { h.Set("X-RateLimit-Limit", "lots") }), []byte(real.Raw)},
		{"WrongContentType", 200, header(func(h http.Header) { h.Set("Content-Type", "text/html") }), []byte(real.Raw)},
		{"UndocumentedStatus", 418, real.Header, []byte(`{"detail": "teapot", "code": "teapot"}`)},
		{"UnknownErrorCode", 404, real.Header, []byte(`{"detail": "Not found.", "code": "gone"}`)},
		{"CursorErrorAsNotFound", 404, real.Header, []byte(`{"detail": "Invalid cursor.", "code": "invalid_cursor"}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.validate(req, tc.status, tc.header, tc.body); err == nil {
				t.Fatalf("accepted: %d %s", tc.status, tc.body)
			}
		})
	}
	t.Run("NoContentWithBody", func(t *testing.T) {
		del, _ := http.NewRequest("DELETE", app.URL+path, nil)
		if _, err := c.validate(del, 204, real.Header, []byte(`{}`)); err == nil {
			t.Fatal("a 204 with a body was accepted")
		}
	})
	t.Run("FieldMapNotList", func(t *testing.T) {
		post, _ := http.NewRequest("POST", app.URL+"/api/v1/bots", nil)
		if _, err := c.validate(post, 400, real.Header, []byte(`{"detail": "Invalid input.", "code": "invalid", "meeting_url": "required"}`)); err == nil {
			t.Fatal("a field message outside a list was accepted")
		}
	})
	t.Run("UnauthorizedWithoutChallenge", func(t *testing.T) {
		me, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
		h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"x"}}
		if _, err := c.validate(me, 401, h, []byte(`{"detail": "Invalid token.", "code": "invalid_token"}`)); err == nil {
			t.Fatal("a 401 without WWW-Authenticate was accepted")
		}
	})
}
