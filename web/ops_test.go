package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/web"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		p := c.Get(path)
		assertStatus(t, p, http.StatusOK)
		if !strings.Contains(p.Body, `"status":"ok"`) {
			t.Fatalf("%s body = %s", path, p.Body)
		}
	}
	// A database that does not answer makes the instance not ready, but
	// still alive.
	srv, err := web.NewServer(web.Config{SessionKey: []byte(strings.Repeat("k", 64))},
		web.Services{Users: app.Users, Orgs: app.Orgs, Sessions: app.Sessions, DB: downDB{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/readyz": 503, "/healthz": 200} {
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "https://keygate.test"+path, nil))
		if w.Code != want {
			t.Fatalf("%s = %d, want %d", path, w.Code, want)
		}
	}
}

type downDB struct{}

func (downDB) Ping(context.Context) error { return errors.New("database is locked") }

func TestMetrics(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithMetricsToken("scrape-secret"))
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	for i := 0; i < 3; i++ {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+org.Read, ""), 200, "", "")
	}
	app.API(t, "GET", "/api/v1/me", "", "")
	app.API(t, "GET", "/api/v1/me", "Token kg_nope", "")
	app.Usage.Flush(context.Background())

	req, _ := http.NewRequest("GET", app.URL+"/metrics", nil)
	resp, err := app.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("metrics without the token: %d", resp.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer scrape-secret")
	resp, err = app.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) float64 {
		f, ok := families[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
		for _, m := range f.Metric {
			if matches(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
		t.Fatalf("no %s with %v", name, labels)
		return 0
	}
	if got := value("keygate_http_requests_total", map[string]string{"route": "/api/v1/me", "status": "200"}); got != 3 {
		t.Errorf("requests 200 = %v, want 3", got)
	}
	if got := value("keygate_http_request_duration_seconds", map[string]string{"route": "/api/v1/me"}); got != 5 {
		t.Errorf("latency samples = %v, want 5", got)
	}
	if got := value("keygate_api_auth_failures_total", map[string]string{"reason": "not_authenticated"}); got != 1 {
		t.Errorf("not_authenticated = %v", got)
	}
	if got := value("keygate_api_auth_failures_total", map[string]string{"reason": "invalid_token"}); got != 1 {
		t.Errorf("invalid_token = %v", got)
	}
	if hits := value("keygate_verifier_cache_hits_total", nil); hits != 2 {
		t.Errorf("cache hits = %v, want 2", hits)
	}
	if misses := value("keygate_verifier_cache_misses_total", nil); misses != 1 {
		t.Errorf("cache misses = %v, want 1", misses)
	}
	if flushes := value("keygate_usage_flushes_total", nil); flushes != 1 {
		t.Errorf("usage flushes = %v, want 1", flushes)
	}
	for _, name := range []string{"keygate_api_rate_limited_total", "keygate_usage_dropped_total", "go_goroutines"} {
		value(name, nil)
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.Label {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
