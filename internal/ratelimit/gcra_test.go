package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
)

var perHour = ratelimit.Limit{Count: 1000, Period: time.Hour}

func newGCRA() (*ratelimit.GCRA, *fakeClock) {
	clock := newClock()
	g := ratelimit.NewGCRA()
	g.Now = clock.Now
	return g, clock
}

func TestGCRABurstThenSteadyRate(t *testing.T) {
	g, clock := newGCRA()
	const key = "key:abc"
	interval := 3600 * time.Millisecond

	for i := range 1000 {
		d := g.Allow(key, perHour)
		want := ratelimit.Decision{
			Allowed:   true,
			Limit:     1000,
			Remaining: 999 - i,
			Reset:     time.Duration(i+1) * interval,
		}
		if d != want {
			t.Fatalf("request %d: %+v, want %+v", i+1, d, want)
		}
	}

	denied := ratelimit.Decision{Allowed: false, Limit: 1000, Remaining: 0, Reset: time.Hour, RetryAfter: interval}
	if d := g.Allow(key, perHour); d != denied {
		t.Fatalf("request 1001: %+v, want %+v", d, denied)
	}
	// A denied request does not consume quota.
	if d := g.Allow(key, perHour); d != denied {
		t.Fatalf("request 1002: %+v, want %+v", d, denied)
	}

	clock.Advance(interval - time.Nanosecond)
	if d := g.Allow(key, perHour); d.Allowed || d.RetryAfter != time.Nanosecond {
		t.Fatalf("1ns early: %+v, want denied with RetryAfter 1ns", d)
	}

	clock.Advance(time.Nanosecond)
	want := ratelimit.Decision{Allowed: true, Limit: 1000, Remaining: 0, Reset: time.Hour}
	if d := g.Allow(key, perHour); d != want {
		t.Fatalf("after 3.6s: %+v, want %+v", d, want)
	}
	if d := g.Allow(key, perHour); d != denied {
		t.Fatalf("second request after 3.6s: %+v, want %+v", d, denied)
	}
}

func TestGCRAFullyReplenishedAfterPeriod(t *testing.T) {
	g, clock := newGCRA()
	for range 1000 {
		g.Allow("k", perHour)
	}
	clock.Advance(time.Hour)
	want := ratelimit.Decision{Allowed: true, Limit: 1000, Remaining: 999, Reset: 3600 * time.Millisecond}
	if d := g.Allow("k", perHour); d != want {
		t.Fatalf("after an hour: %+v, want %+v", d, want)
	}
	// Idle longer than the period does not bank extra quota.
	clock.Advance(5 * time.Hour)
	if d := g.Allow("k", perHour); d != want {
		t.Fatalf("after five idle hours: %+v, want %+v", d, want)
	}
}

func TestGCRAPartialReplenish(t *testing.T) {
	g, clock := newGCRA()
	for range 1000 {
		g.Allow("k", perHour)
	}
	clock.Advance(36 * time.Second) // ten intervals
	for i := range 10 {
		if d := g.Allow("k", perHour); !d.Allowed || d.Remaining != 9-i {
			t.Fatalf("request %d after 36s: %+v, want allowed with Remaining %d", i+1, d, 9-i)
		}
	}
	if d := g.Allow("k", perHour); d.Allowed {
		t.Fatalf("11th request after 36s allowed: %+v", d)
	}
}

func TestGCRAKeysIndependent(t *testing.T) {
	g, _ := newGCRA()
	l := ratelimit.Limit{Count: 2, Period: time.Minute}
	g.Allow("a", l)
	g.Allow("a", l)
	if d := g.Allow("a", l); d.Allowed {
		t.Fatal("a: third request allowed")
	}
	if d := g.Allow("b", l); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("b: %+v, want allowed with Remaining 1", d)
	}
}

func TestGCRAUnevenPeriod(t *testing.T) {
	// 7/s does not divide evenly: exactly 7 requests at once, never more.
	g, clock := newGCRA()
	l := ratelimit.Limit{Count: 7, Period: time.Second}
	for i := range 7 {
		if d := g.Allow("k", l); !d.Allowed || d.Remaining != 6-i {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	d := g.Allow("k", l)
	if d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("request 8: %+v, want denied", d)
	}
	clock.Advance(d.RetryAfter)
	if d := g.Allow("k", l); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after RetryAfter: %+v, want allowed", d)
	}
}

