package usage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/usage"
)

type memSink struct {
	mu      sync.Mutex
	batches []*usage.Batch
	err     error
}

func (s *memSink) WriteUsage(_ context.Context, b *usage.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.batches = append(s.batches, b)
	return nil
}

func TestBufferAggregates(t *testing.T) {
	sink := &memSink{}
	b := usage.NewBuffer(sink)
	t0 := time.Date(2026, 11, 23, 10, 59, 0, 0, time.UTC)
	for i, st := range []int{200, 201, 404, 429, 500, 200} {
		b.Record(usage.Event{OrganizationID: 1, KeyID: 7, Status: st, At: t0.Add(time.Duration(i) * 20 * time.Second), IP: "10.0.0." + string(rune('1'+i))})
	}
	b.Record(usage.Event{OrganizationID: 1, KeyID: 8, Status: 200, At: t0})
	if len(sink.batches) != 0 || b.Pending() != 7 {
		t.Fatal("events written before a flush")
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.batches) != 1 {
		t.Fatalf("batches = %d", len(sink.batches))
	}
	got := sink.batches[0]
	h10, h11 := t0.Truncate(time.Hour), t0.Truncate(time.Hour).Add(time.Hour)
	checks := []struct {
		k usage.HourKey
		n int
	}{
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h10, Class: "2xx"}, 2}, // 10:59:00, 10:59:20
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h10, Class: "4xx"}, 1}, // 10:59:40
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h11, Class: "429"}, 1}, // 11:00:00
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h11, Class: "5xx"}, 1},
		{usage.HourKey{OrganizationID: 1, KeyID: 7, Hour: h11, Class: "2xx"}, 1},
		{usage.HourKey{OrganizationID: 1, KeyID: 8, Hour: h10, Class: "2xx"}, 1},
	}
	for _, c := range checks {
		if got.Hourly[c.k] != c.n {
			t.Errorf("%+v = %d, want %d", c.k, got.Hourly[c.k], c.n)
		}
	}
	if len(got.Hourly) != len(checks) || len(got.Requests) != 7 {
		t.Fatalf("hourly = %d rows, requests = %d", len(got.Hourly), len(got.Requests))
	}
	if last := got.LastUsed[7]; !last.At.Equal(t0.Add(100*time.Second)) || last.IP != "10.0.0.6" {
		t.Fatalf("last use = %+v", last)
	}
	if b.Pending() != 0 {
		t.Fatal("flushed events still pending")
	}
}

func TestBufferDropsWhenFull(t *testing.T) {
	b := usage.NewBuffer(&memSink{})
	b.Max = 3
	for i := 0; i < 5; i++ {
		b.Record(usage.Event{KeyID: 1, Status: 200, At: time.Now()})
	}
	if _, _, drops := b.Stats(); drops != 2 || b.Pending() != 3 {
		t.Fatalf("drops = %d, pending = %d", drops, b.Pending())
	}
}

func TestBufferFlushFailure(t *testing.T) {
	sink := &memSink{err: errors.New("disk full")}
	b := usage.NewBuffer(sink)
	b.Record(usage.Event{KeyID: 1, Status: 200, At: time.Now()})
	if err := b.Flush(context.Background()); err == nil {
		t.Fatal("no error")
	}
	if flushes, failures, drops := b.Stats(); flushes != 0 || failures != 1 || drops != 1 {
		t.Fatalf("stats = %d %d %d", flushes, failures, drops)
	}
}

func TestRunFlushesOnStop(t *testing.T) {
	sink := &memSink{}
	b := usage.NewBuffer(sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx, time.Hour, nil); close(done) }()
	b.Record(usage.Event{KeyID: 1, Status: 200, At: time.Now()})
	cancel()
	<-done
	if len(sink.batches) != 1 {
		t.Fatal("pending usage not flushed at shutdown")
	}
}

func BenchmarkRecord(b *testing.B) {
	buf := usage.NewBuffer(&memSink{})
	buf.Max = 1 << 30
	e := usage.Event{KeyID: 1, Status: 200, At: time.Now()}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf.Record(e)
		}
	})
}
