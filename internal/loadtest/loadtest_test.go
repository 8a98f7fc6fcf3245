package loadtest_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/loadtest"
)

// TestLoadScenarios runs every scenario briefly, small, and checks that
// each really served requests, all of them 2xx, and that the full stack
// recorded every one in the request log with only usage flushes as writes.
func TestLoadScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("load test in -short mode")
	}
	rep, err := loadtest.Run(t.Context(), loadtest.Options{
		Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond, Workers: 2, Keys: 1000, Rotate: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		scenario           string
		full, repeat       bool
		keysInDB, keysUsed int
	}{
		{"bare", false, false, 0, 0},
		{"me", true, false, 1, 1},
		{"bots", true, false, 1, 1},
		{"me", true, false, 1000, 1},
		{"bots", true, false, 1000, 1},
		{"me-rotate", true, false, 1000, 100},
		{"bare", false, true, 0, 0},
	}
	if got := len(rep.Results); got != len(want) {
		t.Fatalf("got %d results, want %d: %+v", got, len(want), rep.Results)
	}
	for i, r := range rep.Results {
		w := want[i]
		t.Run(strings.ReplaceAll(r.Name, "/", "_")+"_"+strconv.Itoa(r.KeysInDB), func(t *testing.T) {
			if r.Scenario != w.scenario || r.FullStack != w.full || r.Repeat != w.repeat || r.KeysInDB != w.keysInDB || r.KeysUsed != w.keysUsed {
				t.Fatalf("result %d = %+v, want %+v", i, r, w)
			}
			if r.Requests == 0 || r.RPS <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
				t.Fatalf("no load measured: %+v", r)
			}
			if r.Non2xx != 0 || r.Errors != 0 {
				t.Fatalf("non-2xx = %d, errors = %d, first: %s", r.Non2xx, r.Errors, r.FirstError)
			}
			if !r.FullStack {
				return
			}
			if got, want := r.Logged, r.Requests; got != want {
				t.Fatalf("request_log rows = %d, want one per request (%d)", got, want)
			}
			// 200ms with a 1s ticker: the final flush alone, perhaps a tick.
			if r.Flushes < 1 || r.Flushes > 2 {
				t.Fatalf("usage flushes = %d, want 1 or 2", r.Flushes)
			}
			if got, want := r.WriteTx, r.Flushes; got != want {
				t.Fatalf("write transactions = %d, want only the %d usage flushes", got, want)
			}
			if r.Scenario == "me-rotate" && r.CacheHits+r.CacheMisses != uint64(r.Requests) {
				t.Fatalf("cache hits %d + misses %d != %d requests", r.CacheHits, r.CacheMisses, r.Requests)
			}
		})
	}
	if s := rep.Summary; !s.WritesAreFlushes || !s.AllLogged || s.FullVsBare <= 0 {
		t.Fatalf("summary = %+v", s)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"bare GET /api/v1/me", "full GET /api/v1/bots", "share its", "Summary"} {
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
