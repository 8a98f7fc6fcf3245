package sqlstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
)

// BenchmarkWriteUsage flushes batches of 1,000 requests of one key, as the
// usage buffer does once a second under load; ns/op is per request. One
// client's requests repeat the same address; a client per request (another
// address each time) gives each row values of its own.
func BenchmarkWriteUsage(b *testing.B) {
	for _, tc := range []struct {
		name string
		ip   func(i int) string
	}{
		{"OneClient", func(int) string { return "127.0.0.1" }},
		{"ClientPerRequest", func(i int) string { return "10.0." + strconv.Itoa(i/250%250) + "." + strconv.Itoa(i%250) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := loadMonitoringBench(b, 0)
			store := sqlstore.NewUsageStore(m.db)
			store.NoPause = true // the work, not the pauses between it
			const batch = 1000
			events := make([]usage.Event, batch)
			at := monBenchNow
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				for i := range events {
					at = at.Add(50 * time.Microsecond)
					// Every request has an id of its own, growing with time as
					// X-Request-Id does (newRequestID in web).
					events[i] = usage.Event{OrganizationID: m.org.ID, KeyID: m.keys[0].ID, Method: "GET", Route: "/api/v1/me",
						Path: "/api/v1/me", Status: 200, Latency: 180 * time.Microsecond, IP: tc.ip(done + i),
						UserAgent: "Go-http-client/1.1", At: at, RequestID: usage.RequestID(uint64(at.Unix())<<32 | uint64(done+i+1))}
				}
				if err := store.WriteUsage(ctx, usage.Aggregate(events)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
