package ratelimit

import (
	"fmt"
	"time"
)

// Throttler counts failures per key in a sliding window.
//
// Keys are strings the caller builds, such as "acct:alice@example.com" or
// "ip:203.0.113.9"; a login handler typically checks both the account and the
// client address.
//
// Check followed by Fail leaves a window in which concurrent attempts all
// pass the check before any of them has failed. An attempt that must not
// exceed the limit, such as checking a password, Reserves instead: the
// attempt counts as a failure from the start, atomically with the check,
// and a success then Resets the key or Releases the reservation.
type Throttler interface {
	// Check reports whether key may try again now; if not, retryAfter > 0 says when.
	Check(key string) (retryAfter time.Duration)
	// Fail records one failure for key and returns retryAfter > 0 if key is now blocked.
	Fail(key string) (retryAfter time.Duration)
	// Reserve atomically checks key and, if it may try again now, records
	// the attempt as a failure and returns 0; if not, it records nothing and
	// returns retryAfter > 0.
	Reserve(key string) (retryAfter time.Duration)
	// Release gives back one reservation (or failure) of key, the most
	// recent, for an attempt that turned out not to be a failure.
	Release(key string)
	// Reset forgets key's failures (a successful login resets the account's counter).
	Reset(key string)
}

var _ Throttler = (*FailureWindow)(nil)

// FailureWindow is an in-memory Throttler. A key is blocked once it has Limit
// failures within the last Window (for example 5 in 15 minutes), until the
// oldest of those failures leaves the window.
//
// Each key keeps the timestamps of at most its Limit most recent failures in
// a ring. Callers are expected to Check before an attempt and not to attempt
// (nor call Fail) while blocked, or to Reserve the attempt, which does both
// atomically; a Fail while blocked replaces the oldest failure and so extends
// the block.
//
// A FailureWindow is safe for concurrent use. Its zero value is not usable
// until Limit and Window are set; NewFailureWindow sets all fields. See the
// package documentation for how stale keys are evicted.
type FailureWindow struct {
	// Limit is the number of failures within Window that blocks a key; it
	// must be at least 1.
	Limit int
	// Window is the length of the sliding window; it must be positive.
	Window time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	shards shardSet[*failures]
}

// NewFailureWindow returns a FailureWindow that blocks a key after limit
// failures within window, using time.Now as its clock. It panics if limit < 1
// or window <= 0.
func NewFailureWindow(limit int, window time.Duration) *FailureWindow {
	f := &FailureWindow{Limit: limit, Window: window, Now: time.Now}
	f.config()
	return f
}

// config returns the validated Limit and Window; misconfiguration is a
// programming error, so it panics.
func (f *FailureWindow) config() (int, time.Duration) {
	if f.Limit < 1 {
		panic(fmt.Sprintf("ratelimit: FailureWindow.Limit must be at least 1, got %d", f.Limit))
	}
	if f.Window <= 0 {
		panic(fmt.Sprintf("ratelimit: FailureWindow.Window must be positive, got %v", f.Window))
	}
	return f.Limit, f.Window
}

