package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/usage"
)

// detailFixture is the monitoring fixture with a third batch of requests
// that carry what the log's detail shows: paths, request ids, error codes,
// and refusals of a revoked key.
//
//	15 03-31 12:00:00.100 key1 GET /api/v1/bots/{id} /api/v1/bots/bot_a 404 not_found  7ms
//	16 03-31 12:00:00.200 key1 GET /api/v1/bots/{id} /api/v1/bots/bot_b 404 not_found  9ms
//	17 03-31 12:00:00.300 key2 GET /api/v1/me        /api/v1/me         401 token_revoked (refused)
//	18 03-31 13:00:00.000 key2 GET /api/v1/me        /api/v1/me         401 token_revoked (refused)
//	19 03-31 13:30:00.000 key1 GET /api/v1/me        /api/v1/me         200 (no request id)
//	20 03-31 14:00:00.000 keyB GET /api/v1/me        /api/v1/me         200 (organization B)
type detailFixture struct {
	*monFixture
	rids []usage.RequestID // of events 15-18, then 20
}

func mustDetailFixture(tb testing.TB) *detailFixture {
	tb.Helper()
	f := &detailFixture{monFixture: mustMonFixture(tb)}
	for _, s := range []string{"00000000000000a1", "00000000000000a2", "0a0000000000000a", "ffffffffffffffff", "00000000000000b1"} {
		id, ok := usage.ParseRequestID(s)
		if !ok {
			tb.Fatal(s)
		}
		f.rids = append(f.rids, id)
	}
	at := func(s string) time.Time { return monAt(tb, "2026-03-31T"+s+"Z") }
	ev := func(key *keygate.APIKey, t time.Time, route, path string, status int, code string, latency time.Duration) usage.Event {
		return usage.Event{OrganizationID: key.OrganizationID, KeyID: key.ID, Method: "GET", Route: route, Path: path,
			Status: status, Code: code, Latency: latency, IP: "10.0.0.6", UserAgent: "detail-test/1.0", At: t, Refused: status == 401}
	}
	events := []usage.Event{
		ev(f.key1, at("12:00:00.100"), "/api/v1/bots/{id}", "/api/v1/bots/bot_a", 404, "not_found", 7*time.Millisecond),
		ev(f.key1, at("12:00:00.200"), "/api/v1/bots/{id}", "/api/v1/bots/bot_b", 404, "not_found", 9*time.Millisecond),
		ev(f.key2, at("12:00:00.300"), "/api/v1/me", "/api/v1/me", 401, "token_revoked", time.Millisecond),
		ev(f.key2, at("13:00:00"), "/api/v1/me", "/api/v1/me", 401, "token_revoked", time.Millisecond),
		ev(f.key1, at("13:30:00"), "/api/v1/me", "/api/v1/me", 200, "", time.Millisecond),
		ev(f.keyB, at("14:00:00"), "/api/v1/me", "/api/v1/me", 200, "", time.Millisecond),
	}
	for i, id := range f.rids[:4] {
		events[i].RequestID = id
	}
	events[5].RequestID = f.rids[4]
	mustWriteUsage(tb, f.db, events)
	f.events = append(f.events, events...)
	f.readIDs(tb, f.ids[len(f.ids)-1])
	return f
}

