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
		Workers: o.Workers, DurationS: o.Duration.Seconds(), WarmupS: o.Warmup.Seconds(), Keys: o.Keys, Rotate: o.Rotate,
		Bots: Bots, FlushIntervalS: o.FlushInterval.Seconds(),
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		Note: fmt.Sprintf("client and server run in one process and share its %d CPU cores (GOMAXPROCS=%d): "+
			"absolute figures understate a dedicated server; compare the ratios", runtime.NumCPU(), runtime.GOMAXPROCS(0)),
	}
}

// Summary compares the scenarios.
type Summary struct {
	// FullVsBare is full-stack /me over bare throughput, 1 key in the
	// database, against the mean of the two bare runs; FullVsBareMany the
	// same with Keys keys.
	FullVsBare     float64 `json:"me_full_vs_bare"`
	FullVsBareMany float64 `json:"me_full_vs_bare_many_keys"`
	// MeKeysPct and BotsKeysPct are the throughput change, in percent,
	// from 1 key to Keys keys in the database.
	MeKeysPct   float64 `json:"me_many_vs_1_key_pct"`
	BotsKeysPct float64 `json:"bots_many_vs_1_key_pct"`
	// RotatePct is /me over Rotate keys against /me over one key, both
	// with Keys keys in the database.
	RotatePct float64 `json:"me_rotating_vs_one_key_pct"`
	// BareRepeatPct is the second bare run against the first: the noise.
	BareRepeatPct float64 `json:"bare_repeat_vs_first_pct"`

	// Over every full-stack measurement: requests, SQLite write
	// transactions and usage flushes.
	Requests int    `json:"full_stack_requests"`
	WriteTx  uint64 `json:"write_transactions"`
	Flushes  uint64 `json:"usage_flushes"`
	// WritesAreFlushes is true when, in every measurement, each write
	// transaction was a usage flush and there was at most about one a
	// flush interval.
	WritesAreFlushes bool `json:"writes_are_only_flushes"`
	// AllLogged is true when, in every measurement, the request log grew
	// by exactly the number of requests.
	AllLogged bool `json:"all_requests_logged"`

	MeetsFullVsBare bool `json:"meets_full_vs_bare_target"`
	MeetsKeys       bool `json:"meets_keys_target"`
}

