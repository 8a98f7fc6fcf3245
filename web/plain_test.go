package web_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/web"
)

// TestPlainHTTPCredentials: the plain-HTTP listener refuses, with a 403
// and no redirect, every request that carries an Authorization header and
// every request whose path is the API's once cleaned; a real key sent that
// way is marked exposed. Pages without credentials are still redirected.
func TestPlainHTTPCredentials(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	plain := httptest.NewServer(app.Web.PlainHandler())
	defer plain.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		name, method, path string
		// auth is the Authorization header: "key" for a fresh real key,
		// "" for none.
		auth        string
		wantStatus  int
		wantExposed bool
	}{
		{"ErrDoubleSlashAPI", "GET", "//api/v1/me", "key", 403, true},
		{"ErrDotSegmentAPI", "GET", "/./api/v1/me", "key", 403, true},
		{"ErrDotDotAPI", "GET", "/x/../api/v1/me", "key", 403, true},
		{"ErrDoubleSlashInsideAPI", "GET", "/api//v1/me", "key", 403, true},
		{"ErrUpperCaseAPI", "GET", "/API/v1/me", "key", 403, true},
		{"ErrEncodedAPI", "GET", "/%61pi/v1/me", "key", 403, true},
		{"ErrEncodedSlashAPI", "GET", "/api%2Fv1%2Fme", "key", 403, true},
		{"ErrBareAPI", "GET", "/api", "key", 403, true},
		{"ErrAPIPost", "POST", "//api/v1/keys", "key", 403, true},
		{"ErrPageWithKey", "GET", "/login", "key", 403, true},
		{"ErrPostWithKey", "POST", "/orgs", "key", 403, true},
		{"ErrHealthzWithKey", "GET", "/healthz", "key", 403, true},
		{"ErrPageWithOtherCredentials", "GET", "/", "Basic YWRhOnB3", 403, false},
		{"ErrPageWithEmptyAuthorization", "GET", "/login", " ", 403, false},
		{"ErrAPIWithoutKey", "GET", "//api/v1/me", "", 403, false},
		{"ErrUpperCaseAPIWithoutKey", "GET", "/Api/v1/openapi.json", "", 403, false},
		{"OKPageRedirected", "GET", "/login", "", 308, false},
		{"OKPageLikeAPIRedirected", "GET", "/apis", "", 308, false},
		{"OKPostRedirected", "POST", "/login", "", 308, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, plain.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			var key *keygate.APIKey
			switch tt.auth {
			case "":
			case "key":
				var secret string
				secret, key = app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: tt.name, Scopes: []keygate.Scope{keygate.ScopeRead}})
				req.Header.Set("Authorization", "Token "+secret)
			default:
				req.Header["Authorization"] = []string{tt.auth}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got, want := resp.StatusCode, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; body %s", got, want, body)
			}
			if tt.wantStatus == http.StatusForbidden {
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Fatalf("Location = %q, want none", loc)
				}
				var got map[string]string
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("body %s: %v", body, err)
				}
				if got["detail"] != "HTTPS is required." || got["code"] != "https_required" || len(got) != 2 {
					t.Fatalf("body = %s", body)
				}
			} else if !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
				t.Fatalf("Location = %q, want https", resp.Header.Get("Location"))
			}
			if key != nil {
				k := app.keyByName(t, org.Owner, org.ID, tt.name, keygate.KeyActive)
				if got := k.ExposedAt != nil; got != tt.wantExposed {
					t.Fatalf("exposed = %v, want %v", got, tt.wantExposed)
				}
			}
		})
	}

	t.Run("ErrTwoKeysBothExposed", func(t *testing.T) {
		first, _ := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "first", Scopes: []keygate.Scope{keygate.ScopeRead}})
		second, _ := app.MustKey(t, org.Owner, org.ID, keygate.APIKeyCreate{Name: "second", Scopes: []keygate.Scope{keygate.ScopeRead}})
		req, _ := http.NewRequest("GET", plain.URL+"/login", nil)
		req.Header["Authorization"] = []string{"Token " + first, "Bearer " + second}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.StatusCode, http.StatusForbidden; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		for _, name := range []string{"first", "second"} {
			if k := app.keyByName(t, org.Owner, org.ID, name, keygate.KeyActive); k.ExposedAt == nil {
				t.Fatalf("key %q not marked exposed", name)
			}
		}
	})

	t.Run("OKAuditEventPerExposedKey", func(t *testing.T) {
		n := len(app.orgAuditEvents(t, org.Owner, org.ID, keygate.AuditAPIKeyExposed))
		want := 2 // ErrTwoKeysBothExposed
		for _, tt := range tests {
			if tt.wantExposed {
				want++
			}
		}
		if n != want {
			t.Fatalf("api_key.exposed events = %d, want %d", n, want)
		}
	})
}

// TestPlainHTTPTrustedProxy: a request from a trusted proxy that
// terminated TLS reaches the application, Authorization header and all.
func TestPlainHTTPTrustedProxy(t *testing.T) {
	t.Parallel()
	_, proxy, _ := net.ParseCIDR("10.0.0.0/8")
	app := MustOpenApp(t, func(c *web.Config, _ *App) { c.TrustedProxies = []*net.IPNet{proxy} })
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	tests := []struct {
		name, path, remote, proto string
		wantStatus                int
	}{
		{"OKAPIFromProxy", "/api/v1/me", "10.1.2.3:5000", "https", 200},
		{"OKPageWithKeyFromProxy", "/login", "10.1.2.3:5000", "https", 200},
		{"ErrProxyOverPlainHTTP", "/api/v1/me", "10.1.2.3:5000", "http", 403},
		{"ErrForwardedProtoFromOthers", "/api/v1/me", "192.0.2.1:5000", "https", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://keygate.test"+tt.path, nil)
			req.RemoteAddr = tt.remote
			req.Header.Set("X-Forwarded-Proto", tt.proto)
			req.Header.Set("Authorization", "Token "+org.Read)
			w := httptest.NewRecorder()
			app.Web.PlainHandler().ServeHTTP(w, req)
			if got, want := w.Code, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; body %s", got, want, w.Body)
			}
		})
	}
}
