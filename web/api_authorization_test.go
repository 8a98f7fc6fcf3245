package web_test

import (
	"net/http"
	"testing"
)

// TestAPISeveralAuthorizationHeaders: a request with more than one
// Authorization header is ambiguous and refused with a 400, whichever
// comes first; one header still works.
func TestAPISeveralAuthorizationHeaders(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	const msg = "Send one Authorization header, not several."
	tests := []struct {
		name, method, path string
		headers            []string
		wantStatus         int
		wantCode, wantBody string
	}{
		{"ErrValidThenBad", "GET", "/api/v1/me", []string{"Token " + org.Read, "Token kg_nope"}, 400, "invalid_request", msg},
		{"ErrBadThenValid", "GET", "/api/v1/me", []string{"Token kg_nope", "Token " + org.Read}, 400, "invalid_request", msg},
		{"ErrSameKeyTwice", "GET", "/api/v1/me", []string{"Token " + org.Read, "Token " + org.Read}, 400, "invalid_request", msg},
		{"ErrEmptyThenValid", "GET", "/api/v1/me", []string{"", "Bearer " + org.Read}, 400, "invalid_request", msg},
		{"ErrWildcardRoute", "GET", "/api/v1/bots/bot_x", []string{"Token " + org.Read, "Token " + org.Admin}, 400, "invalid_request", msg},
		{"ErrPost", "POST", "/api/v1/keys", []string{"Token " + org.Admin, "Token " + org.Admin}, 400, "invalid_request", msg},
		{"OKOneHeader", "GET", "/api/v1/me", []string{"Token " + org.Read}, 200, "", ""},
		{"ErrOneBadHeader", "GET", "/api/v1/me", []string{"Token kg_nope"}, 401, "invalid_token", "Invalid token."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, app.URL+tt.path, nil)
			req.Header["Authorization"] = tt.headers
			r := app.Do(t, req)
			wantAPI(t, r, tt.wantStatus, tt.wantBody, tt.wantCode)
			if tt.wantStatus == 400 {
				if got := r.Header.Get("WWW-Authenticate"); got != "" {
					t.Fatalf("WWW-Authenticate = %q, want none", got)
				}
				if len(r.JSON) != 3 || r.JSON["request_id"] != r.Header.Get("X-Request-Id") {
					t.Fatalf("body = %s", r.Raw)
				}
				if got := r.Header.Get("X-RateLimit-Limit"); got != "" {
					t.Fatalf("rate limit headers on a refused request: %q", got)
				}
			}
		})
	}
}
