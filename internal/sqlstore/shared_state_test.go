package sqlstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
)

// contend runs fn n times at once, half on each pool, and returns how many
// calls reported a win.
func contend(n int, a, b *sqlstore.DB, fn func(db *sqlstore.DB) bool) int {
	var wins atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			<-start
			if fn(db) {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(wins.Load())
}

// TestSharedLimiterTwoPools alternates 1,500 requests between two
// limiters on two pools of one database, as two replicas, against
// 1000/h: together they allow the limit within the slack, each allowed
// request's Remaining is within the slack of the truth, and the buckets
// are written a few hundred times per 1,000 requests, not once each.
func TestSharedLimiterTwoPools(t *testing.T) {
	t.Parallel()
	dbA, _ := mustOpenDB(t)
	dbB := mustSecondPool(t, dbA)
	a := ratelimit.NewShared(sqlstore.NewRateLimitStore(dbA))
	b := ratelimit.NewShared(sqlstore.NewRateLimitStore(dbB))
	var errs atomic.Int64
	a.OnError = func(error) { errs.Add(1) }
	b.OnError = a.OnError
	limit := ratelimit.Limit{Count: 1000, Period: time.Hour}
	slack := ratelimit.Slack(limit)
	start := time.Now()
	allowed := 0
	for i := range 1500 {
		l := a
		if i%2 == 1 {
			l = b
		}
		d := l.Allow("key:abc", limit)
		if !d.Allowed {
			if d.RetryAfter <= 0 || d.Remaining != 0 || d.Limit != 1000 {
				t.Fatalf("request %d denied with %+v", i+1, d)
			}
			continue
		}
		allowed++
		if truth := limit.Count - allowed; d.Remaining < truth-slack || d.Remaining > truth+slack {
			t.Fatalf("request %d: Remaining = %d, truth %d ± %d", i+1, d.Remaining, truth, slack)
		}
	}
	if errs.Load() > 0 {
		t.Fatalf("%d failed trips to the store", errs.Load())
	}
	// Cells regrow at one per 3.6 s while the test runs.
	grown := int(time.Since(start) / (3600 * time.Millisecond))
	if allowed > limit.Count+slack+grown || allowed < limit.Count-slack {
		t.Errorf("two replicas allowed %d of 1,500, want %d ± %d", allowed, limit.Count, slack)
	}
	trips := a.Trips() + b.Trips()
	if perThousand := trips * 1000 / 1500; perThousand > 400 {
		t.Errorf("%d trips to the store per 1,000 requests, want at most 400", perThousand)
	}
	t.Logf("%d allowed, %d trips to the store for 1,500 requests", allowed, trips)
}

func TestRateLimitStoreTakeCells(t *testing.T) {
	t.Parallel()
	db, _ := mustOpenDB(t)
	store := sqlstore.NewRateLimitStore(db)
	ctx := context.Background()
	now := time.UnixMicro(1_700_000_000_000_000)
	cell := 6 * time.Second // 10 per minute

	steps := []struct {
		at        time.Duration
		want      int
		wantTaken int
		wantTAT   time.Duration
	}{
		{0, 4, 4, 24 * time.Second},                // a new bucket gives what is asked
		{0, 100, 6, 60 * time.Second},              // and never more than it holds
		{0, 1, 0, 60 * time.Second},                // empty: nothing, and the TAT for Retry-After
		{12 * time.Second, 5, 2, 72 * time.Second}, // two cells regrew
		{2 * time.Hour, 3, 3, 2*time.Hour + 18*time.Second},
	}
	for i, s := range steps {
		taken, tat, err := store.TakeCells(ctx, "key:abc", now.Add(s.at), cell, 10, s.want)
		if err != nil {
			t.Fatal(err)
		}
		if taken != s.wantTaken || !tat.Equal(now.Add(s.wantTAT)) {
			t.Errorf("step %d: took %d, TAT +%v; want %d, +%v", i+1, taken, tat.Sub(now), s.wantTaken, s.wantTAT)
		}
	}

	n, err := store.DeleteFullBuckets(ctx, now.Add(2*time.Hour+17*time.Second))
	if err != nil || n != 0 {
		t.Fatalf("DeleteFullBuckets before the bucket is full = %d, %v; want 0", n, err)
	}
	if n, err := store.DeleteFullBuckets(ctx, now.Add(3*time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteFullBuckets once full = %d, %v; want 1", n, err)
	}
}

// TestRateLimitStoreConcurrent takes one cell at a time from a bucket of
// 50 in 80 goroutines on two pools: exactly 50 get one.
func TestRateLimitStoreConcurrent(t *testing.T) {
	t.Parallel()
	dbA, _ := mustOpenDB(t)
	dbB := mustSecondPool(t, dbA)
	now := time.Now()
	wins := contend(80, dbA, dbB, func(db *sqlstore.DB) bool {
		taken, _, err := sqlstore.NewRateLimitStore(db).TakeCells(context.Background(), "k", now, time.Second, 50, 1)
		if err != nil {
			t.Error(err)
		}
		return taken == 1
	})
	if wins != 50 {
		t.Errorf("%d of 80 took a cell from a bucket of 50", wins)
	}
}

// TestSharedFailureWindowTwoPools spreads wrong passwords over two
// replicas: the fifth blocks the key on both, concurrent attempts reserve
// exactly the limit, and a reset on one clears it for both.
func TestSharedFailureWindowTwoPools(t *testing.T) {
	t.Parallel()
	dbA, _ := mustOpenDB(t)
	dbB := mustSecondPool(t, dbA)
	clock := &botClock{t: time.Now()} // read, not moved, while goroutines run
	newWindow := func(db *sqlstore.DB) *ratelimit.SharedFailureWindow {
		return &ratelimit.SharedFailureWindow{Limit: 5, Window: 15 * time.Minute, Now: clock.Now,
			Store: sqlstore.NewRateLimitStore(db), OnError: func(err error) { t.Error(err) }}
	}
	a, b := newWindow(dbA), newWindow(dbB)
	for i := range 4 {
		w := []*ratelimit.SharedFailureWindow{a, b}[i%2]
		if d := w.Fail("acct:ada"); d != 0 {
			t.Fatalf("failure %d blocked for %v", i+1, d)
		}
		clock.Advance(time.Second)
	}
	if d := b.Check("acct:ada"); d != 0 {
		t.Fatalf("blocked after 4 failures for %v", d)
	}
	a.Fail("acct:ada")
	if d := b.Check("acct:ada"); d <= 0 || d > 15*time.Minute {
		t.Fatalf("after 5 failures over two replicas, Check on the other = %v, want blocked", d)
	}
	if d := b.Check("acct:bob"); d != 0 {
		t.Errorf("another key is blocked for %v", d)
	}
	clock.Advance(15*time.Minute - 4*time.Second)
	if d := a.Check("acct:ada"); d != 0 {
		t.Errorf("still blocked once the first failure left the window: %v", d)
	}
	b.Reset("acct:ada")
	if d := a.Check("acct:ada"); d != 0 {
		t.Errorf("blocked after Reset: %v", d)
	}

	wins := contend(20, dbA, dbB, func(db *sqlstore.DB) bool {
		w := a
		if db == dbB {
			w = b
		}
		return w.Reserve("ip:192.0.2.1") == 0
	})
	if wins != 5 {
		t.Errorf("%d of 20 concurrent attempts passed a limit of 5", wins)
	}
	a.Release("ip:192.0.2.1")
	if d := b.Reserve("ip:192.0.2.1"); d != 0 {
		t.Errorf("blocked after a Release: %v", d)
	}

	clock.Advance(time.Hour)
	n, err := sqlstore.NewRateLimitStore(dbA).DeleteExpiredThrottles(context.Background(), clock.Now())
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredThrottles = %d, %v; want 1 (the address)", n, err)
	}
}

// TestIdempotencyClaims claims one Idempotency-Key from two pools: one
// holder at a time, released by its token only, and a claim left behind
// lapses.
func TestIdempotencyClaims(t *testing.T) {
	t.Parallel()
	dbA, clock := mustOpenDB(t)
	dbB := mustSecondPool(t, dbA)
	_, org := mustSignup(t, sqlstore.NewUserService(dbA, testHasher), "Ada", "ada@example.com", "Acme")
	ctx := context.Background()
	a, b := sqlstore.NewIdempotencyService(dbA), sqlstore.NewIdempotencyService(dbB)
	claim := func(s *sqlstore.IdempotencyService) (string, bool) {
		t.Helper()
		token, ok, err := s.ClaimIdempotencyKey(ctx, org.ID, "POST", "/api/v1/bots", "k1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return token, ok
	}

	token, ok := claim(a)
	if !ok || token == "" {
		t.Fatal("the first claim failed")
	}
	if _, ok := claim(b); ok {
		t.Fatal("a second replica claimed a key in flight")
	}
	if err := b.ReleaseIdempotencyKey(ctx, org.ID, "POST", "/api/v1/bots", "k1", "not-the-token"); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(b); ok {
		t.Fatal("a wrong token released the claim")
	}
	if err := a.ReleaseIdempotencyKey(ctx, org.ID, "POST", "/api/v1/bots", "k1", token); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(b); !ok {
		t.Fatal("the key could not be claimed after its release")
	}
	clock.Advance(time.Minute)
	if _, ok := claim(a); !ok {
		t.Fatal("a lapsed claim was not taken over")
	}
	clock.Advance(2 * time.Minute)
	if n, err := a.DeleteLapsedIdempotencyClaims(ctx, clock.Now()); err != nil || n != 1 {
		t.Fatalf("DeleteLapsedIdempotencyClaims = %d, %v; want 1", n, err)
	}

	wins := contend(20, dbA, dbB, func(db *sqlstore.DB) bool {
		_, ok, err := sqlstore.NewIdempotencyService(db).ClaimIdempotencyKey(ctx, org.ID, "POST", "/api/v1/bots", "k2", time.Minute)
		if err != nil {
			t.Error(err)
		}
		return ok
	})
	if wins != 1 {
		t.Errorf("%d of 20 concurrent claims won, want 1", wins)
	}
}

// TestRunJob runs one job from 10 goroutines on two pools: it runs once,
// not again until its interval has passed, and then once more.
func TestRunJob(t *testing.T) {
	t.Parallel()
	dbA, clock := mustOpenDB(t)
	dbB := mustSecondPool(t, dbA)
	ctx := context.Background()
	var runs atomic.Int64
	job := func(db *sqlstore.DB) bool {
		ran, err := db.RunJob(ctx, "sweep", 10*time.Minute, func(context.Context) error {
			runs.Add(1)
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		return ran
	}
	if wins := contend(10, dbA, dbB, job); wins != 1 || runs.Load() != 1 {
		t.Fatalf("RunJob from 10 goroutines: %d reported a run, %d ran; want 1", wins, runs.Load())
	}
	clock.Advance(9 * time.Minute)
	if job(dbB) {
		t.Fatal("the job ran again before its interval passed")
	}
	clock.Advance(time.Minute)
	if wins := contend(10, dbA, dbB, job); wins != 1 || runs.Load() != 2 {
		t.Fatalf("after the interval: %d reported a run, %d runs in all; want 1 and 2", wins, runs.Load())
	}
}

// BenchmarkRateLimit measures one API request's rate-limit decision: in
// memory (one process, SQLite's), shared through leases from the
// database (replicas), and shared with a trip per request (MaxBatch 1,
// what leases save). The key's limit is large enough never to deny.
func BenchmarkRateLimit(b *testing.B) {
	db, _ := mustOpenDB(b)
	db.Now = time.Now
	limit := ratelimit.Limit{Count: 1 << 30, Period: time.Hour}
	run := func(b *testing.B, l ratelimit.Limiter, trips func() int64) {
		b.ReportAllocs()
		for b.Loop() {
			if !l.Allow("key:bench", limit).Allowed {
				b.Fatal("denied")
			}
		}
		if trips != nil {
			b.ReportMetric(float64(trips())*1000/float64(b.N), "writes/1000req")
		}
	}
	b.Run("InMemory", func(b *testing.B) { run(b, ratelimit.NewGCRA(), nil) })
	b.Run("SharedLeases", func(b *testing.B) {
		s := ratelimit.NewShared(sqlstore.NewRateLimitStore(db))
		run(b, s, s.Trips)
	})
	b.Run("SharedExact", func(b *testing.B) {
		s := ratelimit.NewShared(sqlstore.NewRateLimitStore(db))
		s.MaxBatch = 1
		run(b, s, s.Trips)
	})
}
