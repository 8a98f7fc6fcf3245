package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
)

// BenchmarkPages1M renders the overview and the API logs page of an
// organization whose request log holds 1,000,000 rows over 30 days, across
// 50 keys. Run: go test -run '^$' -bench Pages1M -benchtime 20x ./web/
func BenchmarkPages1M(b *testing.B) {
	app := MustOpenApp(b)
	c := app.NewClient(b)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	owner := app.MustUser(b, "ada@example.com")
	var keys []*keygate.APIKey
	for i := 0; i < 50; i++ {
		_, k := app.MustKey(b, owner, orgID, keygate.APIKeyCreate{Name: "key " + strconv.Itoa(i), Scopes: []keygate.Scope{keygate.ScopeRead}})
		keys = append(keys, k)
	}
	start := time.Now()
	store := sqlstore.NewUsageStore(app.DB)
	store.NoPause = true
	now := app.Clock.Now()
	routes := []string{"/api/v1/me", "/api/v1/bots", "/api/v1/bots/{id}", "/api/v1/conversations"}
	statuses := []int{200, 200, 200, 201, 204, 400, 404, 429, 500}
	const total, chunk = 1_000_000, 50_000
	for done := 0; done < total; done += chunk {
		events := make([]usage.Event, chunk)
		for i := range events {
			n := done + i
			k := keys[n%len(keys)]
			events[i] = usage.Event{
				OrganizationID: k.OrganizationID, KeyID: k.ID, Method: "GET", Route: routes[n%len(routes)],
				Status: statuses[n%len(statuses)], Latency: time.Duration(200+n%5000) * time.Microsecond,
				IP: "10.0.0." + strconv.Itoa(n%200), UserAgent: "bench", At: now.Add(-time.Duration(total-n) * 30 * 24 * time.Hour / total),
			}
		}
		if err := store.WriteUsage(context.Background(), usage.Aggregate(events)); err != nil {
			b.Fatal(err)
		}
	}
	if n := app.Count(b, "request_log"); n != total {
		b.Fatalf("request log rows = %d, want %d", n, total)
	}
	b.Logf("loaded %d request log rows in %v", total, time.Since(start))

	cookie := c.SessionCookie()
	page := func(b *testing.B, path string) {
		req := httptest.NewRequest("GET", "https://keygate.test"+path, nil)
		req.Header.Set("Cookie", "__Host-keygate_session="+cookie)
		w := httptest.NewRecorder()
		app.Web.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d", path, w.Code)
		}
	}
	for _, tc := range []struct{ name, path string }{
		{"Overview", "/orgs/" + orgID},
		{"Overview90Days", "/orgs/" + orgID + "?days=90"},
		{"Logs", "/orgs/" + orgID + "/logs"},
		{"LogsByKey", "/orgs/" + orgID + "/logs?key=" + keys[7].PublicID},
		{"LogsClass5xx", "/orgs/" + orgID + "/logs?class=5xx"},
		{"KeyPage", "/orgs/" + orgID + "/api-keys/" + keys[7].PublicID},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				page(b, tc.path)
			}
		})
	}
}
