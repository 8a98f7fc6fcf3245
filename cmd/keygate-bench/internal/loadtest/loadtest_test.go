package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testenv"

	"github.com/keygate/keygate/cmd/keygate-bench/internal/loadtest"
	"github.com/keygate/keygate/internal/testpg"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testpg.StopShared()
	os.Exit(code)
}

// TestLoadScenarios runs every scenario briefly and small, and checks that
// each really served requests, all of them 2xx, and that each full-stack
// database recorded every request in the request log with only usage
// flushes as writes.
func TestLoadScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("load test in -short mode")
	}
	rep, err := loadtest.Run(t.Context(), loadtest.Options{
		Duration: 200 * time.Millisecond, Rounds: 2, Warmup: 50 * time.Millisecond, Workers: 2, Keys: 1000, Rotate: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, scenario     string
		full               bool
		keysInDB, keysUsed int
	}{
		{"Bare", "bare", false, 0, 0},
		{"Me1Key", "me", true, 1, 1},
		{"Forward1Key", "forward", true, 1, 1},
		{"Bots1Key", "bots", true, 1, 1},
		{"Bot1Key", "bot", true, 1, 1},
		{"Me1000Keys", "me", true, 1000, 1},
		{"Bots1000Keys", "bots", true, 1000, 1},
		{"MeRotating", "me-rotate", true, 1000, 100},
	}
	if got := len(rep.Results); got != len(want) {
		t.Fatalf("got %d results, want %d: %+v", got, len(want), rep.Results)
	}
	for i, w := range want {
		r := rep.Results[i]
		t.Run(w.name, func(t *testing.T) {
			if r.Scenario != w.scenario || r.FullStack != w.full || r.KeysInDB != w.keysInDB || r.KeysUsed != w.keysUsed {
				t.Fatalf("result = %+v, want %+v", r, w)
			}
			if r.Requests == 0 || r.RPS <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
				t.Fatalf("no load measured: %+v", r)
			}
			if r.Non2xx != 0 || r.Errors != 0 {
				t.Fatalf("non-2xx = %d, errors = %d, first: %s", r.Non2xx, r.Errors, r.FirstError)
			}
			if r.FullStack && r.CacheHits+r.CacheMisses != uint64(r.Requests) {
				t.Fatalf("cache hits %d + misses %d != %d requests", r.CacheHits, r.CacheMisses, r.Requests)
			}
		})
	}

	checkDatabases(t, rep, 2)
	if s := rep.Summary; !s.WritesAreFlushes || !s.AllLogged || s.FullVsBare <= 0 || s.Postgres != nil {
		t.Fatalf("summary = %+v", s)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"bare GET /api/v1/me", "full GET /api/v1/bots", "full GET /api/v1/bots/{id}", "share its", "request_log rows", "Summary"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back loadtest.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if got, want := len(back.Results), len(rep.Results); got != want {
		t.Fatalf("JSON has %d results, want %d", got, want)
	}
}

// checkDatabases checks that each database recorded every request in the
// request log, with only usage flushes as SQLite writes.
func checkDatabases(t *testing.T, rep *loadtest.Report, n int) {
	t.Helper()
	if got, want := len(rep.Databases), n; got != want {
		t.Fatalf("got %d databases, want %d", got, want)
	}
	for _, d := range rep.Databases {
		t.Run(fmt.Sprintf("Database%s%dKeys", d.Engine, d.Keys), func(t *testing.T) {
			var requests int
			for _, r := range rep.Results {
				if r.FullStack && r.KeysInDB == d.Keys && r.Engine == d.Engine {
					requests += r.Requests
				}
			}
			if got, want := d.Requests, requests; got != want {
				t.Fatalf("database requests = %d, want the sum of its scenarios' %d", got, want)
			}
			if d.Requests == 0 {
				t.Fatal("no requests")
			}
			if got, want := d.Logged, d.Requests; got != want {
				t.Fatalf("request_log rows = %d, want one per request (%d); %s", got, want, d.FirstError)
			}
			if d.Flushes < 1 || d.FlushFailures != 0 || d.Drops != 0 {
				t.Fatalf("flushes = %d, failures = %d, drops = %d; %s", d.Flushes, d.FlushFailures, d.Drops, d.FirstError)
			}
			// Slices of 100ms with a 1s ticker: about one flush a slice
			// (and replica).
			if max := uint64(d.Replicas) * d.MaxFlushes(time.Second); d.Flushes > max {
				t.Fatalf("usage flushes = %d in %d slices, %s: more than %d", d.Flushes, d.Slices, d.Measured, max)
			}
			if got, want := d.WriteTx, d.Flushes; d.Engine == "sqlite" && got != want {
				t.Fatalf("write transactions = %d, want only the %d usage flushes", got, want)
			}
		})
	}
}

// TestLoadPostgres runs the PostgreSQL scenarios briefly: one replica and
// two in turn, beside SQLite's, all served and logged, and the summary
// compares them.
func TestLoadPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("load test in -short mode")
	}
	srv, err := testpg.Shared()
	if err != nil {
		testenv.SkipUnlessCI(t, "PostgreSQL could not be started, so the PostgreSQL load test cannot run: "+err.Error())
	}
	dbURL, err := srv.CreateDatabase(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.DropDatabase(context.Background(), dbURL) })
	rep, err := loadtest.Run(t.Context(), loadtest.Options{
		Duration: 200 * time.Millisecond, Rounds: 2, Warmup: 50 * time.Millisecond, Workers: 2, Keys: 10, Rotate: 10, Postgres: dbURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	var pg []loadtest.Result
	for _, r := range rep.Results {
		if r.Engine == "postgres" {
			pg = append(pg, r)
		}
	}
	want := []struct {
		scenario string
		replicas int
	}{{"me", 1}, {"bot", 1}, {"me", 2}, {"bot", 2}}
	if len(pg) != len(want) {
		t.Fatalf("got %d PostgreSQL results, want %d: %+v", len(pg), len(want), pg)
	}
	for i, w := range want {
		r := pg[i]
		if r.Scenario != w.scenario || r.Replicas != w.replicas || r.KeysInDB != 1 {
			t.Fatalf("result %d = %+v, want %+v", i, r, w)
		}
		if r.Requests == 0 || r.Non2xx != 0 || r.Errors != 0 {
			t.Fatalf("%s on %d replicas: %d requests, %d non-2xx, %d errors, first: %s", r.Scenario, r.Replicas, r.Requests, r.Non2xx, r.Errors, r.FirstError)
		}
		if r.CacheHits+r.CacheMisses != uint64(r.Requests) {
			t.Fatalf("cache hits %d + misses %d != %d requests", r.CacheHits, r.CacheMisses, r.Requests)
		}
	}
	checkDatabases(t, rep, 3)
	p := rep.Summary.Postgres
	if p == nil || p.MeVsSQLite <= 0 || p.MeVsSQLiteCPU <= 0 || p.MeTwoVsOneCPU <= 0 || p.BotTwoVsOneCPU <= 0 || !rep.Summary.AllLogged {
		t.Fatalf("summary = %+v, postgres %+v", rep.Summary, p)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"postgres x2", "/me, PostgreSQL vs SQLite, one replica", "bot read, two replicas vs one"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
}
