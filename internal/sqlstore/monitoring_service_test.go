package sqlstore_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/usage"
)

// TestMonitoring_Services: calls checked for other services are counted
// per service and class, listed busiest first, summed by day, and found
// in the log by service; "" is Keygate's own API.
func TestMonitoring_Services(t *testing.T) {
	t.Parallel()
	f := mustMonFixture(t)
	ev := func(at string, key *keygate.APIKey, service string, status int) usage.Event {
		return usage.Event{OrganizationID: key.OrganizationID, KeyID: key.ID, Method: "GET", Route: "/auth/forward", Path: "/invoices",
			Status: status, Latency: time.Millisecond, IP: "10.0.0.1", At: monAt(t, "2026-"+at+":00Z"), Service: service}
	}
	mustWriteUsage(t, f.db, []usage.Event{
		ev("03-30T12:00", f.key1, "billing", 200),
		ev("03-30T12:10", f.key1, "billing", 403),
		ev("03-31T08:00", f.key2, "billing", 200),
		ev("03-31T08:00", f.key2, "reports", 429),
		ev("02-01T08:00", f.key2, "reports", 200), // before the 30 days
		ev("03-31T08:00", f.keyB, "billing", 200), // another organization's
	})

	got, err := f.s.Services(f.ctxA, f.orgA.PublicID, "")
	if err != nil {
		t.Fatal(err)
	}
	// Keygate's own API: the fixture's 11 keyed requests of A in the
	// window (its events 2-9 and 12-14).
	want := []keygate.ServiceUsage{{Service: "", Requests: 11, Errors: 3}, {Service: "billing", Requests: 3, Errors: 1}, {Service: "reports", Requests: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Services = %+v, want %+v", got, want)
	}
	got, err = f.s.Services(f.ctxA, f.orgA.PublicID, f.key2.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Service != "" || got[1] != (keygate.ServiceUsage{Service: "billing", Requests: 1}) {
		t.Errorf("key2's Services = %+v", got)
	}

	sum, err := f.s.ServiceSummary(f.ctxA, f.orgA.PublicID, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests30d != 3 || sum.RequestsToday != 1 || sum.Errors30d != 1 || sum.Throttled30d != 0 {
		t.Errorf("billing summary = %+v", sum)
	}
	daily, err := f.s.ServiceDaily(f.ctxA, f.orgA.PublicID, "reports", 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(daily) != 7 || daily[6].Counts[keygate.Class429] != 1 || daily[5].Counts[keygate.Class2xx] != 0 {
		t.Errorf("reports daily = %+v", daily)
	}
	if _, err := f.s.ServiceDaily(f.ctxB, f.orgA.PublicID, "billing", 7); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("another organization's figures: %v", err)
	}

	billing := "billing"
	entries, _, err := f.s.FindRequestLog(f.ctxA, keygate.RequestLogFilter{OrgPublicID: f.orgA.PublicID, Service: &billing, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[0].Service != "billing" || entries[0].Route != "/auth/forward" {
		t.Errorf("billing's log = %d entries, first %+v", len(entries), entries[0])
	}
	own := ""
	entries, _, err = f.s.FindRequestLog(f.ctxA, keygate.RequestLogFilter{OrgPublicID: f.orgA.PublicID, Service: &own, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Service != "" {
			t.Errorf("Keygate API's log holds a %s call", e.Service)
		}
	}
	if len(entries) != len(f.events)-1 { // all but the one without an organization
		t.Errorf("Keygate API's log = %d entries, want %d", len(entries), len(f.events)-1)
	}
}
