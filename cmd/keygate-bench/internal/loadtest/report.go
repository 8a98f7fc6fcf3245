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
	TargetFullVsBare = 0.90 // full-stack /me throughput over bare
	// TargetP99 bounds the 99th percentile of /me, a bot read and the list
	// of bots (1 key in the database) at Workers connections.
	TargetP99     = 10 * time.Millisecond
	TargetKeysPct = 5.0 // many keys vs 1 key, in percent either way
	// TargetPostgres is /me on PostgreSQL over /me on SQLite, one replica.
	TargetPostgres = 0.90
	// TargetReplicas is what two replicas serve over what one serves.
	TargetReplicas = 1.8
	// TargetForwardVsMe is forward-auth's throughput over /me's (1 key).
	TargetForwardVsMe = 0.90
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

	// P99MeMS, P99BotMS and P99BotsMS are the 99th percentiles of /me, a
	// bot read and the list of bots, 1 key in the database, in ms.
	P99MeMS   float64 `json:"p99_me_ms"`
	P99BotMS  float64 `json:"p99_bot_ms"`
	P99BotsMS float64 `json:"p99_bots_ms"`
	// BotVsMe and BotsVsMe are a bot read's and the list's throughput over
	// /me's (1 key in the database).
	BotVsMe  float64 `json:"bot_vs_me"`
	BotsVsMe float64 `json:"bots_vs_me"`
	MeetsP99 bool    `json:"meets_p99_target"`
	// ForwardVsMe is /auth/forward's throughput over /me's (1 key in the
	// database), ForwardVsMeCPU the same by CPU time per request.
	ForwardVsMe         float64 `json:"forward_vs_me"`
	ForwardVsMeCPU      float64 `json:"forward_vs_me_cpu"`
	MeetsForwardVsMe    bool    `json:"meets_forward_vs_me_target"`
	MeetsForwardVsMeCPU bool    `json:"meets_forward_vs_me_target_cpu"`

	// Postgres is the PostgreSQL comparison; nil without Options.Postgres.
	Postgres *PostgresSummary `json:"postgres,omitempty"`

	// Whether the targets are met, by req/s and by CPU time.
	MeetsFullVsBare    bool `json:"meets_full_vs_bare_target"`
	MeetsKeys          bool `json:"meets_keys_target"`
	MeetsFullVsBareCPU bool `json:"meets_full_vs_bare_target_cpu"`
	MeetsKeysCPU       bool `json:"meets_keys_target_cpu"`
}

// PostgresSummary compares PostgreSQL with SQLite, and two replicas with
// one. Ratios are throughputs: above 1 is faster.
type PostgresSummary struct {
	// MeVsSQLite and BotVsSQLite are one replica on PostgreSQL over SQLite
	// (1 key), by req/s; the CPU figures by CPU time per request,
	// Keygate's (client included) plus PostgreSQL's backends'.
	MeVsSQLite     float64 `json:"me_vs_sqlite"`
	MeVsSQLiteCPU  float64 `json:"me_vs_sqlite_cpu"`
	BotVsSQLite    float64 `json:"bot_vs_sqlite"`
	BotVsSQLiteCPU float64 `json:"bot_vs_sqlite_cpu"`
	// MeTwoVsOne and BotTwoVsOne are two replicas over one, by req/s on
	// this machine, where both share its cores and cannot do better than
	// about 1. The CPU figures are what two replicas on machines of
	// their own serve over one: 2 × one replica's Keygate CPU per request
	// over two replicas'. The database's CPU per request, which the
	// replicas share, is reported beside them.
	MeTwoVsOne     float64 `json:"me_two_vs_one_replica"`
	MeTwoVsOneCPU  float64 `json:"me_two_vs_one_replica_cpu"`
	BotTwoVsOne    float64 `json:"bot_two_vs_one_replica"`
	BotTwoVsOneCPU float64 `json:"bot_two_vs_one_replica_cpu"`
	// DBCPUMeUS and DBCPUBotUS are PostgreSQL's CPU per request with two
	// replicas, in microseconds: 0 if it could not be read.
	DBCPUMeUS  float64 `json:"db_cpu_per_me_us"`
	DBCPUBotUS float64 `json:"db_cpu_per_bot_us"`

	MeetsMe          bool `json:"meets_me_target"`
	MeetsMeCPU       bool `json:"meets_me_target_cpu"`
	MeetsReplicasCPU bool `json:"meets_replicas_target_cpu"`
}

