package apikey_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
)

// memStore is an in-memory Store that counts lookups.
type memStore struct {
	mu      sync.Mutex
	records map[[32]byte]*apikey.Record
	lookups atomic.Int64
	// down makes every lookup fail as an unreachable database does; hang
	// makes it wait for its context first.
	down, hang atomic.Bool
}

var errDown = errors.New("database unreachable")

func (s *memStore) LookupKeyByHash(ctx context.Context, h [32]byte) (*apikey.Record, error) {
	s.lookups.Add(1)
	if s.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if s.down.Load() {
		return nil, errDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.records[h]; ok {
		c := *r
		return &c, nil
	}
	return nil, apikey.ErrUnknown
}

func (s *memStore) set(k apikey.Key, r *apikey.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[k.Hash()] = r
}

func TestVerifier(t *testing.T) {
	ctx := context.Background()
	store := &memStore{records: map[[32]byte]*apikey.Record{}}
	k := apikey.MustGenerate()
	store.set(k, &apikey.Record{PublicID: "key_1", Scopes: "read"})
	v := apikey.NewVerifier(store)

	t.Run("CachesHits", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			rec, err := v.Verify(ctx, k)
			if err != nil || rec.PublicID != "key_1" {
				t.Fatalf("verify = %v, %v", rec, err)
			}
		}
		if got := store.lookups.Load(); got != 1 {
			t.Fatalf("store lookups = %d, want 1", got)
		}
		if hits, misses := v.Stats(); hits != 4 || misses != 1 {
			t.Fatalf("hits, misses = %d, %d", hits, misses)
		}
	})
	t.Run("InvalidateSeesChange", func(t *testing.T) {
		store.set(k, &apikey.Record{PublicID: "key_1", Scopes: "read", RevokedAt: &zeroTime})
		if rec, _ := v.Verify(ctx, k); rec.RevokedAt != nil {
			t.Fatal("cache saw the change before invalidation: test is wrong")
		}
		v.Invalidate()
		if rec, _ := v.Verify(ctx, k); rec.RevokedAt == nil {
			t.Fatal("revocation not seen after Invalidate")
		}
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		_, err := v.Verify(ctx, apikey.MustGenerate())
		if !errors.Is(err, apikey.ErrUnknown) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		small := apikey.NewVerifier(store)
		small.Max = 3
		for i := 0; i < 10; i++ {
			nk := apikey.MustGenerate()
			store.set(nk, &apikey.Record{PublicID: "k"})
			if _, err := small.Verify(ctx, nk); err != nil {
				t.Fatal(err)
			}
		}
		if n := apikey.CacheLen(small); n > 3 {
			t.Fatalf("cache holds %d entries, max 3", n)
		}
	})
}

// TestVerifierInvalidateDuringLookup: a change that lands while a lookup
// reads the store must not leave the old record cached as current.
func TestVerifierInvalidateDuringLookup(t *testing.T) {
	ctx := context.Background()
	k := apikey.MustGenerate()
	var v *apikey.Verifier
	store := &hookStore{rec: &apikey.Record{PublicID: "key_1"}}
	v = apikey.NewVerifier(store)
	store.during = func() { v.Invalidate() } // the revoke commits mid-lookup
	if _, err := v.Verify(ctx, k); err != nil {
		t.Fatal(err)
	}
	store.during = nil
	v.Verify(ctx, k)
	if store.calls != 2 {
		t.Fatalf("store calls = %d, want 2: a record read before an invalidation was trusted", store.calls)
	}
}

type hookStore struct {
	rec    *apikey.Record
	during func()
	calls  int
}

func (s *hookStore) LookupKeyByHash(context.Context, [32]byte) (*apikey.Record, error) {
	s.calls++
	if s.during != nil {
		s.during()
	}
	return s.rec, nil
}

