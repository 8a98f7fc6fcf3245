package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkForwardAuth is a proxy's question about a read, answered
// allowed, as BenchmarkAPIMe answers GET /api/v1/me with the same key: the
// two compare forward-auth's cost with the API's.
func BenchmarkForwardAuth(b *testing.B) {
	app, o := mustBenchApp(b)
	req := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/auth/forward?service=billing", nil)
	req.Header.Set("Authorization", "Bearer "+o.Read)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/invoices/42?expand=lines")
	req.Header.Set("X-Forwarded-Host", "billing.example.com")
	h := app.Web.Handler()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
		}
	}
}
