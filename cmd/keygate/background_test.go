package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

func TestBackgroundStop(t *testing.T) {
	t.Run("OKWaitsForJobsThenFlushesUsage", func(t *testing.T) {
		var mu sync.Mutex
		var events []string
		record := func(e string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
		b := newBackground(context.Background())
		// A job that takes a while to notice the end, as a sweep in the
		// middle of a batch does.
		b.goJob(func(ctx context.Context) {
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond)
			record("job ended")
		})
		b.runUsage(func(ctx context.Context) {
			<-ctx.Done()
			record("usage flushed")
		})
		b.stop()
		record("stop returned")
		b.stop() // a second stop is harmless

		mu.Lock()
		defer mu.Unlock()
		if want := []string{"job ended", "usage flushed", "stop returned"}; !slices.Equal(events, want) {
			t.Fatalf("events = %q, want %q", events, want)
		}
	})
	t.Run("OKJobsEndWithContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		b := newBackground(ctx)
		ended := make(chan struct{})
		b.goJob(func(ctx context.Context) { <-ctx.Done(); close(ended) })
		cancel()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("the job outlived serve's context")
		}
		b.stop()
	})
}

func TestPoolStats(t *testing.T) {
	db := sqlstore.NewDB(filepath.Join(t.TempDir(), "keygate.db"))
	if err := db.OpenAndMigrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := web.NewMetrics()
	m.RegisterDB(poolStats(db.WriteConn()), "writer")
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "db_name" && l.GetValue() == "writer" {
					got[f.GetName()] = metric.GetGauge().GetValue() + metric.GetCounter().GetValue()
				}
			}
		}
	}
	if want := float64(db.WriteConn().Stats().MaxOpenConnections); got["go_sql_max_open_connections"] != want {
		t.Fatalf("go_sql_max_open_connections{db_name=writer} = %v, want %v (all: %v)", got["go_sql_max_open_connections"], want, got)
	}
	for _, name := range []string{"go_sql_open_connections", "go_sql_in_use_connections", "go_sql_idle_connections",
		"go_sql_wait_count_total", "go_sql_wait_duration_seconds_total", "go_sql_max_idle_closed_total",
		"go_sql_max_idle_time_closed_total", "go_sql_max_lifetime_closed_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s{db_name=writer} missing", name)
		}
	}
}

func TestFlushErrorLog(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	log := flushErrorLog(logger, func() time.Time { return now })
	full := fmt.Errorf("write usage: %w", syscall.ENOSPC)
	for range 30 { // 30 flushes, one a second
		log(full)
		now = now.Add(time.Second)
	}
	if n := strings.Count(buf.String(), "storage is full"); n != 1 {
		t.Fatalf("30 s of failed flushes logged %d lines, want 1:\n%s", n, buf.String())
	}
	now = now.Add(30 * time.Second)
	log(full)
	if n := strings.Count(buf.String(), "storage is full"); n != 2 || !strings.Contains(buf.String(), "failed_flushes=30") {
		t.Fatalf("a minute later: %d lines, want 2 with failed_flushes=30 (since the first line):\n%s", n, buf.String())
	}
	log(errors.New("database is locked"))
	if !strings.Contains(buf.String(), `msg="flush usage" error="database is locked"`) {
		t.Fatalf("another error was not logged at once:\n%s", buf.String())
	}
}
