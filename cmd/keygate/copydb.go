package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/keygate/keygate/internal/sqlstore"
)

// runCopyDB copies the SQLite database of --data-dir into an empty
// PostgreSQL database, for moving an instance to several replicas. Run it
// with the SQLite instance stopped: what that instance writes afterwards is
// not copied.
func runCopyDB(args []string, stdout, stderr io.Writer) error {
	var c Config
	var to string
	fs := newFlagSet("copy-db", "keygate copy-db --data-dir DIR --to postgres://user:pass@host:5432/keygate", stderr)
	commonFlags(fs, &c)
	fs.StringVar(&to, "to", "", "the empty PostgreSQL database to copy into: postgres://user:pass@host:5432/keygate?sslmode=verify-full (prefer KEYGATE_TO: flags show in process lists)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("copy-db takes no arguments, got %q", fs.Args())
	}
	if err := checkPostgresURL("--to", to, false); err != nil {
		return err
	}
	src := sqlitePath(&c)
	// Opening creates a missing database: a mistyped --data-dir must not
	// copy an empty one.
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("copy-db: %w; check --data-dir", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := copyDB(ctx, src, to)
	if err != nil {
		return fmt.Errorf("copy-db: %w", err)
	}
	printCopy(stdout, &c, src, to, res)
	return nil
}

// printCopy says what was copied, table by table.
func printCopy(w io.Writer, c *Config, src, to string, res *copyResult) {
	fmt.Fprintf(w, "Copied %s to %s (schema version %d) in one transaction:\n", src, sqlstore.RedactDSN(to), res.version)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var total int64
	for _, t := range res.tables {
		fmt.Fprintf(tw, "  %s\t%d\t\n", t.name, t.rows)
		total += t.rows
	}
	tw.Flush()
	fmt.Fprintf(w, "Row counts match table by table: %d %s in %d %s.\n", total, plural(int(total), "row", "rows"), len(res.tables), plural(len(res.tables), "table", "tables"))
	key := "its secret key"
	if _, err := os.Stat(secretKeyPath(c)); err == nil {
		key = "its secret key, the contents of " + secretKeyPath(c) + ","
	}
	fmt.Fprintf(w, "Start every replica with --database and %s as KEYGATE_SECRET_KEY (or --secret-key): the copied credentials are encrypted with it.\n", key)
}

// copyResult is what copyDB copied.
type copyResult struct {
	version int64
	tables  []tableCount
}

// tableCount is one table's rows, the same on both sides.
type tableCount struct {
	name string
	rows int64
}

// copyDB copies every table of the SQLite database at src into the
// PostgreSQL database at dsn, which it migrates first and which must hold
// no rows. The source is read in one read transaction, a consistent
// snapshot; the target is written in one transaction, so a failure leaves
// it as empty as it was.
func copyDB(ctx context.Context, src, dsn string) (*copyResult, error) {
	from := sqlstore.NewDB(src)
	if err := from.Open(); err != nil {
		return nil, err
	}
	defer from.Close()
	to := sqlstore.NewPostgresDB(dsn)
	to.MaxConns = 2
	if err := to.Open(); err != nil {
		return nil, err
	}
	defer to.Close()

	// Checked before migrating too, so that a database of something else
	// is refused rather than migrated.
	if err := mustBeEmpty(ctx, to.WriteConn(), nil); err != nil {
		return nil, err
	}
	if err := to.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate the target: %w", err)
	}
	version, err := sameVersion(ctx, from, to)
	if err != nil {
		return nil, err
	}
	plan, err := planCopy(ctx, from, to)
	if err != nil {
		return nil, err
	}
	tables, err := runCopy(ctx, from, to, plan)
	if err != nil {
		return nil, err
	}
	return &copyResult{version: version, tables: tables}, nil
}

// sameVersion checks that both databases are at the schema version of
// this binary (the target was just migrated to it).
func sameVersion(ctx context.Context, from, to *sqlstore.DB) (int64, error) {
	var src, dst int64
	if err := from.ReadConn().QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&src); err != nil {
		return 0, fmt.Errorf("read the SQLite schema version: %w (is %s a Keygate database?)", err, filepath.Base(from.Path))
	}
	if err := to.WriteConn().QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&dst); err != nil {
		return 0, fmt.Errorf("read the PostgreSQL schema version: %w", err)
	}
	switch {
	case src < dst:
		return 0, fmt.Errorf("the SQLite database is at schema version %d and this Keygate's is %d: run keygate migrate --data-dir %s with this binary first",
			src, dst, filepath.Dir(from.Path))
	case src > dst:
		return 0, fmt.Errorf("%w: the SQLite database is at version %d and this binary knows up to %d; copy it with the Keygate that last served it",
			sqlstore.ErrSchemaTooNew, src, dst)
	}
	return src, nil
}

// errNotEmpty is copy-db's refusal of a target that holds rows.
var errNotEmpty = errors.New("the target database is not empty")
