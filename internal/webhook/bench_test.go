package webhook_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// BenchmarkWebhookDelivery delivers 10,000 events, queued beforehand, to
// a local receiver that checks every signature, and reports events/s.
func BenchmarkWebhookDelivery(b *testing.B) {
	const events = 10_000
	for b.Loop() {
		b.StopTimer()
		e := mustEnv(b, []string{keygate.WebhookKeyCreated}, nil)
		for range events {
			if _, err := e.hooks.SendWebhookTest(e.ctx, e.org.PublicID, e.endpoint.PublicID); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		sent := 0
		for sent < events {
			n, err := e.worker.Tick(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				b.Fatalf("%d of %d events sent, then none was due", sent, events)
			}
			sent += n
		}
		b.StopTimer()
		if got := len(e.recv.requests()); got != events {
			b.Fatalf("receiver got %d events, want %d", got, events)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