func (f *FailureWindow) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Check reports whether key may try again now. It returns 0 if it may, or
// else the time until the oldest of the key's last Limit failures leaves the
// window (> 0 and <= Window). A key whose failures have all expired is
// evicted.
func (f *FailureWindow) Check(key string) (retryAfter time.Duration) {
	limit, window := f.config()
	now := f.now()
	s := f.shards.get(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[key]
	if r == nil {
		return 0
	}
	r.prune(now.Add(-window))
	if r.n == 0 {
		delete(s.m, key)
		return 0
	}
	return r.retryAfter(limit, window, now)
}

// Fail records one failure for key at the current time. It returns 0 if key
// may still try again, or else how long key is blocked (> 0 and <= Window);
// the Limit-th failure within Window is the one that blocks.
func (f *FailureWindow) Fail(key string) (retryAfter time.Duration) {
	limit, window := f.config()
	now := f.now()
	cutoff := now.Add(-window)
	s := f.shards.get(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[key]
	if r == nil {
		r = &failures{}
		s.insert(key, r, func(r *failures) bool { return r.staleAt(cutoff) })
	} else {
		r.prune(cutoff)
	}
	r.push(now, limit)
	return r.retryAfter(limit, window, now)
}

// Reserve checks key and records an attempt in one step, under the lock of
// key's shard, so that concurrent callers cannot all pass the check: of any
// number of concurrent Reserves on a key that has no failures, exactly Limit
// return 0. It returns 0 if the attempt was recorded (as a failure, at the
// current time), or else, recording nothing, how long key is blocked (> 0 and
// <= Window), as Check does. A recorded attempt that succeeds should be
// followed by Reset or Release.
func (f *FailureWindow) Reserve(key string) (retryAfter time.Duration) {
	limit, window := f.config()
	now := f.now()
	cutoff := now.Add(-window)
	s := f.shards.get(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[key]
	if r == nil {
		r = &failures{}
		s.insert(key, r, func(r *failures) bool { return r.staleAt(cutoff) })
	} else {
		r.prune(cutoff)
		if d := r.retryAfter(limit, window, now); d > 0 {
			return d
		}
	}
	r.push(now, limit)
	return 0
}

// Release forgets the most recent failure of key, such as the reservation
// of an attempt that succeeded or was never made. Releasing a key with no
// failures does nothing.
func (f *FailureWindow) Release(key string) {
	s := f.shards.get(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[key]
	if r == nil {
		return
	}
	if r.n > 0 {
		r.n--
	}
	if r.n == 0 {
		delete(s.m, key)
	}
}

// Reset forgets all failures of key.
func (f *FailureWindow) Reset(key string) {
	s := f.shards.get(key)
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// Sweep evicts every key whose failures have all left the window as of now
// and returns the number of evicted keys. Callers may run it periodically,
// e.g. every Window; it is not required for correctness.
func (f *FailureWindow) Sweep(now time.Time) int {
	_, window := f.config()
	cutoff := now.Add(-window)
	return f.shards.sweep(func(r *failures) bool { return r.staleAt(cutoff) })
}

// Len returns the number of keys currently held in memory, including stale
// keys not yet evicted.
func (f *FailureWindow) Len() int {
	return f.shards.len()
}

// failures is a ring of a key's most recent failure times, oldest first. The
// buffer grows on demand up to the limit, so a key with one failure does not
// pay for Limit timestamps.
type failures struct {
	buf   []time.Time
	start int // index of the oldest failure in buf
	n     int // number of failures held
}

// at returns the i-th oldest failure held.
func (r *failures) at(i int) time.Time {
	return r.buf[(r.start+i)%len(r.buf)]
}

// prune drops failures at or before cutoff, i.e. those that have left the window.
func (r *failures) prune(cutoff time.Time) {
	for r.n > 0 && !r.buf[r.start].After(cutoff) {
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
	if r.n == 0 {
		r.start = 0
	}
}

// staleAt reports whether no failure is later than cutoff.
func (r *failures) staleAt(cutoff time.Time) bool {
	return r.n == 0 || !r.at(r.n-1).After(cutoff)
}

// push appends failure time t, overwriting the oldest one once limit failures
// are held.
func (r *failures) push(t time.Time, limit int) {
	switch {
	case r.n < len(r.buf):
		r.buf[(r.start+r.n)%len(r.buf)] = t
		r.n++
	case len(r.buf) < limit:
		// The ring is full but may grow: put it in order, then append.
		if r.start != 0 {
			ordered := make([]time.Time, 0, min(2*len(r.buf), limit))
			ordered = append(ordered, r.buf[r.start:]...)
			ordered = append(ordered, r.buf[:r.start]...)
			r.buf, r.start = ordered, 0
		}
		r.buf = append(r.buf, t)
		r.n++
	default:
		r.buf[r.start] = t
		r.start = (r.start + 1) % len(r.buf)
	}
}

// retryAfter returns 0 if fewer than limit failures are held, or else the
// time until the oldest of the last limit failures leaves the window.
func (r *failures) retryAfter(limit int, window time.Duration, now time.Time) time.Duration {
	if r.n < limit {
		return 0
	}
	return untilLeaves(r.at(r.n-limit), window, now)
}

// untilLeaves is the time until a failure at t leaves the window, clamped
// to (0, window] in case the clock went backwards.
func untilLeaves(t time.Time, window time.Duration, now time.Time) time.Duration {
	return min(max(t.Add(window).Sub(now), time.Nanosecond), window)
}
