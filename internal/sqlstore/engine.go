package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/keygate/keygate/internal/keygate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a database engine.
type Engine string

// The engines Keygate runs on.
const (
	EngineSQLite   Engine = "sqlite"
	EnginePostgres Engine = "postgres"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// ---- SQLite ----

// sqliteDSN builds the connection string. busy_timeout comes first so that
// it already applies while the later pragmas (WAL) run.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL, not NORMAL: in WAL mode NORMAL skips the sync at each commit,
	// so a power loss can undo transactions already reported committed
	// (a created key, a revocation). FULL syncs the WAL at every commit.
	q.Add("_pragma", "synchronous(FULL)")
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

func (db *DB) openSQLite() (err error) {
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
	if db.write, err = sql.Open("sqlite", sqliteDSN(db.Path, false)); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	if err := db.write.Ping(); err != nil {
		db.write.Close()
		return fmt.Errorf("open database: %w", err)
	}
	if watchBotWrites {
		if err := db.watchBots(); err != nil {
			db.write.Close()
			return err
		}
	}
	if db.read, err = sql.Open("sqlite", sqliteDSN(db.Path, true)); err != nil {
		db.write.Close()
		return fmt.Errorf("open database: %w", err)
	}
	n := max(4, runtime.NumCPU()*2)
	db.read.SetMaxOpenConns(n)
	db.read.SetMaxIdleConns(n)
	db.readp = newReadPool(db.read, true)
	db.bots = newBotCache()
	return nil
}

// ---- PostgreSQL ----

// openPostgres opens one pool, for reads and writes alike.
func (db *DB) openPostgres() error {
	cfg, err := pgx.ParseConfig(db.DSN)
	if err != nil {
		return fmt.Errorf("open database: %s", redactedDSNError(db.DSN, err))
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "keygate"
	}
	pool := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
		registerFlagCodecs(c.TypeMap())
		return nil
	}))
	n := db.MaxConns
	if n <= 0 {
		n = 16
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	if err := pool.Ping(); err != nil {
		pool.Close()
		return fmt.Errorf("open database: %s", redactedDSNError(db.DSN, err))
	}
	db.write, db.read = pool, pool
	db.readp = newReadPool(pool, false)
	return nil
}

// redactedDSNError is err without the DSN's password, which pgx may echo.
func redactedDSNError(dsn string, err error) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// RedactDSN returns dsn with its password replaced, for logs and messages.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// PgDumpCommand is the command that backs up the PostgreSQL database at
// dsn to file (the password comes from PGPASSWORD or ~/.pgpass).
func PgDumpCommand(dsn, file string) string {
	u, err := url.Parse(dsn)
	if err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		dsn = u.String()
	}
	return "pg_dump --format=custom --file=" + file + " '" + dsn + "'"
}

// registerFlagCodecs lets a Go bool be bound where the schema keeps a 0/1
// integer, as SQLite does: the one SQL text passes the same arguments to
// both engines.
func registerFlagCodecs(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "int8", OID: pgtype.Int8OID, Codec: flagCodec{pgtype.Int8Codec{}}})
	m.RegisterType(&pgtype.Type{Name: "int4", OID: pgtype.Int4OID, Codec: flagCodec{pgtype.Int4Codec{}}})
}

// flagCodec is an integer codec that also encodes a bool, as 1 or 0.
type flagCodec struct{ pgtype.Codec }

func (c flagCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(bool); ok {
		next := c.Codec.PlanEncode(m, oid, format, int64(0))
		if next == nil {
			return nil
		}
		return boolAsInt{next}
	}
	return c.Codec.PlanEncode(m, oid, format, value)
}

type boolAsInt struct{ next pgtype.EncodePlan }

func (p boolAsInt) Encode(value any, buf []byte) ([]byte, error) {
	var n int64
	if value.(bool) {
		n = 1
	}
	return p.next.Encode(n, buf)
}

// ---- Both ----

// forUpdate is the row-lock suffix of a SELECT that the transaction will
// write after: PostgreSQL's FOR UPDATE. SQLite needs none, since its
// transactions begin IMMEDIATE and so hold the only write lock.
func (tx *Tx) forUpdate() string {
	if tx.db.engine == EnginePostgres {
		return " FOR UPDATE"
	}
	return ""
}

