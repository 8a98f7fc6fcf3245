// Package sqlite implements Keygate's domain services on an embedded SQLite
// database (modernc.org/sqlite, no cgo). It is the only package that speaks
// SQL.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is Keygate's database: one writer connection, so writers never meet
// SQLITE_BUSY among themselves, and a pool of readers.
type DB struct {
	write *sql.DB
	read  *sql.DB

	// Path is the database file.
	Path string

	// Now is the clock; tests replace it. Every transaction takes one reading.
	Now func() time.Time

	// OnKeysChanged, if set, is called after every committed change that
	// can alter what an API key may do (revoke, roll, rename, organization
	// changes), so caches of keys can drop what they hold.
	OnKeysChanged func()

	// DefaultPlan is the plan of new organizations (--default-plan) unless
	// a superuser set the instance setting; "" means Professional.
	DefaultPlan keygate.Plan
}

// keysChanged calls OnKeysChanged.
func (db *DB) keysChanged() {
	if db.OnKeysChanged != nil {
		db.OnKeysChanged()
	}
}

// NewDB returns a DB for the file at path. Call Open before use.
func NewDB(path string) *DB {
	return &DB{Path: path, Now: time.Now}
}

// dsn builds the connection string. busy_timeout comes first so that it
// already applies while the later pragmas (WAL) run.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_txlock", "immediate")
	if readOnly {
		q.Add("mode", "ro")
	}
	// url.Values sorts keys but keeps the order of values within a key, and
	// _pragma sorts before _txlock and mode.
	return "file:" + uriPath.Replace(path) + "?" + q.Encode()
}

// uriPath escapes what SQLite's URI parser would read in a file path as the
// start of the query ('?') or fragment ('#') or as an escape ('%'): unescaped,
// a path holding one silently opens a different file.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")

// Open opens the database, creating it if needed, without migrating.
func (db *DB) Open() (err error) {
	if db.Path == "" {
		return fmt.Errorf("open database: path required")
	}
	// The database holds password hashes and session hashes: owner only.
	// SQLite gives its -wal and -shm files the same permissions.
	if f, err := os.OpenFile(db.Path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return fmt.Errorf("open database: %w", err)
	} else {
		f.Close()
	}
	if db.write, err = sql.Open("sqlite", dsn(db.Path, false)); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	if err := db.write.Ping(); err != nil {
		db.write.Close()
		return fmt.Errorf("open database: %w", err)
	}
	if db.read, err = sql.Open("sqlite", dsn(db.Path, true)); err != nil {
		db.write.Close()
		return fmt.Errorf("open database: %w", err)
	}
	n := max(4, runtime.NumCPU()*2)
	db.read.SetMaxOpenConns(n)
	db.read.SetMaxIdleConns(n)
	return nil
}

// OpenAndMigrate opens the database and applies pending migrations.
func (db *DB) OpenAndMigrate(ctx context.Context) error {
	if err := db.Open(); err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return err
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		// Fold the WAL back into the main file so a stopped instance is one file.
		_, _ = db.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers and every migration is applied.
func (db *DB) Ping(ctx context.Context) error {
	var applied int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	names, err := migrationNames()
	if err != nil {
		return err
	}
	if applied < len(names) {
		return fmt.Errorf("ping database: %d of %d migrations applied", applied, len(names))
	}
	return nil
}

// Migrate applies every embedded migration not yet recorded, each in its own
// transaction together with its record, so a failure leaves none half done.
func (db *DB) Migrate(ctx context.Context) error { return db.migrateThrough(ctx, math.MaxInt) }

// migrateThrough applies the migrations up to version.
func (db *DB) migrateThrough(ctx context.Context, version int) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := migrationNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		if v, err := migrationVersion(name); err != nil {
			return err
		} else if v > version {
			break
		}
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

func migrationVersion(name string) (int, error) {
	base := strings.TrimPrefix(name, "migrations/")
	num, _, ok := strings.Cut(base, "_")
	if !ok {
		return 0, fmt.Errorf("migration %q: name must start with a number and _", name)
	}
	return strconv.Atoi(num)
}

func (db *DB) migrateFile(ctx context.Context, name string) error {
	version, err := migrationVersion(name)
	if err != nil {
		return err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		version, strings.TrimPrefix(name, "migrations/"), db.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// Backup writes a consistent copy of the live database to path with VACUUM
// INTO, which works while other connections read and write.
func (db *DB) Backup(ctx context.Context, path string) error {
	if _, err := db.write.ExecContext(ctx, `VACUUM INTO $1`, path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Tx is a write transaction that carries one clock reading, so every row it
// writes agrees on the time.
type Tx struct {
	*sql.Tx
	db  *DB
	now time.Time
}

// BeginTx starts a write transaction on the writer connection.
func (db *DB) BeginTx(ctx context.Context) (*Tx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Tx{Tx: tx, db: db, now: db.Now().UTC().Truncate(time.Millisecond)}, nil
}

// reader returns the pool for read-only queries.
func (db *DB) reader() *sql.DB { return db.read }

// WriteConn returns the writer pool, for tests that inspect the database
// and for pool statistics.
func (db *DB) WriteConn() *sql.DB { return db.write }

// ReadConn returns the reader pool, for pool statistics.
func (db *DB) ReadConn() *sql.DB { return db.read }

// formatError maps driver errors to domain errors where one fits.
func formatError(err error) error {
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &keygate.Error{Code: keygate.ECONFLICT, Message: "Already exists."}
		}
	}
	return err
}

// ms converts a time to integer Unix milliseconds, the storage format of
// every time column.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// fromNullMS converts a nullable stored time.
func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newPublicID returns prefix + "_" + 20 random base62 characters.
func newPublicID(prefix string) string {
	return prefix + "_" + randomBase62(20)
}

func randomBase62(n int) string {
	// Rejection sampling keeps every character equally likely.
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out)
}

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// collect scans every row of rows with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
