package loadtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/loadtest"
)

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
		{"Bots1Key", "bots", true, 1, 1},
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

	if got, want := len(rep.Databases), 2; got != want {
		t.Fatalf("got %d databases, want %d", got, want)
	}
	for _, d := range rep.Databases {
		t.Run(fmt.Sprintf("Database%dKeys", d.Keys), func(t *testing.T) {
			var requests int
			for _, r := range rep.Results {
				if r.FullStack && r.KeysInDB == d.Keys {
					requests += r.Requests
				}
			}
			if got, want := d.Requests, requests; got != want {
				t.Fatalf("database requests = %d, want the sum of its scenarios' %d", got, want)
			}
			if got, want := d.Logged, d.Requests; got != want {
				t.Fatalf("request_log rows = %d, want one per request (%d); %s", got, want, d.FirstError)
			}
			if d.Flushes < 1 || d.FlushFailures != 0 || d.Drops != 0 {
				t.Fatalf("flushes = %d, failures = %d, drops = %d; %s", d.Flushes, d.FlushFailures, d.Drops, d.FirstError)
			}
			// Slices of 100ms with a 1s ticker: about one flush a slice.
			if max := d.MaxFlushes(time.Second); d.Flushes > max {
				t.Fatalf("usage flushes = %d in %d slices, %s: more than %d", d.Flushes, d.Slices, d.Measured, max)
			}
			if got, want := d.WriteTx, d.Flushes; got != want {
				t.Fatalf("write transactions = %d, want only the %d usage flushes", got, want)
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
	for _, s := range []string{"bare GET /api/v1/me", "full GET /api/v1/bots", "share its", "request_log rows", "Summary"} {
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
