package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/keygate/keygate/internal/sqlstore"
)

// Bots is how many bots the organization has, one default API page.
const Bots = 20

// Options configures a run. Zero fields take the defaults.
type Options struct {
	// Duration is how long each scenario is measured in all (default 5s).
	Duration time.Duration
	// Rounds splits each scenario's Duration into that many slices, run in
	// turn with the other scenarios' (default 5), so that anything else
	// the machine does weighs on every scenario alike.
	Rounds int
	// Warmup runs each scenario before the measurement, uncounted
	// (default 1s).
	Warmup time.Duration
	// Workers is the number of concurrent keep-alive clients (default 32).
	Workers int
	// Keys is the number of keys in the large database (default 100,000).
	Keys int
	// Rotate is how many of those keys the rotating scenario spreads its
	// requests over (default 1,000, or Keys if fewer).
	Rotate int
	// MaxRequests bounds the requests of each slice (default 5,000,000),
	// so a run stops by itself however fast the server is.
	MaxRequests int
	// FlushInterval is how often usage is written (default 1s, as serve).
	FlushInterval time.Duration
	// Postgres, if set, is the URL of an empty PostgreSQL database: the
	// run then also measures /me and a bot read on one replica and on two
	// replicas over it, against the same on SQLite.
	Postgres string
	// Pin runs the load from a second process on a core of its own (the
	// first this process may use) and keeps the servers off it, so the
	// client takes no CPU from them; it needs Linux and two cores.
	Pin bool
	// ServeOnly starts the servers as Run would, writes each scenario's
	// URL and Authorization header to Targets, and serves (usage flushed
	// as in serve) until the context ends, for a load generator of one's
	// own (wrk). With Pin the servers keep off the first core.
	ServeOnly bool
	Targets   io.Writer
	// Progress, if set, receives a line as each step starts.
	Progress io.Writer
}

func (o Options) withDefaults() (Options, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defDur(&o.Duration, 5*time.Second)
	defDur(&o.Warmup, time.Second)
	defDur(&o.FlushInterval, time.Second)
	def(&o.Rounds, 5)
	def(&o.Workers, 32)
	def(&o.Keys, 100_000)
	def(&o.Rotate, min(1000, o.Keys)) // a small -keys rotates over them all
	def(&o.MaxRequests, 5_000_000)
	switch {
	case o.Duration < 0 || o.Duration > 10*time.Minute:
		return o, errors.New("duration must be between 0 and 10m")
	case o.Rounds < 1 || o.Rounds > 100 || o.Duration/time.Duration(o.Rounds) < 10*time.Millisecond:
		return o, errors.New("rounds must be between 1 and 100, and each at least 10ms")
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, errors.New("warm-up must be between 0 and 1m")
	case o.Workers < 1 || o.Workers > 1024:
		return o, errors.New("workers must be between 1 and 1024")
	case o.Keys < 1 || o.Keys > 10_000_000:
		return o, errors.New("keys must be between 1 and 10,000,000")
	case o.Rotate < 1 || o.Rotate > o.Keys:
		return o, fmt.Errorf("rotate must be between 1 and keys (%d)", o.Keys)
	case o.MaxRequests < 1:
		return o, errors.New("max requests must be positive")
	case o.FlushInterval <= 0:
		return o, errors.New("flush interval must be positive")
	}
	return o, nil
}

