package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
)

func newFailureWindow(limit int, window time.Duration) (*ratelimit.FailureWindow, *fakeClock) {
	clock := newClock()
	f := ratelimit.NewFailureWindow(limit, window)
	f.Now = clock.Now
	return f, clock
}

func TestFailureWindowBlocksAtLimit(t *testing.T) {
	f, clock := newFailureWindow(5, 15*time.Minute)
	const key = "acct:alice@example.com"

	// Four failures one minute apart: not blocked yet.
	for i := range 4 {
		if got := f.Fail(key); got != 0 {
			t.Fatalf("failure %d: Fail = %v, want 0", i+1, got)
		}
		if got := f.Check(key); got != 0 {
			t.Fatalf("after failure %d: Check = %v, want 0", i+1, got)
		}
		clock.Advance(time.Minute)
	}

	// The fifth failure, at +4m, blocks until the first (at +0m) leaves the
	// window at +15m.
	if got, want := f.Fail(key), 11*time.Minute; got != want {
		t.Fatalf("5th Fail = %v, want %v", got, want)
	}
	if got, want := f.Check(key), 11*time.Minute; got != want {
		t.Fatalf("Check after 5th failure = %v, want %v", got, want)
	}

	clock.Advance(11*time.Minute - time.Nanosecond) // +15m - 1ns
	if got := f.Check(key); got != time.Nanosecond {
		t.Fatalf("Check 1ns before unblock = %v, want 1ns", got)
	}

	clock.Advance(time.Nanosecond) // +15m: the first failure has aged out
	if got := f.Check(key); got != 0 {
		t.Fatalf("Check after oldest failure aged out = %v, want 0", got)
	}

	// One more failure at +15m blocks again, until the failure at +1m leaves.
	if got, want := f.Fail(key), time.Minute; got != want {
		t.Fatalf("Fail at +15m = %v, want %v", got, want)
	}
}

func TestFailureWindowRetryAfterBounds(t *testing.T) {
	f, clock := newFailureWindow(3, time.Hour)
	const key = "ip:203.0.113.9"
	for range 3 {
		f.Fail(key)
		clock.Advance(10 * time.Minute)
	}
	// Failures at 0, 10m, 20m; now 30m: blocked for 30m.
	got := f.Check(key)
	if want := 30 * time.Minute; got != want {
		t.Fatalf("Check = %v, want %v", got, want)
	}
	if got <= 0 || got > time.Hour {
		t.Fatalf("Check = %v, want in (0, Window]", got)
	}
}

func TestFailureWindowLimitOne(t *testing.T) {
	f, _ := newFailureWindow(1, time.Minute)
	if got := f.Fail("k"); got != time.Minute {
		t.Fatalf("Fail = %v, want 1m", got)
	}
}

func TestFailureWindowFailWhileBlockedExtendsBlock(t *testing.T) {
	f, clock := newFailureWindow(2, 10*time.Minute)
	f.Fail("k")
	clock.Advance(time.Minute)
	if got := f.Fail("k"); got != 9*time.Minute {
		t.Fatalf("2nd Fail = %v, want 9m", got)
	}
	clock.Advance(time.Minute)
	// The ring keeps the 2 most recent failures (+1m, +2m).
	if got := f.Fail("k"); got != 9*time.Minute {
		t.Fatalf("Fail while blocked = %v, want 9m", got)
	}
}

func TestFailureWindowReset(t *testing.T) {
	f, _ := newFailureWindow(5, 15*time.Minute)
	const key = "acct:alice@example.com"
	for range 5 {
		f.Fail(key)
	}
	if f.Check(key) == 0 {
		t.Fatal("key not blocked after 5 failures")
	}
	f.Reset(key)
	if got := f.Check(key); got != 0 {
		t.Fatalf("Check after Reset = %v, want 0", got)
	}
	if got := f.Len(); got != 0 {
		t.Fatalf("Len after Reset = %d, want 0", got)
	}
	for i := range 4 {
		if got := f.Fail(key); got != 0 {
			t.Fatalf("failure %d after Reset: Fail = %v, want 0", i+1, got)
		}
	}
	f.Reset("never-seen") // must not panic
}