// findResult returns the result of scenario id on engine with keys keys
// in the database and replicas servers, or a zero Result.
func findResult(rep *Report, id, engine string, keys, replicas int) *Result {
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Scenario == id && r.KeysInDB == keys && r.Engine == engine && r.Replicas == replicas {
			return r
		}
	}
	return &Result{}
}

// summarizePostgres compares the PostgreSQL scenarios with SQLite's.
func summarizePostgres(rep *Report) *PostgresSummary {
	sqMe, sqBot := findResult(rep, "me", "sqlite", 1, 1), findResult(rep, "bot", "sqlite", 1, 1)
	me1, bot1 := findResult(rep, "me", "postgres", 1, 1), findResult(rep, "bot", "postgres", 1, 1)
	me2, bot2 := findResult(rep, "me", "postgres", 1, 2), findResult(rep, "bot", "postgres", 1, 2)
	total := func(r *Result) float64 { return r.CPUPerRequestUS + r.DBCPUPerRequestUS }
	p := &PostgresSummary{
		MeVsSQLite: ratio(me1.RPS, sqMe.RPS), MeVsSQLiteCPU: ratio(total(sqMe), total(me1)),
		BotVsSQLite: ratio(bot1.RPS, sqBot.RPS), BotVsSQLiteCPU: ratio(total(sqBot), total(bot1)),
		MeTwoVsOne: ratio(me2.RPS, me1.RPS), MeTwoVsOneCPU: 2 * ratio(me1.CPUPerRequestUS, me2.CPUPerRequestUS),
		BotTwoVsOne: ratio(bot2.RPS, bot1.RPS), BotTwoVsOneCPU: 2 * ratio(bot1.CPUPerRequestUS, bot2.CPUPerRequestUS),
		DBCPUMeUS: me2.DBCPUPerRequestUS, DBCPUBotUS: bot2.DBCPUPerRequestUS,
	}
	p.MeetsMe, p.MeetsMeCPU = p.MeVsSQLite >= TargetPostgres, p.MeVsSQLiteCPU >= TargetPostgres
	p.MeetsReplicasCPU = p.MeTwoVsOneCPU >= TargetReplicas && p.BotTwoVsOneCPU >= TargetReplicas
	return p
}

