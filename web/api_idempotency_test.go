package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// apiWith calls the API with extra headers.
func apiWith(tb testing.TB, app *App, method, path, auth, body string, header map[string]string) *APIResponse {
	tb.Helper()
	req, _ := http.NewRequest(method, app.URL+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return app.Do(tb, req)
}

// idem is the header of a request made with an Idempotency-Key.
func idem(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

// TestAPIIdempotentReplay: a retry with the same Idempotency-Key and body
// gets the first answer again, marked Idempotent-Replayed, and creates
// nothing more. Secrets are never sent twice.
func TestAPIIdempotentReplay(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	wr, ad := "Token "+org.Write, "Token "+org.Admin
	_, roll := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "roll me", Scopes: []keygate.Scope{keygate.ScopeRead}})
	bot := app.API(t, "POST", "/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "Bot"}`).JSON["id"].(string)

	tests := []struct {
		name, path, auth, body string
		status                 int
		table                  string
		secret                 string // the field that carries a secret, null when replayed
	}{
		{"Bot", "/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/2", "bot_name": "Once"}`, 201, "bots", ""},
		{"Conversation", "/api/v1/conversations", wr, `{"title": "Standup", "participants": ["Ada"]}`, 201, "conversations", ""},
		{"LeaveBot", "/api/v1/bots/" + bot + "/leave", wr, "", 200, "", ""},
		{"Invitation", "/api/v1/invitations", ad, `{"email": "grace@example.com", "role": "admin"}`, 201, "invitations", "link"},
		{"Key", "/api/v1/keys", ad, `{"name": "Deploy", "scopes": ["write"]}`, 201, "api_keys", "key"},
		{"KeyRoll", "/api/v1/keys/" + roll.PublicID + "/roll", ad, `{"grace_seconds": 3600}`, 201, "api_keys", "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := idem("retry-" + tt.name)
			first := apiWith(t, app, "POST", tt.path, tt.auth, tt.body, h)
			wantAPI(t, first, tt.status, "", "")
			if first.Header.Get("Idempotent-Replayed") != "" {
				t.Fatal("the first answer is marked replayed")
			}
			before := 0
			if tt.table != "" {
				before = app.Count(t, tt.table)
			}
			for range 2 {
				again := apiWith(t, app, "POST", tt.path, tt.auth, tt.body, h)
				wantAPI(t, again, tt.status, "", "")
				if got := again.Header.Get("Idempotent-Replayed"); got != "true" {
					t.Fatalf("Idempotent-Replayed = %q", got)
				}
				if again.Header.Get("X-Request-Id") == first.Header.Get("X-Request-Id") {
					t.Fatal("the replay has the first request's id")
				}
				want := first.JSON
				if tt.secret != "" {
					if again.JSON[tt.secret] != nil || first.JSON[tt.secret] == nil {
						t.Fatalf("%s: first %v, replayed %v", tt.secret, first.JSON[tt.secret], again.JSON[tt.secret])
					}
					if strings.Contains(again.Raw, first.JSON[tt.secret].(string)) {
						t.Fatal("the replay carries the secret")
					}
					if d, _ := again.JSON["detail"].(string); d == "" {
						t.Fatalf("a replay without its secret says nothing: %s", again.Raw)
					}
					want = map[string]any{}
					for k, v := range first.JSON {
						want[k] = v
					}
					want[tt.secret], want["detail"] = nil, again.JSON["detail"]
				}
				if a, b := mustJSON(t, again.JSON), mustJSON(t, want); a != b {
					t.Fatalf("replayed\n%s\nwant\n%s", a, b)
				}
			}
			if tt.table != "" {
				if n := app.Count(t, tt.table); n != before {
					t.Fatalf("%s: %d rows after the retries, want %d", tt.table, n, before)
				}
			}
		})
	}
	t.Run("KeyDetail", func(t *testing.T) {
		h := idem("key-detail")
		first := apiWith(t, app, "POST", "/api/v1/keys", ad, `{"name": "Lost", "scopes": ["read"]}`, h)
		wantAPI(t, first, 201, "", "")
		id := first.JSON["id"].(string)
		again := apiWith(t, app, "POST", "/api/v1/keys", ad, `{"name": "Lost", "scopes": ["read"]}`, h)
		want := "The key's secret was sent in the first response only and is not kept. If that response was lost, revoke this key (DELETE /api/v1/keys/" + id + ") and create another."
		wantAPI(t, again, 201, want, "")
		// The advice works: the key can be revoked.
		wantAPI(t, app.API(t, "DELETE", "/api/v1/keys/"+id, ad, ""), 204, "", "")
	})
	t.Run("SameBodyOtherSpacing", func(t *testing.T) {
		h := idem("spacing")
		first := apiWith(t, app, "POST", "/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/9", "bot_name": "S"}`, h)
		wantAPI(t, first, 201, "", "")
		again := apiWith(t, app, "POST", "/api/v1/bots", wr, `{"bot_name":"S","meeting_url":"https://zoom.us/j/9"}`, h)
		wantAPI(t, again, 201, "", "")
		if again.JSON["id"] != first.JSON["id"] || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("first %s, again %s", first.Raw, again.Raw)
		}
	})
	t.Run("FailuresAreNotKept", func(t *testing.T) {
		// A 400 keeps nothing: the client fixes the body and retries with
		// the same key.
		h := idem("fix-and-retry")
		wantAPI(t, apiWith(t, app, "POST", "/api/v1/bots", wr, `{"bot_name": "No URL"}`, h), 400, "", "invalid")
		ok := apiWith(t, app, "POST", "/api/v1/bots", wr, `{"meeting_url": "https://zoom.us/j/5", "bot_name": "No URL"}`, h)
		wantAPI(t, ok, 201, "", "")
		if ok.Header.Get("Idempotent-Replayed") != "" {
			t.Fatal("a fixed request was answered as a replay")
		}
	})
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestAPIIdempotencyKeyScope: a key is one organization's, for one method
// and path, for 24 hours; a reused key with another body is a 422.
func TestAPIIdempotencyKeyScope(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	a := mustAPIOrg(t, app, "Ada", "ada@example.com")
	b := mustAPIOrg(t, app, "Bob", "bob@example.com")
	body := `{"meeting_url": "https://zoom.us/j/1", "bot_name": "Bot"}`
	first := apiWith(t, app, "POST", "/api/v1/bots", "Token "+a.Write, body, idem("shared"))
	wantAPI(t, first, 201, "", "")

	tests := []struct {
		name, path, auth, body, key string
		status                      int
		detail, code                string
		replayed                    bool
	}{
		{"OtherBody", "/api/v1/bots", "Token " + a.Write, `{"meeting_url": "https://zoom.us/j/2", "bot_name": "Bot"}`, "shared", 422,
			"This Idempotency-Key was already used with a different request body.", "idempotency_key_reused", false},
		{"OtherBodyOtherKey", "/api/v1/bots", "Token " + a.Admin, `{"meeting_url": "https://zoom.us/j/2", "bot_name": "Bot"}`, "shared", 422,
			"This Idempotency-Key was already used with a different request body.", "idempotency_key_reused", false},
		{"SameBody", "/api/v1/bots", "Token " + a.Admin, body, "shared", 201, "", "", true},
		{"OtherOrganization", "/api/v1/bots", "Token " + b.Write, body, "shared", 201, "", "", false},
		{"OtherPath", "/api/v1/conversations", "Token " + a.Write, `{"title": "Call"}`, "shared", 201, "", "", false},
		{"TooLong", "/api/v1/bots", "Token " + a.Write, body, strings.Repeat("k", 256), 400,
			"The Idempotency-Key header must be at most 255 characters.", "invalid_request", false},
		{"Longest", "/api/v1/bots", "Token " + a.Write, body, strings.Repeat("k", 255), 201, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := apiWith(t, app, "POST", tt.path, tt.auth, tt.body, idem(tt.key))
			wantAPI(t, r, tt.status, tt.detail, tt.code)
			if got := r.Header.Get("Idempotent-Replayed") == "true"; got != tt.replayed {
				t.Fatalf("replayed = %v; body %s", got, r.Raw)
			}
			if tt.replayed && r.JSON["id"] != first.JSON["id"] {
				t.Fatalf("replayed another bot: %s", r.Raw)
			}
			if !tt.replayed && tt.status == 201 && r.JSON["id"] == first.JSON["id"] {
				t.Fatalf("answered with the first bot: %s", r.Raw)
			}
		})
	}
	t.Run("ExpiresAfter24Hours", func(t *testing.T) {
		app.Clock.Advance(23 * time.Hour)
		wantAPI(t, apiWith(t, app, "POST", "/api/v1/bots", "Token "+a.Write, body, idem("shared")), 201, "", "")
		app.Clock.Advance(2 * time.Hour)
		r := apiWith(t, app, "POST", "/api/v1/bots", "Token "+a.Write, `{"meeting_url": "https://zoom.us/j/3", "bot_name": "Later"}`, idem("shared"))
		wantAPI(t, r, 201, "", "")
		if r.Header.Get("Idempotent-Replayed") != "" || r.JSON["id"] == first.JSON["id"] {
			t.Fatalf("a day-old key was replayed: %s", r.Raw)
		}
	})
}

