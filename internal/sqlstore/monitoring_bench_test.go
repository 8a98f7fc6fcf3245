package sqlstore_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
)

// monBenchNow is the clock of the monitoring benchmark: the log spans the 30
// days up to it.
var monBenchNow = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)

// monBenchRoutes are the routes of the benchmark's log with their weights.
var monBenchRoutes = []struct {
	method, route string
	weight        int
}{
	{"GET", "/api/v1/bots", 300}, {"POST", "/api/v1/bots", 120}, {"GET", "/api/v1/bots/{id}", 200},
	{"PATCH", "/api/v1/bots/{id}", 40}, {"DELETE", "/api/v1/bots/{id}", 20}, {"POST", "/api/v1/bots/{id}/leave", 30},
	{"GET", "/api/v1/conversations", 150}, {"GET", "/api/v1/conversations/{id}", 80}, {"DELETE", "/api/v1/conversations/{id}", 10},
	{"GET", "/api/v1/conversations/{id}/transcript", 60}, {"GET", "/api/v1/analytics", 30}, {"GET", "/api/v1/keys", 12},
	{"POST", "/api/v1/keys", 3}, {"GET", "/api/v1/me", 25},
}

// monBenchStatus draws a status: 90% 2xx, 5% 4xx, 3% 429, 2% 5xx.
func monBenchStatus(r *rand.Rand) int {
	switch p := r.IntN(100); {
	case p < 90:
		return []int{200, 200, 200, 201, 204, 304}[r.IntN(6)]
	case p < 95:
		return []int{400, 401, 404, 422}[r.IntN(4)]
	case p < 98:
		return 429
	}
	return []int{500, 502, 503}[r.IntN(3)]
}

// monitoringBench is the loaded benchmark database.
type monitoringBench struct {
	db   *sqlstore.DB
	org  *keygate.Organization
	ctx  context.Context // the Owner
	keys []*keygate.APIKey
	// loaded says what was loaded.
	loaded string
}

