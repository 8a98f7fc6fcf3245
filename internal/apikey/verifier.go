package apikey

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Record is what the API needs to know about a key, looked up by its hash.
type Record struct {
	KeyID          int64
	PublicID       string
	Name           string
	Hint           string
	Environment    string
	Scopes         string // "read,write"
	OrganizationID int64
	OrgPublicID    string
	OrgName        string
	CreatedByID    int64
	ExpiresAt      *time.Time
	RevokedAt      *time.Time
	// RateLimit is the key's own limit ("1000/h"), "" for the default.
	RateLimit string
	// Plan is the organization's plan ("free", "professional",
	// "enterprise"); API access needs professional or higher.
	Plan string
	// CreatorDisabledAt is when the user who created the key (directly, or
	// through keys of theirs that created it) was disabled, if they are.
	CreatorDisabledAt *time.Time
	// DisabledUserKeys is the organization's rule for keys of disabled
	// creators: "keep", or "stop" (anything else also means stop).
	DisabledUserKeys string

	// memo is what the API derived from the record, see Memo.
	memo atomic.Value
}

// Memo returns what derive computes from the record, computing it at the
// first call only. A record is read-only and shared by every request of its
// key while cached, so what a request derives from it (parsed scopes, the
// rate limit) need only be worked out once. The record has one memo:
// every call must pass an equivalent derive.
func (r *Record) Memo(derive func(*Record) any) any {
	if v := r.memo.Load(); v != nil {
		return v
	}
	v := derive(r)
	r.memo.CompareAndSwap(nil, v)
	return r.memo.Load()
}

// ErrUnknown is returned by a Store for a hash it does not know.
var ErrUnknown = errors.New("api key: unknown")

// Store finds keys by the SHA-256 of their secret.
type Store interface {
	LookupKeyByHash(ctx context.Context, hash [32]byte) (*Record, error)
}

// Verifier resolves keys to records through an in-memory cache in front of
// a Store, so that a known key costs a hash and a map lookup.
//
// Revocation must take effect at the very next request, so the cache is
// invalidated by generation: any change to any key (revoke, roll, rename,
// organization change) calls Invalidate, which makes every cached record
// stale at once. Changes are rare and lookups cheap, so this is both simple
// and safe. Expiry needs no invalidation: records carry ExpiresAt and the
// caller compares it with its clock on every request.
type Verifier struct {
	store Store
	gen   atomic.Uint64

	mu      sync.RWMutex
	entries map[[32]byte]cached
	// Max bounds the cache; when full it starts over.
	Max int

	hits, misses atomic.Uint64
}

type cached struct {
	rec *Record
	gen uint64
}

// NewVerifier returns a Verifier over store.
func NewVerifier(store Store) *Verifier {
	return &Verifier{store: store, entries: map[[32]byte]cached{}, Max: 200_000}
}

// Verify returns the record of a parsed key, or ErrUnknown.
func (v *Verifier) Verify(ctx context.Context, k Key) (*Record, error) {
	return v.lookup(ctx, k.Hash())
}

func (v *Verifier) lookup(ctx context.Context, hash [32]byte) (*Record, error) {
	// Read the generation before the store: a change that lands while we
	// read makes what we read stale, and it is cached as such.
	gen := v.gen.Load()
	v.mu.RLock()
	c, ok := v.entries[hash]
	v.mu.RUnlock()
	if ok && c.gen == gen {
		v.hits.Add(1)
		return c.rec, nil
	}
	v.misses.Add(1)
	rec, err := v.store.LookupKeyByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.entries) >= v.Max {
		clear(v.entries)
	}
	v.entries[hash] = cached{rec: rec, gen: gen}
	v.mu.Unlock()
	return rec, nil
}

// Invalidate makes every cached record stale.
func (v *Verifier) Invalidate() { v.gen.Add(1) }

// Stats returns the cache's hits and misses so far.
func (v *Verifier) Stats() (hits, misses uint64) { return v.hits.Load(), v.misses.Load() }