// Result is one measured scenario, over all its rounds.
type Result struct {
	// Scenario is bare, me, bots, bot or me-rotate; Name says it in
	// words.
	Scenario string `json:"scenario"`
	Name     string `json:"name"`
	// FullStack is false for the bare handler.
	FullStack bool `json:"full_stack"`
	// Engine is the full stack's database, sqlite or postgres; Replicas
	// how many servers on it the requests go to in turn.
	Engine   string `json:"engine,omitempty"`
	Replicas int    `json:"replicas,omitempty"`
	// KeysInDB is the number of keys in the database, 0 for bare;
	// KeysUsed how many of them the requests take in turn.
	KeysInDB int `json:"keys_in_db"`
	KeysUsed int `json:"keys_used"`

	Requests   int     `json:"requests"`
	Non2xx     int     `json:"non_2xx"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	RPS        float64 `json:"requests_per_s"`
	// ElapsedS is the measured time, TailFlushS the part of it spent in
	// the usage flush at the end of each slice.
	ElapsedS   float64 `json:"elapsed_s"`
	TailFlushS float64 `json:"tail_flush_s"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	// CPUPerRequestUS is the process's CPU time (server and, unless the
	// client is pinned apart, client; usage flushes and GC included) per
	// request, in microseconds: unlike RPS it hardly moves when other
	// programs load the machine.
	CPUPerRequestUS float64 `json:"cpu_per_request_us"`
	// DBCPUPerRequestUS is PostgreSQL's CPU time per request, its
	// backends' on the benchmark's database read from /proc; 0 on SQLite
	// (whose work is in the process) or where it cannot be read.
	DBCPUPerRequestUS float64 `json:"db_cpu_per_request_us"`
	// RoundSpreadPct is (max-min)/mean of the rounds' throughputs: how much
	// the machine moved under this scenario.
	RoundSpreadPct float64 `json:"round_spread_pct"`
	// WarmupRequests were sent before the measurement and not counted.
	WarmupRequests int `json:"warmup_requests"`
	// NewConns is the number of connections dialed while measuring: 0
	// when keep-alive held them all from the warm-up on.
	NewConns int64 `json:"new_connections"`
	// CacheHits and CacheMisses are the key verifier's while measuring.
	CacheHits   uint64 `json:"verifier_cache_hits"`
	CacheMisses uint64 `json:"verifier_cache_misses"`

	Elapsed   time.Duration `json:"-"`
	TailFlush time.Duration `json:"-"`
	CPU       time.Duration `json:"-"`
	DBCPU     time.Duration `json:"-"`
	P50, P99  time.Duration `json:"-"`
}

// Database is what one full-stack database wrote over the whole
// measurement, all its scenarios' rounds and the final usage flush.
type Database struct {
	// Engine is sqlite or postgres; Replicas the servers on it.
	Engine   string `json:"engine"`
	Replicas int    `json:"replicas"`
	Keys     int    `json:"keys"`
	// Requests is the sum of its scenarios' requests.
	Requests int `json:"requests"`
	// WindowS runs from the first measured request to the last flush;
	// MeasuredS is the part of it spent on this database's Slices slices.
	WindowS   float64 `json:"window_s"`
	MeasuredS float64 `json:"measured_s"`
	Slices    int     `json:"slices"`
	// WriteTx is the SQLite write transactions committed on the database,
	// counted by a commit hook (0 on PostgreSQL, which is not counted).
	WriteTx uint64 `json:"write_transactions"`
	// Flushes is the usage buffer's successful flushes, FlushFailures its
	// failed ones and Drops its dropped events.
	Flushes       uint64 `json:"usage_flushes"`
	FlushFailures uint64 `json:"usage_flush_failures"`
	Drops         uint64 `json:"usage_drops"`
	// Logged is the request_log rows added: every request, once flushed.
	Logged     int    `json:"request_log_rows"`
	FirstError string `json:"first_error,omitempty"`

	Window, Measured time.Duration `json:"-"`
}

// MaxFlushes is the most usage flushes the database may see while
// measuring: one a flush interval of its measured time, and one at the end
// of each slice, with one more per slice for a tick that races the end.
func (d *Database) MaxFlushes(interval time.Duration) uint64 {
	return uint64(d.Measured/interval) + 2*uint64(d.Slices)
}

