// Package sqlstore implements Keygate's domain services on a SQL database:
// embedded SQLite (modernc.org/sqlite, no cgo) by default, or PostgreSQL
// (github.com/jackc/pgx/v5) for several replicas. It is the only package
// that speaks SQL.
//
// Both engines run the same SQL text, written to a subset they share:
// $N placeholders (modernc binds them by number, as PostgreSQL does), times
// as integer Unix milliseconds from the Go clock, flags as 0/1 integers,
// INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING, CASE rather than
// engine-only functions. What differs lives in engine.go: connection pools,
// migrations (one directory per engine, same version numbers), error
// codes and row locks.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// DB is Keygate's database. On SQLite: one writer connection, so writers
// never meet SQLITE_BUSY among themselves, and a pool of readers. On
// PostgreSQL: one pool for both.
type DB struct {
	engine Engine
	write  *sql.DB
	read   *sql.DB
	readp  *readPool // read, with its statements prepared once (stmtcache.go)
	bots   *botCache // the API's bot reads; nil on PostgreSQL (bot_cache.go)
	// botWrites are the organizations whose bots the writer changed since
	// its transaction began, kept while watchBotWrites is on (tests).
	botWrites []int64

	// Path is the SQLite database file; "" on PostgreSQL.
	Path string
	// DSN is the PostgreSQL connection URL; "" on SQLite.
	DSN string
	// MaxConns bounds the PostgreSQL pool; 0 means 16.
	MaxConns int

	// Now is the clock; tests replace it. Every transaction takes one reading.
	Now func() time.Time

	// OnKeysChanged, if set, is called after every committed change that
	// can alter what an API key may do (revoke, roll, rename, organization
	// changes), so this process's caches of keys can drop what they hold.
	OnKeysChanged func()
	// Bus carries those changes to the other processes on the database:
	// a Listener on PostgreSQL. Nil is InProcessBus, all SQLite needs.
	Bus Bus

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

// NewDB returns a DB for the SQLite file at path. Call Open before use.
func NewDB(path string) *DB {
	return &DB{engine: EngineSQLite, Path: path, Now: time.Now}
}

// NewPostgresDB returns a DB for the PostgreSQL database at dsn
// (postgres://user:pass@host:5432/keygate?sslmode=verify-full). Call Open
// before use.
func NewPostgresDB(dsn string) *DB {
	return &DB{engine: EnginePostgres, DSN: dsn, Now: time.Now}
}

// Engine returns the database engine.
func (db *DB) Engine() Engine { return db.engine }

// Open opens the database (creating an SQLite file if needed) without
// migrating.
func (db *DB) Open() error {
	if db.engine == EnginePostgres {
		return db.openPostgres()
	}
	return db.openSQLite()
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

// Close closes the pools.
func (db *DB) Close() error {
	var errs []error
	if db.readp != nil {
		db.readp.close()
	}
	if db.read != nil && db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		if db.engine == EngineSQLite {
			// Fold the WAL back into the main file so a stopped instance is one file.
			_, _ = db.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		}
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
	migs, err := db.migrations()
	if err != nil {
		return err
	}
	if applied < len(migs) {
		return fmt.Errorf("ping database: %d of %d migrations applied", applied, len(migs))
	}
	return nil
}

// Migrate applies every embedded migration not yet recorded, each in its own
// transaction together with its record, so a failure leaves none half done.
func (db *DB) Migrate(ctx context.Context) error { return db.migrateThrough(ctx, math.MaxInt) }

// Backup writes a consistent copy of the live database to path with VACUUM
// INTO, which works while other connections read and write. A PostgreSQL
// database is backed up with pg_dump instead.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.engine == EnginePostgres {
		return fmt.Errorf("keygate backup copies an SQLite database; back up PostgreSQL with pg_dump: %s", PgDumpCommand(db.DSN, path))
	}
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
	// afterCommit runs once the transaction has committed (bus.go).
	afterCommit   []func()
	keysPublished bool
	botOrgs       []int64 // organizations whose bots it changed (botsChanged)
}

// BeginTx starts a write transaction on the writer connection.
func (db *DB) BeginTx(ctx context.Context) (*Tx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if watchBotWrites && db.engine == EngineSQLite { // one writer: no other transaction is open
		db.botWrites = nil
	}
	return &Tx{Tx: tx, db: db, now: db.Now().UTC().Truncate(time.Millisecond)}, nil
}

// reader returns the pool for read-only queries.
func (db *DB) reader() *readPool { return db.readp }

// WriteConn returns the writer pool, for tests that inspect the database
// and for pool statistics.
func (db *DB) WriteConn() *sql.DB { return db.write }

// ReadConn returns the reader pool, for pool statistics.
func (db *DB) ReadConn() *sql.DB { return db.read }

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
