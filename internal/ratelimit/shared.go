package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// BucketStore keeps GCRA buckets where every replica sees them, such as a
// table of the database the replicas share.
type BucketStore interface {
	// TakeCells takes up to want cells from bucket as of now, in one
	// atomic step. A cell is t of quota and a full bucket holds count
	// cells; the bucket's state is its theoretical arrival time (TAT),
	// advanced by t for each cell taken, as GCRA does. It returns how many
	// cells it took, 0 when the bucket has none to give, and the bucket's
	// TAT after the step.
	TakeCells(ctx context.Context, bucket string, now time.Time, t time.Duration, count, want int) (taken int, tat time.Time, err error)
}

// Slack returns how many requests over l.Count a Shared limiter may allow
// in a burst, whatever the number of replicas: 1% of the count or 10,
// whichever is larger. Reported Remaining counts are within Slack of the
// truth as well.
func Slack(l Limit) int {
	return max((l.Count+99)/100, 10)
}

const (
	// maxLeaseAge bounds how long reserved cells may be spent, so that the
	// headers of a replica never rest on an old reading of the bucket.
	maxLeaseAge = 10 * time.Second
	// defaultMaxBatch bounds the cells one trip to the store reserves.
	defaultMaxBatch = 1000
	// storeTimeout bounds one trip to the store.
	storeTimeout = 2 * time.Second
	// storeBackoff is how long a failed store is left alone: meanwhile
	// each replica limits on its own.
	storeBackoff = time.Second
)

var _ Limiter = (*Shared)(nil)

// Shared is a Limiter whose quotas hold across every replica that uses
// the same BucketStore, without a trip to the store per request: a
// replica reserves a batch of cells (a lease) in one atomic step and
// spends it locally, the "batched" mode of shared GCRA limiters.
//
// Bounds, for any number of replicas (see Slack):
//   - Allowed requests: a reserved cell may only be spent within its
//     lease's age, min(Slack·T/2, 10s), of its reservation, and the store
//     reserves cells by GCRA; so any stretch of time sees at most the
//     limit's burst and rate plus Slack/2 requests.
//   - Batches: at most max(1, Slack/2) cells (and MaxBatch), scaled down
//     by this replica's share of the key's traffic, and grown from one
//     cell as the key's local traffic proves steady, so that leases
//     rarely lapse unspent and a quiet key costs no quota.
//   - Headers: Remaining is this replica's lease plus what the bucket held
//     at its last trip; other replicas' leases and what they took since
//     are the error, at most about Slack.
//   - Denials are remembered until the bucket can give a cell again, so a
//     client over its limit costs no trips either.
//
// When the store fails, the replica limits on its own (an in-memory GCRA
// with the full limit) for a second before it tries again: N replicas then
// allow up to N times a key's limit. OnError hears of each failure.
//
// A Shared is safe for concurrent use. Fields must not change after first
// use.
type Shared struct {
	// Store keeps the buckets.
	Store BucketStore
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MaxBatch bounds the cells reserved by one trip; 0 means 1000, and 1
	// makes every request a trip (exact, for rare events such as signups).
	MaxBatch int
	// OnError, if set, is told of each failed trip to the store.
	OnError func(error)

	downUntil atomic.Int64 // Unix nanoseconds until which Store is not tried
	trips     atomic.Int64
	fallback  GCRA
	shards    shardSet[*lease]
}

// NewShared returns a Shared limiter on store, on the clock time.Now.
func NewShared(store BucketStore) *Shared {
	s := &Shared{Store: store}
	s.fallback.Now = s.now
	return s
}

// Trips returns how many trips to the store this limiter has made.
func (s *Shared) Trips() int64 { return s.trips.Load() }

func (s *Shared) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// lease is one replica's state of one key: cells reserved and unspent,
// and what it learned of the shared bucket.
type lease struct {
	mu sync.Mutex
	leaseState
}

// leaseState is what a lease holds, apart from its lock so that it can be
// reset while locked.
type leaseState struct {
	limit   Limit
	left    int           // cells reserved and not yet spent
	spent   int           // cells spent from the current lease
	expires time.Time     // when the left cells lapse
	age     time.Duration // how long the current lease lasts
	tat     time.Time     // the bucket's TAT after this replica's last trip
	// denyUntil is when the bucket can next give a cell, after a trip
	// that got none.
	denyUntil time.Time
	batch     int     // cells to ask for on the next trip
	share     float64 // this replica's share of the key's traffic, (0, 1]
}

// stale reports whether the lease holds nothing that affects a decision
// as of now.
func (e *lease) stale(now time.Time) bool {
	if !e.mu.TryLock() {
		return false
	}
	defer e.mu.Unlock()
	return !now.Before(e.expires) && !now.Before(e.denyUntil)
}