// TestAPIIdempotencyKeyInUse: a retry that arrives while the first request
// is still running gets a 409 and does not run; the first then completes.
func TestAPIIdempotencyKeyInUse(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	body := `{"meeting_url": "https://zoom.us/j/1", "bot_name": "Slow"}`
	send := func() *APIResponse {
		return apiWith(t, app, "POST", "/api/v1/bots", "Token "+org.Write, body, idem("in-flight"))
	}
	var refused *APIResponse
	done := whileWaiting(t, app, send, func() { refused = send() })
	wantAPI(t, refused, 409, "A request with this Idempotency-Key is still being processed. Retry once it has finished.", "idempotency_key_in_use")
	wantAPI(t, done, 201, "", "")
	if n := app.Count(t, "bots"); n != 1 {
		t.Fatalf("%d bots, want 1", n)
	}
	// Once it has finished, the same retry is a replay.
	again := send()
	wantAPI(t, again, 201, "", "")
	if again.Header.Get("Idempotent-Replayed") != "true" || again.JSON["id"] != done.JSON["id"] {
		t.Fatalf("after completion: %s", again.Raw)
	}
}

// whileWaiting holds the database's one writer connection and runs first
// in the background until it waits for that connection; then it runs
// then, releases the writer and returns first's answer.
func whileWaiting(tb testing.TB, app *App, first func() *APIResponse, then func()) *APIResponse {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tx, err := app.DB.WriteConn().BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	waits := app.DB.WriteConn().Stats().WaitCount
	answer := make(chan *APIResponse, 1)
	go func() { answer <- first() }()
	for app.DB.WriteConn().Stats().WaitCount == waits {
		select {
		case r := <-answer:
			tx.Rollback()
			tb.Fatalf("answered without waiting for the writer: %d %s", r.StatusCode, r.Raw)
		case <-ctx.Done():
			tx.Rollback()
			tb.Fatal("the request never waited for the writer")
		case <-time.After(time.Millisecond):
		}
	}
	then()
	tx.Rollback()
	select {
	case r := <-answer:
		return r
	case <-ctx.Done():
		tb.Fatal("no answer after the writer was released")
	}
	return nil
}

