// Command keygate-bench measures the API under load on loopback over TLS:
// a bare net/http handler answering what GET /api/v1/me answers (the
// baseline) against the real server on real SQLite services, with 1 key and
// with -keys keys in the database. The load comes from a second process
// pinned to a core of its own, the servers run on the others (-pin=false:
// client and server share the process and its cores, which caps the
// baseline and flatters the ratios). Traffic only goes to 127.0.0.1, and
// each scenario stops by itself after -duration (or -max-requests).
//
//	go run ./cmd/keygate-bench [-duration 5s] [-rounds 5] [-warmup 1s] [-workers 32] [-keys 100000] [-rotate 1000] [-pin=false] [-json]
//	go run ./cmd/keygate-bench -postgres                      # also PostgreSQL, on a throwaway server
//	go run ./cmd/keygate-bench -database postgres://...       # also PostgreSQL, on this empty database
//
// With PostgreSQL it also measures GET /api/v1/me and a bot read on one
// replica and on two replicas in turn, against the same on SQLite.
//
// The scenarios run in interleaved rounds, so that whatever else the
// machine does weighs on each alike. Progress goes to stderr, the report
// (a table, or JSON with -json) to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/keygate/keygate/cmd/keygate-bench/internal/loadtest"
	"github.com/keygate/keygate/internal/testpg"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "keygate-bench:", err)
		os.Exit(1)
	}
}

// errUsage reports bad flags, which the flag package has already printed.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == loadtest.ClientFlag {
		return loadtest.ServeClient(os.Stdin, stdout)
	}
	var o loadtest.Options
	var asJSON bool
	var cpuProfile, traceFile string
	fs := flag.NewFlagSet("keygate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "how long to measure each scenario")
	fs.IntVar(&o.Rounds, "rounds", 5, "interleaved rounds the duration is split into")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "untimed warm-up of each scenario before measuring")
	fs.IntVar(&o.Workers, "workers", 32, "concurrent keep-alive clients")
	fs.IntVar(&o.Keys, "keys", 100_000, "keys in the large database")
	fs.IntVar(&o.Rotate, "rotate", 0, "keys the rotating scenario spreads its requests over (default 1000, or -keys if fewer)")
	fs.IntVar(&o.MaxRequests, "max-requests", 5_000_000, "most requests of any one round of a scenario")
	fs.BoolVar(&o.Pin, "pin", loadtest.Pinnable(), "run the load from a second process pinned to the first CPU, the servers on the others (default on Linux with 2+ cores)")
	fs.DurationVar(&o.FlushInterval, "flush-interval", time.Second, "how often the servers write usage (serve: 1s)")
	fs.BoolVar(&o.ServeOnly, "serve-only", false, "start the servers, print each scenario's URL and Authorization header, and serve until interrupted (for wrk)")
	fs.BoolVar(&asJSON, "json", false, "print the results as JSON")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&traceFile, "trace", "", "write an execution trace of the whole run to this file (go tool trace): where requests waited")
	fs.StringVar(&o.Postgres, "database", "", "also measure PostgreSQL on this empty database: postgres://user:pass@host:5432/db")
	startPG := fs.Bool("postgres", false, "also measure PostgreSQL, on a throwaway server started for the run (Debian's postgresql package)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *startPG && o.Postgres != "" {
		return errors.New("-postgres and -database exclude each other")
	}
	if o.Postgres != "" && !strings.HasPrefix(o.Postgres, "postgres://") && !strings.HasPrefix(o.Postgres, "postgresql://") {
		return errors.New("-database must be a postgres:// or postgresql:// URL")
	}
	o.Progress = stderr
	if *startPG {
		fmt.Fprintln(stderr, "starting a throwaway PostgreSQL server")
		srv, err := testpg.Start()
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		defer srv.Stop()
		if o.Postgres, err = srv.CreateDatabase(context.Background(), ""); err != nil {
			return err
		}
		defer srv.DropDatabase(context.Background(), o.Postgres)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if traceFile != "" {
		f, err := os.Create(traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o.Targets = stdout
	rep, err := loadtest.Run(ctx, o)
	if err != nil || o.ServeOnly {
		return err
	}
	if asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}