// Report is the outcome of a run.
type Report struct {
	Workers        int     `json:"workers"`
	DurationS      float64 `json:"duration_s"`
	Rounds         int     `json:"rounds"`
	WarmupS        float64 `json:"warmup_s"`
	Keys           int     `json:"keys"`
	Rotate         int     `json:"rotate"`
	Bots           int     `json:"bots"`
	FlushIntervalS float64 `json:"flush_interval_s"`
	CPUs           int     `json:"cpus"`
	GOMAXPROCS     int     `json:"gomaxprocs"`
	// ClientCPUs and ServerCPUs are the cores the pinned client and the
	// servers ran on; empty when the client shared the servers' cores.
	ClientCPUs []int  `json:"client_cpus,omitempty"`
	ServerCPUs []int  `json:"server_cpus,omitempty"`
	GoVersion  string `json:"go_version"`
	Protocol   string `json:"protocol"`
	TLSVersion string `json:"tls_version"`
	// LoadAvg is the machine's 1-minute load average before and after
	// the measurement, where the system tells it.
	LoadAvgBefore string `json:"loadavg_before,omitempty"`
	LoadAvgAfter  string `json:"loadavg_after,omitempty"`
	// SeedS is how long creating the large database took.
	SeedS     float64    `json:"seed_keys_s"`
	Note      string     `json:"note"`
	Results   []Result   `json:"results"`
	Databases []Database `json:"databases"`
	Summary   Summary    `json:"summary"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Run sets up the bare handler and two full stacks, one database with 1
// key and one with Keys keys, and measures in rounds: the bare handler,
// /me and /bots on each database, and /me over Rotate keys on the large
// one. Everything it creates goes in a temporary directory removed at the
// end.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "keygate-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	lt, err := newLoopbackTLS(dir)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, tls: lt, c: newClient(lt.roots, o.Workers), rep: newReport(o)}
	r.load = r.c
	if o.ServeOnly {
		defer r.c.tr.CloseIdleConnections()
		defer r.close()
		return nil, r.serveOnly(ctx, dir)
	}
	defer r.c.tr.CloseIdleConnections()
	if o.Pin {
		clientCPUs, serverCPUs, err := pinServers()
		if err != nil {
			return nil, err
		}
		rc, err := startRemoteClient(lt.leaf, clientCPUs)
		if err != nil {
			return nil, err
		}
		defer rc.close()
		r.load = rc
		r.rep.ClientCPUs, r.rep.ServerCPUs, r.rep.GOMAXPROCS = clientCPUs, serverCPUs, len(serverCPUs)
		r.rep.Note = fmt.Sprintf("the client runs in its own process on CPU %v, the servers on CPU %v (GOMAXPROCS=%d); "+
			"CPU/req is the servers' alone", clientCPUs, serverCPUs, len(serverCPUs))
	}
	defer r.close()
	if err := r.setUp(ctx, dir); err != nil {
		return nil, err
	}
	if err := r.measure(ctx); err != nil {
		return nil, err
	}
	r.rep.Summary = summarize(r.rep, o)
	return r.rep, nil
}

// pinServers keeps this process, and so the servers, off the first core,
// which it returns for the client, with one P per core left, as a server
// started with taskset would have.
func pinServers() (clientCPUs, serverCPUs []int, err error) {
	if !Pinnable() {
		return nil, nil, errors.New("pinning the client to a core of its own needs Linux and at least two cores")
	}
	clientCPUs, serverCPUs = splitCPUs()
	if err := pinProcess(serverCPUs); err != nil {
		return nil, nil, err
	}
	runtime.GOMAXPROCS(len(serverCPUs))
	return clientCPUs, serverCPUs, nil
}

// serveOnly is Run for Options.ServeOnly.
func (r *runner) serveOnly(ctx context.Context, dir string) error {
	if err := r.setUp(ctx, dir); err != nil {
		return err
	}
	if r.o.Pin {
		_, serverCPUs, err := pinServers()
		if err != nil {
			return err
		}
		fmt.Fprintf(r.o.Targets, "# servers on CPU %v (GOMAXPROCS=%d); run the load on the others\n", serverCPUs, len(serverCPUs))
	}
	for _, j := range r.jobs {
		fmt.Fprintf(r.o.Targets, "%s\t%s\t%s\n", j.sc.id, j.t.urls[0], j.t.auth[0])
	}
	for _, st := range r.stacks {
		st.startUsage()
	}
	<-ctx.Done()
	for _, st := range r.stacks {
		st.stopUsage()
	}
	return nil
}

// runner holds what the scenarios share.
type runner struct {
	o      Options
	tls    *loopbackTLS
	c      *client // for single requests (captures, checks)
	load   loader  // for the load: c, or a pinned client process
	rep    *Report
	stacks []*stack // every server, to close
	// databases are the first stack on each database, whose writes are
	// reported.
	databases []*stack
	bare      *tlsServer
	jobs      []*job
}

func (r *runner) progress(format string, args ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, format+"\n", args...)
	}
}

// setUp seeds both databases, starts the three servers and lists the jobs.
func (r *runner) setUp(ctx context.Context, dir string) error {
	r.progress("seeding the 1-key database")
	small, err := openStack(ctx, filepath.Join(dir, "small"), 1, Bots, r.o.FlushInterval, r.tls.server)
	if err != nil {
		return err
	}
	r.stacks, r.databases = append(r.stacks, small), append(r.databases, small)
	me := newTarget(small.server.URL+"/api/v1/me", small.keys[:1])
	// The baseline answers what the real /me answers, byte for byte.
	model, err := r.c.get(me)
	if err == nil {
		err = checkMe(model)
	}
	if err != nil {
		return fmt.Errorf("capture /me: %w", err)
	}
	r.rep.Protocol, r.rep.TLSVersion = model.proto, tlsVersionName(model.tls)
	if r.bare, err = startTLS(bareHandler(model.status, model.header, model.body), r.tls.server); err != nil {
		return err
	}

	r.progress("seeding the %d-key database", r.o.Keys)
	start := time.Now()
	big, err := openStack(ctx, filepath.Join(dir, "big"), r.o.Keys, Bots, r.o.FlushInterval, r.tls.server)
	if err != nil {
		return err
	}
	r.stacks, r.databases = append(r.stacks, big), append(r.databases, big)
	r.rep.SeedS = time.Since(start).Seconds()

	r.jobs = []*job{
		newJob(scBare, newTarget(r.bare.URL+"/api/v1/me", small.keys[:1])),
		newJob(scMe, me, small),
		newJob(scFwd, newTarget(small.server.URL+"/auth/forward?service=bench", small.keys[:1]), small),
		newJob(scBots, newTarget(small.server.URL+"/api/v1/bots", small.keys[:1]), small),
		newJob(scBot, newTarget(small.server.URL+"/api/v1/bots/"+small.bots[0], small.keys[:1]), small),
		newJob(scMe, newTarget(big.server.URL+"/api/v1/me", big.keys[:1]), big),
		newJob(scBots, newTarget(big.server.URL+"/api/v1/bots", big.keys[:1]), big),
		newJob(scRotate, newTarget(big.server.URL+"/api/v1/me", big.keys[:r.o.Rotate]), big),
	}
	if r.o.Postgres != "" {
		return r.setUpPostgres(ctx)
	}
	return nil
}

// setUpPostgres starts two replicas on the PostgreSQL database, seeded as
// the 1-key SQLite one, and adds /me and the bot read on one replica and
// on both in turn.
func (r *runner) setUpPostgres(ctx context.Context) error {
	r.progress("seeding PostgreSQL (%s) and starting two replicas on it", sqlstore.RedactDSN(r.o.Postgres))
	reps, err := openPostgresStacks(ctx, r.o.Postgres, 2, 1, Bots, r.o.FlushInterval, r.tls.server)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	r.stacks, r.databases = append(r.stacks, reps...), append(r.databases, reps[0])
	a, b := reps[0], reps[1]
	urls := func(path string, sts ...*stack) []string {
		var out []string
		for _, st := range sts {
			out = append(out, st.server.URL+path)
		}
		return out
	}
	bot := "/api/v1/bots/" + a.bots[0]
	r.jobs = append(r.jobs,
		newJob(scMe, newTargets(urls("/api/v1/me", a), a.keys), a),
		newJob(scBot, newTargets(urls(bot, a), a.keys), a),
		newJob(scMe, newTargets(urls("/api/v1/me", a, b), a.keys), a, b),
		newJob(scBot, newTargets(urls(bot, a, b), a.keys), a, b),
	)
	return nil
}

func (r *runner) close() {
	for _, st := range r.stacks {
		st.Close()
	}
	if r.bare != nil {
		r.bare.Close()
	}
}