// TestAPIIdempotencySecretNotStored: a key created or rolled with an
// Idempotency-Key leaves no trace of its secret in the database files, and
// none in the log.
func TestAPIIdempotencySecretNotStored(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ad := "Token " + org.Admin
	created := apiWith(t, app, "POST", "/api/v1/keys", ad, `{"name": "Deploy", "scopes": ["read"]}`, idem("create"))
	wantAPI(t, created, 201, "", "")
	rolled := apiWith(t, app, "POST", "/api/v1/keys/"+created.JSON["id"].(string)+"/roll", ad, `{"grace_seconds": 3600}`, idem("roll"))
	wantAPI(t, rolled, 201, "", "")
	invited := apiWith(t, app, "POST", "/api/v1/invitations", ad, `{"email": "grace@example.com"}`, idem("invite"))
	wantAPI(t, invited, 201, "", "")
	if n := app.Count(t, "idempotency_keys"); n != 3 {
		t.Fatalf("%d stored answers, want 3", n)
	}
	if _, err := app.DB.WriteConn().Exec(`PRAGMA wal_checkpoint(FULL)`); err != nil {
		t.Fatal(err)
	}
	link := invited.JSON["link"].(string)
	secrets := map[string]string{
		"created key": created.JSON["key"].(string), "rolled key": rolled.JSON["key"].(string),
		"invitation token": link[strings.LastIndex(link, "/")+1:],
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		data, err := os.ReadFile(app.DB.Path + suffix)
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for what, secret := range secrets {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("the %s is in %s", what, app.DB.Path+suffix)
			}
		}
	}
	for what, secret := range secrets {
		if strings.Contains(app.Logs.String(), secret) {
			t.Errorf("the %s is in the log", what)
		}
	}
}

// doInFlight sends first and, while it waits to write, retry, which is
// checked against the document as c.do checks it; first must succeed.
func (c *contract) doInFlight(t *testing.T, app *App, first, retry apiCall) {
	t.Helper()
	r := whileWaiting(t, app, func() *APIResponse { return app.Do(t, first.request(t, app.URL)) }, func() { c.do(t, app, retry) })
	if r.StatusCode/100 != 2 {
		t.Fatalf("first request: %d %s", r.StatusCode, r.Raw)
	}
}
