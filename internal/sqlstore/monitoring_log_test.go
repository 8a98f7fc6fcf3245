package sqlstore_test

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
)

// monEventIndexes maps log entries back to the fixture's event indexes.
func (f *monFixture) monEventIndexes(entries []*keygate.RequestLogEntry) []int {
	out := []int{}
	for _, e := range entries {
		i := -1
		for j, id := range f.ids {
			if id == e.ID {
				i = j
			}
		}
		out = append(out, i)
	}
	return out
}

func TestMonitoringService_FindRequestLog(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	at := func(s string) *time.Time { t := monAt(t, s); return &t }
	for _, tt := range []struct {
		name   string
		filter keygate.RequestLogFilter
		want   []int // event indexes, newest first
	}{
		{"OKAll", keygate.RequestLogFilter{}, []int{14, 13, 12, 11, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"OKKey1", keygate.RequestLogFilter{KeyID: f.key1.PublicID}, []int{14, 13, 12, 8, 7, 4, 3, 2, 1, 0}},
		{"OKKey2", keygate.RequestLogFilter{KeyID: f.key2.PublicID}, []int{9, 6, 5}},
		// 2xx is 200-399: the 304 counts.
		{"OKClass2xx", keygate.RequestLogFilter{Class: keygate.Class2xx}, []int{14, 8, 7, 6, 5, 4, 2, 1, 0}},
		// 4xx leaves 429 out.
		{"OKClass4xx", keygate.RequestLogFilter{Class: keygate.Class4xx}, []int{12, 11}},
		{"OKClass5xx", keygate.RequestLogFilter{Class: keygate.Class5xx}, []int{9, 3}},
		{"OKClass429", keygate.RequestLogFilter{Class: keygate.Class429}, []int{13}},
		{"OKRoute", keygate.RequestLogFilter{Route: "/api/v1/bots"}, []int{13, 11, 8, 7, 6, 5, 3}},
		{"OKRouteExact", keygate.RequestLogFilter{Route: "/api/v1/bots/"}, []int{}},
		// From is inclusive (the two 12:00 events), To exclusive (not 10:00).
		{"OKFromTo", keygate.RequestLogFilter{From: at("2026-03-30T12:00:00Z"), To: at("2026-03-31T10:00:00Z")},
			[]int{11, 9, 8, 7, 6, 5, 4, 3}},
		{"OKFrom", keygate.RequestLogFilter{From: at("2026-03-31T10:00:00Z")}, []int{14, 13, 12}},
		{"OKTo", keygate.RequestLogFilter{To: at("2026-03-02T00:30:00Z")}, []int{1, 0}},
		{"OKBefore", keygate.RequestLogFilter{Before: f.ids[9]}, []int{8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"OKCombined", keygate.RequestLogFilter{KeyID: f.key1.PublicID, Class: keygate.Class2xx, From: at("2026-03-02T00:00:00Z"), Before: f.ids[14]},
			[]int{8, 7, 4, 2}},
		{"OKNothing", keygate.RequestLogFilter{Route: "/api/v1/bots/{id}", Class: keygate.Class429}, []int{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.filter.OrgPublicID = f.orgA.PublicID
			got, more, err := f.s.FindRequestLog(f.ctxA, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if idx := f.monEventIndexes(got); !reflect.DeepEqual(idx, tt.want) {
				t.Fatalf("events %v, want %v", idx, tt.want)
			}
			if more {
				t.Fatal("hasMore with every entry on the page")
			}
		})
	}

	t.Run("OKEntry", func(t *testing.T) {
		got, _, err := f.s.FindRequestLog(f.ctxA, keygate.RequestLogFilter{OrgPublicID: f.orgA.PublicID, Class: keygate.Class5xx, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		want := &keygate.RequestLogEntry{
			ID: f.ids[9], At: monAt(t, "2026-03-31T00:30:00Z"), KeyID: f.key2.PublicID, KeyName: "ci", KeyHint: f.key2.Hint,
			Method: "DELETE", Route: "/api/v1/bots/{id}", Path: "/api/v1/bots/{id}", Status: 503, Latency: 2 * time.Millisecond,
			IP: "10.0.0.5", UserAgent: "monitor-test/1.0",
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("entry %+v\nwant  %+v", got[0], want)
		}
	})

	t.Run("OKEntryWithoutKey", func(t *testing.T) {
		got, _, err := f.s.FindRequestLog(f.ctxA, keygate.RequestLogFilter{OrgPublicID: f.orgA.PublicID, Class: keygate.Class4xx, Before: f.ids[12]})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != f.ids[11] || got[0].KeyID != "" || got[0].KeyName != "" || got[0].KeyHint != "" || got[0].Status != 401 {
			t.Fatalf("entries %+v", got)
		}
	})

	t.Run("OKOtherOrganization", func(t *testing.T) {
		got, _, err := f.s.FindRequestLog(f.ctxB, keygate.RequestLogFilter{OrgPublicID: f.orgB.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		if idx := f.monEventIndexes(got); !reflect.DeepEqual(idx, []int{10}) {
			t.Fatalf("events %v, want [10]", idx)
		}
	})

	for _, tt := range []struct {
		name           string
		filter         keygate.RequestLogFilter
		field, message string
	}{
		{"ErrClass", keygate.RequestLogFilter{Class: "3xx"}, "class", "Unknown status class."},
		{"ErrRangeEmpty", keygate.RequestLogFilter{From: at("2026-03-30T00:00:00Z"), To: at("2026-03-30T00:00:00Z")},
			"to", "The end of the range must be after its start."},
		{"ErrRangeReversed", keygate.RequestLogFilter{From: at("2026-03-30T00:00:00Z"), To: at("2026-03-29T00:00:00Z")},
			"to", "The end of the range must be after its start."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.filter.OrgPublicID = f.orgA.PublicID
			_, _, err := f.s.FindRequestLog(f.ctxA, tt.filter)
			assertError(t, err, keygate.EINVALID, tt.message)
			if got := keygate.ErrorFields(err); got[tt.field] != tt.message {
				t.Fatalf("fields=%v", got)
			}
		})
	}
}

// monWalk pages through the log with limit and returns every page's
// entries and hasMore.
func monWalk(t *testing.T, s *sqlstore.MonitoringService, ctx context.Context, f keygate.RequestLogFilter) ([][]*keygate.RequestLogEntry, []bool) {
	t.Helper()
	var pages [][]*keygate.RequestLogEntry
	var more []bool
	for {
		page, hasMore, err := s.FindRequestLog(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		pages, more = append(pages, page), append(more, hasMore)
		if !hasMore {
			return pages, more
		}
		if len(pages) > 1000 {
			t.Fatal("no end of the log")
		}
		f.Before = page[len(page)-1].ID
	}
}

// monAssertPages walks the log with f and checks that the pages hold
// exactly want, newest first: full pages but the last, no entry twice, no
// gap, and hasMore on every page but the last.
func monAssertPages(t *testing.T, s *sqlstore.MonitoringService, ctx context.Context, f keygate.RequestLogFilter, want []int64) {
	t.Helper()
	pages, more := monWalk(t, s, ctx, f)
	var got []int64
	seen := map[int64]bool{}
	for i, page := range pages {
		if i < len(pages)-1 && len(page) != f.Limit {
			t.Fatalf("page %d has %d entries, want %d", i, len(page), f.Limit)
		}
		for _, e := range page {
			if seen[e.ID] {
				t.Fatalf("entry %d on two pages", e.ID)
			}
			seen[e.ID] = true
			got = append(got, e.ID)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("walked %d entries, want %d:\n%v\n%v", len(got), len(want), got, want)
	}
	for i, m := range more {
		if m != (i < len(more)-1) {
			t.Fatalf("hasMore=%v on page %d of %d", m, i, len(more))
		}
	}
	if wantPages := max(1, (len(want)+f.Limit-1)/f.Limit); len(pages) != wantPages {
		t.Fatalf("%d pages, want %d", len(pages), wantPages)
	}
}

func TestMonitoringService_FindRequestLog_Pagination(t *testing.T) {
	// Not parallel: SetRequestLogWalk changes a package variable every
	// FindRequestLog reads, so this runs before the parallel tests start.
	db, clock := mustBotDB(t)
	clock.Set(monNow)
	owner, org := mustBotOrg(t, db, "a@example.com")
	ctx := monUserCtx(owner)
	key1 := mustMonKey(t, db, ctx, org, "one", keygate.ScopeRead, nil)
	key2 := mustMonKey(t, db, ctx, org, "two", keygate.ScopeRead, nil)
	// 523 requests: every third by key2, every seventh a 500, in two
	// batches whose times interleave, so id order is not time order.
	var events []usage.Event
	for i := range 523 {
		e := usage.Event{OrganizationID: org.ID, KeyID: key1.ID, Method: "GET", Route: "/api/v1/me", Status: 200,
			At: monNow.Add(-time.Duration(i%50) * time.Minute)}
		if i%3 == 0 {
			e.KeyID = key2.ID
		}
		if i%7 == 0 {
			e.Status = 500
		}
		events = append(events, e)
	}
	mustWriteUsage(t, db, events[:300])
	mustWriteUsage(t, db, events[300:])
	s := sqlstore.NewMonitoringService(db)

	allIDs := func(where string, args ...any) []int64 {
		rows, err := db.WriteConn().Query(`SELECT id FROM request_log WHERE `+where+` ORDER BY id DESC`, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	recent, old := monNow.Add(-40*time.Minute), monNow.Add(-45*time.Minute)
	minute := monNow.Add(-7 * time.Minute)
	for _, tt := range []struct {
		name   string
		filter keygate.RequestLogFilter
		want   []int64
	}{
		{"OKAll", keygate.RequestLogFilter{Limit: 50}, allIDs(`organization_id = $1`, org.ID)},
		// Time ranges, both busy and sparse ones, whose pages the walk
		// fills or leaves short.
		{"OKFrom", keygate.RequestLogFilter{From: &recent, Limit: 9}, allIDs(`created_at >= $1`, recent.UnixMilli())},
		{"OKTo", keygate.RequestLogFilter{To: &old, Limit: 9}, allIDs(`created_at < $1`, old.UnixMilli())},
		{"OKMinute", keygate.RequestLogFilter{From: &minute, To: ptrTime(minute.Add(time.Minute)), Limit: 4},
			allIDs(`created_at >= $1 AND created_at < $2`, minute.UnixMilli(), minute.Add(time.Minute).UnixMilli())},
		{"OKKeyFrom", keygate.RequestLogFilter{KeyID: key1.PublicID, From: &recent, Limit: 25},
			allIDs(`api_key_id = $1 AND created_at >= $2`, key1.ID, recent.UnixMilli())},
		{"OKKey", keygate.RequestLogFilter{KeyID: key2.PublicID, Limit: 17}, allIDs(`api_key_id = $1`, key2.ID)},
		{"OKClass", keygate.RequestLogFilter{Class: keygate.Class5xx, Limit: 10}, allIDs(`status = 500`)},
		{"OKLimitOne", keygate.RequestLogFilter{KeyID: key2.PublicID, Class: keygate.Class5xx, Limit: 1},
			allIDs(`api_key_id = $1 AND status = 500`, key2.ID)},
	} {
		for _, walk := range []int{10_000, 20} {
			t.Run(fmt.Sprintf("%s/walk%d", tt.name, walk), func(t *testing.T) {
				sqlstore.SetRequestLogWalk(t, walk)
				tt.filter.OrgPublicID = org.PublicID
				monAssertPages(t, s, ctx, tt.filter, tt.want)
			})
		}
	}

	for _, tt := range []struct {
		limit, want int
	}{
		{0, 50}, {-5, 50}, {1, 1}, {500, 500}, {501, 500}, {10000, 500},
	} {
		t.Run(fmt.Sprintf("OKLimit%d", tt.limit), func(t *testing.T) {
			got, more, err := s.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: org.PublicID, Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want || !more {
				t.Fatalf("%d entries, hasMore=%v; want %d, true", len(got), more, tt.want)
			}
		})
	}
	t.Run("OKLastPageExactlyFull", func(t *testing.T) {
		ids := allIDs(`organization_id = $1`, org.ID)
		got, more, err := s.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: org.PublicID, Before: ids[len(ids)-11], Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 10 || more {
			t.Fatalf("%d entries, hasMore=%v; want 10, false", len(got), more)
		}
	})
}

func TestMonitoringService_RequestLogRoutes(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	got, err := f.s.RequestLogRoutes(f.ctxA, f.orgA.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	// Every route A's log holds, once, in order; B's /api/v1/keys is not
	// among them.
	want := []string{"/api/v1/analytics", "/api/v1/bots", "/api/v1/bots/{id}", "/api/v1/conversations", "/api/v1/me"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes %v, want %v", got, want)
	}

	db, _ := mustBotDB(t)
	owner, org := mustBotOrg(t, db, "a@example.com")
	got, err = sqlstore.NewMonitoringService(db).RequestLogRoutes(monUserCtx(owner), org.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || len(got) != 0 {
		t.Fatalf("routes of an empty log %#v, want an empty list", got)
	}
}

// TestMonitoringService_QueryPlans checks that the log queries walk an
// index in id order and stop after a page: no scan of the log, no sort.
// SQLite plans them the same on an empty table as on a full one (no
// ANALYZE statistics), so a change that loses an index fails here.
//
// PostgreSQL plans by its statistics instead:
// TestMonitoringService_QueryPlansPostgres.
func TestMonitoringService_QueryPlans(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t) // SQLite's planner; PostgreSQL's is checked below
	db, _ := mustBotDB(t)
	day := monAt(t, "2026-03-30T00:00:00Z")
	for _, tt := range []struct {
		name   string
		keyID  int64
		filter keygate.RequestLogFilter
		walk   bool
		index  string
	}{
		{"All", 0, keygate.RequestLogFilter{}, false, "request_log_org_id"},
		{"Before", 0, keygate.RequestLogFilter{Before: 1000}, false, "request_log_org_id"},
		{"Key", 7, keygate.RequestLogFilter{Before: 1000}, false, "request_log_key_id"},
		{"Route", 0, keygate.RequestLogFilter{Route: "/api/v1/me", Before: 1000}, false, "request_log_org_route"},
		// Only errors are in the class index; 2xx, most of a log, is
		// read from the organization's index.
		{"Class2xx", 0, keygate.RequestLogFilter{Class: keygate.Class2xx, Before: 1000}, false, "request_log_org_id"},
		{"Class429", 0, keygate.RequestLogFilter{Class: keygate.Class429, Before: 1000}, false, "request_log_org_class"},
		{"Class5xx", 0, keygate.RequestLogFilter{Class: keygate.Class5xx}, false, "request_log_org_class"},
		{"From", 0, keygate.RequestLogFilter{From: &day}, false, "request_log_org_time"},
		{"FromWalk", 0, keygate.RequestLogFilter{From: &day, Before: 1000}, true, "request_log_org_id"},
		{"ToWalkKey", 7, keygate.RequestLogFilter{To: &day}, true, "request_log_key_id"},
		{"FromWalkClass", 0, keygate.RequestLogFilter{From: &day, Class: keygate.Class4xx}, true, "request_log_org_class"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			query, args := sqlstore.RequestLogQuery(1, tt.keyID, tt.filter, 51, tt.walk)
			plan, err := db.ExplainQueryPlan(context.Background(), query, args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan, "INDEX "+tt.index+" ") {
				t.Fatalf("plan does not use %s:\n%s", tt.index, plan)
			}
			// A time range read whole is the one query that sorts: its
			// rows come in time order. The others, walks included, read
			// rows in id order and stop after a page.
			whole := (tt.filter.From != nil || tt.filter.To != nil) && !tt.walk
			if !whole && strings.Contains(strings.ReplaceAll(plan, "TEMP B-TREE FOR LAST TERM OF ORDER BY", ""), "TEMP B-TREE") {
				t.Fatalf("plan sorts:\n%s", plan)
			}
			if tt.walk && !strings.Contains(plan, "SCALAR SUBQUERY") {
				t.Fatalf("plan does not walk:\n%s", plan)
			}
			if strings.Contains(plan, "SCAN c") || strings.Contains(plan, "SCAN i") {
				t.Fatalf("plan scans the log:\n%s", plan)
			}
		})
	}
	for _, tt := range []struct {
		name, query string
		args        []any
		index       string
	}{
		{"Routes", sqlstore.RequestLogRoutesQuery, []any{1, 1000}, "request_log_org_route"},
		{"Sweep", sqlstore.SweepQuery, []any{0, 1000}, "request_log_org_time"},
		{"Top", sqlstore.TopQuery, []any{1, 0}, "request_log_key_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := db.ExplainQueryPlan(context.Background(), tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan, "INDEX "+tt.index+" (") || strings.Contains(plan, "SCAN request_log") || strings.Contains(plan, "SCAN c ") {
				t.Fatalf("plan does not seek %s:\n%s", tt.index, plan)
			}
		})
	}
	for _, keyID := range []int64{0, 7} {
		for name, q := range sqlstore.CounterQueries(1, keyID, monNow, 30) {
			t.Run(fmt.Sprintf("Counters/%s/key%d", name, keyID), func(t *testing.T) {
				plan, err := db.ExplainQueryPlan(context.Background(), q.Query, q.Args...)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(plan, "SCAN usage") {
					t.Fatalf("plan scans a counter table:\n%s", plan)
				}
				// Organization-wide, the counters are read from a covering
				// index in group order.
				if keyID == 0 && (!strings.Contains(plan, "COVERING INDEX") || strings.Contains(plan, "TEMP B-TREE")) {
					t.Fatalf("plan reads rows or sorts:\n%s", plan)
				}
			})
		}
	}
}

// TestMonitoringService_QueryPlansPostgres checks the plans PostgreSQL
// makes, from its statistics, on an analyzed log of 50,000 requests of a
// busy organization: a page of its log, newest first, stops after its
// rows (no sort, no scan of the log); and no query of a small
// organization on the same instance, nor of the busy one's counters,
// scans a table. SQLite's planner has no statistics, which
// TestMonitoringService_QueryPlans checks instead.
func TestMonitoringService_QueryPlansPostgres(t *testing.T) {
	t.Parallel()
	if !onPostgres() {
		t.Skip("PostgreSQL's planner; SQLite's is checked by TestMonitoringService_QueryPlans")
	}
	m := loadMonitoringBench(t, 50_000)
	if _, err := m.db.WriteConn().Exec(`ANALYZE`); err != nil {
		t.Fatal(err)
	}
	_, small := mustBotOrg(t, m.db, "small@example.com")
	key := m.keys[7] // 2% of the busy organization's log
	day := monBenchNow.AddDate(0, 0, -7)
	plan := func(t *testing.T, query string, args ...any) string {
		t.Helper()
		p, err := m.db.ExplainQueryPlan(context.Background(), query, args...)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p, "Seq Scan on request_log") || strings.Contains(p, "Seq Scan on usage") {
			t.Fatalf("plan scans a table:\n%s", p)
		}
		return p
	}
	for _, tt := range []struct {
		name   string
		keyID  int64
		filter keygate.RequestLogFilter
		walk   bool
	}{
		{"All", 0, keygate.RequestLogFilter{}, false},
		{"Before", 0, keygate.RequestLogFilter{Before: 20_000}, false},
		{"Key", key.ID, keygate.RequestLogFilter{Before: 20_000}, false},
		{"Route", 0, keygate.RequestLogFilter{Route: "/api/v1/me", Before: 20_000}, false},
		{"Class5xx", 0, keygate.RequestLogFilter{Class: keygate.Class5xx}, false},
		{"Class2xx", 0, keygate.RequestLogFilter{Class: keygate.Class2xx}, false},
		{"FromWalk", 0, keygate.RequestLogFilter{From: &day}, true},
	} {
		t.Run("Busy"+tt.name, func(t *testing.T) {
			query, args := sqlstore.RequestLogQuery(m.org.ID, tt.keyID, tt.filter, 51, tt.walk)
			if p := plan(t, query, args...); strings.Contains(p, "Sort") || !strings.Contains(p, "Index") {
				t.Fatalf("plan sorts the log or reads no index:\n%s", p)
			}
		})
	}
	for _, f := range []keygate.RequestLogFilter{{}, {Class: keygate.Class4xx}, {Route: "/api/v1/me"},
		{RequestID: "0123456789abcdef"}, {From: &day}, {From: &day, Sort: keygate.LogSlowest}} {
		query, args := sqlstore.RequestLogQuery(small.ID, 0, f, 51, false)
		plan(t, query, args...)
		query, args = sqlstore.RequestLogQuery(small.ID, 0, f, 51, true)
		plan(t, query, args...)
	}
	since := monBenchNow.AddDate(0, 0, -30).UnixMilli()
	plan(t, sqlstore.RequestLogRoutesQuery, m.org.ID, 1000)
	plan(t, sqlstore.RequestLogRoutesQuery, small.ID, 1000)
	plan(t, sqlstore.SweepQuery, since, 1000)
	plan(t, sqlstore.TopQuery, key.ID, since)
	for _, keyID := range []int64{0, key.ID} {
		org := small.ID
		if keyID != 0 {
			org = m.org.ID
		}
		for _, q := range sqlstore.CounterQueries(org, keyID, monBenchNow, 30) {
			plan(t, q.Query, q.Args...)
		}
	}
}

// Thousands of requests a second, alike but for their time, key, status and
// address, written by two flushes: paging, cursors and ranges of
// milliseconds within a second find each of them once.
func TestMonitoringService_FindRequestLog_ManyASecond(t *testing.T) {
	// Not parallel: SetRequestLogWalk changes a package variable every
	// FindRequestLog reads, so this runs before the parallel tests start.
	db, clock := mustBotDB(t)
	clock.Set(monNow)
	owner, org := mustBotOrg(t, db, "a@example.com")
	ctx := monUserCtx(owner)
	key1 := mustMonKey(t, db, ctx, org, "one", keygate.ScopeRead, nil)
	key2 := mustMonKey(t, db, ctx, org, "two", keygate.ScopeRead, nil)
	// 3,000 requests in each of three seconds: both keys, every tenth a
	// 500 (key2's), every seventh from another address; the middle second is split
	// between two flushes.
	base := monNow.Add(-time.Hour).Truncate(time.Second)
	var events []usage.Event
	for s := range 3 {
		for i := range 3000 {
			e := usage.Event{OrganizationID: org.ID, KeyID: key1.ID, Method: "GET", Route: "/api/v1/me", Status: 200,
				Latency: time.Duration(i*37+s) * time.Microsecond, IP: "10.0.0.1", UserAgent: "busy/1.0",
				At: base.Add(time.Duration(s)*time.Second + time.Duration(i/3)*time.Millisecond)}
			if i%2 == 1 {
				e.KeyID = key2.ID
			}
			if i%10 == 3 {
				e.Status = 500
			}
			if i%7 == 0 {
				e.IP = "10.0.0.2"
			}
			events = append(events, e)
		}
	}
	mustWriteUsage(t, db, events[:4500])
	mustWriteUsage(t, db, events[4500:])

	if got, want := countRows(t, db, "request_log"), len(events); got != want {
		t.Fatalf("%d rows, want %d", got, want)
	}

	s := sqlstore.NewMonitoringService(db)
	type entry struct {
		at      time.Time
		key     string
		status  int
		latency time.Duration
		ip, ua  string
	}
	keyName := map[int64]string{key1.ID: key1.PublicID, key2.ID: key2.PublicID}
	want := func(keep func(usage.Event) bool) []entry {
		var out []entry
		for _, e := range events {
			if keep(e) {
				out = append(out, entry{e.At, keyName[e.KeyID], e.Status, e.Latency, e.IP, e.UserAgent})
			}
		}
		return out
	}
	// read pages through the log with f and returns its entries, checking
	// that ids go down and seconds never go up.
	read := func(t *testing.T, f keygate.RequestLogFilter) []entry {
		t.Helper()
		f.OrgPublicID = org.PublicID
		var out []entry
		last := int64(0)
		lastAt := time.Time{}
		pages, _ := monWalk(t, s, ctx, f)
		for _, page := range pages {
			for _, e := range page {
				if last != 0 && e.ID >= last {
					t.Fatalf("id %d after %d", e.ID, last)
				}
				if !lastAt.IsZero() && e.At.Truncate(time.Second).After(lastAt) {
					t.Fatalf("entry of %v after one of %v", e.At, lastAt)
				}
				last, lastAt = e.ID, e.At.Truncate(time.Second)
				if e.Method != "GET" || e.Route != "/api/v1/me" {
					t.Fatalf("entry %+v", e)
				}
				out = append(out, entry{e.At, e.KeyID, e.Status, e.Latency, e.IP, e.UserAgent})
			}
		}
		return out
	}
	sameEntries := func(t *testing.T, got, want []entry) {
		t.Helper()
		order := func(a, b entry) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return cmp.Compare(a.latency, b.latency) // unique within a second
		}
		slices.SortFunc(got, order)
		slices.SortFunc(want, order)
		if len(got) != len(want) {
			t.Fatalf("%d entries, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("entry %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	}

	from, to := base.Add(time.Second+250*time.Millisecond), base.Add(time.Second+750*time.Millisecond)
	t.Run("OKAll", func(t *testing.T) {
		sameEntries(t, read(t, keygate.RequestLogFilter{Limit: 500}), want(func(usage.Event) bool { return true }))
	})
	t.Run("OKPagesOf7", func(t *testing.T) {
		got := read(t, keygate.RequestLogFilter{KeyID: key2.PublicID, Class: keygate.Class5xx, Limit: 7})
		sameEntries(t, got, want(func(e usage.Event) bool { return e.KeyID == key2.ID && e.Status == 500 }))
	})
	for _, walk := range []int{10_000, 2} {
		sqlstore.SetRequestLogWalk(t, walk)
		// A range of milliseconds within a second.
		t.Run(fmt.Sprintf("OKWithinASecond/walk%d", walk), func(t *testing.T) {
			got := read(t, keygate.RequestLogFilter{From: &from, To: &to, Limit: 100})
			sameEntries(t, got, want(func(e usage.Event) bool { return !e.At.Before(from) && e.At.Before(to) }))
		})
		t.Run(fmt.Sprintf("OKKeyWithinASecond/walk%d", walk), func(t *testing.T) {
			got := read(t, keygate.RequestLogFilter{KeyID: key1.PublicID, From: &from, To: &to, Limit: 33})
			sameEntries(t, got, want(func(e usage.Event) bool { return e.KeyID == key1.ID && !e.At.Before(from) && e.At.Before(to) }))
		})
	}

	// The key page's rankings count the rows.
	routes, ips, err := s.TopRoutesAndIPs(ctx, org.PublicID, key1.PublicID, 10)
	if err != nil {
		t.Fatal(err)
	}
	other := len(want(func(e usage.Event) bool { return e.KeyID == key1.ID && e.IP == "10.0.0.2" }))
	if wantRoutes := []keygate.Count{{Label: "/api/v1/me", N: 4500}}; !reflect.DeepEqual(routes, wantRoutes) {
		t.Fatalf("top routes %v, want %v", routes, wantRoutes)
	}
	if wantIPs := []keygate.Count{{Label: "10.0.0.1", N: 4500 - other}, {Label: "10.0.0.2", N: other}}; !reflect.DeepEqual(ips, wantIPs) {
		t.Fatalf("top addresses %v, want %v", ips, wantIPs)
	}
}

// Migration 12 packed the rows of the request log an older release wrote
// into chunks, and migration 17 makes them rows again: every request kept
// with everything it said.
func TestMigrate_RequestLogPackedAndBack(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t) // SQLite\'s files and upgrades from its older formats
	db, _ := mustOpenUnmigrated(t)
	ctx := context.Background()
	if err := db.MigrateThrough(ctx, 11); err != nil {
		t.Fatal(err)
	}
	type row struct {
		org, key      int64
		method, route string
		status        int
		latencyUS     int64
		ip, userAgent string
		createdAt     int64
	}
	second := monNow.Truncate(time.Second).UnixMilli()
	var rows []row
	// 2,100 alike in one second (three chunks), interleaved with others
	// of another status, another key, no key, another address and agent,
	// the next second and another organization.
	for i := range 2100 {
		rows = append(rows, row{1, 7, "GET", "/api/v1/me", 200, int64(i), "10.0.0.1", "curl/8", second + int64(i)*999/2100})
		switch i % 300 {
		case 0:
			rows = append(rows, row{1, 7, "GET", "/api/v1/me", 404, 5, "10.0.0.1", "curl/8", second + 3})
		case 1:
			rows = append(rows, row{1, 8, "POST", "/api/v1/bots", 201, 9, "10.0.0.1", "curl/8", second + 4})
		case 2:
			rows = append(rows, row{1, 0, "GET", "/api/v1/bots", 401, 1, "10.0.0.9", "", second + 5})
		case 3:
			rows = append(rows, row{1, 7, "GET", "/api/v1/me", 200, 2, "10.0.0.2", "python-requests/2", second + 999})
		case 4:
			rows = append(rows, row{1, 7, "GET", "/api/v1/me", 200, 3, "10.0.0.1", "curl/8", second + 1000 + int64(i)})
		case 5:
			rows = append(rows, row{2, 9, "GET", "/api/v1/me", 200, 4, "10.0.0.1", "curl/8", second + 6})
		}
	}
	for _, r := range rows {
		if _, err := db.WriteConn().Exec(`INSERT INTO request_log (organization_id, api_key_id, method, route, status, latency_us, ip, user_agent, created_at)
			VALUES ($1, NULLIF($2, 0), $3, $4, $5, $6, $7, $8, $9)`,
			r.org, r.key, r.method, r.route, r.status, r.latencyUS, r.ip, r.userAgent, r.createdAt); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	q, err := db.WriteConn().Query(`SELECT organization_id, COALESCE(api_key_id, 0), method, route, status, latency_us, ip, user_agent, created_at FROM request_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var got []row
	for q.Next() {
		var r row
		if err := q.Scan(&r.org, &r.key, &r.method, &r.route, &r.status, &r.latencyUS, &r.ip, &r.userAgent, &r.createdAt); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	order := func(a, b row) int {
		return cmp.Or(cmp.Compare(a.createdAt, b.createdAt), cmp.Compare(a.status, b.status), cmp.Compare(a.key, b.key),
			cmp.Compare(a.org, b.org), strings.Compare(a.ip, b.ip), cmp.Compare(a.latencyUS, b.latencyUS))
	}
	slices.SortFunc(got, order)
	slices.SortFunc(rows, order)
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("%d rows after the migration, want the %d before, alike", len(got), len(rows))
	}
}

// Migration 17 makes the packed log of migration 12 rows again on both
// engines: each request keeps its id (chunk * 1024 + entry), its time,
// latency, path and request id, and the requests logged afterwards take
// ids above them. The daily counters start from the hourly ones.
func TestMigrate_RequestLogRows(t *testing.T) {
	t.Parallel()
	db, _ := mustOpenUnmigrated(t)
	ctx := context.Background()
	if err := db.MigrateThrough(ctx, 16); err != nil {
		t.Fatal(err)
	}
	exec := func(query string, args ...any) { t.Helper(); mustExec(t, db, query, args...) }
	exec(`INSERT INTO organizations (id, public_id, name, created_at, updated_at) VALUES (1, 'org_1', 'A', 0, 0)`)
	exec(`INSERT INTO api_keys (id, public_id, organization_id, name, environment, scopes, secret_hash, hint, created_at, updated_at)
		VALUES (7, 'key_7', 1, 'k', 'production', 'read', $1, 'kg_4Nf…p8Zq', 0, 0)`, []byte{7})
	second := monNow.Unix()
	rids := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	// Chunk 3: three requests, each of its own path, the second without a
	// request id. Chunk 5: two of one path, not the route. Chunk 9: one,
	// of the route, from before request ids were logged.
	insertChunk := func(id int64, route, paths, entries string, n int, ids []byte) {
		t.Helper()
		exec(`INSERT INTO request_log_chunk (id, organization_id, api_key_id, method, route, status, ip, user_agent, second, n, entries, code, paths, request_ids)
			VALUES ($1, 1, 7, 'GET', $2, 200, '10.0.0.1', 'curl/8', $3, $4, $5, '', $6, $7)`, id, route, second, n, entries, paths, ids)
	}
	insertChunk(3, "/api/v1/bots/{id}", `["/api/v1/bots/bot_a","/api/v1/bots/bot_b","/api/v1/bots/bot_c"]`,
		fmt.Sprintf("[%d,%d,%d]", 1500*1024+10, 20*1024+11, 7*1024+999), 3, rids)
	insertChunk(5, "/api/v1/bots/{id}", "/api/v1/bots/bot_z", fmt.Sprintf("[%d,%d]", 3*1024, 4*1024+1), 2, rids[:16])
	insertChunk(9, "/api/v1/me", "", fmt.Sprintf("[%d]", 5*1024+2), 1, nil)
	// Hourly counters of two hours of one day and one of the next, which
	// the daily sums start from.
	day := monNow.Truncate(24 * time.Hour).UnixMilli()
	for _, h := range []struct {
		hour  int64
		class string
		n     int
	}{{day + 3_600_000, "2xx", 5}, {day + 7_200_000, "2xx", 7}, {day + 7_200_000, "429", 1}, {day + 86_400_000, "2xx", 2}} {
		exec(`INSERT INTO usage_hourly (organization_id, api_key_id, hour, status_class, count) VALUES (1, 7, $1, $2, $3)`, h.hour, h.class, h.n)
		exec(`INSERT INTO usage_latency_hourly (organization_id, api_key_id, hour, bucket, count) VALUES (1, 7, $1, 1000, $2)
			ON CONFLICT (api_key_id, hour, bucket) DO UPDATE SET count = usage_latency_hourly.count + excluded.count`, h.hour, h.n)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	type row struct {
		id, createdAt, latencyUS int64
		path, requestID          string
	}
	read := func() []row {
		t.Helper()
		q, err := db.WriteConn().Query(`SELECT id, created_at, latency_us, CASE WHEN path = '' THEN route ELSE path END, request_id FROM request_log ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		var out []row
		for q.Next() {
			var r row
			var rid []byte
			if err := q.Scan(&r.id, &r.createdAt, &r.latencyUS, &r.path, &rid); err != nil {
				t.Fatal(err)
			}
			r.requestID = fmt.Sprintf("%x", rid)
			out = append(out, r)
		}
		if err := q.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ms := second * 1000
	want := []row{
		{3*1024 + 0, ms + 10, 1500, "/api/v1/bots/bot_a", "0123456789abcdef"},
		{3*1024 + 1, ms + 11, 20, "/api/v1/bots/bot_b", ""},
		{3*1024 + 2, ms + 999, 7, "/api/v1/bots/bot_c", "fedcba9876543210"},
		{5*1024 + 0, ms, 3, "/api/v1/bots/bot_z", "0123456789abcdef"},
		{5*1024 + 1, ms + 1, 4, "/api/v1/bots/bot_z", ""},
		{9*1024 + 0, ms + 2, 5, "/api/v1/me", ""},
	}
	if got := read(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows after the migration\n%+v\nwant\n%+v", got, want)
	}

	for _, tt := range []struct {
		query string
		want  int
	}{
		{fmt.Sprintf(`SELECT count FROM usage_daily WHERE day = %d AND status_class = '2xx'`, day), 12},
		{fmt.Sprintf(`SELECT count FROM usage_daily WHERE day = %d AND status_class = '429'`, day), 1},
		{fmt.Sprintf(`SELECT count FROM usage_daily WHERE day = %d AND status_class = '2xx'`, day+86_400_000), 2},
		{fmt.Sprintf(`SELECT count FROM usage_latency_daily WHERE day = %d AND bucket = 1000`, day), 13},
		{`SELECT COUNT(*) FROM usage_daily`, 3},
	} {
		if got := monCount(t, db, tt.query); got != tt.want {
			t.Fatalf("%s = %d, want %d", tt.query, got, tt.want)
		}
	}

	mustWriteUsage(t, db, []usage.Event{{OrganizationID: 1, KeyID: 7, Method: "GET", Route: "/api/v1/me", Path: "/api/v1/me",
		Status: 200, At: monNow, RequestID: 0x1111111111111111}})
	got := read()
	if len(got) != len(want)+1 || got[len(got)-1].id <= 9*1024 || got[len(got)-1].requestID != "1111111111111111" {
		t.Fatalf("rows after a flush %+v: want a new last row with an id above %d", got, 9*1024)
	}
}

// mustExec runs a statement on db's writer, as a migration test sets up
// what an older release left.
func mustExec(tb testing.TB, db *sqlstore.DB, query string, args ...any) {
	tb.Helper()
	if _, err := db.WriteConn().Exec(query, args...); err != nil {
		tb.Fatal(err)
	}
}
