// Package loadtest measures the API under load on loopback over TLS: a bare
// net/http handler that answers exactly what GET /api/v1/me answers (the
// baseline), and the real web.Server handler on real SQLite services, wired
// as cmd/keygate serve wires them, with 1 and with many keys in the
// database.
//
// Client and server run in the same process and share its cores. The
// scenarios run in interleaved rounds so that whatever else the machine
// does weighs on each alike, and besides requests per second each reports
// the process's CPU time per request, which other load hardly moves.
// Traffic only ever goes to 127.0.0.1, and every scenario stops by itself
// after a fixed duration or request count.
//
// Run it with `go run ./cmd/keygate-bench`.
package loadtest
