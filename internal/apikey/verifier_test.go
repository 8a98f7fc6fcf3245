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
}

func (s *memStore) LookupKeyByHash(_ context.Context, h [32]byte) (*apikey.Record, error) {
	s.lookups.Add(1)
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