func TestGCRALimitChange(t *testing.T) {
	g, _ := newGCRA()
	for range 1000 {
		g.Allow("k", perHour)
	}
	// Quota used up under 1000/h; under 10/h (T=6m, tau=54m) the key must
	// wait until its backlog of 60m drops to 54m.
	low := ratelimit.Limit{Count: 10, Period: time.Hour}
	if d := g.Allow("k", low); d.Allowed || d.RetryAfter != 6*time.Minute || d.Limit != 10 {
		t.Fatalf("lowered limit: %+v, want denied with RetryAfter 6m", d)
	}

	// Half of a 10/h quota used, then raised to 1000/h: about half left.
	g2, _ := newGCRA()
	for range 5 {
		g2.Allow("k", low)
	}
	d := g2.Allow("k", perHour)
	if !d.Allowed || d.Remaining != 499 || d.Limit != 1000 {
		t.Fatalf("raised limit: %+v, want allowed with Remaining 499", d)
	}
}

func TestGCRASweep(t *testing.T) {
	g, clock := newGCRA()
	start := clock.Now()
	l := ratelimit.Limit{Count: 10, Period: time.Minute} // T = 6s
	g.Allow("a", l)                                      // full again at +6s
	g.Allow("b", l)
	g.Allow("b", l) // full again at +12s
	if got := g.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2", got)
	}
	if got := g.Sweep(start.Add(6*time.Second - 1)); got != 0 {
		t.Fatalf("early Sweep evicted %d, want 0", got)
	}
	if got := g.Sweep(start.Add(6 * time.Second)); got != 1 {
		t.Fatalf("Sweep at +6s evicted %d, want 1", got)
	}
	if got := g.Sweep(start.Add(12 * time.Second)); got != 1 {
		t.Fatalf("Sweep at +12s evicted %d, want 1", got)
	}
	if got := g.Len(); got != 0 {
		t.Fatalf("Len = %d, want 0", got)
	}
	// An evicted key behaves like a fresh one.
	clock.Advance(time.Minute)
	if d := g.Allow("b", l); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after eviction: %+v", d)
	}
}

func TestGCRABoundedWithoutSweep(t *testing.T) {
	g, clock := newGCRA()
	l := ratelimit.Limit{Count: 10, Period: time.Second}
	const keys = 20000
	for i := range keys {
		g.Allow(fmt.Sprintf("key:%d", i), l)
		clock.Advance(time.Second)
	}
	if got := g.Len(); got > keys/4 {
		t.Fatalf("Len = %d after %d one-off keys; stale keys are not evicted", got, keys)
	}
}

func TestGCRAConcurrentExactCount(t *testing.T) {
	g, _ := newGCRA() // the clock stands still: no replenishment
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 100 {
				if g.Allow("shared", perHour).Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 1000 {
		t.Fatalf("allowed %d requests concurrently, want exactly 1000", got)
	}
}

func TestGCRAConcurrentManyKeys(t *testing.T) {
	g, clock := newGCRA()
	l := ratelimit.Limit{Count: 10, Period: time.Minute}
	var allowed [20]atomic.Int64
	var wg sync.WaitGroup
	for w := range 40 {
		wg.Go(func() {
			for i := range 200 {
				k := (w + i) % len(allowed)
				if g.Allow(fmt.Sprintf("key:%d", k), l).Allowed {
					allowed[k].Add(1)
				}
				if i%100 == 0 {
					g.Sweep(clock.Now())
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if got := allowed[k].Load(); got != 10 {
			t.Errorf("key:%d allowed %d, want 10", k, got)
		}
	}
}

func TestGCRAZeroValue(t *testing.T) {
	var g ratelimit.GCRA
	if d := g.Allow("k", perHour); !d.Allowed || d.Remaining != 999 {
		t.Fatalf("zero GCRA: %+v", d)
	}
}

func TestGCRAInvalidLimitPanics(t *testing.T) {
	g, _ := newGCRA()
	defer func() {
		if recover() == nil {
			t.Fatal("Allow with a zero Limit did not panic")
		}
	}()
	g.Allow("k", ratelimit.Limit{})
}

func BenchmarkGCRAAllow(b *testing.B) {
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%d", i)
	}
	b.Run("ManyKeys", func(b *testing.B) {
		g := ratelimit.NewGCRA()
		var seq atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := seq.Add(7919)
			for pb.Next() {
				g.Allow(keys[i%uint64(len(keys))], perHour)
				i++
			}
		})
	})
	b.Run("OneKey", func(b *testing.B) {
		g := ratelimit.NewGCRA()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				g.Allow("key:hot", perHour)
			}
		})
	})
}
