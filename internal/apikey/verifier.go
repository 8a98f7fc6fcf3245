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
	// Permissions are the organization's own permission names the key
	// holds (invoices:write), sorted.
	Permissions []string
	// AllowedIPs are the CIDRs the key may be used from, comma-separated
	// as stored; "" means anywhere.
	AllowedIPs string

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

// DefaultMaxAge is how long a Verifier answers from a cached record
// before it reads the key again, whatever it has heard meanwhile.
const DefaultMaxAge = 30 * time.Second

// Verifier resolves keys to records through an in-memory cache in front of
// a Store, so that a known key costs a hash and a map lookup.
//
// Revocation must take effect at the very next request, so the cache is
// invalidated by generation: any change to any key (revoke, roll, rename,
// organization change) calls Invalidate, which makes every cached record
// stale at once. Changes are rare and lookups cheap, so this is both simple
// and safe. Expiry needs no invalidation: records carry ExpiresAt and the
// caller compares it with its clock on every request.
//
// When several processes share the database, the news of their changes
// comes over a connection that can fail. While it is down the cache is
// untrusted (SetTrusted): every lookup reads the store, and a cached
// record answers only if the store cannot be reached and the record is
// younger than MaxAge. However healthy the news, no record is used past
// MaxAge without reading the store again: a change whose news was lost
// lives at most that long.
type Verifier struct {
	store Store
	gen   atomic.Uint64
	// untrusted is set while changes may go unheard.
	untrusted atomic.Bool

	mu      sync.RWMutex
	entries map[[32]byte]cached
	// Max bounds the cache; when full it starts over.
	Max int
	// MaxAge is how long a record is used before the key is read again;
	// DefaultMaxAge unless set before the first Verify.
	MaxAge time.Duration
	// Now is the clock of MaxAge; tests replace it.
	Now func() time.Time

	hits, misses, flushes, fallbacks atomic.Uint64
}

// fallbackAfter bounds an untrusted lookup of a key whose record is
// cached: past it the record answers.
const fallbackAfter = time.Second

type cached struct {
	rec *Record
	gen uint64
	at  time.Time
}

// NewVerifier returns a Verifier over store, trusted.
func NewVerifier(store Store) *Verifier {
	return &Verifier{store: store, entries: map[[32]byte]cached{}, Max: 200_000, MaxAge: DefaultMaxAge, Now: time.Now}
}

// Verify returns the record of a parsed key, or ErrUnknown. Any other
// error is the store's: the key is not cached (or its record is too old)
// and the store could not be read.
func (v *Verifier) Verify(ctx context.Context, k Key) (*Record, error) {
	return v.lookup(ctx, k.Hash())
}

func (v *Verifier) lookup(ctx context.Context, hash [32]byte) (*Record, error) {
	// Trust before generation: SetTrusted(true) flushes, then trusts, so
	// a lookup that sees the trust also sees the flush.
	trusted := !v.untrusted.Load()
	// Read the generation before the store: a change that lands while we
	// read makes what we read stale, and it is cached as such.
	gen := v.gen.Load()
	now := v.Now()
	v.mu.RLock()
	c, ok := v.entries[hash]
	v.mu.RUnlock()
	fresh := ok && c.gen == gen && v.young(now, c.at)
	if fresh && trusted {
		v.hits.Add(1)
		return c.rec, nil
	}
	v.misses.Add(1)
	if fresh {
		// A record can answer if the store does not: a store that hangs
		// (a network that drops packets) is not waited for long.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fallbackAfter)
		defer cancel()
	}
	rec, err := v.store.LookupKeyByHash(ctx, hash)
	if errors.Is(err, ErrUnknown) {
		if ok {
			v.mu.Lock()
			delete(v.entries, hash)
			v.mu.Unlock()
		}
		return nil, err
	} else if err != nil {
		if fresh {
			// The store is unreachable: a record young enough, and read
			// since the last change this process heard of, answers.
			v.fallbacks.Add(1)
			return c.rec, nil
		}
		return nil, err
	}
	v.mu.Lock()
	if len(v.entries) >= v.Max {
		clear(v.entries)
	}
	v.entries[hash] = cached{rec: rec, gen: gen, at: now}
	v.mu.Unlock()
	return rec, nil
}

// young reports whether a record read at is still usable at now.
func (v *Verifier) young(now, at time.Time) bool {
	age := now.Sub(at)
	return age >= 0 && age < v.MaxAge
}

// Invalidate makes every cached record stale.
func (v *Verifier) Invalidate() {
	v.gen.Add(1)
	v.flushes.Add(1)
}

// SetTrusted says whether the cache hears of every change. Untrusted, every
// lookup reads the store. Trusted again, it starts over: what it holds may
// predate changes it did not hear of.
func (v *Verifier) SetTrusted(trusted bool) {
	if !trusted {
		v.untrusted.Store(true)
		return
	}
	v.Invalidate()
	v.untrusted.Store(false)
}

// Trusted reports whether the cache answers without reading the store.
func (v *Verifier) Trusted() bool { return !v.untrusted.Load() }

// Stats returns the cache's hits and misses so far.
func (v *Verifier) Stats() (hits, misses uint64) { return v.hits.Load(), v.misses.Load() }

// Flushes returns how many times the cache was emptied by a change.
func (v *Verifier) Flushes() uint64 { return v.flushes.Load() }

// Fallbacks returns how many lookups a cached record answered because the
// store could not be read.
func (v *Verifier) Fallbacks() uint64 { return v.fallbacks.Load() }