// loadMonitoringBench builds an organization with 50 keys and rows rows of
// request log over the last 30 days, with the hourly counters and latency
// histograms the usage buffer would have written for them.
func loadMonitoringBench(tb testing.TB, rows int) *monitoringBench {
	tb.Helper()
	db, clock := mustBotDB(tb)
	clock.Set(monBenchNow.AddDate(0, 0, -40))
	user, org := mustBotOrg(tb, db, "owner@example.com")
	ctx := keygate.NewContextWithUser(context.Background(), user)
	m := &monitoringBench{db: db, org: org, ctx: ctx}
	keys := sqlstore.NewAPIKeyService(db)
	for i := range 50 {
		in := &keygate.APIKeyCreate{Name: fmt.Sprintf("key %02d", i), Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}}
		if i%10 == 0 {
			in.Scopes = []keygate.Scope{keygate.ScopeAdmin}
		}
		if i%7 == 0 {
			in.ExpiresAt = ptrTime(monBenchNow.Add(time.Duration(i) * 24 * time.Hour))
		}
		k, _, err := keys.CreateAPIKey(ctx, org.PublicID, in)
		if err != nil {
			tb.Fatal(err)
		}
		m.keys = append(m.keys, k)
	}
	clock.Set(monBenchNow)

	// The log is written as the usage flush writes it; the counters
	// below.
	store := sqlstore.NewUsageStore(db)
	store.NoPause = true
	var logBatch []usage.Event
	flushLog := func() {
		if err := store.WriteUsage(context.Background(), &usage.Batch{Requests: logBatch}); err != nil {
			tb.Fatal(err)
		}
		logBatch = logBatch[:0]
	}
	var totalWeight int
	for _, r := range monBenchRoutes {
		totalWeight += r.weight
	}
	r := rand.New(rand.NewPCG(1, 2))
	hourly, latency := map[usage.HourKey]int{}, map[usage.LatencyKey]int{}
	start := monBenchNow.Truncate(24*time.Hour).AddDate(0, 0, -29)
	span := monBenchNow.Sub(start)
	agents := []string{"curl/8.5.0", "python-requests/2.31.0", "Go-http-client/2.0", "keygate-sdk-js/1.4.2"}
	for i := range rows {
		e := usage.Event{OrganizationID: org.ID, KeyID: m.keys[r.IntN(len(m.keys))].ID, Status: monBenchStatus(r),
			At:      start.Add(span / time.Duration(rows) * time.Duration(i)),
			Latency: time.Duration(math.Exp(r.NormFloat64()+math.Log(20e3))) * time.Microsecond, // median 20 ms
			IP:      fmt.Sprintf("203.0.113.%d", r.IntN(200)), UserAgent: agents[r.IntN(len(agents))]}
		w := r.IntN(totalWeight)
		for _, br := range monBenchRoutes {
			if w -= br.weight; w < 0 {
				e.Method, e.Route = br.method, br.route
				break
			}
		}
		if logBatch = append(logBatch, e); len(logBatch) == 50_000 {
			flushLog()
		}
		hour := e.At.Truncate(time.Hour)
		hourly[usage.HourKey{OrganizationID: e.OrganizationID, KeyID: e.KeyID, Hour: hour, Class: e.Class()}]++
		latency[usage.LatencyKey{OrganizationID: e.OrganizationID, KeyID: e.KeyID, Hour: hour, BucketUS: usage.BucketFor(e.Latency)}]++
	}
	flushLog()

	tx, err := db.WriteConn().Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	hourStmt, err := tx.Prepare(`INSERT INTO usage_hourly (organization_id, api_key_id, hour, status_class, count) VALUES ($1, $2, $3, $4, $5)`)
	if err != nil {
		tb.Fatal(err)
	}
	for k, n := range hourly {
		if _, err := hourStmt.Exec(k.OrganizationID, k.KeyID, k.Hour.UnixMilli(), k.Class, n); err != nil {
			tb.Fatal(err)
		}
	}
	latencyStmt, err := tx.Prepare(`INSERT INTO usage_latency_hourly (organization_id, api_key_id, hour, bucket, count) VALUES ($1, $2, $3, $4, $5)`)
	if err != nil {
		tb.Fatal(err)
	}
	for k, n := range latency {
		if _, err := latencyStmt.Exec(k.OrganizationID, k.KeyID, k.Hour.UnixMilli(), k.BucketUS, n); err != nil {
			tb.Fatal(err)
		}
	}
	// The daily sums the flush adds to as well.
	if _, err := tx.Exec(`INSERT INTO usage_daily (organization_id, api_key_id, day, status_class, count)
		SELECT organization_id, api_key_id, hour - hour % 86400000, status_class, SUM(count) FROM usage_hourly
		GROUP BY organization_id, api_key_id, hour - hour % 86400000, status_class`); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO usage_latency_daily (organization_id, api_key_id, day, bucket, count)
		SELECT organization_id, api_key_id, hour - hour % 86400000, bucket, SUM(count) FROM usage_latency_hourly
		GROUP BY organization_id, api_key_id, hour - hour % 86400000, bucket`); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE api_keys SET last_used_at = $1 WHERE organization_id = $2 AND id % 3 = 0`, monBenchNow.UnixMilli(), org.ID); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if db.Engine() == sqlstore.EnginePostgres {
		// What autovacuum does to a table that grew by a million rows:
		// statistics for the planner, and the visibility map that lets
		// it answer from an index alone.
		if _, err := db.WriteConn().Exec(`VACUUM (ANALYZE)`); err != nil {
			tb.Fatal(err)
		}
	}
	m.loaded = fmt.Sprintf("loaded %d request log rows, %d hourly counters, %d latency buckets", rows, len(hourly), len(latency))
	return m
}

