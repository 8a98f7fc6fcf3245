package usage_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/usage"
)

// The buffer's numbered, pointer-free events against the plain way (a
// slice of Events under a mutex): a second of a busy key's requests
// (10,000), recorded from parallel goroutines while a garbage collection
// runs in the middle (as it does under load), then handed to the sink.
//
//	go test -run '^$' -bench 'RecordSecond' ./internal/usage/

const eventsASecond = 10_000

func busyEvent() usage.Event {
	return usage.Event{OrganizationID: 1, KeyID: 1, Method: "GET", Route: "/api/v1/me", Path: "/api/v1/me", Status: 200,
		Latency: time.Millisecond, IP: "203.0.113.7", UserAgent: "python-requests/2.32.3", At: time.Now()}
}

func BenchmarkRecordSecond(b *testing.B) {
	buf := usage.NewBuffer(discardSink{})
	buf.Max = 1 << 30
	e := busyEvent()
	for b.Loop() {
		recordSecond(func() { buf.Record(e) })
		if err := buf.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordSecondPlain(b *testing.B) {
	var mu sync.Mutex
	var events []usage.Event
	e := busyEvent()
	for b.Loop() {
		recordSecond(func() {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		})
		mu.Lock()
		batch := events
		events = nil
		mu.Unlock()
		discardSink{}.WriteUsage(context.Background(), usage.Aggregate(batch))
	}
}

// recordSecond calls record eventsASecond times from 4 goroutines, with a
// garbage collection halfway.
func recordSecond(record func()) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range eventsASecond / 4 {
				if g == 0 && i == eventsASecond/8 {
					runtime.GC()
				}
				record()
			}
		})
	}
	wg.Wait()
}

type discardSink struct{}

func (discardSink) WriteUsage(context.Context, *usage.Batch) error { return nil }