func TestMonitoringService_FindRequestLogEntry(t *testing.T) {
	t.Parallel()
	f := mustDetailFixture(t)
	t.Run("OK", func(t *testing.T) {
		got, err := f.s.FindRequestLogEntry(f.ctxA, f.orgA.PublicID, f.ids[16])
		if err != nil {
			t.Fatal(err)
		}
		want := &keygate.RequestLogEntry{
			ID: f.ids[16], At: monAt(t, "2026-03-31T12:00:00.200Z"), KeyID: f.key1.PublicID, KeyName: "prod", KeyHint: f.key1.Hint,
			Method: "GET", Route: "/api/v1/bots/{id}", Path: "/api/v1/bots/bot_b", Status: 404, Code: "not_found",
			Latency: 9 * time.Millisecond, IP: "10.0.0.6", UserAgent: "detail-test/1.0", RequestID: "00000000000000a2",
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("entry %+v\nwant  %+v", got, want)
		}
	})
	t.Run("OKRefused", func(t *testing.T) {
		got, err := f.s.FindRequestLogEntry(f.ctxA, f.orgA.PublicID, f.ids[18])
		if err != nil {
			t.Fatal(err)
		}
		if got.Code != "token_revoked" || got.Status != 401 || got.KeyID != f.key2.PublicID || got.RequestID != "ffffffffffffffff" || got.Path != "/api/v1/me" {
			t.Fatalf("entry %+v", got)
		}
	})
	t.Run("OKNoRequestID", func(t *testing.T) {
		got, err := f.s.FindRequestLogEntry(f.ctxA, f.orgA.PublicID, f.ids[19])
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestID != "" {
			t.Fatalf("request id %q, want none", got.RequestID)
		}
	})
	t.Run("OKWrittenBeforeDetails", func(t *testing.T) {
		// The fixture's first events carry no path: the route stands in.
		got, err := f.s.FindRequestLogEntry(f.ctxA, f.orgA.PublicID, f.ids[2])
		if err != nil {
			t.Fatal(err)
		}
		if got.Path != "/api/v1/bots/{id}" || got.RequestID != "" || got.Code != "" {
			t.Fatalf("entry %+v", got)
		}
	})
	for _, tt := range []struct {
		name string
		ctx  func() (string, int64)
	}{
		{"ErrNotFoundOtherOrganization", func() (string, int64) { return f.orgA.PublicID, f.ids[10] }},
		{"ErrNotFoundNoSuchEntry", func() (string, int64) { return f.orgA.PublicID, f.ids[19] + 1 }},
		{"ErrNotFoundNegative", func() (string, int64) { return f.orgA.PublicID, -1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			org, id := tt.ctx()
			_, err := f.s.FindRequestLogEntry(f.ctxA, org, id)
			assertError(t, err, keygate.ENOTFOUND, "Request not found. It may be older than the log keeps.")
		})
	}
	t.Run("ErrForbiddenMember", func(t *testing.T) {
		_, err := f.s.FindRequestLogEntry(f.ctxM, f.orgA.PublicID, f.ids[16])
		assertError(t, err, keygate.EFORBIDDEN, "You need the Admin role to manage API keys")
	})
}