// BenchmarkMonitoring1M reads the dashboard's figures, the request log and
// the hygiene report of an organization with a million logged requests, on
// the engine of the run (KEYGATE_TEST_ENGINE=postgres for PostgreSQL).
func BenchmarkMonitoring1M(b *testing.B) {
	start := time.Now()
	m := loadMonitoringBench(b, 1_000_000)
	load := fmt.Sprintf("%s in %v", m.loaded, time.Since(start).Round(time.Millisecond))
	s, ctx, orgID := sqlstore.NewMonitoringService(m.db), m.ctx, m.org.PublicID
	key := m.keys[7]

	// The cursor of page 100, by walking the 99 pages before it.
	var page100 int64
	for range 99 {
		entries, _, err := s.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: orgID, Before: page100})
		if err != nil {
			b.Fatal(err)
		}
		page100 = entries[len(entries)-1].ID
	}

	// Each sub-benchmark logs the plans of its queries (go test prints a
	// benchmark's log after its result). walk, if not 0, sets how many rows
	// FindRequestLog walks in a time range, -1 for none.
	benchWalk := func(name string, notes []string, walk int, f func() error) {
		b.Run(name, func(b *testing.B) {
			for _, n := range notes {
				b.Log(n)
			}
			if walk != 0 {
				sqlstore.SetRequestLogWalk(b, max(walk, 0))
			}
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
	bench := func(name string, notes []string, f func() error) { benchWalk(name, notes, 0, f) }
	counters := func(keyID int64, names ...string) []string {
		var out []string
		for _, name := range names {
			q := sqlstore.CounterQueries(m.org.ID, keyID, monBenchNow, 90)[name]
			out = append(out, monPlan(b, m.db, name, q.Query, q.Args...))
		}
		return out
	}
	bench("Summary", append([]string{load}, counters(0, "summary", "latency")...), func() error {
		_, err := s.Summary(ctx, orgID, "")
		return err
	})
	bench("SummaryKey", counters(key.ID, "summary", "latency"), func() error {
		_, err := s.Summary(ctx, orgID, key.PublicID)
		return err
	})
	bench("Daily30", counters(0, "daily"), func() error { _, err := s.Daily(ctx, orgID, "", 30); return err })
	bench("Daily90", nil, func() error { _, err := s.Daily(ctx, orgID, "", 90); return err })
	bench("Hygiene", nil, func() error { _, err := s.Hygiene(ctx, orgID); return err })
	since := monBenchNow.Truncate(24*time.Hour).AddDate(0, 0, -29)
	bench("TopRoutesAndIPs", []string{monPlan(b, m.db, "top routes and addresses", sqlstore.TopQuery, key.ID, since.UnixMilli())}, func() error {
		_, _, err := s.TopRoutesAndIPs(ctx, orgID, key.PublicID, 10)
		return err
	})
	bench("RequestLogRoutes", []string{monPlan(b, m.db, "routes", sqlstore.RequestLogRoutesQuery, m.org.ID, 1000)}, func() error {
		_, err := s.RequestLogRoutes(ctx, orgID)
		return err
	})
	// The retention sweep when nothing is old: an index seek, not a scan.
	store := sqlstore.NewUsageStore(m.db)
	bench("SweepNothingOld", []string{monPlan(b, m.db, "sweep", sqlstore.SweepQuery, since.UnixMilli(), 1000)}, func() error {
		_, err := store.DeleteRequestLogBefore(ctx, since.AddDate(0, 0, -1), 1000)
		return err
	})

	// The log's detail, its search by request id (a miss reads the whole
	// log), its other orders (each sorts every entry that matches), and
	// the keys' activity of the API Keys list.
	bench("FindRequestLogEntry", nil, func() error { _, err := s.FindRequestLogEntry(ctx, orgID, page100); return err })
	bench("FindRequestLog/RequestIDMiss", nil, func() error {
		_, _, err := s.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: orgID, RequestID: "0123456789abcdef"})
		return err
	})
	for _, order := range []string{keygate.LogSlowest, keygate.LogStatusDesc, keygate.LogOldest} {
		bench("FindRequestLog/Sort"+order, nil, func() error {
			_, _, err := s.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: orgID, Sort: order, Offset: 500})
			return err
		})
	}
	weekAgo := monBenchNow.Truncate(24*time.Hour).AddDate(0, 0, -7)
	dayAfter := weekAgo.AddDate(0, 0, 1)
	for name, f := range map[string]keygate.RequestLogFilter{
		"Key":         {KeyID: key.PublicID},
		"DayAWeekAgo": {From: &weekAgo, To: &dayAfter},
		"Class5xx":    {Class: keygate.Class5xx},
	} {
		f.OrgPublicID, f.Sort = orgID, keygate.LogSlowest
		bench("FindRequestLog/Sort-latency"+name, nil, func() error { _, _, err := s.FindRequestLog(ctx, f); return err })
	}
	keyIDs := make([]string, len(m.keys))
	for i, k := range m.keys {
		keyIDs[i] = k.PublicID
	}
	bench("KeyActivity", nil, func() error { _, err := s.KeyActivity(ctx, orgID, keyIDs); return err })

	sevenDays := monBenchNow.Truncate(24*time.Hour).AddDate(0, 0, -6)
	for _, l := range []struct {
		name   string
		filter keygate.RequestLogFilter
		keyID  int64
		// walk as benchWalk takes it; plan names the query whose plan
		// to log: "walk" or "range" (the read of the whole range).
		walk int
		plan string
	}{
		{"FirstPage", keygate.RequestLogFilter{}, 0, 0, ""},
		{"Page100", keygate.RequestLogFilter{Before: page100}, 0, 0, ""},
		{"Key", keygate.RequestLogFilter{KeyID: key.PublicID}, key.ID, 0, ""},
		{"Class5xx", keygate.RequestLogFilter{Class: keygate.Class5xx}, 0, 0, ""},
		{"Class2xx", keygate.RequestLogFilter{Class: keygate.Class2xx}, 0, 0, ""},
		{"Route", keygate.RequestLogFilter{Route: "/api/v1/analytics"}, 0, 0, ""},
		{"KeyClass429", keygate.RequestLogFilter{KeyID: key.PublicID, Class: keygate.Class429}, key.ID, 0, ""},
		// Time ranges: a recent one fills its page from the newest rows (the
		// walk); a day a week ago is read whole, and sorted, after the walk
		// finds nothing. NoWalk, whose walk reads no row, shows what the
		// walk saves.
		{"Last7Days", keygate.RequestLogFilter{From: &sevenDays}, 0, 0, "walk"},
		{"Last7DaysPage100", keygate.RequestLogFilter{From: &sevenDays, Before: page100}, 0, 0, "walk"},
		{"Last7DaysNoWalk", keygate.RequestLogFilter{From: &sevenDays}, 0, -1, "range"},
		{"DayAWeekAgo", keygate.RequestLogFilter{From: &weekAgo, To: &dayAfter}, 0, 0, "range"},
	} {
		// One plan each: go test keeps ten lines of a benchmark's log.
		query, args := sqlstore.RequestLogQuery(m.org.ID, l.keyID, l.filter, 51, l.plan == "walk")
		plans := []string{monPlan(b, m.db, strings.TrimSpace("request log "+l.plan), query, args...)}
		f := l.filter
		f.OrgPublicID = orgID
		benchWalk("FindRequestLog/"+l.name, plans, l.walk, func() error {
			entries, _, err := s.FindRequestLog(ctx, f)
			if err == nil && len(entries) != 50 {
				err = fmt.Errorf("%d entries, want 50", len(entries))
			}
			return err
		})
	}
}

// monPlan returns a query's plan, named, for the log.
func monPlan(tb testing.TB, db *sqlstore.DB, name, query string, args ...any) string {
	tb.Helper()
	plan, err := db.ExplainQueryPlan(context.Background(), query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return "EXPLAIN QUERY PLAN " + name + ":\n" + strings.TrimSuffix(plan, "\n")
}
