package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The API's fixed paths are served from a map, in front of the muxes
// (apiFast); any other spelling of a path must still be routed, cleaned or
// refused by the muxes as before.
func TestAPIFixedPathsRouteAsTheMuxes(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	h := app.Web.Handler()
	serve := func(method, target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "https://127.0.0.1"+target, nil)
		req.Header.Set("Authorization", "Bearer "+org.Read)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, tt := range []struct {
		method, target string
		status         int    // 3 for any redirect, as ServeMux chooses
		want           string // in the body, or the Location of a redirect
	}{
		{"GET", "/api/v1/me", 200, `"organization"`},
		{"GET", "/api/v1/bots", 200, `"results"`},
		{"PUT", "/api/v1/me", 405, `Method \"PUT\" not allowed.`},
		{"GET", "/api/v1/me/", 404, `"Not found."`},
		{"GET", "/api/v1/ME", 404, `"Not found."`},
		{"GET", "/api/v1//me", 3, "/api/v1/me"},
		{"GET", "/api/v1/x/../me", 3, "/api/v1/me"},
		{"GET", "/api/v1/%6De", 200, `"organization"`},
		{"POST", "/auth/forward?service=billing&scope=read", 200, ""},
		{"GET", "/auth/forward?scope=nope", 400, `Unknown scope \"nope\"`},
		{"GET", "/auth/forward/", 404, ""},
		{"GET", "/auth//forward", 3, "/auth/forward"},
	} {
		t.Run(tt.method+tt.target, func(t *testing.T) {
			w := serve(tt.method, tt.target)
			got, status := w.Body.String(), w.Code
			if w.Code >= 300 && w.Code < 400 {
				got, status = w.Header().Get("Location"), 3
			}
			if status != tt.status || !strings.Contains(got, tt.want) {
				t.Fatalf("%s %s: %d %q, want %d with %q", tt.method, tt.target, w.Code, got, tt.status, tt.want)
			}
		})
	}
	// The fast path records the route pattern as the mux does: in the
	// request log line and in usage.
	if !strings.Contains(app.Logs.String(), "route=/api/v1/me ") {
		t.Fatalf("no request line with route=/api/v1/me in the log:\n%s", app.Logs.String())
	}
}

// A plain HTTP request to a fixed path is refused like any other API call.
func TestAPIFixedPathNeedsHTTPS(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/v1/me", nil)
	w := httptest.NewRecorder()
	app.Web.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "HTTPS is required.") {
		t.Fatalf("plain HTTP: %d %s", w.Code, w.Body.String())
	}
}
