package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
)

// monNow is the clock of the monitoring tests: today is 2026-03-31 UTC.
var monNow = time.Date(2026, 3, 31, 15, 0, 0, 0, time.UTC)

// monFixture is two organizations with usage. Organization A has an Owner,
// a Member, and two keys; B has one key.
type monFixture struct {
	db               *sqlstore.DB
	clock            *botClock
	s                *sqlstore.MonitoringService
	orgA, orgB       *keygate.Organization
	ctxA, ctxB, ctxM context.Context // A's Owner, B's Owner, A's Member
	key1, key2, keyB *keygate.APIKey
	events           []usage.Event
	ids              []int64 // request_log ids of events, by index
}

// monAt parses a time of the monitoring tests.
func monAt(tb testing.TB, s string) time.Time { return mustDate(tb, s) }

// monUserCtx returns a context in which user acts.
func monUserCtx(user *keygate.User) context.Context {
	return keygate.NewContextWithUser(context.Background(), user)
}

// monCount runs a SELECT COUNT(*) or SUM query on the writer.
func monCount(tb testing.TB, db *sqlstore.DB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.WriteConn().QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// mustMonKey creates a key named name in org, acting in ctx.
func mustMonKey(tb testing.TB, db *sqlstore.DB, ctx context.Context, org *keygate.Organization, name string, scope keygate.Scope, expires *time.Time) *keygate.APIKey {
	tb.Helper()
	key, _, err := sqlstore.NewAPIKeyService(db).CreateAPIKey(ctx, org.PublicID, &keygate.APIKeyCreate{
		Name: name, Environment: keygate.EnvProduction, Scopes: []keygate.Scope{scope}, ExpiresAt: expires,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// mustWriteUsage writes events as the usage buffer would, in one batch.
func mustWriteUsage(tb testing.TB, db *sqlstore.DB, events []usage.Event) {
	tb.Helper()
	if err := sqlstore.NewUsageStore(db).WriteUsage(context.Background(), usage.Aggregate(events)); err != nil {
		tb.Fatal(err)
	}
}

// mustMonFixture builds the fixture. The events, oldest first (key1 and
// key2 are A's, keyB is B's; "-" logs a request without a key):
//
//	 0 02-28 00:30 key1 GET    /api/v1/me           200   1ms  .9  (31 days ago)
//	 1 03-01 23:59 key1 GET    /api/v1/me           200   1ms  .9  (a minute before the 30 days)
//	 2 03-02 00:30 key1 GET    /api/v1/bots/{id}    200   8s   .1  (29 days ago)
//	 3 03-30 12:00 key1 POST   /api/v1/bots         500  40ms  .3  (yesterday)
//	 4 03-30 12:00 key1 GET    /api/v1/conversations 201  1ms  .2
//	 5 03-30 13:00 key2 GET    /api/v1/bots         200   1ms  .5
//	 6 03-30 14:00 key2 GET    /api/v1/bots         304   1ms  .5
//	 7 03-31 00:30 key1 GET    /api/v1/bots         200   1ms  .1  (today)
//	 8 03-31 00:30 key1 GET    /api/v1/bots         200   1ms  .2
//	 9 03-31 00:30 key2 DELETE /api/v1/bots/{id}    503   2ms  .5
//	10 03-31 00:30 keyB GET    /api/v1/keys         200   1ms  .8
//	11 03-31 09:00 -    GET    /api/v1/bots         401 100µs  .7
//	12 03-31 10:00 key1 GET    /api/v1/bots/{id}    404   3ms  .1
//	13 03-31 10:00 key1 GET    /api/v1/bots         429 200µs  .1
//	14 03-31 11:00 key1 GET    /api/v1/analytics    200   1ms  .4
//
// They are written in two batches, 0-7 and 8-14, so counters of the same
// hour are upserted.
func mustMonFixture(tb testing.TB) *monFixture {
	tb.Helper()
	db, clock := mustBotDB(tb)
	clock.Set(monNow.AddDate(0, -2, 0))
	ownerA, orgA := mustBotOrg(tb, db, "a@example.com")
	ownerB, orgB := mustBotOrg(tb, db, "b@example.com")
	member, _ := mustBotOrg(tb, db, "m@example.com")
	if err := sqlstore.NewOrganizationService(db).AddMember(context.Background(), orgA.PublicID, member.ID, keygate.RoleMember); err != nil {
		tb.Fatal(err)
	}
	f := &monFixture{
		db: db, clock: clock, s: sqlstore.NewMonitoringService(db), orgA: orgA, orgB: orgB,
		ctxA: monUserCtx(ownerA), ctxB: monUserCtx(ownerB), ctxM: monUserCtx(member),
	}
	f.key1 = mustMonKey(tb, db, f.ctxA, orgA, "prod", keygate.ScopeWrite, nil)
	f.key2 = mustMonKey(tb, db, f.ctxA, orgA, "ci", keygate.ScopeRead, nil)
	f.keyB = mustMonKey(tb, db, f.ctxB, orgB, "b's", keygate.ScopeRead, nil)
	clock.Set(monNow)

	ev := func(at string, key *keygate.APIKey, method, route string, status int, latency time.Duration, ip string) usage.Event {
		e := usage.Event{OrganizationID: orgA.ID, Method: method, Route: route, Status: status, Latency: latency,
			IP: "10.0.0." + ip, UserAgent: "monitor-test/1.0", At: monAt(tb, "2026-"+at+":00Z")}
		if key != nil {
			e.OrganizationID, e.KeyID = key.OrganizationID, key.ID
		}
		return e
	}
	ms := time.Millisecond
	f.events = []usage.Event{
		ev("02-28T00:30", f.key1, "GET", "/api/v1/me", 200, ms, "9"),
		ev("03-01T23:59", f.key1, "GET", "/api/v1/me", 200, ms, "9"),
		ev("03-02T00:30", f.key1, "GET", "/api/v1/bots/{id}", 200, 8*time.Second, "1"),
		ev("03-30T12:00", f.key1, "POST", "/api/v1/bots", 500, 40*ms, "3"),
		ev("03-30T12:00", f.key1, "GET", "/api/v1/conversations", 201, ms, "2"),
		ev("03-30T13:00", f.key2, "GET", "/api/v1/bots", 200, ms, "5"),
		ev("03-30T14:00", f.key2, "GET", "/api/v1/bots", 304, ms, "5"),
		ev("03-31T00:30", f.key1, "GET", "/api/v1/bots", 200, ms, "1"),
		ev("03-31T00:30", f.key1, "GET", "/api/v1/bots", 200, ms, "2"),
		ev("03-31T00:30", f.key2, "DELETE", "/api/v1/bots/{id}", 503, 2*ms, "5"),
		ev("03-31T00:30", f.keyB, "GET", "/api/v1/keys", 200, ms, "8"),
		ev("03-31T09:00", nil, "GET", "/api/v1/bots", 401, 100*time.Microsecond, "7"),
		ev("03-31T10:00", f.key1, "GET", "/api/v1/bots/{id}", 404, 3*ms, "1"),
		ev("03-31T10:00", f.key1, "GET", "/api/v1/bots", 429, 200*time.Microsecond, "1"),
		ev("03-31T11:00", f.key1, "GET", "/api/v1/analytics", 200, ms, "4"),
	}
	mustWriteUsage(tb, db, f.events[:8])
	mustWriteUsage(tb, db, f.events[8:])
	f.readIDs(tb, 0)
	return f
}

// readIDs appends the ids of the log's entries after after, in order, to
// f.ids, which must then name every event.
func (f *monFixture) readIDs(tb testing.TB, after int64) {
	tb.Helper()
	rows, err := f.db.WriteConn().Query(`SELECT id FROM request_log WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		f.ids = append(f.ids, id)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(f.ids) != len(f.events) {
		tb.Fatalf("%d log rows, want %d", len(f.ids), len(f.events))
	}
}

func TestUsageStore_WriteUsage_Latency(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	// Events 7 (first batch) and 8 (second) share key1's 00:00 hour and the
	// 1 ms bucket: the second batch adds to the first's row.
	for _, tt := range []struct {
		key    *keygate.APIKey
		hour   string
		bucket int64
		want   int
	}{
		{f.key1, "2026-03-31T00:00:00Z", 1000, 2},
		{f.key1, "2026-03-31T10:00:00Z", 5000, 1},
		{f.key1, "2026-03-31T10:00:00Z", 250, 1},
		{f.key1, "2026-03-02T00:00:00Z", usage.LatencyBucketsUS[len(usage.LatencyBucketsUS)-1], 1},
		{f.key2, "2026-03-31T00:00:00Z", 2500, 1},
	} {
		if got := monCount(t, f.db, `SELECT COALESCE(SUM(count), 0) FROM usage_latency_hourly WHERE api_key_id = $1 AND hour = $2 AND bucket = $3`,
			tt.key.ID, monAt(t, tt.hour).UnixMilli(), tt.bucket); got != tt.want {
			t.Errorf("%s %s %d: count=%d, want %d", tt.key.Name, tt.hour, tt.bucket, got, tt.want)
		}
	}
	// One row per key, hour and bucket; the keyless request has none.
	if got, want := countRows(t, f.db, "usage_latency_hourly"), 13; got != want {
		t.Fatalf("%d latency rows, want %d", got, want)
	}
	if got, want := monCount(t, f.db, `SELECT COALESCE(SUM(count), 0) FROM usage_latency_hourly`), 14; got != want {
		t.Fatalf("latency counts sum to %d, want %d", got, want)
	}
}

func TestMonitoringService_Summary(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	for _, tt := range []struct {
		name  string
		ctx   context.Context
		org   *keygate.Organization
		keyID string
		want  keygate.UsageSummary
	}{
		// 30 days: events 2-9 and 12-14; today: 7-9 and 12-14. Latency
		// buckets: 250µs 1, 1ms 6, 2.5ms 1, 5ms 1, 50ms 1, +Inf 1. The
		// median is the 6th of 11 (1ms); the 99th percentile the 11th, in
		// +Inf, which reports twice the last bound (5 s).
		{"OKOrganization", f.ctxA, f.orgA, "", keygate.UsageSummary{
			RequestsToday: 6, Requests30d: 11, Errors30d: 3, Throttled30d: 1, P50: time.Millisecond, P99: 10 * time.Second}},
		// Events 2-4, 7, 8, 12-14: 250µs 1, 1ms 4, 5ms 1, 50ms 1, +Inf 1.
		{"OKKey1", f.ctxA, f.orgA, f.key1.PublicID, keygate.UsageSummary{
			RequestsToday: 5, Requests30d: 8, Errors30d: 2, Throttled30d: 1, P50: time.Millisecond, P99: 10 * time.Second}},
		// Events 5, 6, 9: 1ms 2, 2.5ms 1; the 99th percentile is the 3rd.
		{"OKKey2", f.ctxA, f.orgA, f.key2.PublicID, keygate.UsageSummary{
			RequestsToday: 1, Requests30d: 3, Errors30d: 1, P50: time.Millisecond, P99: 2500 * time.Microsecond}},
		{"OKOtherOrganization", f.ctxB, f.orgB, "", keygate.UsageSummary{
			RequestsToday: 1, Requests30d: 1, P50: time.Millisecond, P99: time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.Summary(tt.ctx, tt.org.PublicID, tt.keyID)
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Fatalf("Summary=%+v\nwant    %+v", *got, tt.want)
			}
		})
	}

	t.Run("OKNoTraffic", func(t *testing.T) {
		f.clock.Set(monNow.AddDate(0, 2, 0))
		defer f.clock.Set(monNow)
		got, err := f.s.Summary(f.ctxA, f.orgA.PublicID, "")
		if err != nil {
			t.Fatal(err)
		}
		if *got != (keygate.UsageSummary{}) || got.ErrorRate() != 0 {
			t.Fatalf("Summary=%+v", *got)
		}
	})
}

func TestMonitoringService_Summary_Percentiles(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	clock.Set(monNow)
	owner, org := mustBotOrg(t, db, "a@example.com")
	ctx := monUserCtx(owner)
	s := sqlstore.NewMonitoringService(db)
	for _, tt := range []struct {
		name     string
		latency  map[time.Duration]int // latency: how many requests
		p50, p99 time.Duration
	}{
		// 90 fast and 10 slower: the 50th is fast, the 99th the 9th slow one.
		{"OK100", map[time.Duration]int{800 * time.Microsecond: 90, 20 * time.Millisecond: 9, 300 * time.Millisecond: 1},
			time.Millisecond, 25 * time.Millisecond},
		// One more request moves the 99th to ceil(99.99) = the 100th.
		{"OK101", map[time.Duration]int{800 * time.Microsecond: 90, 20 * time.Millisecond: 9, 300 * time.Millisecond: 2},
			time.Millisecond, 500 * time.Millisecond},
		// The rank is reached exactly at the end of a bucket: the 50th of 100.
		{"OKExactRank", map[time.Duration]int{time.Millisecond: 50, 4 * time.Millisecond: 50},
			time.Millisecond, 5 * time.Millisecond},
		// Upper bounds are inclusive: 250µs is in the first bucket.
		{"OKBoundInclusive", map[time.Duration]int{250 * time.Microsecond: 1}, 250 * time.Microsecond, 250 * time.Microsecond},
		// All slower than 5 s: twice the last finite bound.
		{"OKInf", map[time.Duration]int{time.Minute: 3}, 10 * time.Second, 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := mustMonKey(t, db, ctx, org, tt.name, keygate.ScopeRead, nil)
			var events []usage.Event
			for d, n := range tt.latency {
				for range n {
					events = append(events, usage.Event{OrganizationID: org.ID, KeyID: key.ID, Method: "GET", Route: "/api/v1/me",
						Status: 200, Latency: d, At: monNow.Add(-time.Hour)})
				}
			}
			mustWriteUsage(t, db, events)
			got, err := s.Summary(ctx, org.PublicID, key.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if got.P50 != tt.p50 || got.P99 != tt.p99 {
				t.Fatalf("P50=%v P99=%v, want %v %v", got.P50, got.P99, tt.p50, tt.p99)
			}
		})
	}
}

// monDays returns n zero-filled days ending today (monNow), with counts
// added for some: day (yyyy-mm-dd) -> class -> count.
func monDays(tb testing.TB, n int, counts map[string]map[string]int) []keygate.DailyUsage {
	tb.Helper()
	today := monNow.Truncate(24 * time.Hour)
	out := make([]keygate.DailyUsage, n)
	for i := range out {
		day := today.AddDate(0, 0, i-n+1)
		out[i] = keygate.DailyUsage{Day: day, Counts: map[string]int{"2xx": 0, "4xx": 0, "5xx": 0, "429": 0}}
		for class, c := range counts[day.Format(time.DateOnly)] {
			out[i].Counts[class] = c
		}
	}
	return out
}

func TestMonitoringService_Daily(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	orgCounts := map[string]map[string]int{
		"2026-03-02": {"2xx": 1},
		"2026-03-30": {"2xx": 3, "5xx": 1},
		"2026-03-31": {"2xx": 3, "4xx": 1, "5xx": 1, "429": 1},
	}
	for _, tt := range []struct {
		name  string
		keyID string
		days  int
		want  []keygate.DailyUsage
	}{
		{"OK7", "", 7, monDays(t, 7, orgCounts)},
		{"OK30", "", 30, monDays(t, 30, orgCounts)},
		{"OK1", "", 1, monDays(t, 1, orgCounts)},
		{"OKKey2", f.key2.PublicID, 7, monDays(t, 7, map[string]map[string]int{
			"2026-03-30": {"2xx": 2}, "2026-03-31": {"5xx": 1}})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.Daily(f.ctxA, f.orgA.PublicID, tt.keyID, tt.days)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.days {
				t.Fatalf("%d days, want %d", len(got), tt.days)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Daily=%v\nwant  %v", got, tt.want)
			}
		})
	}
	t.Run("OK30FirstAndLastDay", func(t *testing.T) {
		got, err := f.s.Daily(f.ctxA, f.orgA.PublicID, "", 30)
		if err != nil {
			t.Fatal(err)
		}
		if first, last := got[0].Day, got[29].Day; !first.Equal(monAt(t, "2026-03-02T00:00:00Z")) || !last.Equal(monAt(t, "2026-03-31T00:00:00Z")) {
			t.Fatalf("days %v..%v", first, last)
		}
	})
	for _, days := range []int{0, -1, 367} {
		t.Run(fmt.Sprintf("ErrDays%d", days), func(t *testing.T) {
			_, err := f.s.Daily(f.ctxA, f.orgA.PublicID, "", days)
			assertError(t, err, keygate.EINVALID, "The number of days must be between 1 and 366.")
		})
	}
}

func TestMonitoringService_Top(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	// key1's requests of the last 30 days are events 2-4, 7, 8 and 12-14;
	// 0 and 1 (/api/v1/me, 10.0.0.9) are older.
	for _, tt := range []struct {
		name  string
		top   func(ctx context.Context, orgID, keyID string, limit int) ([]keygate.Count, error)
		limit int
		want  []keygate.Count
	}{
		{"OKRoutes", f.s.TopRoutes, 0, []keygate.Count{
			{Label: "/api/v1/bots", N: 4}, {Label: "/api/v1/bots/{id}", N: 2}, {Label: "/api/v1/analytics", N: 1}, {Label: "/api/v1/conversations", N: 1}}},
		{"OKRoutesLimit", f.s.TopRoutes, 3, []keygate.Count{
			{Label: "/api/v1/bots", N: 4}, {Label: "/api/v1/bots/{id}", N: 2}, {Label: "/api/v1/analytics", N: 1}}},
		{"OKIPs", f.s.TopIPs, 10, []keygate.Count{
			{Label: "10.0.0.1", N: 4}, {Label: "10.0.0.2", N: 2}, {Label: "10.0.0.3", N: 1}, {Label: "10.0.0.4", N: 1}}},
		{"OKIPsLimit", f.s.TopIPs, 1, []keygate.Count{{Label: "10.0.0.1", N: 4}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.top(f.ctxA, f.orgA.PublicID, f.key1.PublicID, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("OKNoTraffic", func(t *testing.T) {
		got, err := f.s.TopRoutes(f.ctxA, f.orgA.PublicID, mustMonKey(t, f.db, f.ctxA, f.orgA, "idle", keygate.ScopeRead, nil).PublicID, 5)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || len(got) != 0 {
			t.Fatalf("got %#v, want an empty list", got)
		}
	})
	t.Run("OKBothAtOnce", func(t *testing.T) {
		routes, ips, err := f.s.TopRoutesAndIPs(f.ctxA, f.orgA.PublicID, f.key1.PublicID, 2)
		if err != nil {
			t.Fatal(err)
		}
		wantRoutes := []keygate.Count{{Label: "/api/v1/bots", N: 4}, {Label: "/api/v1/bots/{id}", N: 2}}
		wantIPs := []keygate.Count{{Label: "10.0.0.1", N: 4}, {Label: "10.0.0.2", N: 2}}
		if !reflect.DeepEqual(routes, wantRoutes) || !reflect.DeepEqual(ips, wantIPs) {
			t.Fatalf("routes %v, addresses %v; want %v, %v", routes, ips, wantRoutes, wantIPs)
		}
	})
	t.Run("ErrKeyRequired", func(t *testing.T) {
		_, err := f.s.TopRoutes(f.ctxA, f.orgA.PublicID, "", 5)
		assertError(t, err, keygate.ENOTFOUND, "API key not found.")
	})
}

func TestMonitoringService_Authorization(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	calls := []struct {
		name string
		call func(ctx context.Context, orgID, keyID string) error
		// perKey calls take a key; the others ignore keyID.
		perKey bool
	}{
		{"Summary", func(ctx context.Context, orgID, keyID string) error {
			_, err := f.s.Summary(ctx, orgID, keyID)
			return err
		}, true},
		{"Daily", func(ctx context.Context, orgID, keyID string) error {
			_, err := f.s.Daily(ctx, orgID, keyID, 7)
			return err
		}, true},
		{"TopRoutes", func(ctx context.Context, orgID, keyID string) error {
			_, err := f.s.TopRoutes(ctx, orgID, keyID, 5)
			return err
		}, true},
		{"TopIPs", func(ctx context.Context, orgID, keyID string) error {
			_, err := f.s.TopIPs(ctx, orgID, keyID, 5)
			return err
		}, true},
		{"FindRequestLog", func(ctx context.Context, orgID, keyID string) error {
			_, _, err := f.s.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: orgID, KeyID: keyID})
			return err
		}, true},
		{"RequestLogRoutes", func(ctx context.Context, orgID, _ string) error {
			_, err := f.s.RequestLogRoutes(ctx, orgID)
			return err
		}, false},
		{"Hygiene", func(ctx context.Context, orgID, _ string) error {
			_, err := f.s.Hygiene(ctx, orgID)
			return err
		}, false},
	}
	keyActor := func(scope keygate.Scope) context.Context {
		return keygate.NewContextWithKey(context.Background(), &keygate.KeyActor{
			KeyID: f.key1.ID, PublicID: f.key1.PublicID, Name: f.key1.Name, OrganizationID: f.orgA.ID,
			OrgPublicID: f.orgA.PublicID, Scopes: keygate.NewScopes(scope),
		})
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			t.Run("OKOwner", func(t *testing.T) {
				if err := c.call(f.ctxA, f.orgA.PublicID, f.key1.PublicID); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("OKAdminKey", func(t *testing.T) {
				if err := c.call(keyActor(keygate.ScopeAdmin), f.orgA.PublicID, f.key1.PublicID); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("ErrForbiddenMember", func(t *testing.T) {
				err := c.call(f.ctxM, f.orgA.PublicID, f.key1.PublicID)
				assertError(t, err, keygate.EFORBIDDEN, "You need the Admin role to manage API keys")
			})
			t.Run("ErrForbiddenWriteKey", func(t *testing.T) {
				err := c.call(keyActor(keygate.ScopeWrite), f.orgA.PublicID, f.key1.PublicID)
				assertError(t, err, keygate.EFORBIDDEN, "You need the Admin role to manage API keys")
			})
			t.Run("ErrNotFoundOtherOrganization", func(t *testing.T) {
				err := c.call(f.ctxB, f.orgA.PublicID, f.key1.PublicID)
				assertError(t, err, keygate.ENOTFOUND, "Organization not found.")
			})
			t.Run("ErrUnauthorized", func(t *testing.T) {
				err := c.call(context.Background(), f.orgA.PublicID, f.key1.PublicID)
				assertError(t, err, keygate.EUNAUTHORIZED, "You must be logged in.")
			})
			if !c.perKey {
				return
			}
			t.Run("ErrNotFoundOtherOrganizationsKey", func(t *testing.T) {
				err := c.call(f.ctxA, f.orgA.PublicID, f.keyB.PublicID)
				assertError(t, err, keygate.ENOTFOUND, "API key not found.")
			})
			t.Run("ErrNotFoundUnknownKey", func(t *testing.T) {
				err := c.call(f.ctxA, f.orgA.PublicID, "key_doesnotexist0000000")
				assertError(t, err, keygate.ENOTFOUND, "API key not found.")
			})
		})
	}
}

func TestUsageStore_DeleteRequestLogBefore(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	clock.Set(monNow)
	owner, org := mustBotOrg(t, db, "a@example.com")
	key := mustMonKey(t, db, monUserCtx(owner), org, "k", keygate.ScopeRead, nil)
	const retention = 30*24*time.Hour - 500*time.Millisecond
	before := clock.Now().Add(-retention) // half a second into a second
	var events []usage.Event
	add := func(at time.Time, n int, step time.Duration) {
		for i := range n {
			events = append(events, usage.Event{OrganizationID: org.ID, KeyID: key.ID, Method: "GET", Route: "/api/v1/me",
				Status: 200, At: at.Add(time.Duration(i) * step)})
		}
	}
	add(before.Add(-10*24*time.Hour), 250, time.Second)          // old
	add(before.Add(-5*24*time.Hour), 3000, 100*time.Microsecond) // old, in one second
	add(before.Add(-time.Second), 1, 0)                          // old: the second before the cut's
	add(before.Add(-time.Millisecond), 1, 0)                     // old: a millisecond before the cut
	add(before, 1, 0)                                            // exactly at the cut: kept
	add(clock.Now().Add(-time.Hour), 9, time.Millisecond)        // recent
	mustWriteUsage(t, db, events)
	if got, want := countRows(t, db, "request_log"), 3262; got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}

	store := sqlstore.NewUsageStore(db)
	var got []int
	for range 5 {
		n, err := store.DeleteRequestLogBefore(context.Background(), clock.Now().Add(-retention), 1000)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if want := []int{1000, 1000, 1000, 252, 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batches deleted %v, want %v", got, want)
	}
	if got, want := countRows(t, db, "request_log"), 10; got != want {
		t.Fatalf("%d rows left, want %d", got, want)
	}
	if got := monCount(t, db, `SELECT COUNT(*) FROM request_log WHERE created_at < $1`, before.UnixMilli()); got != 0 {
		t.Fatalf("%d rows left before the cut", got)
	}
	// The counters are not the log: they stay.
	if got, want := monCount(t, db, `SELECT COALESCE(SUM(count), 0) FROM usage_hourly`), 3262; got != want {
		t.Fatalf("hourly counters sum to %d, want %d", got, want)
	}
}

// request_log has no foreign keys (they would be checked on every row): a
// flush leaves out the usage of organizations and keys deleted since, and
// deleting an organization deletes its log, as ON DELETE CASCADE did.
func TestUsageStore_DeletedOwners(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	clock.Set(monNow)
	ownerA, orgA := mustBotOrg(t, db, "a@example.com")
	ownerB, orgB := mustBotOrg(t, db, "b@example.com")
	keyA := mustMonKey(t, db, monUserCtx(ownerA), orgA, "a", keygate.ScopeRead, nil)
	keyB := mustMonKey(t, db, monUserCtx(ownerB), orgB, "b", keygate.ScopeRead, nil)
	ev := func(org *keygate.Organization, key *keygate.APIKey) usage.Event {
		return usage.Event{OrganizationID: org.ID, KeyID: key.ID, Method: "GET", Route: "/api/v1/me", Status: 200,
			Latency: time.Millisecond, IP: "10.0.0.1", At: monNow.Add(-time.Minute)}
	}
	mustWriteUsage(t, db, []usage.Event{ev(orgA, keyA), ev(orgB, keyB), ev(orgB, keyB)})
	if n := monCount(t, db, `SELECT COUNT(*) FROM request_log WHERE organization_id = $1`, orgB.ID); n != 2 {
		t.Fatalf("B's log holds %d rows, want 2", n)
	}

	if err := sqlstore.NewOrganizationService(db).DeleteOrganization(monUserCtx(ownerB), orgB.PublicID, orgB.Name); err != nil {
		t.Fatal(err)
	}
	if n := monCount(t, db, `SELECT COUNT(*) FROM request_log WHERE organization_id = $1`, orgB.ID); n != 0 {
		t.Fatalf("the deleted organization's log holds %d rows", n)
	}

	// B's requests still waiting in the buffer when B went: the flush
	// writes A's and drops B's, counters and last use included.
	mustWriteUsage(t, db, []usage.Event{ev(orgA, keyA), ev(orgB, keyB), {OrganizationID: orgB.ID, Route: "/api/v1/me", Status: 401, At: monNow}})
	for _, c := range []struct {
		query string
		want  int
	}{
		{`SELECT COUNT(*) FROM request_log WHERE organization_id = ` + fmt.Sprint(orgA.ID), 2},
		{`SELECT COUNT(*) FROM request_log WHERE organization_id = ` + fmt.Sprint(orgB.ID), 0},
		{`SELECT COALESCE(SUM(count), 0) FROM usage_hourly WHERE api_key_id = ` + fmt.Sprint(keyA.ID), 2},
		{`SELECT COUNT(*) FROM usage_hourly WHERE organization_id = ` + fmt.Sprint(orgB.ID), 0},
		{`SELECT COUNT(*) FROM request_log`, 2},
	} {
		if n := monCount(t, db, c.query); n != c.want {
			t.Errorf("%s = %d, want %d", c.query, n, c.want)
		}
	}
}

// Replicas flush their usage into one database at once, each from its own
// pool: the counters add up, every request is logged once with an id of
// its own, and each key's last use is the latest of all, whichever flush
// commits last.
func TestUsageStore_WriteUsage_Replicas(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	clock.Set(monNow)
	owner, org := mustBotOrg(t, db, "a@example.com")
	ctx := monUserCtx(owner)
	keys := []*keygate.APIKey{mustMonKey(t, db, ctx, org, "one", keygate.ScopeRead, nil), mustMonKey(t, db, ctx, org, "two", keygate.ScopeRead, nil)}
	const perFlush = 300
	// Flush i's requests alternate the two keys over the same hours, so
	// that every flush upserts the same counter rows; flush raceN-1 holds
	// the latest request of each key.
	flush := func(i int) *usage.Batch {
		var events []usage.Event
		for j := range perFlush {
			events = append(events, usage.Event{OrganizationID: org.ID, KeyID: keys[j%2].ID, Method: "GET", Route: "/api/v1/me",
				Status: []int{200, 404, 429, 500}[j%4], Latency: time.Duration(j) * time.Millisecond,
				IP: fmt.Sprintf("10.0.%d.%d", i, j%2), At: monNow.Add(-3 * time.Hour).Add(time.Duration(i*perFlush+j) * time.Second)})
		}
		return usage.Aggregate(events)
	}
	errs := runRace([]*sqlstore.DB{db, mustSecondPool(t, db)}, func(i int, db *sqlstore.DB) error {
		return sqlstore.NewUsageStore(db).WriteUsage(context.Background(), flush(i))
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	for _, tt := range []struct {
		query string
		want  int
	}{
		{`SELECT COALESCE(SUM(count), 0) FROM usage_hourly`, raceN * perFlush},
		{`SELECT COALESCE(SUM(count), 0) FROM usage_hourly WHERE status_class = '429'`, raceN * perFlush / 4},
		{`SELECT COALESCE(SUM(count), 0) FROM usage_latency_hourly`, raceN * perFlush},
		{`SELECT COALESCE(SUM(count), 0) FROM usage_daily`, raceN * perFlush},
		{`SELECT COALESCE(SUM(count), 0) FROM usage_latency_daily`, raceN * perFlush},
		{`SELECT COUNT(*) FROM request_log`, raceN * perFlush},
		{`SELECT COUNT(DISTINCT id) FROM request_log`, raceN * perFlush},
	} {
		if got := monCount(t, db, tt.query); got != tt.want {
			t.Fatalf("%s = %d, want %d", tt.query, got, tt.want)
		}
	}
	for j, k := range keys {
		last := flush(raceN - 1).LastAttempt[k.ID]
		var at int64
		var ip string
		if err := db.WriteConn().QueryRow(`SELECT last_attempt_at, last_attempt_ip FROM api_keys WHERE id = $1`, k.ID).Scan(&at, &ip); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("10.0.%d.%d", raceN-1, j); at != last.At.UnixMilli() || ip != want {
			t.Fatalf("key %d: last attempt at %d from %s, want %d from %s", j, at, ip, last.At.UnixMilli(), want)
		}
	}
}
