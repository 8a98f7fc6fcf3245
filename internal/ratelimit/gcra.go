package ratelimit

import "time"

// Decision is the outcome of one Limiter.Allow call, with what an API needs
// for rate-limit response headers.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is the Count of the Limit that was applied.
	Limit int
	// Remaining is the number of further requests allowed right now (>= 0).
	Remaining int
	// Reset is the time until the quota is fully replenished. Callers that
	// report it in seconds should round up.
	Reset time.Duration
	// RetryAfter is > 0 only when the request was denied: the time until one
	// request will be allowed.
	RetryAfter time.Duration
}

// Limiter decides whether a request for key fits within a Limit.
type Limiter interface {
	// Allow consumes one request from key's quota under l if one is
	// available, and reports the outcome.
	Allow(key string, l Limit) Decision
}

var _ Limiter = (*GCRA)(nil)

// GCRA is an in-memory Limiter implementing the generic cell rate algorithm
// with a burst of Count: a fresh key may make Count requests at once and then
// one request per emission interval T = Period/Count (rounded up to a whole
// nanosecond). For 1000/h that is 1000 requests at once, then one every 3.6s.
//
// The only state per key is its theoretical arrival time (TAT): when the key's
// quota is fully replenished. A request at time now is allowed if
// TAT - now <= (Count-1)*T, and then advances TAT to max(TAT, now) + T; a
// denied request changes nothing. Each Allow is O(1). Because only the TAT is
// stored, calls may pass a different Limit for the same key, for example after
// the key's plan changed, and the key keeps its share of used quota measured
// in time.
//
// A GCRA is safe for concurrent use and its zero value is ready to use. See
// the package documentation for how stale keys are evicted.
type GCRA struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	shards shardSet[time.Time]
}

// NewGCRA returns a GCRA that uses time.Now as its clock.
func NewGCRA() *GCRA {
	return &GCRA{Now: time.Now}
}

func (g *GCRA) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Allow consumes one request from key's quota under l if one is available.
// It panics if l is invalid (see Limit.Validate); ParseLimit never returns
// such a Limit.
func (g *GCRA) Allow(key string, l Limit) Decision {
	t, tau := l.interval()
	now := g.now()
	s := g.shards.get(key)
	s.mu.Lock()
	tat, ok := s.m[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	backlog := tat.Sub(now) // how far the quota is from full; 0 when full
	if backlog > tau {
		s.mu.Unlock()
		return Decision{
			Allowed:    false,
			Limit:      l.Count,
			Remaining:  0,
			Reset:      backlog,
			RetryAfter: backlog - tau,
		}
	}
	newTAT := tat.Add(t)
	if ok {
		s.m[key] = newTAT
	} else {
		s.insert(key, newTAT, func(tat time.Time) bool { return !tat.After(now) })
	}
	s.mu.Unlock()
	return Decision{
		Allowed: true,
		Limit:   l.Count,
		// floor((Count*T - (newTAT - now)) / T), which backlog <= tau keeps >= 0.
		Remaining: int((tau - backlog) / t),
		Reset:     backlog + t,
	}
}

// Sweep evicts every key whose quota is fully replenished as of now, which
// is the same state as a key never seen, and returns the number of evicted
// keys. Callers may run it periodically; it is not required for correctness.
func (g *GCRA) Sweep(now time.Time) int {
	return g.shards.sweep(func(tat time.Time) bool { return !tat.After(now) })
}

// Len returns the number of keys currently held in memory, including stale
// keys not yet evicted.
func (g *GCRA) Len() int {
	return g.shards.len()
}