// Allow takes one request from key's quota under l if one is available.
// It panics if l is invalid (see Limit.Validate).
func (s *Shared) Allow(key string, l Limit) Decision {
	t, tau := l.sharedInterval()
	now := s.now()
	if now.UnixNano() < s.downUntil.Load() {
		return s.fallback.Allow(key, l)
	}
	e := s.lease(key, now)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.limit != l {
		e.leaseState = leaseState{limit: l, batch: 1, share: 1}
	}
	if e.left > 0 && now.Before(e.expires) {
		e.left--
		e.spent++
		return e.allowed(now, t)
	}
	if now.Before(e.denyUntil) {
		return e.denied(now)
	}
	want := e.nextBatch(s.maxBatch(l), now)
	s.trips.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	taken, tat, err := s.Store.TakeCells(ctx, key, now, t, l.Count, want)
	cancel()
	if err != nil {
		s.downUntil.Store(now.Add(storeBackoff).UnixNano())
		if s.OnError != nil {
			s.OnError(err)
		}
		return s.fallback.Allow(key, l)
	}
	e.learn(now, t, taken, tat)
	if taken == 0 {
		e.denyUntil = tat.Add(-tau)
		return e.denied(now)
	}
	e.left, e.spent = taken-1, 1
	e.age = leaseAge(l, t)
	e.expires = now.Add(e.age)
	return e.allowed(now, t)
}

// lease returns key's lease, creating it if needed.
func (s *Shared) lease(key string, now time.Time) *lease {
	sh := s.shards.get(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[key]
	if e == nil {
		e = &lease{}
		sh.insert(key, e, func(e *lease) bool { return e.stale(now) })
	}
	return e
}

// maxBatch is the most cells one trip reserves under l.
func (s *Shared) maxBatch(l Limit) int {
	n := s.MaxBatch
	if n <= 0 {
		n = defaultMaxBatch
	}
	return max(1, min(n, Slack(l)/2))
}

// leaseAge is how long reserved cells stay spendable: Slack/2 cells' worth
// of time, at most maxLeaseAge.
func leaseAge(l Limit, t time.Duration) time.Duration {
	return max(min(t*time.Duration(Slack(l))/2, maxLeaseAge), time.Millisecond)
}

// sharedInterval is l.interval with t rounded up to a whole microsecond,
// the unit stores keep.
func (l Limit) sharedInterval() (t, tau time.Duration) {
	t, _ = l.interval()
	t = (t + time.Microsecond - 1).Truncate(time.Microsecond)
	return t, t * time.Duration(l.Count-1)
}

// nextBatch returns how many cells to ask for: the batch grown by local
// demand, within this replica's share of maxBatch. A batch only grows when
// the last one was spent in the first half of its age, so that one grown
// for a burst does not lapse half unspent, at a cost to the client, once
// traffic slows.
func (e *lease) nextBatch(maxBatch int, now time.Time) int {
	switch {
	case e.spent > 0 && e.left == 0 && now.Before(e.expires.Add(-e.age/2)):
		e.batch *= 2 // spent quickly: traffic is steady
	case e.spent > 0 && e.left > 0:
		e.batch = e.spent // it lapsed: ask for what was used
	}
	target := max(1, int(float64(maxBatch)*e.share+0.5))
	e.batch = max(1, min(e.batch, target))
	return e.batch
}

// learn records a trip's answer: the bucket's TAT, and this replica's
// share of what was taken from the bucket since its previous trip.
func (e *lease) learn(now time.Time, t time.Duration, taken int, tat time.Time) {
	before := tat.Add(-time.Duration(taken) * t) // the TAT as this trip found it
	others := 0.0
	if !e.tat.IsZero() && before.After(now) && before.After(e.tat) {
		others = float64(before.Sub(e.tat)) / float64(t)
	}
	if ours := float64(e.spent); ours+others > 0 {
		e.share = max(0.05, (e.share+ours/(ours+others))/2)
	}
	e.tat = tat
	e.left, e.spent = 0, 0
}

// allowed is the Decision for a request just taken from the lease.
func (e *lease) allowed(now time.Time, t time.Duration) Decision {
	count := e.limit.Count
	backlog := max(e.tat.Sub(now), 0)
	inBucket := int((time.Duration(count)*t - backlog) / t)
	return Decision{
		Allowed:   true,
		Limit:     count,
		Remaining: min(max(inBucket+e.left, 0), count),
		Reset:     max(backlog-time.Duration(e.left)*t, 0),
	}
}

// denied is the Decision for a request while the bucket has no cell.
func (e *lease) denied(now time.Time) Decision {
	return Decision{
		Allowed:    false,
		Limit:      e.limit.Count,
		Reset:      max(e.tat.Sub(now), 0),
		RetryAfter: max(e.denyUntil.Sub(now), time.Nanosecond),
	}
}

// Sweep evicts the leases that hold nothing as of now and returns how many
// it evicted. Callers may run it periodically; it is not required for
// correctness.
func (s *Shared) Sweep(now time.Time) int {
	return s.shards.sweep(func(e *lease) bool { return e.stale(now) })
}
