package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestAPIBadInput(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	auth := "Token " + org.Write

	t.Run("FieldRequired", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/bots", auth, `{"bot_name": "My Bot"}`)
		wantAPI(t, r, 400, "Invalid input.", "invalid")
		if msgs, _ := r.JSON["meeting_url"].([]any); len(msgs) != 1 || msgs[0] != "This field is required." {
			t.Fatalf("body = %s", r.Raw)
		}
	})
	t.Run("FieldErrors", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/bots", auth, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "B", "metadata": [1], "join_at": "tomorrow"}`)
		wantAPI(t, r, 400, "", "")
		for _, f := range []string{"metadata", "join_at"} {
			if r.JSON[f] == nil {
				t.Errorf("no error for %s: %s", f, r.Raw)
			}
		}
		r = app.API(t, "POST", "/api/v1/bots", auth, `{"meeting_url": "ftp://x", "bot_name": "`+strings.Repeat("b", 101)+`"}`)
		wantAPI(t, r, 400, "Invalid input.", "invalid")
		for _, f := range []string{"meeting_url", "bot_name"} {
			if r.JSON[f] == nil {
				t.Errorf("no error for %s: %s", f, r.Raw)
			}
		}
	})
	t.Run("WrongType", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/bots", auth, `{"meeting_url": 42, "bot_name": true}`)
		wantAPI(t, r, 400, "", "")
		if r.JSON["meeting_url"] == nil || r.JSON["bot_name"] == nil {
			t.Fatalf("body = %s", r.Raw)
		}
	})
	t.Run("MetadataTooLarge", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/bots", auth, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "B", "metadata": {"x": "`+strings.Repeat("m", 5000)+`"}}`)
		wantAPI(t, r, 400, "", "")
		if r.JSON["metadata"] == nil {
			t.Fatalf("body = %s", r.Raw)
		}
	})
	t.Run("MalformedJSON", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/bots", auth, `{"meeting_url": "https://zoom.us/j/1",`)
		wantAPI(t, r, 400, "", "parse_error")
		if d, _ := r.JSON["detail"].(string); !strings.HasPrefix(d, "JSON parse error - ") {
			t.Fatalf("detail = %q", d)
		}
		r = app.API(t, "POST", "/api/v1/bots", auth, `[1, 2]`)
		wantAPI(t, r, 400, "", "parse_error")
	})
	t.Run("NotJSON", func(t *testing.T) {
		req, _ := http.NewRequest("POST", app.URL+"/api/v1/bots", strings.NewReader("meeting_url=x"))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wantAPI(t, app.Do(t, req), 415, "", "unsupported_media_type")
	})
	t.Run("NoBody", func(t *testing.T) {
		// curl -X POST without -d: no body and no Content-Type. The answer
		// says what is required, as an empty object would.
		r := app.API(t, "POST", "/api/v1/bots", auth, "")
		wantAPI(t, r, 400, "Invalid input.", "invalid")
		for _, f := range []string{"meeting_url", "bot_name"} {
			if msgs, _ := r.JSON[f].([]any); len(msgs) != 1 || msgs[0] != "This field is required." {
				t.Fatalf("body = %s", r.Raw)
			}
		}
		// A body that is there but empty is still malformed JSON.
		req, _ := http.NewRequest("POST", app.URL+"/api/v1/bots", strings.NewReader(" "))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		wantAPI(t, app.Do(t, req), 400, "JSON parse error - the request body is empty; send a JSON object.", "parse_error")
		req, _ = http.NewRequest("POST", app.URL+"/api/v1/bots", strings.NewReader(" "))
		req.Header.Set("Authorization", auth)
		wantAPI(t, app.Do(t, req), 415, "", "unsupported_media_type")
	})
	t.Run("TooLarge", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/bots", auth, `{"bot_name": "`+strings.Repeat("x", 1<<20)+`"}`)
		wantAPI(t, r, 413, "", "request_too_large")
	})
	t.Run("UnknownPath", func(t *testing.T) {
		wantAPI(t, app.API(t, "GET", "/api/v1/nope", auth, ""), 404, "Not found.", "not_found")
		wantAPI(t, app.API(t, "GET", "/api/v1/bots/bot_missing", auth, ""), 404, "Not found.", "not_found")
	})
	t.Run("WrongMethod", func(t *testing.T) {
		r := app.API(t, "PUT", "/api/v1/bots", auth, `{}`)
		wantAPI(t, r, 405, `Method "PUT" not allowed.`, "method_not_allowed")
		if got := r.Header.Get("Allow"); got != "GET, POST" {
			t.Fatalf("Allow = %q", got)
		}
	})
	t.Run("BadCursorAndLimit", func(t *testing.T) {
		for _, v := range []string{"0", "-1", "abc", "1.5", "-99999999999999999999"} {
			r := app.API(t, "GET", "/api/v1/bots?limit="+v, auth, "")
			wantAPI(t, r, 400, "", "invalid")
			if msgs, _ := r.JSON["limit"].([]any); len(msgs) != 1 || msgs[0] != "A valid positive integer is required." {
				t.Fatalf("limit=%s: %s", v, r.Raw)
			}
		}
		wantAPI(t, app.API(t, "GET", "/api/v1/bots?cursor=bm9wZQ", auth, ""), 400, "Invalid cursor.", "invalid_cursor")
		wantAPI(t, app.API(t, "GET", "/api/v1/bots?state=flying", auth, ""), 400, "Invalid input.", "invalid")
	})
	if n := app.Count(t, "bots"); n != 0 {
		t.Fatalf("bad input created %d bots", n)
	}
}

