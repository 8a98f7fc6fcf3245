package loadtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// scenario is one kind of load.
type scenario struct {
	id, name string
	check    func(*response) error
}

var (
	scBare   = scenario{id: "bare", name: "bare GET /api/v1/me", check: checkMe}
	scMe     = scenario{id: "me", name: "full GET /api/v1/me", check: checkMe}
	scBots   = scenario{id: "bots", name: "full GET /api/v1/bots", check: checkBots}
	scRotate = scenario{id: "me-rotate", name: "full GET /api/v1/me, keys in turn", check: checkMe}
	scBot    = scenario{id: "bot", name: "full GET /api/v1/bots/{id}", check: checkBot}
	scFwd    = scenario{id: "forward", name: "full GET /auth/forward", check: checkForward}
)

// job is a scenario against one server, or against replicas in turn,
// with what its rounds add up to.
type job struct {
	sc  scenario
	t   target
	sts []*stack // none for the bare handler
	res Result

	latencies []time.Duration
	roundRPS  []float64
}

func newJob(sc scenario, t target, sts ...*stack) *job {
	j := &job{sc: sc, t: t, sts: sts, res: Result{Scenario: sc.id, Name: sc.name, FullStack: len(sts) > 0}}
	if len(sts) > 0 {
		j.res.KeysInDB, j.res.KeysUsed = len(sts[0].keys), len(t.auth)
		j.res.Engine, j.res.Replicas = string(sts[0].engine), len(sts)
	}
	return j
}

// database is the stack whose database the job's stacks share.
func (j *job) database() *stack {
	if len(j.sts) == 0 {
		return nil
	}
	return j.sts[0].replicas[0]
}

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