// forNoKeyUpdate is forUpdate for a row locked to keep what the
// transaction reads about it true (an organization, for the rules on its
// members and keys) rather than to delete it: PostgreSQL's FOR NO KEY
// UPDATE, which leaves other transactions free to insert rows that
// reference it (their foreign key check takes FOR KEY SHARE).
func (tx *Tx) forNoKeyUpdate() string {
	if tx.db.engine == EnginePostgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// lockKey holds the lock named key until the transaction ends, for a rule
// that no row carries (which account is the first): a PostgreSQL advisory
// transaction lock. SQLite needs none, as for forUpdate.
func (tx *Tx) lockKey(ctx context.Context, key int64) error {
	if tx.db.engine != EnginePostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}

// retryable reports whether err means that the database gave up on the
// transaction because of another one, so that running it again can
// succeed: a serialization failure or deadlock on PostgreSQL (40001,
// 40P01), or on SQLite a lock not obtained within busy_timeout.
func retryable(err error) bool {
	var perr *pgconn.PgError
	if errors.As(err, &perr) {
		return perr.Code == "40001" || perr.Code == "40P01"
	}
	var serr *sqlite.Error
	return errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_BUSY
}

// formatError maps driver errors to domain errors where one fits.
func formatError(err error) error {
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &keygate.Error{Code: keygate.ECONFLICT, Message: "Already exists."}
		}
	}
	var perr *pgconn.PgError
	if errors.As(err, &perr) && perr.Code == "23505" {
		return &keygate.Error{Code: keygate.ECONFLICT, Message: "Already exists."}
	}
	return err
}

// migration is one embedded migration file of the DB's engine.
type migration struct {
	version int
	name    string // file name, as recorded
	file    string // path in migrationFS
}

// migrations lists the DB's engine's migrations in order. PostgreSQL's
// start with a baseline: the schema as of the version in its name, in one
// file, since no PostgreSQL database predates it.
func (db *DB) migrations() ([]migration, error) {
	dir := "migrations/" + string(db.engine)
	files, err := fs.Glob(migrationFS, dir+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(files)
	out := make([]migration, 0, len(files))
	for _, f := range files {
		name := path.Base(f)
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %q: name must start with a number and _", name)
		}
		out = append(out, migration{version: v, name: name, file: f})
	}
	return out, nil
}

// latestVersion is the newest migration this binary knows.
func latestVersion(migs []migration) int {
	if len(migs) == 0 {
		return 0
	}
	return migs[len(migs)-1].version
}

// ErrSchemaTooNew is returned by Migrate when the database was migrated by
// a newer Keygate than this one.
var ErrSchemaTooNew = errors.New("the database schema is newer than this Keygate knows")

// migrateThrough applies the migrations up to version. On PostgreSQL it
// holds an advisory lock meanwhile, so that replicas starting at once on
// an empty database apply each migration exactly once.
func (db *DB) migrateThrough(ctx context.Context, version int) error {
	migs, err := db.migrations()
	if err != nil {
		return err
	}
	var q execQueryer = db.write
	if db.engine == EnginePostgres {
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		// Held on this connection for the whole run; released explicitly,
		// and by PostgreSQL if the connection dies.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID)
		q = conn
	}
	if _, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var newest sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if newest.Valid && int(newest.Int64) > latestVersion(migs) {
		return fmt.Errorf("%w: it is at version %d and this binary knows up to %d. Run the newer Keygate, or restore a backup made for this version",
			ErrSchemaTooNew, newest.Int64, latestVersion(migs))
	}
	for i, m := range migs {
		if m.version > version {
			break
		}
		// A baseline stands for every version before it: it applies only
		// to an empty database.
		if i == 0 && db.engine == EnginePostgres && newest.Valid && int(newest.Int64) >= m.version {
			continue
		}
		if err := db.migrateFile(ctx, q, m); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// migrationLockID is the advisory lock key that serializes migrations.
const migrationLockID = 4627_1137_2026

// execQueryer is what the migration runner needs of a pool or connection.
type execQueryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (db *DB) migrateFile(ctx context.Context, q execQueryer, m migration) error {
	tx, err := q.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, m.file)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, db.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
