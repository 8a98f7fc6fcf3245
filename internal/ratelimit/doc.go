// Package ratelimit provides Keygate's rate-limiting mechanisms: two in
// memory, for one process, and their shared forms, for several replicas on
// one database:
//
//   - FailureWindow, a Throttler that blocks a key (an account, a client IP)
//     after too many failures, such as failed logins, within a sliding window.
//     Reserve counts an attempt as a failure atomically with the check, so
//     that concurrent attempts cannot all pass before any has failed.
//   - GCRA, a Limiter that enforces per-API-key request quotas such as
//     "1000/h" with the generic cell rate algorithm, in O(1) time and one
//     timestamp of state per key.
//   - SharedFailureWindow, FailureWindow's rules over a FailureStore that
//     every replica sees, one trip to it per call.
//   - Shared, GCRA over a BucketStore that every replica sees: a replica
//     reserves small batches of requests (leases) and spends them locally,
//     so that the replicas together stay within a key's limit plus Slack
//     without a trip to the store per request.
//
// Callers see only the small interfaces (Throttler, Limiter), so the
// in-memory and shared forms are interchangeable. internal/sqlstore
// implements the stores.
//
// # Clock
//
// Every type reads the time from their Now field, which defaults to time.Now.
// Tests inject a fake clock instead of sleeping.
//
// # Concurrency and memory
//
// Every type is safe for concurrent use. State is spread over 64 shards,
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
// Fields must not be modified after first use.
package ratelimit