func BenchmarkVerifyCached(b *testing.B) {
	ctx := context.Background()
	store := &memStore{records: map[[32]byte]*apikey.Record{}}
	k := apikey.MustGenerate()
	store.set(k, &apikey.Record{PublicID: "key_1"})
	v := apikey.NewVerifier(store)
	s := k.String()
	b.ReportAllocs()
	for b.Loop() {
		key, err := apikey.Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

var zeroTime = time.Unix(0, 0)

func TestRecordMemo(t *testing.T) {
	rec := &apikey.Record{PublicID: "key_1", Scopes: "read,write"}
	calls := 0
	derive := func(r *apikey.Record) any { calls++; return r.PublicID + ":" + r.Scopes }
	for range 3 {
		if got := rec.Memo(derive); got != "key_1:read,write" {
			t.Fatalf("Memo = %v", got)
		}
	}
	if calls != 1 {
		t.Fatalf("derive ran %d times, want once", calls)
	}
	// Another record has its own memo.
	other := &apikey.Record{PublicID: "key_2", Scopes: "read"}
	if got := other.Memo(derive); got != "key_2:read" || calls != 2 {
		t.Fatalf("second record's Memo = %v after %d calls", got, calls)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newClockedVerifier returns a Verifier on a fake clock over a store that
// knows key k as key_1, read-only.
func newClockedVerifier(t *testing.T) (*apikey.Verifier, *memStore, *fakeClock, apikey.Key) {
	t.Helper()
	store := &memStore{records: map[[32]byte]*apikey.Record{}}
	k := apikey.MustGenerate()
	store.set(k, &apikey.Record{PublicID: "key_1", Scopes: "read"})
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	v := apikey.NewVerifier(store)
	v.Now = clock.Now
	return v, store, clock, k
}

func mustVerify(t *testing.T, v *apikey.Verifier, k apikey.Key) *apikey.Record {
	t.Helper()
	rec, err := v.Verify(context.Background(), k)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rec
}

// TestVerifier_MaxAge: a change whose news never came is seen once the
// cached record is MaxAge old, and not before.
func TestVerifier_MaxAge(t *testing.T) {
	v, store, clock, k := newClockedVerifier(t)
	if got, want := v.MaxAge, 30*time.Second; got != want || apikey.DefaultMaxAge != want {
		t.Fatalf("MaxAge = %v (default %v), want %v", got, apikey.DefaultMaxAge, want)
	}
	mustVerify(t, v, k)
	store.set(k, &apikey.Record{PublicID: "key_1", Scopes: "read", RevokedAt: &zeroTime}) // nobody told the cache

	clock.Add(29 * time.Second)
	if rec := mustVerify(t, v, k); rec.RevokedAt != nil {
		t.Fatal("record re-read before MaxAge: the test's premise is wrong")
	}
	clock.Add(time.Second)
	if rec := mustVerify(t, v, k); rec.RevokedAt == nil {
		t.Fatal("record used at MaxAge: the revocation is never seen")
	}
	if got, want := store.lookups.Load(), int64(2); got != want {
		t.Errorf("store lookups = %d, want %d", got, want)
	}
}

// TestVerifier_Untrusted: while changes may go unheard, every lookup reads
// the store; trusted again, the cache starts over.
func TestVerifier_Untrusted(t *testing.T) {
	v, store, _, k := newClockedVerifier(t)
	mustVerify(t, v, k)
	v.SetTrusted(false)
	if v.Trusted() {
		t.Fatal("Trusted() after SetTrusted(false)")
	}
	store.set(k, &apikey.Record{PublicID: "key_1", Scopes: "read", RevokedAt: &zeroTime})
	if rec := mustVerify(t, v, k); rec.RevokedAt == nil {
		t.Fatal("untrusted cache answered without reading the store")
	}
	mustVerify(t, v, k)
	if got, want := store.lookups.Load(), int64(3); got != want {
		t.Errorf("store lookups = %d, want %d (every lookup while untrusted)", got, want)
	}

	store.set(k, &apikey.Record{PublicID: "key_1", Scopes: "write"})
	flushes := v.Flushes()
	v.SetTrusted(true)
	if got, want := v.Flushes(), flushes+1; got != want {
		t.Errorf("flushes = %d, want %d", got, want)
	}
	if rec := mustVerify(t, v, k); rec.Scopes != "write" {
		t.Fatalf("scopes = %q after trust came back, want the store's", rec.Scopes)
	}
	mustVerify(t, v, k)
	if got, want := store.lookups.Load(), int64(4); got != want {
		t.Errorf("store lookups = %d, want %d (trusted again: one read, then hits)", got, want)
	}
}

// TestVerifier_StoreDown: with the store unreachable, a key whose record
// is cached and younger than MaxAge still verifies; any other lookup
// returns the store's error, not ErrUnknown.
func TestVerifier_StoreDown(t *testing.T) {
	v, store, clock, k := newClockedVerifier(t)
	mustVerify(t, v, k)
	v.SetTrusted(false)
	store.down.Store(true)

	t.Run("CachedAnswers", func(t *testing.T) {
		if rec := mustVerify(t, v, k); rec.PublicID != "key_1" {
			t.Fatalf("record = %+v", rec)
		}
		if got := v.Fallbacks(); got != 1 {
			t.Errorf("fallbacks = %d, want 1", got)
		}
	})
	t.Run("UncachedFails", func(t *testing.T) {
		_, err := v.Verify(context.Background(), apikey.MustGenerate())
		if !errors.Is(err, errDown) {
			t.Fatalf("err = %v, want the store's", err)
		}
	})
	t.Run("TooOldFails", func(t *testing.T) {
		clock.Add(apikey.DefaultMaxAge)
		_, err := v.Verify(context.Background(), k)
		if !errors.Is(err, errDown) {
			t.Fatalf("err = %v, want the store's", err)
		}
	})
	t.Run("RevokedStaysRevoked", func(t *testing.T) {
		// What was read last is what answers: a revoke read while the store
		// was up is not forgotten when it goes down.
		store.down.Store(false)
		store.set(k, &apikey.Record{PublicID: "key_1", RevokedAt: &zeroTime})
		mustVerify(t, v, k)
		store.down.Store(true)
		if rec := mustVerify(t, v, k); rec.RevokedAt == nil {
			t.Fatal("the cache answered with a record older than the one it read last")
		}
	})
}

// TestVerifier_StoreHangs: a store that does not answer (a network that
// drops packets) is waited for briefly when a young record can answer.
func TestVerifier_StoreHangs(t *testing.T) {
	v, store, _, k := newClockedVerifier(t)
	mustVerify(t, v, k)
	v.SetTrusted(false)
	store.hang.Store(true)
	start := time.Now()
	if rec := mustVerify(t, v, k); rec.PublicID != "key_1" {
		t.Fatalf("record = %+v", rec)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("verify took %v waiting for a hung store", d)
	}
}