func summarize(rep *Report, o Options) Summary {
	find := func(id string, keys int, repeat bool) *Result {
		for i := range rep.Results {
			r := &rep.Results[i]
			if r.Scenario == id && r.KeysInDB == keys && r.Repeat == repeat {
				return r
			}
		}
		return &Result{}
	}
	bare, bare2 := find("bare", 0, false), find("bare", 0, true)
	bareRPS := bare.RPS
	if bare2.RPS > 0 {
		bareRPS = (bare.RPS + bare2.RPS) / 2
	}
	me1, meN, bots1, botsN := find("me", 1, false), find("me", o.Keys, false), find("bots", 1, false), find("bots", o.Keys, false)
	s := Summary{
		FullVsBare: ratio(me1.RPS, bareRPS), FullVsBareMany: ratio(meN.RPS, bareRPS),
		MeKeysPct: pct(meN.RPS, me1.RPS), BotsKeysPct: pct(botsN.RPS, bots1.RPS),
		RotatePct: pct(find("me-rotate", o.Keys, false).RPS, meN.RPS), BareRepeatPct: pct(bare2.RPS, bare.RPS),
		WritesAreFlushes: true, AllLogged: true,
	}
	for _, r := range rep.Results {
		if !r.FullStack {
			continue
		}
		s.Requests += r.Requests
		s.WriteTx += r.WriteTx
		s.Flushes += r.Flushes
		// Ticks during the measurement, plus the final flush, plus one for
		// a tick racing the end.
		bound := uint64(r.Elapsed/o.FlushInterval) + 2
		if r.WriteTx != r.Flushes || r.WriteTx > bound {
			s.WritesAreFlushes = false
		}
		if r.Logged != r.Requests || r.Drops > 0 || r.FlushFailures > 0 {
			s.AllLogged = false
		}
	}
	s.MeetsFullVsBare = s.FullVsBare >= TargetFullVsBare
	s.MeetsKeys = math.Abs(s.MeKeysPct) <= TargetKeysPct && math.Abs(s.BotsKeysPct) <= TargetKeysPct
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

// WriteText writes the report as a table with a summary.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("Keygate API load test: %s over %s to 127.0.0.1, %d keep-alive workers, %s measured per scenario after a %s warm-up.\n",
		r.Protocol, r.TLSVersion, r.Workers, seconds(r.DurationS), seconds(r.WarmupS))
	ew.printf("NOTE: %s.\n", r.Note)
	ew.printf("Full stack: web.Server handler, SQLite services on a temporary database, verifier cache, rate limit %s (never throttles),\n",
		neverThrottle)
	ew.printf("usage flushed every %s, one access-log line per request formatted by slog into io.Discard. The %s-key database took %.1fs to seed.\n\n",
		seconds(r.FlushIntervalS), group(r.Keys), r.SeedS)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tkeys in db\tkeys used\trequests\treq/s\tp50\tp99\tnon-2xx\terrors\tnew conns\twrite tx\tflushes\tlog rows\tcache hit/miss\t")
	for _, res := range r.Results {
		keysDB, keysUsed, writes, flushes, logged, cache := "-", "-", "-", "-", "-", "-"
		if res.FullStack {
			keysDB, keysUsed = group(res.KeysInDB), group(res.KeysUsed)
			writes, flushes, logged = strconv.FormatUint(res.WriteTx, 10), strconv.FormatUint(res.Flushes, 10), group(res.Logged)
			cache = fmt.Sprintf("%s/%s", group(int(res.CacheHits)), group(int(res.CacheMisses)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", res.Name, keysDB, keysUsed, group(res.Requests),
			group(int(math.Round(res.RPS))), latency(res.P50), latency(res.P99), res.Non2xx, res.Errors, res.NewConns,
			writes, flushes, logged, cache)
	}
	tw.Flush()
	for _, res := range r.Results {
		if res.FirstError != "" {
			ew.printf("%s: first failure: %s\n", res.Name, res.FirstError)
		}
	}

	s := r.Summary
	ew.printf("\nSummary\n")
	ew.printf("  full /me vs bare, 1 key in db:              %.2f  (target >= %.2f: %s)\n", s.FullVsBare, TargetFullVsBare, verdict(s.MeetsFullVsBare))
	ew.printf("  full /me vs bare, %s keys in db:        %.2f\n", group(r.Keys), s.FullVsBareMany)
	ew.printf("  /me   %s keys vs 1 key:                 %+.1f%%  (target within %.0f%%)\n", group(r.Keys), s.MeKeysPct, TargetKeysPct)
	ew.printf("  /bots %s keys vs 1 key:                 %+.1f%%  (target within %.0f%%: %s for both)\n", group(r.Keys), s.BotsKeysPct, TargetKeysPct, verdict(s.MeetsKeys))
	ew.printf("  /me over %s keys in turn vs one key:      %+.1f%%  (%s keys in db; cache misses only in the warm-up)\n", group(r.Rotate), s.RotatePct, group(r.Keys))
	ew.printf("  bare repeat vs first bare run (noise):      %+.1f%%\n", s.BareRepeatPct)
	ew.printf("  SQLite write transactions while measuring:  %d for %s requests, all %d of them usage flushes (one a %s plus a final one): %s\n",
		s.WriteTx, group(s.Requests), s.Flushes, seconds(r.FlushIntervalS), verdict(s.WritesAreFlushes))
	ew.printf("  request_log rows after the final flush:     every request recorded: %s\n", verdict(s.AllLogged))
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
