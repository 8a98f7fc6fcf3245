package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAPICORS: browsers may call the API from any origin (the key travels
// in the Authorization header, never a cookie); a preflight needs no key
// and spends nothing.
func TestAPICORS(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	const origin = "https://tools.example.com"

	t.Run("Preflight", func(t *testing.T) {
		for path, methods := range map[string]string{
			"/api/v1/bots":         "GET, POST, OPTIONS",
			"/api/v1/bots/bot_abc": "GET, PATCH, DELETE, OPTIONS",
			"/api/v1/me":           "GET, OPTIONS",
		} {
			req, _ := http.NewRequest("OPTIONS", app.URL+path, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			r := app.Do(t, req)
			h := r.Header
			if r.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != methods ||
				!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || h.Get("Allow") != methods ||
				h.Get("X-RateLimit-Limit") != "" {
				t.Fatalf("%s: %d %v", path, r.StatusCode, h)
			}
		}
	})
	t.Run("Responses", func(t *testing.T) {
		for _, tc := range []struct {
			auth   string
			status int
		}{{"Token " + org.Read, 200}, {"", 401}, {"Token kg_nope", 401}} {
			req, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
			req.Header.Set("Origin", origin)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			r := app.Do(t, req)
			if r.StatusCode != tc.status || r.Header.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-RateLimit-Remaining") {
				t.Fatalf("%q: %d %v", tc.auth, r.StatusCode, r.Header)
			}
		}
		// A request without Origin (curl, requests) gets no CORS headers.
		if r := app.API(t, "GET", "/api/v1/me", "Token "+org.Read, ""); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("CORS header without Origin: %v", r.Header)
		}
	})
	t.Run("Head", func(t *testing.T) {
		for path, status := range map[string]int{"/api/v1/me": 200, "/api/v1/bots": 200, "/api/v1/bots/bot_missing": 404, "/api/v1/bots/bot_x/leave": 405} {
			req, _ := http.NewRequest("HEAD", app.URL+path, nil)
			req.Header.Set("Authorization", "Token "+org.Read)
			r := app.Do(t, req)
			if r.StatusCode != status || len(r.Raw) != 0 || r.Header.Get("X-RateLimit-Limit") == "" {
				t.Fatalf("HEAD %s: %d %q %v", path, r.StatusCode, r.Raw, r.Header)
			}
		}
	})
}

// TestBrowserCrossOriginFetch: a page of another origin calls the API with
// fetch, as an internal tool would: the preflight passes, the bot is
// created and the script reads the body and the rate limit headers.
func TestBrowserCrossOriginFetch(t *testing.T) {
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	tool := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>Internal tool</title><p>tool</p>`))
	}))
	defer tool.Close()
	b := NewBrowser(t, app)
	b.Run(chromedp.Navigate(tool.URL))
	script := `(async () => {
		const res = await fetch(` + jsString(app.URL+"/api/v1/bots") + `, {
			method: "POST",
			headers: {"Authorization": "Bearer ` + org.Write + `", "Content-Type": "application/json"},
			body: JSON.stringify({meeting_url: "https://zoom.us/j/123456789", bot_name: "From the tool"}),
		});
		const body = await res.json();
		const me = await fetch(` + jsString(app.URL+"/api/v1/me") + `, {headers: {"Authorization": "Token ` + org.Read + `"}});
		return JSON.stringify({status: res.status, id: body.id, name: body.bot_name,
			remaining: res.headers.get("X-RateLimit-Remaining"), me: me.status, meLimit: me.headers.get("RateLimit-Policy")});
	})()`
	var out string
	b.Run(chromedp.Evaluate(script, &out, awaitPromise))
	var got struct {
		Status    int
		ID, Name  string
		Remaining string
		Me        int
		MeLimit   string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err, out)
	}
	if got.Status != 201 || !strings.HasPrefix(got.ID, "bot_") || got.Name != "From the tool" || got.Remaining != "999" ||
		got.Me != 200 || got.MeLimit != `"default";q=1000;w=3600` {
		t.Fatalf("cross-origin fetch: %s", out)
	}
	if n := app.Count(t, "bots"); n != 1 {
		t.Fatalf("bots = %d", n)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