func TestFailureWindowKeysIndependent(t *testing.T) {
	f, _ := newFailureWindow(5, 15*time.Minute)
	for range 5 {
		f.Fail("acct:alice@example.com")
	}
	for range 4 {
		f.Fail("ip:203.0.113.9")
	}
	if f.Check("acct:alice@example.com") == 0 {
		t.Error("alice not blocked")
	}
	if got := f.Check("acct:bob@example.com"); got != 0 {
		t.Errorf("bob: Check = %v, want 0", got)
	}
	if got := f.Check("ip:203.0.113.9"); got != 0 {
		t.Errorf("ip: Check = %v, want 0", got)
	}
	f.Reset("acct:alice@example.com")
	if got := f.Fail("ip:203.0.113.9"); got == 0 {
		t.Error("ip not blocked at its 5th failure after resetting another key")
	}
}

func TestFailureWindowSweep(t *testing.T) {
	f, clock := newFailureWindow(5, 15*time.Minute)
	start := clock.Now()
	f.Fail("a")
	f.Fail("b")
	clock.Advance(10 * time.Minute)
	f.Fail("c")
	if got := f.Len(); got != 3 {
		t.Fatalf("Len = %d, want 3", got)
	}
	if got := f.Sweep(start.Add(15*time.Minute - time.Nanosecond)); got != 0 {
		t.Fatalf("Sweep before expiry evicted %d, want 0", got)
	}
	if got := f.Sweep(start.Add(15 * time.Minute)); got != 2 {
		t.Fatalf("Sweep at +15m evicted %d, want 2", got)
	}
	if got := f.Len(); got != 1 {
		t.Fatalf("Len after Sweep = %d, want 1", got)
	}
	if got := f.Sweep(start.Add(25 * time.Minute)); got != 1 {
		t.Fatalf("Sweep at +25m evicted %d, want 1", got)
	}
	if got := f.Len(); got != 0 {
		t.Fatalf("Len after second Sweep = %d, want 0", got)
	}
}

func TestFailureWindowLazyEviction(t *testing.T) {
	f, clock := newFailureWindow(5, time.Minute)
	f.Fail("a")
	clock.Advance(time.Minute)
	if got := f.Check("a"); got != 0 {
		t.Fatalf("Check = %v, want 0", got)
	}
	if got := f.Len(); got != 0 {
		t.Fatalf("Len after Check of expired key = %d, want 0", got)
	}
}

func TestFailureWindowBoundedWithoutSweep(t *testing.T) {
	f, clock := newFailureWindow(5, time.Second)
	const keys = 20000
	for i := range keys {
		f.Fail(fmt.Sprintf("ip:%d", i))
		clock.Advance(time.Second) // every earlier key is now stale
	}
	// Shards sweep themselves before growing, so stale keys cannot pile up.
	if got := f.Len(); got > keys/4 {
		t.Fatalf("Len = %d after %d one-off keys; stale keys are not evicted", got, keys)
	}
}

func TestFailureWindowConcurrent(t *testing.T) {
	f, clock := newFailureWindow(5, time.Hour)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 100 {
				f.Fail("shared")
				f.Check("shared")
				key := fmt.Sprintf("k%d-%d", g, i%10)
				f.Fail(key)
				if i%7 == 0 {
					f.Reset(key)
				}
				if i%50 == 0 {
					clock.Advance(time.Second)
					f.Sweep(clock.Now())
				}
			}
		})
	}
	wg.Wait()
	if f.Check("shared") == 0 {
		t.Fatal("shared key not blocked")
	}
	if f.Len() == 0 {
		t.Fatal("Len = 0")
	}
}

func TestNewFailureWindowPanicsOnInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Minute}, {-1, time.Minute}, {5, 0}, {5, -time.Second}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFailureWindow(%d, %v) did not panic", tc.limit, tc.window)
				}
			}()
			ratelimit.NewFailureWindow(tc.limit, tc.window)
		}()
	}
}

func TestFailureWindowStructLiteral(t *testing.T) {
	clock := newClock()
	f := &ratelimit.FailureWindow{Limit: 2, Window: time.Minute, Now: clock.Now}
	f.Fail("k")
	if got := f.Fail("k"); got != time.Minute {
		t.Fatalf("Fail = %v, want 1m", got)
	}
}

