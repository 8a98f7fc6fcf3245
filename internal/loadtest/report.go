package loadtest

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets the summary judges against.
const (
	TargetFullVsBare = 0.85 // full-stack /me throughput over bare
	TargetKeysPct    = 5.0  // many keys vs 1 key, in percent either way
)

func newReport(o Options) *Report {
	return &Report{
		Workers: o.Workers, DurationS: o.Duration.Seconds(), Rounds: o.Rounds, WarmupS: o.Warmup.Seconds(), Keys: o.Keys,
		Rotate: o.Rotate, Bots: Bots, FlushIntervalS: o.FlushInterval.Seconds(),
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		Note: fmt.Sprintf("client and server run in one process and share its %d CPU cores (GOMAXPROCS=%d): "+
			"each request is paid for twice on the same cores, so absolute figures understate a dedicated server; compare the ratios",
			runtime.NumCPU(), runtime.GOMAXPROCS(0)),
	}
}

// Summary compares the scenarios.
type Summary struct {
	// FullVsBare is full-stack /me over bare throughput with 1 key in the
	// database; FullVsBareMany the same with Keys keys.
	FullVsBare     float64 `json:"me_full_vs_bare"`
	FullVsBareMany float64 `json:"me_full_vs_bare_many_keys"`
	// FullVsBareCPU is the same ratio from CPU time per request (bare's
	// over full's), which other load on the machine hardly moves: the
	// throughput ratio on a machine doing nothing else.
	FullVsBareCPU     float64 `json:"me_full_vs_bare_cpu"`
	FullVsBareManyCPU float64 `json:"me_full_vs_bare_many_keys_cpu"`
	// MeKeysPct and BotsKeysPct are the throughput change, in percent,
	// from 1 key to Keys keys in the database.
	MeKeysPct   float64 `json:"me_many_vs_1_key_pct"`
	BotsKeysPct float64 `json:"bots_many_vs_1_key_pct"`
	// MeKeysCPUPct and BotsKeysCPUPct are the same from CPU time per
	// request, as a throughput change.
	MeKeysCPUPct   float64 `json:"me_many_vs_1_key_cpu_pct"`
	BotsKeysCPUPct float64 `json:"bots_many_vs_1_key_cpu_pct"`
	RotateCPUPct   float64 `json:"me_rotating_vs_one_key_cpu_pct"`
	// RotatePct is /me over Rotate keys against /me over one key, both
	// with Keys keys in the database.
	RotatePct float64 `json:"me_rotating_vs_one_key_pct"`
	// BareSpreadPct is the bare handler's round-to-round spread: the noise
	// of the machine.
	BareSpreadPct float64 `json:"bare_round_spread_pct"`

	// Over both databases: requests, SQLite write transactions and usage
	// flushes while measuring.
	Requests int    `json:"full_stack_requests"`
	WriteTx  uint64 `json:"write_transactions"`
	Flushes  uint64 `json:"usage_flushes"`
	// WritesAreFlushes is true when on each database every write
	// transaction was a usage flush, and there were no more than
	// Database.MaxFlushes.
	WritesAreFlushes bool `json:"writes_are_only_flushes"`
	// AllLogged is true when each database's request log grew by exactly
	// its requests, with no flush failed and no event dropped.
	AllLogged bool `json:"all_requests_logged"`

	// Whether the targets are met, by req/s and by CPU time.
	MeetsFullVsBare    bool `json:"meets_full_vs_bare_target"`
	MeetsKeys          bool `json:"meets_keys_target"`
	MeetsFullVsBareCPU bool `json:"meets_full_vs_bare_target_cpu"`
	MeetsKeysCPU       bool `json:"meets_keys_target_cpu"`
}

