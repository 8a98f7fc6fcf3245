// Package ratelimit provides the two in-memory rate-limiting mechanisms used
// by Keygate:
//
//   - FailureWindow, a Throttler that blocks a key (an account, a client IP)
//     after too many failures, such as failed logins, within a sliding window.
//     Reserve counts an attempt as a failure atomically with the check, so
//     that concurrent attempts cannot all pass before any has failed.
//   - GCRA, a Limiter that enforces per-API-key request quotas such as
//     "1000/h" with the generic cell rate algorithm, in O(1) time and one
//     timestamp of state per key.
//
// Each mechanism sits behind a small interface (Throttler, Limiter) so that a
// shared store, for example Redis, can replace it when several replicas serve
// the same keys; the in-memory types only see the traffic of their own
// process.
//
// # Clock
//
// Both types read the time from their Now field, which defaults to time.Now.
// Tests inject a fake clock instead of sleeping.
//
// # Concurrency and memory
//
// Both types are safe for concurrent use. State is spread over 64 shards,
// each a map guarded by its own mutex, chosen by a randomly seeded hash of the
// key, so unrelated keys rarely contend.
//
// Memory is bounded by the number of keys that are active, not by the number
// of keys ever seen. An entry is stale once it no longer affects any decision:
// for FailureWindow when its newest failure has left the window, for GCRA when
// its bucket is full again. Stale entries are evicted
//
//   - lazily, when their key is used again;
//   - opportunistically, when a new key would grow a shard past twice the
//     size it had after its previous sweep (at least 64), that shard is swept
//     first, which keeps inserts amortized O(1);
//   - explicitly, by Sweep(now), which callers may run from a ticker, and which
//     reports how many entries it evicted.
//
// Fields of FailureWindow and GCRA must not be modified after first use.
package ratelimit
