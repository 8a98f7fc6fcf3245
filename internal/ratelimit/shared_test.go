package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
)

// memBuckets is a BucketStore in memory with the store's arithmetic
// (internal/sqlstore's takeCellsSQL), in microseconds. Its err, if set,
// fails every trip.
type memBuckets struct {
	mu    sync.Mutex
	tat   map[string]int64
	err   error
	trips int
}

func newMemBuckets() *memBuckets { return &memBuckets{tat: map[string]int64{}} }

func (m *memBuckets) TakeCells(_ context.Context, bucket string, now time.Time, t time.Duration, count, want int) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trips++
	if m.err != nil {
		return 0, time.Time{}, m.err
	}
	cell, nowUS := max(t.Microseconds(), 1), now.UnixMicro()
	base := max(m.tat[bucket], nowUS)
	cells := (nowUS + cell*int64(count) - base) / cell
	taken := min(cells, int64(want))
	if taken <= 0 {
		return 0, time.UnixMicro(base), nil
	}
	m.tat[bucket] = base + taken*cell
	return int(taken), time.UnixMicro(m.tat[bucket]), nil
}

func (m *memBuckets) setErr(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

// newReplicas returns n Shared limiters on one store and one clock, as n
// replicas on one database.
func newReplicas(n int, store ratelimit.BucketStore, clock *fakeClock) []*ratelimit.Shared {
	rs := make([]*ratelimit.Shared, n)
	for i := range rs {
		rs[i] = ratelimit.NewShared(store)
		rs[i].Now = clock.Now
	}
	return rs
}

func TestSlack(t *testing.T) {
	for _, tc := range []struct{ count, want int }{{1, 10}, {1000, 10}, {1001, 11}, {5000, 50}, {100000, 1000}} {
		if got := ratelimit.Slack(ratelimit.Limit{Count: tc.count, Period: time.Hour}); got != tc.want {
			t.Errorf("Slack(%d/h) = %d, want %d", tc.count, got, tc.want)
		}
	}
}

// TestSharedReplicasWithinSlack alternates 1,500 requests between two and
// three replicas against 1000/h: the replicas together allow the limit
// within the slack, and every allowed request's Remaining is within the
// slack of what the bucket truly holds.
func TestSharedReplicasWithinSlack(t *testing.T) {
	for _, n := range []int{2, 3} {
		clock := newClock()
		rs := newReplicas(n, newMemBuckets(), clock)
		slack := ratelimit.Slack(perHour)
		allowed := 0
		for i := range 1500 {
			d := rs[i%n].Allow("key:abc", perHour)
			if d.Limit != perHour.Count {
				t.Fatalf("%d replicas, request %d: Limit = %d", n, i+1, d.Limit)
			}
			if !d.Allowed {
				if d.RetryAfter <= 0 || d.Remaining != 0 {
					t.Fatalf("%d replicas, request %d denied with RetryAfter %v, Remaining %d", n, i+1, d.RetryAfter, d.Remaining)
				}
				continue
			}
			allowed++
			if truth := perHour.Count - allowed; d.Remaining < truth-slack || d.Remaining > truth+slack {
				t.Fatalf("%d replicas, request %d: Remaining = %d, truth %d ± %d", n, i+1, d.Remaining, truth, slack)
			}
			clock.Advance(time.Millisecond)
		}
		if allowed > perHour.Count+slack || allowed < perHour.Count-slack {
			t.Errorf("%d replicas allowed %d of 1500, want %d ± %d", n, allowed, perHour.Count, slack)
		}
	}
}

// TestSharedSteadyRate keeps two replicas at twice the rate for hours:
// what they allow stays within the burst, the rate and the slack.
func TestSharedSteadyRate(t *testing.T) {
	clock := newClock()
	limit := ratelimit.Limit{Count: 100, Period: time.Hour} // T = 36 s
	rs := newReplicas(2, newMemBuckets(), clock)
	start, allowed := clock.Now(), 0
	for i := range 2000 {
		if rs[i%2].Allow("k", limit).Allowed {
			allowed++
		}
		clock.Advance(18 * time.Second)
	}
	elapsed := clock.Now().Sub(start)
	most := limit.Count + int(elapsed/(36*time.Second)) + ratelimit.Slack(limit)
	if allowed > most || allowed < most-2*ratelimit.Slack(limit) {
		t.Errorf("allowed %d over %v, want at most %d and near it", allowed, elapsed, most)
	}
}

// TestSharedTrips counts the trips to the store per 1,000 requests from
// one replica and from two: the leases save all but a few.
func TestSharedTrips(t *testing.T) {
	limit := ratelimit.Limit{Count: 100000, Period: time.Hour} // slack 1000
	for _, n := range []int{1, 2} {
		clock := newClock()
		store := newMemBuckets()
		rs := newReplicas(n, store, clock)
		for i := range 1000 {
			if d := rs[i%n].Allow("k", limit); !d.Allowed {
				t.Fatalf("%d replicas: request %d denied", n, i+1)
			}
			clock.Advance(time.Millisecond)
		}
		if store.trips > 50 {
			t.Errorf("%d replicas: %d trips to the store per 1,000 requests, want at most 50", n, store.trips)
		}
		t.Logf("%d replicas: %d trips per 1,000 requests", n, store.trips)
	}
}

// TestSharedDeniedCostsNoTrips checks that a key over its limit is told so
// from memory until the bucket can give a cell again.
func TestSharedDeniedCostsNoTrips(t *testing.T) {
	clock := newClock()
	store := newMemBuckets()
	s := newReplicas(1, store, clock)[0]
	limit := ratelimit.Limit{Count: 10, Period: time.Minute} // T = 6 s
	for range 10 {
		s.Allow("k", limit)
	}
	before := store.trips
	for range 100 {
		if d := s.Allow("k", limit); d.Allowed {
			t.Fatal("allowed over the limit")
		}
	}
	if store.trips != before+1 {
		t.Errorf("%d trips for 100 denials, want 1", store.trips-before)
	}
	clock.Advance(6 * time.Second)
	if d := s.Allow("k", limit); !d.Allowed {
		t.Errorf("denied after one interval: %+v", d)
	}
}

// TestSharedStoreDown checks that a failed store is reported and the
// replica limits on its own until the store is tried again.
func TestSharedStoreDown(t *testing.T) {
	clock := newClock()
	store := newMemBuckets()
	s := newReplicas(1, store, clock)[0]
	var errs []error
	s.OnError = func(err error) { errs = append(errs, err) }
	limit := ratelimit.Limit{Count: 3, Period: time.Hour}
	store.setErr(errors.New("connection refused"))
	for i := range 3 {
		if d := s.Allow("k", limit); !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("request %d with the store down: %+v", i+1, d)
		}
	}
	if d := s.Allow("k", limit); d.Allowed {
		t.Fatal("the local limit let a fourth request through")
	}
	if got, want := len(errs), 1; got != want {
		t.Fatalf("%d errors reported, want %d (one per backoff)", got, want)
	}
	store.setErr(nil)
	clock.Advance(2 * time.Second)
	if d := s.Allow("other", limit); !d.Allowed || store.tat["other"] == 0 {
		t.Errorf("the store was not used again after the backoff: %+v", d)
	}
}