// TestAPICurlExamples sends exactly what the documented curl commands send.
func TestAPICurlExamples(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")

	// curl -X POST https://HOST/api/v1/bots -H 'Authorization: Token KEY' -H 'Content-Type: application/json'
	//   -d '{"meeting_url": "https://zoom.us/j/123456789", "bot_name": "My Bot"}'
	req, _ := http.NewRequest("POST", app.URL+"/api/v1/bots", strings.NewReader(`{"meeting_url": "https://zoom.us/j/123456789", "bot_name": "My Bot"}`))
	req.Header.Set("User-Agent", "curl/8.5.0")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Authorization", "Token "+org.Write)
	req.Header.Set("Content-Type", "application/json")
	r := app.Do(t, req)
	wantAPI(t, r, 201, "", "")
	id, _ := r.JSON["id"].(string)
	if !strings.HasPrefix(id, "bot_") || r.JSON["state"] != "joining" || r.JSON["bot_name"] != "My Bot" || r.JSON["meeting_url"] != "https://zoom.us/j/123456789" {
		t.Fatalf("bot = %s", r.Raw)
	}

	// curl https://HOST/api/v1/conversations -H "Authorization: Bearer KEY"
	req, _ = http.NewRequest("GET", app.URL+"/api/v1/conversations", nil)
	req.Header.Set("User-Agent", "curl/8.5.0")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Authorization", "Bearer "+org.Read)
	r = app.Do(t, req)
	wantAPI(t, r, 200, "", "")
	if _, ok := r.JSON["results"].([]any); !ok || r.JSON["next"] != nil || r.JSON["previous"] != nil {
		t.Fatalf("conversations = %s", r.Raw)
	}
}