func summarize(rep *Report, o Options) Summary {
	find := func(id string, keys int) *Result {
		for i := range rep.Results {
			if r := &rep.Results[i]; r.Scenario == id && r.KeysInDB == keys {
				return r
			}
		}
		return &Result{}
	}
	bare, me1, meN, bots1, botsN := find("bare", 0), find("me", 1), find("me", o.Keys), find("bots", 1), find("bots", o.Keys)
	rot := find("me-rotate", o.Keys)
	s := Summary{
		FullVsBare: ratio(me1.RPS, bare.RPS), FullVsBareMany: ratio(meN.RPS, bare.RPS),
		FullVsBareCPU: ratio(bare.CPUPerRequestUS, me1.CPUPerRequestUS), FullVsBareManyCPU: ratio(bare.CPUPerRequestUS, meN.CPUPerRequestUS),
		MeKeysPct: pct(meN.RPS, me1.RPS), BotsKeysPct: pct(botsN.RPS, bots1.RPS),
		MeKeysCPUPct: pct(me1.CPUPerRequestUS, meN.CPUPerRequestUS), BotsKeysCPUPct: pct(bots1.CPUPerRequestUS, botsN.CPUPerRequestUS),
		RotatePct: pct(rot.RPS, meN.RPS), RotateCPUPct: pct(meN.CPUPerRequestUS, rot.CPUPerRequestUS), BareSpreadPct: bare.RoundSpreadPct,
		WritesAreFlushes: len(rep.Databases) > 0, AllLogged: len(rep.Databases) > 0,
	}
	for _, d := range rep.Databases {
		s.Requests += d.Requests
		s.WriteTx += d.WriteTx
		s.Flushes += d.Flushes
		if d.WriteTx != d.Flushes || d.WriteTx > d.MaxFlushes(o.FlushInterval) {
			s.WritesAreFlushes = false
		}
		if d.Logged != d.Requests || d.Drops > 0 || d.FlushFailures > 0 {
			s.AllLogged = false
		}
	}
	s.MeetsFullVsBare = s.FullVsBare >= TargetFullVsBare
	s.MeetsKeys = math.Abs(s.MeKeysPct) <= TargetKeysPct && math.Abs(s.BotsKeysPct) <= TargetKeysPct
	s.MeetsFullVsBareCPU = s.FullVsBareCPU >= TargetFullVsBare
	s.MeetsKeysCPU = math.Abs(s.MeKeysCPUPct) <= TargetKeysPct && math.Abs(s.BotsKeysCPUPct) <= TargetKeysPct
	return s
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func pct(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return (a/b - 1) * 100
}

// WriteText writes the report as tables with a summary.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("Keygate API load test: %s over %s to 127.0.0.1, %d keep-alive workers, %s measured per scenario\n",
		r.Protocol, r.TLSVersion, r.Workers, seconds(r.DurationS))
	ew.printf("in %d interleaved rounds, after a %s warm-up each. Go %s.\n", r.Rounds, seconds(r.WarmupS), r.GoVersion)
	ew.printf("NOTE: %s.\n", r.Note)
	if r.LoadAvgBefore != "" {
		ew.printf("Machine load average (1 min) before/after measuring: %s / %s.\n", r.LoadAvgBefore, r.LoadAvgAfter)
	}
	ew.printf("Full stack: web.Server handler, SQLite services on a temporary database, verifier cache, rate limit %s (never\n", neverThrottle)
	ew.printf("throttles), usage flushed every %s and at the end of each slice (\"tail flush\", counted in the scenario's time), an\n", seconds(r.FlushIntervalS))
	ew.printf("access-log line per request formatted by slog into io.Discard.\n")
	ew.printf("The bare handler writes the headers and body captured from the real GET /api/v1/me. The %s-key database took %.1fs to seed.\n\n",
		group(r.Keys), r.SeedS)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tkeys in db\tkeys used\trequests\treq/s\tround spread\tCPU/req\tp50\tp99\tnon-2xx\terrors\tnew conns\tcache hit/miss\ttail flush\t")
	for _, res := range r.Results {
		keysDB, keysUsed, cache, flush := "-", "-", "-", "-"
		if res.FullStack {
			keysDB, keysUsed = group(res.KeysInDB), group(res.KeysUsed)
			cache = fmt.Sprintf("%s/%s", group(int(res.CacheHits)), group(int(res.CacheMisses)))
			flush = fmt.Sprintf("%.0fms", float64(res.TailFlush.Microseconds())/1000)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f%%\t%.1fµs\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", res.Name, keysDB, keysUsed,
			group(res.Requests), group(int(math.Round(res.RPS))), res.RoundSpreadPct, res.CPUPerRequestUS, latency(res.P50), latency(res.P99),
			res.Non2xx, res.Errors, res.NewConns, cache, flush)
	}
	tw.Flush()
	ew.printf("\nSQLite writes while measuring, from the first measured request through the last usage flush (write tx counted by a\n")
	ew.printf("commit hook on every connection; \"measured\" is the time of this database's own slices):\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "database\tmeasured\tslices\trequests\twrite tx\tusage flushes\tflush failures\tdropped\trequest_log rows\t")
	for _, d := range r.Databases {
		fmt.Fprintf(tw, "%s keys\t%.1fs\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t\n", group(d.Keys), d.MeasuredS, d.Slices, group(d.Requests),
			d.WriteTx, d.Flushes, d.FlushFailures, d.Drops, group(d.Logged))
	}
	tw.Flush()
	for _, res := range r.Results {
		if res.FirstError != "" {
			ew.printf("%s, %d keys: first failure: %s\n", res.Name, res.KeysInDB, res.FirstError)
		}
	}
	for _, d := range r.Databases {
		if d.FirstError != "" {
			ew.printf("%d-key database: %s\n", d.Keys, d.FirstError)
		}
	}

	s := r.Summary
	ew.printf("\nSummary (req/s is what the machine gave us; CPU/req turned into a throughput ratio is what it would give\nwith nothing else running)\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tby req/s\tby CPU/req\ttarget\t")
	fmt.Fprintf(tw, "full /me vs bare, 1 key in db\t%.2f %s\t%.2f %s\t>= %.2f\t\n", s.FullVsBare, verdict(s.MeetsFullVsBare),
		s.FullVsBareCPU, verdict(s.MeetsFullVsBareCPU), TargetFullVsBare)
	fmt.Fprintf(tw, "full /me vs bare, %s keys in db\t%.2f\t%.2f\t\t\n", group(r.Keys), s.FullVsBareMany, s.FullVsBareManyCPU)
	fmt.Fprintf(tw, "/me %s keys vs 1 key in db\t%+.1f%%\t%+.1f%%\twithin %.0f%%\t\n", group(r.Keys), s.MeKeysPct, s.MeKeysCPUPct, TargetKeysPct)
	fmt.Fprintf(tw, "/bots %s keys vs 1 key in db\t%+.1f%%\t%+.1f%%\twithin %.0f%%\t\n", group(r.Keys), s.BotsKeysPct, s.BotsKeysCPUPct, TargetKeysPct)
	fmt.Fprintf(tw, "both within target\t%s\t%s\t\t\n", verdict(s.MeetsKeys), verdict(s.MeetsKeysCPU))
	fmt.Fprintf(tw, "/me %s keys in turn vs one key (%s in db)\t%+.1f%%\t%+.1f%%\t\t\n", group(r.Rotate), group(r.Keys), s.RotatePct, s.RotateCPUPct)
	fmt.Fprintf(tw, "noise: bare round-to-round spread\t%.1f%%\t\t\t\n", s.BareSpreadPct)
	tw.Flush()
	ew.printf("SQLite write transactions while measuring: %d for %s full-stack requests, every one a usage flush (~1 a %s of load,\n",
		s.WriteTx, group(s.Requests), seconds(r.FlushIntervalS))
	ew.printf("none per request): %s\n", verdict(s.WritesAreFlushes))
	ew.printf("request_log rows after the final flush: one per request: %s\n", verdict(s.AllLogged))
	return ew.err
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func seconds(s float64) string { return time.Duration(s * float64(time.Second)).String() }

// latency formats a latency in milliseconds with three decimals.
func latency(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000) }

// group writes n with thousands separators.
func group(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + group(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