func TestMonitoringService_FindRequestLog_Details(t *testing.T) {
	t.Parallel()
	f := mustDetailFixture(t)
	find := func(t *testing.T, flt keygate.RequestLogFilter) ([]int, bool) {
		t.Helper()
		flt.OrgPublicID = f.orgA.PublicID
		got, more, err := f.s.FindRequestLog(f.ctxA, flt)
		if err != nil {
			t.Fatal(err)
		}
		return f.monEventIndexes(got), more
	}
	for _, tt := range []struct {
		name string
		f    keygate.RequestLogFilter
		want []int
	}{
		{"OKRequestID", keygate.RequestLogFilter{RequestID: "00000000000000a2"}, []int{16}},
		{"OKRequestIDUpperCase", keygate.RequestLogFilter{RequestID: "0A0000000000000A"}, []int{17}},
		// These bytes are in the ids of 15 and 16, across their boundary.
		{"OKRequestIDAcrossEntries", keygate.RequestLogFilter{RequestID: "00000000a1000000"}, []int{}},
		{"OKRequestIDWithFilter", keygate.RequestLogFilter{RequestID: "00000000000000a2", KeyID: f.key2.PublicID}, []int{}},
		{"OKRequestIDUnknown", keygate.RequestLogFilter{RequestID: "1234567890abcdef"}, []int{}},
		{"OKSortOldest", keygate.RequestLogFilter{Sort: keygate.LogOldest, KeyID: f.key2.PublicID}, []int{5, 6, 9, 17, 18}},
		{"OKSortStatus", keygate.RequestLogFilter{Sort: keygate.LogStatusDesc, KeyID: f.key2.PublicID}, []int{9, 18, 17, 6, 5}},
		{"OKSortStatusAsc", keygate.RequestLogFilter{Sort: keygate.LogStatusAsc, KeyID: f.key2.PublicID}, []int{5, 6, 18, 17, 9}},
		{"OKSortSlowest", keygate.RequestLogFilter{Sort: keygate.LogSlowest, Class: keygate.Class4xx}, []int{16, 15, 12, 18, 17, 11}},
		{"OKSortFastest", keygate.RequestLogFilter{Sort: keygate.LogFastest, Class: keygate.Class4xx}, []int{11, 18, 17, 12, 15, 16}},
		{"OKSortPage", keygate.RequestLogFilter{Sort: keygate.LogSlowest, Class: keygate.Class4xx, Offset: 2, Limit: 2}, []int{12, 18}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := find(t, tt.f); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("OKRequestIDOfAnotherOrganization", func(t *testing.T) {
		// A's log is most of the table: A's search scans the table, B's
		// walks B's index; neither finds the other's request.
		if got, _ := find(t, keygate.RequestLogFilter{RequestID: "00000000000000b1"}); len(got) != 0 {
			t.Fatalf("A's search found B's request: %v", got)
		}
		got, _, err := f.s.FindRequestLog(f.ctxB, keygate.RequestLogFilter{OrgPublicID: f.orgB.PublicID, RequestID: "00000000000000b1"})
		if err != nil {
			t.Fatal(err)
		}
		if idx := f.monEventIndexes(got); !reflect.DeepEqual(idx, []int{20}) {
			t.Fatalf("B's search found %v, want [20]", idx)
		}
		got, _, err = f.s.FindRequestLog(f.ctxB, keygate.RequestLogFilter{OrgPublicID: f.orgB.PublicID, RequestID: "00000000000000a2"})
		if err != nil || len(got) != 0 {
			t.Fatalf("B's search found A's request: %v, %v", got, err)
		}
	})
	t.Run("OKSortMore", func(t *testing.T) {
		_, more := find(t, keygate.RequestLogFilter{Sort: keygate.LogSlowest, Class: keygate.Class4xx, Offset: 2, Limit: 2})
		_, last := find(t, keygate.RequestLogFilter{Sort: keygate.LogSlowest, Class: keygate.Class4xx, Offset: 4, Limit: 2})
		if !more || last {
			t.Fatalf("more = %v, %v; want true, false", more, last)
		}
	})
	for _, tt := range []struct {
		name, field, msg string
		f                keygate.RequestLogFilter
	}{
		{"ErrRequestID", "request_id", "Enter a request ID: 16 characters, 0-9 and a-f, as in the X-Request-Id header.", keygate.RequestLogFilter{RequestID: "abc"}},
		{"ErrSort", "sort", "Unknown order.", keygate.RequestLogFilter{Sort: "size"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.OrgPublicID = f.orgA.PublicID
			_, _, err := f.s.FindRequestLog(f.ctxA, tt.f)
			if got := keygate.ErrorFields(err)[tt.field]; got != tt.msg {
				t.Fatalf("%s error = %q (%v), want %q", tt.field, got, err, tt.msg)
			}
		})
	}
}

func TestMonitoringService_KeyActivity(t *testing.T) {
	t.Parallel()
	f := mustDetailFixture(t)
	got, err := f.s.KeyActivity(f.ctxA, f.orgA.PublicID, []string{f.key1.PublicID, f.key2.PublicID, f.keyB.PublicID, "key_unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("activity of %d keys, want A's 2", len(got))
	}
	at := func(s string) *time.Time { t := monAt(t, s); return &t }
	want := map[string]*keygate.KeyActivity{
		f.key1.PublicID: {LastAttemptAt: at("2026-03-31T13:30:00Z"), LastAttemptIP: "10.0.0.6", LastAttemptStatus: 200},
		f.key2.PublicID: {LastAttemptAt: at("2026-03-31T13:00:00Z"), LastAttemptIP: "10.0.0.6", LastAttemptStatus: 401,
			LastRefusedAt: at("2026-03-31T13:00:00Z"), LastRefusedIP: "10.0.0.6", LastRefusedCode: "token_revoked",
			Refused24h: 2, Refused30d: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("activity %+v, %+v\nwant %+v, %+v", got[f.key1.PublicID], got[f.key2.PublicID], want[f.key1.PublicID], want[f.key2.PublicID])
	}
	t.Run("OKLastUseIsTheLastSuccess", func(t *testing.T) {
		if got, want := monCount(t, f.db, `SELECT last_used_at FROM api_keys WHERE id = $1`, f.key2.ID), int(monAt(t, "2026-03-30T14:00:00Z").UnixMilli()); got != want {
			t.Fatalf("key2's last use = %d, want %d (the 304, not the 401s)", got, want)
		}
	})
	t.Run("OKRefusalsOfADayAgo", func(t *testing.T) {
		f.clock.Set(monNow.Add(22 * time.Hour))
		defer f.clock.Set(monNow)
		got, err := f.s.KeyActivity(f.ctxA, f.orgA.PublicID, []string{f.key2.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		// 13:00 tomorrow: the 12:00 hour is more than 24 hours ago.
		if n := got[f.key2.PublicID].Refused24h; n != 1 {
			t.Fatalf("refused in the last 24 hours = %d, want 1", n)
		}
	})
	t.Run("OKSummaryCountsRefusals", func(t *testing.T) {
		for _, key := range []string{"", f.key2.PublicID} {
			sum, err := f.s.Summary(f.ctxA, f.orgA.PublicID, key)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Refused30d != 2 {
				t.Fatalf("Summary(%q).Refused30d = %d, want 2", key, sum.Refused30d)
			}
		}
	})
	t.Run("ErrForbiddenMember", func(t *testing.T) {
		_, err := f.s.KeyActivity(f.ctxM, f.orgA.PublicID, []string{f.key1.PublicID})
		assertError(t, err, keygate.EFORBIDDEN, "You need the Admin role to manage API keys")
	})
}

func TestMonitoringService_MemberFigures(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	t.Run("OKSummary", func(t *testing.T) {
		got, err := f.s.Summary(f.ctxM, f.orgA.PublicID, "")
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.s.Summary(f.ctxA, f.orgA.PublicID, "")
		if err != nil {
			t.Fatal(err)
		}
		if *got != *want {
			t.Fatalf("a Member's figures %+v, the Owner's %+v", got, want)
		}
	})
	t.Run("OKDaily", func(t *testing.T) {
		got, err := f.s.Daily(f.ctxM, f.orgA.PublicID, "", 7)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := f.s.Daily(f.ctxA, f.orgA.PublicID, "", 7)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("a Member's chart %v, the Owner's %v", got, want)
		}
	})
	t.Run("ErrNotFoundOtherOrganization", func(t *testing.T) {
		_, err := f.s.Summary(f.ctxM, f.orgB.PublicID, "")
		assertError(t, err, keygate.ENOTFOUND, "Organization not found.")
	})
}

// Migration 15 keeps hints it cannot redo, marked as not ending with the
// key's end, and counts every earlier use as an attempt too.
func TestMigrate_RequestDetailRefused(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t) // SQLite\'s files and upgrades from its older formats
	db, _ := mustOpenUnmigrated(t)
	ctx := context.Background()
	if err := db.MigrateThrough(ctx, 14); err != nil {
		t.Fatal(err)
	}
	exec := func(query string, args ...any) { t.Helper(); mustExec(t, db, query, args...) }
	exec(`INSERT INTO organizations (id, public_id, name, created_at, updated_at) VALUES (1, 'org_1', 'A', 0, 0)`)
	for i, k := range []struct {
		hint     string
		lastUsed any
	}{{"kg_4Nf…8Zp", int64(1000)}, {"kg_4Nf…p8Zq", nil}, {"kg_4Nf…8Zp…", nil}} {
		exec(`INSERT INTO api_keys (id, public_id, organization_id, name, environment, scopes, secret_hash, hint, created_at, updated_at, last_used_at, last_used_ip)
			VALUES ($1, $2, 1, 'k', 'production', 'read', $3, $4, 0, 0, $5, '10.0.0.1')`, i+1, fmt.Sprintf("key_%d", i+1), []byte{byte(i)}, k.hint, k.lastUsed)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.WriteConn().Query(`SELECT hint, COALESCE(last_attempt_at, 0), last_attempt_ip FROM api_keys ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type key struct {
		hint    string
		attempt int64
		ip      string
	}
	var got []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.hint, &k.attempt, &k.ip); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	want := []key{{"kg_4Nf…8Zp…", 1000, "10.0.0.1"}, {"kg_4Nf…p8Zq", 0, ""}, {"kg_4Nf…8Zp…", 0, ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("keys after the migration %+v, want %+v", got, want)
	}
}

// Sorting by latency orders the newest keygate.LogSortWindow requests that
// match, whatever the log holds before them.
func TestMonitoringService_FindRequestLog_SortWindow(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	older := monAt(t, "2026-03-31T12:00:00Z")
	var events []usage.Event
	for i := range 100 {
		events = append(events, usage.Event{OrganizationID: f.orgA.ID, KeyID: f.key2.ID, Method: "GET", Route: "/api/v1/me", Status: 200,
			Latency: 9 * time.Second, IP: "10.0.0.9", At: older.Add(time.Duration(i) * time.Millisecond)})
	}
	for i := range keygate.LogSortWindow {
		events = append(events, usage.Event{OrganizationID: f.orgA.ID, KeyID: f.key2.ID, Method: "GET", Route: "/api/v1/me", Status: 200,
			Latency: time.Duration(1+i%7) * time.Millisecond, IP: "10.0.0.9", At: older.Add(time.Minute + time.Duration(i)*time.Millisecond)})
	}
	mustWriteUsage(t, f.db, events)
	got, more, err := f.s.FindRequestLog(f.ctxA, keygate.RequestLogFilter{OrgPublicID: f.orgA.PublicID, KeyID: f.key2.PublicID, Sort: keygate.LogSlowest, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || !more || got[0].Latency != 7*time.Millisecond {
		t.Fatalf("slowest of the newest %d = %+v, more %v; want 7 ms first, not the older 9 s", keygate.LogSortWindow, got[0], more)
	}
	t.Run("OKWithinARange", func(t *testing.T) {
		to := older.Add(time.Second)
		got, _, err := f.s.FindRequestLog(f.ctxA, keygate.RequestLogFilter{OrgPublicID: f.orgA.PublicID, KeyID: f.key2.PublicID,
			Sort: keygate.LogSlowest, To: &to, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 || got[0].Latency != 9*time.Second {
			t.Fatalf("slowest before %v = %+v", to, got)
		}
	})
}