func TestAPIPagination(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	for i := 0; i < 5; i++ {
		app.API(t, "POST", "/api/v1/bots", "Token "+org.Write, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "bot `+itoa(i)+`"}`)
	}
	names := func(r *APIResponse) string {
		var out []string
		for _, b := range r.JSON["results"].([]any) {
			out = append(out, b.(map[string]any)["bot_name"].(string))
		}
		return strings.Join(out, ",")
	}
	get := func(url string) *APIResponse {
		return app.API(t, "GET", strings.TrimPrefix(url, app.URL), "Token "+org.Read, "")
	}
	p1 := get("/api/v1/bots?limit=2")
	if names(p1) != "bot 4,bot 3" || p1.JSON["previous"] != nil {
		t.Fatalf("page 1 = %s", p1.Raw)
	}
	next, _ := p1.JSON["next"].(string)
	if !strings.HasPrefix(next, app.URL+"/api/v1/bots?") || !strings.Contains(next, "limit=2") {
		t.Fatalf("next = %q", next)
	}
	// A bot created now does not shift the pages being walked.
	app.API(t, "POST", "/api/v1/bots", "Token "+org.Write, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "late"}`)
	p2 := get(next)
	if names(p2) != "bot 2,bot 1" {
		t.Fatalf("page 2 = %s", names(p2))
	}
	p3 := get(p2.JSON["next"].(string))
	if names(p3) != "bot 0" || p3.JSON["next"] != nil {
		t.Fatalf("page 3 = %s", p3.Raw)
	}
	back := get(p3.JSON["previous"].(string))
	if names(back) != "bot 2,bot 1" {
		t.Fatalf("previous of page 3 = %s", names(back))
	}
}

// TestAPIPageLimitCap: ?limit= above 100 is served as a page of 100, with
// a next link that walks on from there.
func TestAPIPageLimitCap(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	for i := 0; i < 105; i++ {
		wantAPI(t, app.API(t, "POST", "/api/v1/bots", "Token "+org.Write, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "bot `+itoa(i)+`"}`), 201, "", "")
	}
	for _, v := range []string{"100", "101", "1000", "99999999999999999999"} {
		r := app.API(t, "GET", "/api/v1/bots?limit="+v, "Token "+org.Read, "")
		wantAPI(t, r, 200, "", "")
		results, _ := r.JSON["results"].([]any)
		next, _ := r.JSON["next"].(string)
		if len(results) != 100 || next == "" {
			t.Fatalf("limit=%s: %d results, next %q", v, len(results), next)
		}
		rest := app.API(t, "GET", strings.TrimPrefix(next, app.URL), "Token "+org.Read, "")
		wantAPI(t, rest, 200, "", "")
		if got, _ := rest.JSON["results"].([]any); len(got) != 5 || rest.JSON["next"] != nil {
			t.Fatalf("limit=%s, page 2: %s", v, rest.Raw)
		}
	}
}

// TestAPINoWritesPerRequest: requests touch the database only through the
// usage buffer's batched flush.
func TestAPINoWritesPerRequest(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	// total_changes() counts every row written on the connection: what is
	// checked here is the storage itself, so it is read with SQL.
	totalChanges := func() int64 {
		var n int64
		if err := app.DB.WriteConn().QueryRow(`SELECT total_changes()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	app.API(t, "GET", "/api/v1/me", "Token "+org.Read, "") // warm the cache
	app.Usage.Flush(context.Background())
	before := totalChanges()
	for i := 0; i < 50; i++ {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+org.Read, ""), 200, "", "")
	}
	if after := totalChanges(); after != before {
		t.Fatalf("50 requests wrote %d rows before any flush", after-before)
	}
	if n := app.Usage.Pending(); n != 50 {
		t.Fatalf("pending usage = %d, want 50", n)
	}
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := keygate.NewContextWithUser(context.Background(), org.Owner)
	monitoring := sqlstore.NewMonitoringService(app.DB)
	logged, _, err := monitoring.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: org.ID, Route: "/api/v1/me", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := monitoring.Summary(ctx, org.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 51 || sum.RequestsToday != 51 || sum.Errors30d != 0 {
		t.Fatalf("request log = %d, requests today = %d (%d errors), want 51 and 0", len(logged), sum.RequestsToday, sum.Errors30d)
	}
	if k := app.keyByName(t, org.Owner, org.ID, "read", keygate.KeyActive); k.LastUsedAt == nil {
		t.Fatal("last used not written by the flush")
	}
}
