package ratelimit

import (
	"hash/maphash"
	"sync"
)

const (
	// numShards is the number of independently locked maps per limiter.
	numShards = 64
	// minSweepLen is the smallest shard size that triggers an opportunistic
	// sweep before a new key is inserted.
	minSweepLen = 64
)

// shardSeed randomizes shard selection so that clients cannot pick keys that
// all land in one shard.
var shardSeed = maphash.MakeSeed()

// shard is one mutex-guarded map of per-key state.
type shard[V any] struct {
	mu      sync.Mutex
	m       map[string]V
	sweepAt int // size at which the next insert sweeps the shard first

	_ [40]byte // pads the shard to 64 bytes so neighbouring mutexes do not share a cache line
}

// shardSet is a fixed set of shards; its zero value is ready to use.
type shardSet[V any] struct {
	s [numShards]shard[V]
}

// get returns the shard that owns key.
func (ss *shardSet[V]) get(key string) *shard[V] {
	return &ss.s[maphash.String(shardSeed, key)%numShards]
}

// insert adds key, which must not be present, to the shard. If the shard has
// reached its sweep threshold, the entries for which stale reports true are
// evicted first. The caller must hold s.mu.
func (s *shard[V]) insert(key string, v V, stale func(V) bool) {
	if s.m == nil {
		s.m = make(map[string]V)
	}
	if len(s.m) >= max(s.sweepAt, minSweepLen) {
		s.sweepLocked(stale)
	}
	s.m[key] = v
}

// sweepLocked evicts the entries for which stale reports true, resets the
// sweep threshold and returns the number of evicted entries. The caller must
// hold s.mu.
func (s *shard[V]) sweepLocked(stale func(V) bool) int {
	n := 0
	for k, v := range s.m {
		if stale(v) {
			delete(s.m, k)
			n++
		}
	}
	s.sweepAt = max(2*len(s.m), minSweepLen)
	return n
}

// sweep evicts stale entries from every shard and returns how many it evicted.
func (ss *shardSet[V]) sweep(stale func(V) bool) int {
	n := 0
	for i := range ss.s {
		s := &ss.s[i]
		s.mu.Lock()
		n += s.sweepLocked(stale)
		s.mu.Unlock()
	}
	return n
}

// len returns the number of entries over all shards.
func (ss *shardSet[V]) len() int {
	n := 0
	for i := range ss.s {
		s := &ss.s[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