// checkForward accepts a forward-auth 200 naming the key for the
// upstream.
func checkForward(r *response) error {
	if r.status != 200 || !strings.HasPrefix(r.header.Get("X-Keygate-Key-Id"), "key_") {
		return fmt.Errorf("status %d, X-Keygate-Key-Id %q: %.200s", r.status, r.header.Get("X-Keygate-Key-Id"), r.body)
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

// checkBot accepts a 200 with one bot.
func checkBot(r *response) error {
	var body struct {
		ID string `json:"id"`
	}
	if r.status != 200 {
		return fmt.Errorf("status %d: %.200s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &body); err != nil || !strings.HasPrefix(body.ID, "bot_") {
		return fmt.Errorf("unexpected body: %.200s", r.body)
	}
	return nil
}

// counters are a database's running totals, over its replicas.
type counters struct {
	commits, flushes, failures, drops uint64
	rows                              int
}

func (s *stack) counters(ctx context.Context) (counters, error) {
	var c counters
	var err error
	if s.commits != nil {
		c.commits = s.commits.Load()
	}
	for _, r := range s.replicas {
		f, fails, d := r.usage.Stats()
		c.flushes, c.failures, c.drops = c.flushes+f, c.failures+fails, c.drops+d
	}
	c.rows, err = s.requestLogRows(ctx)
	return c, err
}

// measure checks each job's first request, warms every job up, then runs
// the rounds: in each, every job in turn for Duration/Rounds, starting one
// job further each round.
//
// A full-stack job's usage buffer flushes on a 1s ticker during its slice,
// as in production, and once more at the end, and that final flush counts
// in the job's time: its requests' writes are charged to it, not to
// whichever job runs next. The counters around the measurement therefore
// see only its requests.
func (r *runner) measure(ctx context.Context) error {
	for _, j := range r.jobs {
		first, err := r.c.get(j.t)
		if err == nil {
			err = j.sc.check(first)
		}
		if err != nil {
			return fmt.Errorf("%s, %d keys: first request: %w", j.sc.name, j.res.KeysInDB, err)
		}
	}
	for _, j := range r.jobs {
		r.progress("warm-up %s (%d keys in db): %s", j.sc.name, j.res.KeysInDB, r.o.Warmup)
		j.res.WarmupRequests = r.slice(ctx, j, r.o.Warmup).requests
	}
	before := make([]counters, len(r.databases))
	for i, st := range r.databases {
		var err error
		if before[i], err = st.counters(ctx); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	r.rep.LoadAvgBefore = loadAvg()
	d := r.o.Duration / time.Duration(r.o.Rounds)
	r.progress("measuring %d rounds of %s per scenario", r.o.Rounds, d)
	start := time.Now()
	for round := range r.o.Rounds {
		for i := range r.jobs {
			j := r.jobs[(i+round)%len(r.jobs)]
			j.add(r.slice(ctx, j, d))
		}
	}
	window := time.Since(start)
	r.rep.LoadAvgAfter = loadAvg()
	if err := ctx.Err(); err != nil {
		return err
	}

	for _, j := range r.jobs {
		r.rep.Results = append(r.rep.Results, j.finish())
	}
	for i, st := range r.databases {
		after, err := st.counters(ctx)
		if err != nil {
			return err
		}
		r.rep.Databases = append(r.rep.Databases, r.database(st, before[i], after, window))
	}
	return nil
}

// slice is one run of a job, with what it cost beyond its requests.
type slice struct {
	*phase
	dials        int64
	hits, misses uint64
	flush        time.Duration // the final usage flush, included in elapsed
	cpu          time.Duration // the process's, flush included
	dbCPU        time.Duration // PostgreSQL's backends', where readable
}

// verifierStats sums the key caches' hits and misses over the job's
// stacks.
func (j *job) verifierStats() (hits, misses uint64) {
	for _, st := range j.sts {
		h, m := st.verifier.Stats()
		hits, misses = hits+h, misses+m
	}
	return hits, misses
}

// slice runs j for d, flushing usage as described at measure.
func (r *runner) slice(ctx context.Context, j *job, d time.Duration) slice {
	var s slice
	hits, misses := j.verifierStats()
	for _, st := range j.sts {
		st.startUsage()
	}
	var dbBefore map[int]time.Duration
	db := j.database()
	if db != nil && db.dbCPU != nil {
		dbBefore, _ = db.dbCPU.snapshot(ctx)
	}
	cpu := cpuTime()
	dials := r.load.dialed()
	s.phase = r.load.run(ctx, j.t, r.o.Workers, d, r.o.MaxRequests)
	s.dials = r.load.dialed() - dials
	if len(j.sts) > 0 {
		start := time.Now()
		for _, st := range j.sts {
			st.stopUsage()
		}
		s.flush = time.Since(start)
		s.elapsed += s.flush
		h, m := j.verifierStats()
		s.hits, s.misses = h-hits, m-misses
	}
	s.cpu = cpuTime() - cpu
	if dbBefore != nil {
		if after, err := db.dbCPU.snapshot(ctx); err == nil {
			s.dbCPU = cpuBetween(dbBefore, after)
		}
	}
	return s
}

// add counts one measured slice.
func (j *job) add(s slice) {
	j.res.NewConns += s.dials
	j.res.CacheHits += s.hits
	j.res.CacheMisses += s.misses
	j.res.Requests += s.requests
	j.res.Non2xx += s.non2xx
	j.res.Errors += s.errors
	if s.firstErr != nil && j.res.FirstError == "" {
		j.res.FirstError = s.firstErr.Error()
	}
	j.res.Elapsed += s.elapsed
	j.res.TailFlush += s.flush
	j.res.CPU += s.cpu
	j.res.DBCPU += s.dbCPU
	j.latencies = append(j.latencies, s.latencies...)
	j.roundRPS = append(j.roundRPS, float64(s.requests)/s.elapsed.Seconds())
}

// finish computes the job's result from its rounds.
func (j *job) finish() Result {
	res := j.res
	slices.Sort(j.latencies)
	res.P50, res.P99 = percentile(j.latencies, 0.50), percentile(j.latencies, 0.99)
	res.P50us, res.P99us = micros(res.P50), micros(res.P99)
	res.ElapsedS, res.TailFlushS = res.Elapsed.Seconds(), res.TailFlush.Seconds()
	if res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
	if res.Requests > 0 {
		res.CPUPerRequestUS = micros(res.CPU) / float64(res.Requests)
		res.DBCPUPerRequestUS = micros(res.DBCPU) / float64(res.Requests)
	}
	if res.RPS > 0 && len(j.roundRPS) > 1 {
		res.RoundSpreadPct = (slices.Max(j.roundRPS) - slices.Min(j.roundRPS)) / res.RPS * 100
	}
	return res
}

// database sums up what st wrote between the two counters.
func (r *runner) database(st *stack, before, after counters, window time.Duration) Database {
	d := Database{
		Engine: string(st.engine), Replicas: len(st.replicas),
		Keys: len(st.keys), Window: window, WindowS: window.Seconds(),
		WriteTx: after.commits - before.commits, Flushes: after.flushes - before.flushes,
		FlushFailures: after.failures - before.failures, Drops: after.drops - before.drops,
		Logged: after.rows - before.rows,
	}
	for _, j := range r.jobs {
		if j.database() == st {
			d.Requests += j.res.Requests
			d.Measured += j.res.Elapsed
			d.Slices += len(j.roundRPS)
		}
	}
	d.MeasuredS = d.Measured.Seconds()
	for _, rep := range st.replicas {
		if e := rep.flushErr.Load(); e != nil && d.FirstError == "" {
			d.FirstError = "flush usage: " + (*e).Error()
		}
	}
	return d
}

// loadAvg returns the 1-minute load average, or "" where /proc has none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func tlsVersionName(v uint16) string {
	if v == 0 {
		return "none"
	}
	return tls.VersionName(v)
}
