package loadtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"time"
)

// scenario is one kind of load.
type scenario struct {
	id, name string
	repeat   bool
	check    func(*response) error
}

var (
	scBare       = scenario{id: "bare", name: "bare GET /api/v1/me", check: checkMe}
	scBareRepeat = scenario{id: "bare", name: "bare GET /api/v1/me (repeat)", repeat: true, check: checkMe}
	scMe         = scenario{id: "me", name: "full GET /api/v1/me", check: checkMe}
	scBots       = scenario{id: "bots", name: "full GET /api/v1/bots", check: checkBots}
	scRotate     = scenario{id: "me-rotate", name: "full GET /api/v1/me, keys in turn", check: checkMe}
)

// checkMe accepts a 200 with a key and its organization.
func checkMe(r *response) error {
	var body struct {
		Key          struct{ ID string } `json:"key"`
		Organization struct{ ID string } `json:"organization"`
	}
	if r.status != 200 {
		return fmt.Errorf("status %d: %.200s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Key.ID == "" || body.Organization.ID == "" {
		return fmt.Errorf("unexpected body: %.200s", r.body)
	}
	return nil
}

// checkBots accepts a 200 listing every bot.
func checkBots(r *response) error {
	var body struct {
		Results []json.RawMessage `json:"results"`
	}
	if r.status != 200 {
		return fmt.Errorf("status %d: %.200s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Results) != Bots {
		return fmt.Errorf("want %d bots, got body: %.200s", Bots, r.body)
	}
	return nil
}

// counters are the full stack's running totals.
type counters struct {
	commits, flushes, failures, drops, hits, misses uint64
	rows                                  int
}

func (s *stack) counters(ctx context.Context) (counters, error) {
	var c counters
	var err error
	c.commits = s.commits.Load()
	c.flushes, c.failures, c.drops = s.usage.Stats()
	c.hits, c.misses = s.verifier.Stats()
	c.rows, err = s.requestLogRows(ctx)
	return c, err
}

// measure checks one request, warms up, then measures. For the full stack
// (st != nil) the usage buffer flushes on its ticker throughout, as in
// production; it is stopped (with a final flush) at the end of the warm-up
// and of the measurement, so the counters around the measurement see only
// its requests.
func (r *runner) measure(ctx context.Context, sc scenario, t target, st *stack) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	res := Result{Scenario: sc.id, Name: sc.name, Repeat: sc.repeat, FullStack: st != nil}
	if st != nil {
		res.KeysInDB, res.KeysUsed = len(st.keys), len(t.auth)
	}
	r.progress("%s (%d keys in db, %d used): %s warm-up, %s measured", sc.name, res.KeysInDB, res.KeysUsed, r.o.Warmup, r.o.Duration)
	first, err := r.c.get(t)
	if err == nil {
		err = sc.check(first)
	}
	if err != nil {
		return fmt.Errorf("%s: first request: %w", sc.name, err)
	}

	if st != nil {
		st.startUsage()
	}
	warm := r.c.run(ctx, t, r.o.Workers, r.o.Warmup, r.o.MaxRequests)
	res.WarmupRequests = warm.requests
	var before counters
	if st != nil {
		st.stopUsage()
		if before, err = st.counters(ctx); err != nil {
			return err
		}
		st.startUsage()
	}

	dials := r.c.dials.Load()
	p := r.c.run(ctx, t, r.o.Workers, r.o.Duration, r.o.MaxRequests)
	res.NewConns = r.c.dials.Load() - dials
	res.Requests, res.Non2xx, res.Errors, res.Elapsed = p.requests, p.non2xx, p.errors, p.elapsed
	if p.firstErr != nil {
		res.FirstError = p.firstErr.Error()
	}
	res.P50, res.P99 = percentile(p.latencies, 0.50), percentile(p.latencies, 0.99)
	res.ElapsedS = p.elapsed.Seconds()
	res.RPS = float64(p.requests) / p.elapsed.Seconds()
	res.P50us, res.P99us = micros(res.P50), micros(res.P99)

	if st != nil {
		st.stopUsage()
		after, err := st.counters(ctx)
		if err != nil {
			return err
		}
		res.WriteTx, res.Flushes = after.commits-before.commits, after.flushes-before.flushes
		res.FlushFailures, res.Drops = after.failures-before.failures, after.drops-before.drops
		if e := st.flushErr.Load(); e != nil && res.FirstError == "" {
			res.FirstError = "flush usage: " + (*e).Error()
		}
		res.CacheHits, res.CacheMisses = after.hits-before.hits, after.misses-before.misses
		res.Logged = after.rows - before.rows
	}
	r.rep.Results = append(r.rep.Results, res)
	return ctx.Err()
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func tlsVersionName(v uint16) string {
	if v == 0 {
		return "none"
	}
	return tls.VersionName(v)
}
