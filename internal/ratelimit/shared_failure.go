package ratelimit

import (
	"context"
	"time"
)

// FailureStore keeps the failure times of throttle keys where every
// replica sees them, such as a table of the database the replicas share.
type FailureStore interface {
	// Failures returns key's failure times, oldest first.
	Failures(ctx context.Context, key string) ([]time.Time, error)
	// UpdateFailures replaces key's failure times, oldest first, by what
	// update returns when given the current ones, atomically with respect
	// to every other update of key; an empty result forgets key. The key
	// may be forgotten keep after its newest failure.
	UpdateFailures(ctx context.Context, key string, keep time.Duration, update func([]time.Time) []time.Time) error
}

var _ Throttler = (*SharedFailureWindow)(nil)

// SharedFailureWindow is a Throttler whose failures every replica that
// uses the same FailureStore sees: FailureWindow's rules, with one trip to
// the store per call. Reserve checks and records in one atomic update, so
// that of concurrent attempts on any replicas exactly as many pass as the
// limit allows.
//
// A failed trip to the store lets the attempt through (Check and Reserve
// return 0) and is told to OnError: what the throttle guards, a password
// check, needs the same database anyway.
//
// A SharedFailureWindow is safe for concurrent use; its fields must not
// change after first use.
type SharedFailureWindow struct {
	// Limit is the number of failures within Window that blocks a key; it
	// must be at least 1.
	Limit int
	// Window is the length of the sliding window; it must be positive.
	Window time.Duration
	// Store keeps the failures.
	Store FailureStore
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// OnError, if set, is told of each failed trip to the store.
	OnError func(error)
}

func (f *SharedFailureWindow) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *SharedFailureWindow) failed(err error) {
	if err != nil && f.OnError != nil {
		f.OnError(err)
	}
}

// update runs fn on key's failures within the window, in one atomic update.
func (f *SharedFailureWindow) update(key string, fn func(times []time.Time, now time.Time) []time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	_, window := f.config()
	now := f.now()
	f.failed(f.Store.UpdateFailures(ctx, key, window, func(times []time.Time) []time.Time {
		return fn(inWindow(times, now.Add(-window)), now)
	}))
}

// config returns the validated Limit and Window, as FailureWindow's does.
func (f *SharedFailureWindow) config() (int, time.Duration) {
	return (&FailureWindow{Limit: f.Limit, Window: f.Window}).config()
}

// Check reports whether key may try again now, as FailureWindow.Check.
func (f *SharedFailureWindow) Check(key string) (retryAfter time.Duration) {
	limit, window := f.config()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	times, err := f.Store.Failures(ctx, key)
	if err != nil {
		f.failed(err)
		return 0
	}
	now := f.now()
	return blockedFor(inWindow(times, now.Add(-window)), limit, window, now)
}

// Fail records one failure for key, as FailureWindow.Fail.
func (f *SharedFailureWindow) Fail(key string) (retryAfter time.Duration) {
	limit, window := f.config()
	f.update(key, func(times []time.Time, now time.Time) []time.Time {
		times = newest(append(times, now), limit)
		retryAfter = blockedFor(times, limit, window, now)
		return times
	})
	return retryAfter
}

// Reserve checks key and records an attempt in one atomic update, as
// FailureWindow.Reserve.
func (f *SharedFailureWindow) Reserve(key string) (retryAfter time.Duration) {
	limit, window := f.config()
	f.update(key, func(times []time.Time, now time.Time) []time.Time {
		if retryAfter = blockedFor(times, limit, window, now); retryAfter > 0 {
			return times
		}
		return newest(append(times, now), limit)
	})
	return retryAfter
}

// Release forgets the most recent failure of key, as FailureWindow.Release.
func (f *SharedFailureWindow) Release(key string) {
	f.update(key, func(times []time.Time, _ time.Time) []time.Time {
		return times[:max(len(times)-1, 0)]
	})
}

// Reset forgets all failures of key.
func (f *SharedFailureWindow) Reset(key string) {
	f.update(key, func([]time.Time, time.Time) []time.Time { return nil })
}

// inWindow drops the failures, oldest first, at or before cutoff.
func inWindow(times []time.Time, cutoff time.Time) []time.Time {
	for len(times) > 0 && !times[0].After(cutoff) {
		times = times[1:]
	}
	return times
}

// newest keeps the limit most recent of times, oldest first.
func newest(times []time.Time, limit int) []time.Time {
	return times[max(len(times)-limit, 0):]
}

// blockedFor is 0 if times, the failures within the window, are fewer
// than limit, or else the time until the oldest of the last limit leaves
// the window, clamped to (0, window].
func blockedFor(times []time.Time, limit int, window time.Duration, now time.Time) time.Duration {
	if len(times) < limit {
		return 0
	}
	return untilLeaves(times[len(times)-limit], window, now)
}
