package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sqlite"
	"github.com/keygate/keygate/internal/usage"
)

// BenchmarkWriteUsage flushes batches of 1,000 requests of one key, as the
// usage buffer does once a second under load; ns/op is per request.
func BenchmarkWriteUsage(b *testing.B) {
	m := loadMonitoringBench(b, 0)
	store := sqlite.NewUsageStore(m.db)
	const batch = 1000
	events := make([]usage.Event, batch)
	at := monBenchNow
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		for i := range events {
			at = at.Add(50 * time.Microsecond)
			events[i] = usage.Event{OrganizationID: m.org.ID, KeyID: m.keys[0].ID, Method: "GET", Route: "/api/v1/me",
				Status: 200, Latency: 180 * time.Microsecond, IP: "127.0.0.1", UserAgent: "Go-http-client/1.1", At: at}
		}
		if err := store.WriteUsage(ctx, usage.Aggregate(events)); err != nil {
			b.Fatal(err)
		}
	}
}