func TestFailureWindowReserve(t *testing.T) {
	t.Run("OKBlocksAtLimit", func(t *testing.T) {
		f, clock := newFailureWindow(5, 15*time.Minute)
		const key = "acct:alice@example.com"
		for i := range 5 {
			if got := f.Reserve(key); got != 0 {
				t.Fatalf("reservation %d: Reserve = %v, want 0", i+1, got)
			}
			clock.Advance(time.Minute)
		}
		// Reservations at 0..4m count as failures: blocked until +15m.
		if got, want := f.Check(key), 10*time.Minute; got != want {
			t.Fatalf("Check after 5 reservations = %v, want %v", got, want)
		}
		if got, want := f.Reserve(key), 10*time.Minute; got != want {
			t.Fatalf("6th Reserve = %v, want %v", got, want)
		}
	})

	t.Run("OKBlockedReserveRecordsNothing", func(t *testing.T) {
		f, clock := newFailureWindow(2, 10*time.Minute)
		f.Reserve("k")
		f.Reserve("k")
		for range 3 {
			clock.Advance(time.Minute)
			f.Reserve("k") // refused: must not extend the block
		}
		clock.Advance(7 * time.Minute) // +10m: both reservations left the window
		if got := f.Reserve("k"); got != 0 {
			t.Fatalf("Reserve after the window = %v, want 0", got)
		}
	})

	t.Run("OKCountsWithFail", func(t *testing.T) {
		f, _ := newFailureWindow(3, time.Minute)
		f.Fail("k")
		f.Reserve("k")
		if got := f.Fail("k"); got != time.Minute {
			t.Fatalf("3rd failure = %v, want 1m", got)
		}
		if got := f.Reserve("k"); got == 0 {
			t.Fatal("Reserve of a blocked key = 0")
		}
	})
}

func TestFailureWindowRelease(t *testing.T) {
	t.Run("OKGivesBackOne", func(t *testing.T) {
		f, _ := newFailureWindow(3, time.Minute)
		for range 3 {
			f.Reserve("k")
		}
		if f.Check("k") == 0 {
			t.Fatal("not blocked after 3 reservations")
		}
		f.Release("k")
		if got := f.Check("k"); got != 0 {
			t.Fatalf("Check after Release = %v, want 0", got)
		}
		if got := f.Reserve("k"); got != 0 {
			t.Fatalf("Reserve after Release = %v, want 0", got)
		}
		if got := f.Reserve("k"); got == 0 {
			t.Fatal("4th Reserve after one Release not blocked")
		}
	})

	t.Run("OKReleasesNewest", func(t *testing.T) {
		f, clock := newFailureWindow(2, 10*time.Minute)
		f.Reserve("k") // +0m
		clock.Advance(time.Minute)
		f.Reserve("k") // +1m
		f.Release("k") // gives back the one at +1m
		clock.Advance(time.Minute)
		f.Reserve("k") // +2m: blocked until the one at +0m leaves
		if got, want := f.Check("k"), 8*time.Minute; got != want {
			t.Fatalf("Check = %v, want %v", got, want)
		}
	})

	t.Run("OKEvictsEmptyKey", func(t *testing.T) {
		f, _ := newFailureWindow(5, time.Minute)
		f.Reserve("k")
		f.Release("k")
		if got := f.Len(); got != 0 {
			t.Fatalf("Len = %d, want 0", got)
		}
		f.Release("k")          // nothing left: no-op
		f.Release("never-seen") // must not panic
		if got := f.Len(); got != 0 {
			t.Fatalf("Len = %d, want 0", got)
		}
	})
}

func TestFailureWindowReserveConcurrent(t *testing.T) {
	t.Run("OKAtMostLimitPass", func(t *testing.T) {
		f, _ := newFailureWindow(5, 15*time.Minute)
		var passed atomic.Int64
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				<-start
				if f.Reserve("acct:alice@example.com") == 0 {
					passed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := passed.Load(); got != 5 {
			t.Fatalf("%d of 200 concurrent reservations passed, want 5", got)
		}
	})

	t.Run("OKNeverMoreThanLimitInFlight", func(t *testing.T) {
		// Attempts that succeed release their reservation: at no time do
		// more than Limit attempts hold one.
		f, _ := newFailureWindow(3, time.Hour)
		var inFlight, peak atomic.Int64
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for range 200 {
					if f.Reserve("k") != 0 {
						continue
					}
					n := inFlight.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					inFlight.Add(-1)
					f.Release("k")
				}
			})
		}
		wg.Wait()
		if got := peak.Load(); got > 3 || got < 1 {
			t.Fatalf("peak in flight = %d, want 1..3", got)
		}
		if got := f.Check("k"); got != 0 {
			t.Fatalf("Check after all released = %v, want 0", got)
		}
	})
}
