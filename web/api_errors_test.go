package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/web"
)

// TestAPIEveryFieldError: a 400 names every field that is wrong, whether
// its value has the wrong type or format or breaks a rule, and creates or
// changes nothing.
func TestAPIEveryFieldError(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	wr, ad := "Token "+org.Write, "Token "+org.Admin
	bot := app.API(t, "POST", "/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "Bot"}`)
	wantAPI(t, bot, 201, "", "")
	botPath := "/api/v1/bots/" + bot.JSON["id"].(string)
	key := app.API(t, "GET", "/api/v1/keys", ad, "").JSON["results"].([]any)[0].(map[string]any)["id"].(string)
	member := app.NewClient(t)
	inv := app.API(t, "POST", "/api/v1/invitations", ad, `{"email": "bob@example.com"}`)
	wantAPI(t, inv, 201, "", "")
	token := strings.TrimPrefix(inv.JSON["link"].(string), app.URL+"/invitations/")
	assertStatus(t, member.Post("/signup", map[string][]string{"invite": {token}, "name": {"Bob"}, "email": {"bob@example.com"}, "password": {testPassword}}), http.StatusSeeOther)
	bob := app.MustUser(t, "bob@example.com").PublicID

	tests := []struct {
		name, method, path, auth, body string
		want                           map[string]string // field: its one message
		table                          string            // must not gain rows
	}{
		{"BotCreate", "POST", "/api/v1/bots", wr, `{"meeting_url": "ftp://x", "bot_name": "", "join_at": "bad"}`, map[string]string{
			"meeting_url": "Enter a valid URL.", "bot_name": "This field is required.",
			"join_at": "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z."}, "bots"},
		{"BotCreateTypes", "POST", "/api/v1/bots", wr, `{"meeting_url": 42, "bot_name": "` + strings.Repeat("b", 101) + `", "metadata": [1]}`, map[string]string{
			"meeting_url": "Not a valid string.", "bot_name": "Ensure this field has no more than 100 characters.",
			"metadata": "Must be a JSON object."}, "bots"},
		{"BotCreateValidRest", "POST", "/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/2", "bot_name": "Fine", "join_at": "soon"}`, map[string]string{
			"join_at": "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z."}, "bots"},
		{"BotUpdate", "PATCH", botPath, wr, `{"bot_name": "", "join_at": 5, "meeting_url": "https://zoom.us/j/3"}`, map[string]string{
			"bot_name": "This field is required.", "join_at": "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z.",
			"meeting_url": "This field cannot be changed."}, ""},
		{"BotUpdateValidRest", "PATCH", botPath, wr, `{"bot_name": "Renamed", "meeting_url": "https://zoom.us/j/3"}`, map[string]string{
			"meeting_url": "This field cannot be changed."}, ""},
		{"ConversationCreate", "POST", "/api/v1/conversations", wr, `{"title": "", "started_at": "yesterday", "participants": "Ada", "bot_id": "bot_missing"}`, map[string]string{
			"title": "This field is required.", "started_at": "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z.",
			"participants": "Expected a list of names.", "bot_id": "Object with id=bot_missing does not exist."}, "conversations"},
		{"ConversationCreateValidRest", "POST", "/api/v1/conversations", wr, `{"title": "Standup", "transcript": {"speaker": "Ada"}}`, map[string]string{
			"transcript": "Expected a list of segments: {speaker, text, start_ms, end_ms}."}, "conversations"},
		{"ConversationCreateOtherTypes", "POST", "/api/v1/conversations", wr, `{"title": "Standup", "bot_id": 5, "ended_at": "later"}`, map[string]string{
			"bot_id": "Not a valid string.", "ended_at": "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z."}, "conversations"},
		{"KeyCreate", "POST", "/api/v1/keys", ad, `{"name": "", "scopes": ["superuser"], "environment": "prod", "expires_at": "yesterday"}`, map[string]string{
			"name": "Name is required.", "scopes": "Unknown scope.", "environment": "Choose an environment.",
			"expires_at": "Datetime has wrong format. Use RFC 3339, like 2026-01-31T09:30:00Z."}, "api_keys"},
		{"KeyCreateTypes", "POST", "/api/v1/keys", ad, `{"name": 7, "scopes": "read", "note": "` + strings.Repeat("n", 1001) + `"}`, map[string]string{
			"name": "Not a valid string.", "scopes": "Expected a list of scopes: read, write, admin.", "note": "Note must be at most 1000 characters."}, "api_keys"},
		{"KeyUpdate", "PATCH", "/api/v1/keys/" + key, ad, `{"name": "", "environment": "prod", "rate_limit": "fast", "note": 5}`, map[string]string{
			"name": "Name is required.", "environment": "Choose an environment.",
			"rate_limit": "Enter a limit like 1000/h, 60/m or 10/s.", "note": "Not a valid string."}, ""},
		{"Invite", "POST", "/api/v1/invitations", ad, `{"email": "nope", "role": 5}`, map[string]string{
			"email": "Enter a valid email address, like name@example.com.", "role": "Not a valid string."}, "invitations"},
		{"MemberRole", "PATCH", "/api/v1/members/" + bob, ad, `{"role": ["admin"]}`, map[string]string{
			"role": "Not a valid string."}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := 0
			if tt.table != "" {
				before = app.Count(t, tt.table)
			}
			r := app.API(t, tt.method, tt.path, tt.auth, tt.body)
			wantAPI(t, r, 400, "Invalid input.", "invalid")
			var got []string
			for field, msg := range tt.want {
				msgs, _ := r.JSON[field].([]any)
				if len(msgs) != 1 || msgs[0] != msg {
					t.Errorf("%s = %v, want [%q]", field, r.JSON[field], msg)
				}
				got = append(got, field)
			}
			for field, v := range r.JSON {
				if _, listed := v.([]any); listed && !slices.Contains(got, field) {
					t.Errorf("unexpected error on %s: %v", field, v)
				}
			}
			if tt.table != "" {
				if n := app.Count(t, tt.table); n != before {
					t.Fatalf("%s: %d rows, want %d", tt.table, n, before)
				}
			}
		})
	}
	t.Run("NothingChanged", func(t *testing.T) {
		r := app.API(t, "GET", botPath, wr, "")
		if r.JSON["bot_name"] != "Bot" {
			t.Fatalf("bot changed: %s", r.Raw)
		}
		k := app.API(t, "GET", "/api/v1/keys/"+key, ad, "")
		if k.JSON["name"] == "" || k.JSON["note"] != "" {
			t.Fatalf("key changed: %s", k.Raw)
		}
	})
}

// TestAPIErrorRequestID: every error body carries the request's id, the
// one in its X-Request-Id header.
func TestAPIErrorRequestID(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	rd, wr, ad := "Token "+org.Read, "Token "+org.Write, "Token "+org.Admin
	bot := app.API(t, "POST", "/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "Bot"}`)
	wantAPI(t, app.API(t, "POST", "/api/v1/bots/"+bot.JSON["id"].(string)+"/leave", wr, ""), 200, "", "")

	tests := []struct {
		name, method, path, auth, body, contentType string
		status                                      int
		code                                        string
	}{
		{"FieldMap", "POST", "/api/v1/bots", wr, `{}`, "", 400, "invalid"},
		{"ParseError", "POST", "/api/v1/bots", wr, `{"x":`, "", 400, "parse_error"},
		{"Limit", "GET", "/api/v1/bots?limit=0", rd, "", "", 400, "invalid"},
		{"Cursor", "GET", "/api/v1/keys?cursor=nope", ad, "", "", 400, "invalid_cursor"},
		{"KeyState", "GET", "/api/v1/keys?state=lost", ad, "", "", 400, "invalid"},
		{"NoKey", "GET", "/api/v1/me", "", "", "", 401, "not_authenticated"},
		{"BadKey", "GET", "/api/v1/me", "Token kg_short", "", "", 401, "invalid_token"},
		{"Scope", "POST", "/api/v1/bots", rd, `{}`, "", 403, "insufficient_scope"},
		{"NotFound", "GET", "/api/v1/bots/bot_missing", rd, "", "", 404, "not_found"},
		{"UnknownPath", "GET", "/api/v1/nothing", rd, "", "", 404, "not_found"},
		{"Method", "PUT", "/api/v1/bots", wr, `{}`, "", 405, "method_not_allowed"},
		{"Conflict", "POST", "/api/v1/bots/" + bot.JSON["id"].(string) + "/leave", wr, "", "", 409, "conflict"},
		{"MediaType", "POST", "/api/v1/bots", wr, "x=1", "text/plain", 415, "unsupported_media_type"},
		{"TooLarge", "POST", "/api/v1/bots", wr, `{"bot_name": "` + strings.Repeat("x", 1<<20) + `"}`, "", 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, app.URL+tt.path, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.body != "" {
				ct := tt.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			r := app.Do(t, req)
			wantAPI(t, r, tt.status, "", tt.code)
			id := r.Header.Get("X-Request-Id")
			if id == "" || r.JSON["request_id"] != id {
				t.Fatalf("request_id = %v, X-Request-Id = %q", r.JSON["request_id"], id)
			}
		})
	}
}

// failingKeyStore fails every lookup, as a broken database would.
type failingKeyStore struct{}

func (failingKeyStore) LookupKeyByHash(context.Context, [32]byte) (*apikey.Record, error) {
	return nil, errors.New("database is locked")
}

// TestAPIInternalErrorRequestID: a 500 names the request, never the cause.
func TestAPIInternalErrorRequestID(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	srv, err := web.NewServer(web.Config{SessionKey: bytes.Repeat([]byte("k"), 64)},
		web.Services{Users: app.Users, Orgs: app.Orgs, Sessions: app.Sessions, Verifier: apikey.NewVerifier(failingKeyStore{})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	broken := httptest.NewTLSServer(srv.Handler())
	defer broken.Close()
	req, _ := http.NewRequest("GET", broken.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Token "+org.Read)
	resp, err := broken.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || body["code"] != "internal" || strings.Contains(fmt.Sprint(body), "locked") {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || body["request_id"] != id {
		t.Fatalf("request_id = %v, X-Request-Id = %q", body["request_id"], id)
	}
}

// TestAPIMissingScheme: a key sent without its scheme, or in X-API-Key,
// gets a 401 that says how to send it, and never the key back.
func TestAPIMissingScheme(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	const detail = "Send the key as Authorization: Token <key> (or Bearer <key>)."
	tests := []struct {
		name   string
		header map[string]string
		detail string
	}{
		{"BareKey", map[string]string{"Authorization": org.Read}, detail},
		{"BareKeyPadded", map[string]string{"Authorization": "  " + org.Read + " "}, detail},
		{"BareKeyThenWord", map[string]string{"Authorization": org.Read + " please"}, detail},
		{"XAPIKey", map[string]string{"X-API-Key": org.Read}, detail},
		{"XAPIKeyUnknown", map[string]string{"X-API-Key": "whatever"}, detail},
		{"OtherScheme", map[string]string{"Authorization": "Basic YWRhOnBhc3N3b3Jk"}, "Authentication credentials were not provided."},
		{"Nothing", map[string]string{}, "Authentication credentials were not provided."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			r := app.Do(t, req)
			wantAPI(t, r, 401, tt.detail, "not_authenticated")
			if strings.Contains(r.Raw, org.Read) || strings.Contains(r.Raw, org.Read[:12]) {
				t.Fatalf("the key is echoed: %s", r.Raw)
			}
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate")
			}
		})
	}
	t.Run("SchemeStillWins", func(t *testing.T) {
		req, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Token "+org.Read)
		req.Header.Set("X-API-Key", "ignored")
		wantAPI(t, app.Do(t, req), 200, "", "")
	})
}
