package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
)

// The in-process cost of GET /api/v1/me through the whole handler
// (BenchmarkAPIMe) against a handler that only writes the same headers and
// body (BenchmarkBareMe): no network and no TLS, so the ratio shows the
// handler's own work at its largest. cmd/keygate-bench/internal/loadtest
// (go run ./cmd/keygate-bench) measures both over loopback TLS.
//
//	go test -run '^$' -bench 'APIMe|BareMe' ./web/

// BenchmarkAPIMe calls the real handler with a valid key, the usage buffer
// flushing once a second as in production, logging at Info as production
// does by default.
func BenchmarkAPIMe(b *testing.B) {
	h, req, _ := mustMeBench(b)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
		}
	}
}

// BenchmarkBareMe answers the same request with the headers and body
// captured from the real handler, computing nothing.
func BenchmarkBareMe(b *testing.B) {
	_, req, model := mustMeBench(b)
	h := bareMeHandler(model)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status = %d, want 200", w.Code)
		}
	}
}

// mustMeBench starts an App whose rate limit no benchmark reaches, with its
// usage flushed every second, and returns its handler, a GET /api/v1/me
// request with a valid key over HTTPS, and the handler's answer to it.
func mustMeBench(b *testing.B) (http.Handler, *http.Request, *httptest.ResponseRecorder) {
	b.Helper()
	app, o := mustBenchApp(b)

	// httptest.NewRequest gives an https URL a TLS connection state, which
	// the API requires.
	req := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+o.Read)
	h := app.Web.Handler()
	model := httptest.NewRecorder()
	h.ServeHTTP(model, req)
	if model.Code != http.StatusOK {
		b.Fatalf("status = %d, want 200; body %s", model.Code, model.Body)
	}
	return h, req, model
}

// bareMeHandler writes model's status, headers and body.
func bareMeHandler(model *httptest.ResponseRecorder) http.Handler {
	header := model.Header().Clone()
	for k, v := range header {
		header[k] = slices.Clip(v)
	}
	status, body := model.Code, model.Body.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		w.WriteHeader(status)
		w.Write(body)
	})
}

// mustBenchApp starts an App whose rate limit no benchmark reaches, logging
// at Info as production does by default, with its usage flushed every
// second, and an organization with keys.
func mustBenchApp(b *testing.B) (*App, apiOrg) {
	b.Helper()
	app := MustOpenApp(b, WithRateLimit(ratelimit.Limit{Count: 1_000_000_000, Period: time.Hour}))
	app.LogLevel.Set(slog.LevelInfo)
	o := mustAPIOrg(b, app, "Bench", "bench@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.Usage.Run(ctx, time.Second, nil)
	}()
	b.Cleanup(func() { cancel(); <-done })
	return app, o
}