func summarize(rep *Report, o Options) Summary {
	find := func(id string, keys int) *Result {
		for i := range rep.Results {
			if r := &rep.Results[i]; r.Scenario == id && r.KeysInDB == keys && r.Engine != "postgres" {
				return r
			}
		}
		return &Result{}
	}
	bare, me1, meN, bots1, botsN := find("bare", 0), find("me", 1), find("me", o.Keys), find("bots", 1), find("bots", o.Keys)
	rot, bot1, fwd1 := find("me-rotate", o.Keys), find("bot", 1), find("forward", 1)
	ms := func(r *Result) float64 { return float64(r.P99) / float64(time.Millisecond) }
	s := Summary{
		P99MeMS: ms(me1), P99BotMS: ms(bot1), P99BotsMS: ms(bots1),
		BotVsMe: ratio(bot1.RPS, me1.RPS), BotsVsMe: ratio(bots1.RPS, me1.RPS),
		ForwardVsMe: ratio(fwd1.RPS, me1.RPS), ForwardVsMeCPU: ratio(me1.CPUPerRequestUS, fwd1.CPUPerRequestUS),
		FullVsBare: ratio(me1.RPS, bare.RPS), FullVsBareMany: ratio(meN.RPS, bare.RPS),
		FullVsBareCPU: ratio(bare.CPUPerRequestUS, me1.CPUPerRequestUS), FullVsBareManyCPU: ratio(bare.CPUPerRequestUS, meN.CPUPerRequestUS),
		MeKeysPct: pct(meN.RPS, me1.RPS), BotsKeysPct: pct(botsN.RPS, bots1.RPS),
		MeKeysCPUPct: pct(me1.CPUPerRequestUS, meN.CPUPerRequestUS), BotsKeysCPUPct: pct(bots1.CPUPerRequestUS, botsN.CPUPerRequestUS),
		RotatePct: pct(rot.RPS, meN.RPS), RotateCPUPct: pct(meN.CPUPerRequestUS, rot.CPUPerRequestUS), BareSpreadPct: bare.RoundSpreadPct,
		WritesAreFlushes: len(rep.Databases) > 0, AllLogged: len(rep.Databases) > 0,
	}
	if o.Postgres != "" {
		s.Postgres = summarizePostgres(rep)
	}
	for _, d := range rep.Databases {
		s.Requests += d.Requests
		s.WriteTx += d.WriteTx
		s.Flushes += d.Flushes
		// PostgreSQL's transactions are not counted; its flushes are
		// bounded all the same, one a replica per interval and slice.
		if d.Engine == "sqlite" && d.WriteTx != d.Flushes || d.Flushes > uint64(d.Replicas)*d.MaxFlushes(o.FlushInterval) {
			s.WritesAreFlushes = false
		}
		if d.Logged != d.Requests || d.Drops > 0 || d.FlushFailures > 0 {
			s.AllLogged = false
		}
	}
	s.MeetsFullVsBare = s.FullVsBare >= TargetFullVsBare
	s.MeetsForwardVsMe, s.MeetsForwardVsMeCPU = s.ForwardVsMe >= TargetForwardVsMe, s.ForwardVsMeCPU >= TargetForwardVsMe
	s.MeetsP99 = me1.P99 > 0 && me1.P99 < TargetP99 && bot1.P99 < TargetP99 && bots1.P99 < TargetP99
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
	fmt.Fprintln(tw, "scenario\tdatabase\tkeys in db\tkeys used\trequests\treq/s\tround spread\tCPU/req\tdb CPU/req\tp50\tp99\tnon-2xx\terrors\tnew conns\tcache hit/miss\ttail flush\t")
	for _, res := range r.Results {
		engine, keysDB, keysUsed, cache, flush, dbCPU := "-", "-", "-", "-", "-", "-"
		if res.FullStack {
			engine = res.Engine
			if res.Replicas > 1 {
				engine = fmt.Sprintf("%s x%d", res.Engine, res.Replicas)
			}
			keysDB, keysUsed = group(res.KeysInDB), group(res.KeysUsed)
			cache = fmt.Sprintf("%s/%s", group(int(res.CacheHits)), group(int(res.CacheMisses)))
			flush = fmt.Sprintf("%.0fms", float64(res.TailFlush.Microseconds())/1000)
		}
		if res.Engine == "postgres" {
			dbCPU = fmt.Sprintf("%.1fµs", res.DBCPUPerRequestUS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f%%\t%.1fµs\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", res.Name, engine, keysDB, keysUsed,
			group(res.Requests), group(int(math.Round(res.RPS))), res.RoundSpreadPct, res.CPUPerRequestUS, dbCPU, latency(res.P50), latency(res.P99),
			res.Non2xx, res.Errors, res.NewConns, cache, flush)
	}
	tw.Flush()
	ew.printf("\nSQLite writes while measuring, from the first measured request through the last usage flush (write tx counted by a\n")
	ew.printf("commit hook on every connection; \"measured\" is the time of this database's own slices):\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "database\tmeasured\tslices\trequests\twrite tx\tusage flushes\tflush failures\tdropped\trequest_log rows\t")
	for _, d := range r.Databases {
		writeTx := strconv.FormatUint(d.WriteTx, 10)
		if d.Engine != "sqlite" {
			writeTx = "-"
		}
		fmt.Fprintf(tw, "%s, %s keys\t%.1fs\t%d\t%s\t%s\t%d\t%d\t%d\t%s\t\n", d.Engine, group(d.Keys), d.MeasuredS, d.Slices, group(d.Requests),
			writeTx, d.Flushes, d.FlushFailures, d.Drops, group(d.Logged))
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
	fmt.Fprintf(tw, "bot read, list of %d vs /me, 1 key in db\t%.2f, %.2f\t\t\t\n", Bots, s.BotVsMe, s.BotsVsMe)
	fmt.Fprintf(tw, "/auth/forward vs /me, 1 key in db\t%.2f %s\t%.2f %s\t>= %.2f\t\n", s.ForwardVsMe, verdict(s.MeetsForwardVsMe),
		s.ForwardVsMeCPU, verdict(s.MeetsForwardVsMeCPU), TargetForwardVsMe)
	fmt.Fprintf(tw, "p99 of /me, bot read, list of %d\t%.1f, %.1f, %.1f ms %s\t\t< %s\t\n", Bots, s.P99MeMS, s.P99BotMS, s.P99BotsMS, verdict(s.MeetsP99), TargetP99)
	fmt.Fprintf(tw, "noise: bare round-to-round spread\t%.1f%%\t\t\t\n", s.BareSpreadPct)
	tw.Flush()
	ew.printf("SQLite write transactions while measuring: %d for %s full-stack requests, every one a usage flush (~1 a %s of load,\n",
		s.WriteTx, group(s.Requests), seconds(r.FlushIntervalS))
	ew.printf("none per request): %s\n", verdict(s.WritesAreFlushes))
	ew.printf("request_log rows after the final flush: one per request: %s\n", verdict(s.AllLogged))
	if p := s.Postgres; p != nil {
		ew.printf("\nPostgreSQL (one database, replicas in this process, each with its own pool, key cache, listener and usage buffer;\n")
		ew.printf("CPU/req counts Keygate and the client, db CPU/req PostgreSQL's backends on the database, read from /proc)\n")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tby req/s\tby CPU/req\ttarget\t")
		fmt.Fprintf(tw, "/me, PostgreSQL vs SQLite, one replica\t%.2f %s\t%.2f %s\t>= %.2f\t\n", p.MeVsSQLite, verdict(p.MeetsMe), p.MeVsSQLiteCPU, verdict(p.MeetsMeCPU), TargetPostgres)
		fmt.Fprintf(tw, "bot read, PostgreSQL vs SQLite, one replica\t%.2f\t%.2f\t\t\n", p.BotVsSQLite, p.BotVsSQLiteCPU)
		fmt.Fprintf(tw, "/me, two replicas vs one\t%.2f\t%.2f\t>= %.1f\t\n", p.MeTwoVsOne, p.MeTwoVsOneCPU, TargetReplicas)
		fmt.Fprintf(tw, "bot read, two replicas vs one\t%.2f\t%.2f\t>= %.1f\t\n", p.BotTwoVsOne, p.BotTwoVsOneCPU, TargetReplicas)
		tw.Flush()
		ew.printf("Two replicas share this machine's cores, so by req/s they cannot beat one; by CPU/req, 2 x one replica's over two\n")
		ew.printf("replicas' is what two machines serve over one while the database keeps up (its CPU per request with two replicas:\n")
		ew.printf("/me %.1fµs, bot read %.1fµs): %s\n", p.DBCPUMeUS, p.DBCPUBotUS, verdict(p.MeetsReplicasCPU))
	}
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