// TestSharedLimitChange checks that a new limit for a key (a plan change)
// is applied at once.
func TestSharedLimitChange(t *testing.T) {
	clock := newClock()
	s := newReplicas(1, newMemBuckets(), clock)[0]
	s.Allow("k", perHour)
	small := ratelimit.Limit{Count: 1, Period: time.Hour}
	if d := s.Allow("k", small); d.Allowed || d.Limit != 1 {
		t.Errorf("after a change to 1/h: %+v, want denied with Limit 1", d)
	}
}

// BenchmarkSharedAllow measures the hot path of a replica: requests of
// one key spent from leases, against BenchmarkGCRAAllow of one process.
func BenchmarkSharedAllow(b *testing.B) {
	store := newMemBuckets()
	s := ratelimit.NewShared(store)
	limit := ratelimit.Limit{Count: 1 << 30, Period: time.Hour}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Allow("key:abc", limit)
	}
	b.ReportMetric(float64(store.trips)*1000/float64(b.N), "trips/1000req")
}

// TestSharedConcurrent sends 3,000 requests from 16 goroutines over two
// replicas against 1000/h at one instant: the replicas allow the limit
// within the slack.
func TestSharedConcurrent(t *testing.T) {
	clock := newClock()
	rs := newReplicas(2, newMemBuckets(), clock)
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for range 3000 / 16 {
				if rs[g%2].Allow("key:abc", perHour).Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if slack := ratelimit.Slack(perHour); allowed > perHour.Count+slack || allowed < perHour.Count-slack {
		t.Errorf("allowed %d, want %d ± %d", allowed, perHour.Count, slack)
	}
}
