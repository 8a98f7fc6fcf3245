package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// migrationFiles lists the migration files on disk, which the binary embeds.
func migrationFiles(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("migrations", string(testEngine), "*.sql"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) == 0 {
		tb.Fatal("no migration files")
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	sort.Strings(names)
	return names
}

// mustOpenUnmigrated opens a fresh database without migrating it.
func mustOpenUnmigrated(tb testing.TB) (*sqlstore.DB, *botClock) {
	tb.Helper()
	db := newTestDB(tb, true)
	clock := &botClock{t: accountTestStart}
	db.Now = clock.Now
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, clock
}

type migrationRow struct {
	Version   int
	Name      string
	AppliedAt int64
}

func schemaMigrations(tb testing.TB, db *sqlstore.DB) []migrationRow {
	tb.Helper()
	rows, err := db.WriteConn().Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.Version, &r.Name, &r.AppliedAt); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestDB_Migrate(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		ctx := context.Background()
		db, clock := mustOpenUnmigrated(t)
		files := migrationFiles(t)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		first := schemaMigrations(t, db)
		if got, want := len(first), len(files); got != want {
			t.Fatalf("schema_migrations rows=%d, want %d (one per file)", got, want)
		}
		for i, r := range first {
			if got, want := r.Name, files[i]; got != want {
				t.Errorf("row %d name=%q, want %q", i, got, want)
			}
			num, _, _ := strings.Cut(files[i], "_")
			if want, _ := strconv.Atoi(num); r.Version != want {
				t.Errorf("row %d version=%d, want %d", i, r.Version, want)
			}
			if got, want := r.AppliedAt, accountTestStart.UnixMilli(); got != want {
				t.Errorf("row %d applied_at=%d, want %d (the injected clock)", i, got, want)
			}
		}
		for _, table := range []string{"users", "organizations", "memberships", "sessions", "audit_events", "api_keys"} {
			if !tableExists(t, db, table) {
				t.Errorf("table %s missing", table)
			}
		}

		// A second run is a no-op: the same rows, none re-applied later.
		clock.Advance(time.Hour)
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if second := schemaMigrations(t, db); !slices.Equal(second, first) {
			t.Fatalf("after second migrate rows=%v, want unchanged %v", second, first)
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("ping: %v", err)
		}
	})

	t.Run("OK/Reopen", func(t *testing.T) {
		skipOnPostgres(t)
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "keygate.db")
		db := sqlstore.NewDB(path)
		if err := db.OpenAndMigrate(ctx); err != nil {
			t.Fatal(err)
		}
		user, _ := mustSignup(t, sqlstore.NewUserService(db, testHasher), "Ada", "ada@example.com", "Acme")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = sqlstore.NewDB(path)
		if err := db.OpenAndMigrate(ctx); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer db.Close()
		if got, want := len(schemaMigrations(t, db)), len(migrationFiles(t)); got != want {
			t.Fatalf("schema_migrations rows=%d, want %d", got, want)
		}
		got, err := sqlstore.NewUserService(db, testHasher).FindUserByID(ctx, user.ID)
		if err != nil {
			t.Fatalf("user after reopen: %v", err)
		}
		if got.Email != "ada@example.com" {
			t.Fatalf("email=%q", got.Email)
		}
	})
}

func TestDB_Ping(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		if err := db.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrNotMigrated", func(t *testing.T) {
		db, _ := mustOpenUnmigrated(t)
		err := db.Ping(context.Background())
		if err == nil {
			t.Fatal("ping of an unmigrated database succeeded")
		}
		if got, want := keygate.ErrorCode(err), keygate.EINTERNAL; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
	})

	t.Run("ErrMigrationMissing", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		if _, err := db.WriteConn().Exec(`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
			t.Fatal(err)
		}
		n := len(migrationFiles(t))
		err := db.Ping(context.Background())
		if err == nil {
			t.Fatal("ping with a migration missing succeeded")
		}
		if got, want := err.Error(), fmt.Sprintf("ping database: %d of %d migrations applied", n-1, n); got != want {
			t.Fatalf("err=%q, want %q", got, want)
		}
	})
}

func TestDB_Open(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t)
	t.Run("ErrPathRequired", func(t *testing.T) {
		err := sqlstore.NewDB("").Open()
		if err == nil || err.Error() != "open database: path required" {
			t.Fatalf("err=%v, want path required", err)
		}
	})

	t.Run("ErrNoDirectory", func(t *testing.T) {
		err := sqlstore.NewDB(filepath.Join(t.TempDir(), "missing", "keygate.db")).Open()
		if err == nil {
			t.Fatal("open in a missing directory succeeded")
		}
	})

	t.Run("OK/OwnerOnlyFiles", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		for _, path := range []string{db.Path, db.Path + "-wal"} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Errorf("%s mode=%v, want %v", filepath.Base(path), got, want)
			}
		}
	})

	// The path goes into a file: URI; characters special there must still
	// name the file at Path and no other.
	for _, tt := range []struct{ name, dir string }{
		{"OK/Hash", "a#b"},
		{"OK/QuestionMark", "q?x=1"},
		{"OK/Percent", "100%"},
		{"OK/PercentEscape", "50%41"},
		{"OK/Space", "with space"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			parent := t.TempDir()
			dir := filepath.Join(parent, tt.dir)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			db := sqlstore.NewDB(filepath.Join(dir, "keygate.db"))
			if err := db.OpenAndMigrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.Ping(ctx); err != nil {
				db.Close()
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if got := dirNames(t, parent); !slices.Equal(got, []string{tt.dir}) {
				t.Fatalf("parent holds %q, want only %q", got, tt.dir)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"keygate.db"}) {
				t.Fatalf("dir holds %q, want only keygate.db", got)
			}
			if fi, err := os.Stat(db.Path); err != nil || fi.Size() == 0 {
				t.Fatalf("database file: %v, %v; want the migrated database", fi, err)
			}
		})
	}
}

func dirNames(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestDB_Pragmas(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t) // SQLite\'s files and upgrades from its older formats
	db, _ := mustOpenDB(t)
	for _, pool := range []struct {
		name string
		conn *sql.DB
	}{{"WriteConn", db.WriteConn()}, {"ReadConn", db.ReadConn()}} {
		conn := pool.conn
		for _, tt := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
			{"synchronous", "2"}, // FULL
		} {
			t.Run(pool.name+"/"+tt.pragma, func(t *testing.T) {
				var got string
				if err := conn.QueryRow(`PRAGMA ` + tt.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Fatalf("PRAGMA %s=%q, want %q", tt.pragma, got, tt.want)
				}
			})
		}
	}

	t.Run("ReadConn/ErrReadOnly", func(t *testing.T) {
		if _, err := db.ReadConn().Exec(`INSERT INTO organizations (public_id, name, created_at, updated_at) VALUES ('org_x', 'x', 0, 0)`); err == nil {
			t.Fatal("write through the read pool succeeded")
		}
		if got := countRows(t, db, "organizations"); got != 0 {
			t.Fatalf("organizations=%d, want 0", got)
		}
	})

	t.Run("ForeignKeysEnforced", func(t *testing.T) {
		_, err := db.WriteConn().Exec(`INSERT INTO memberships (organization_id, user_id, role, created_at, updated_at) VALUES (999, 999, 'owner', 0, 0)`)
		if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Fatalf("err=%v, want a FOREIGN KEY constraint failure", err)
		}
	})
}

// TestDB_NumberedPlaceholders checks that $n binds the nth argument however
// often and in whatever order $n appears, as in PostgreSQL, so the SQL
// stays portable.
func TestDB_NumberedPlaceholders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := mustOpenDB(t)
	letters := []any{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"InOrder", `SELECT CAST($1 AS TEXT) || CAST($2 AS TEXT)`, letters[:2], "ab"},
		{"Reordered", `SELECT CAST($2 AS TEXT) || CAST($1 AS TEXT)`, letters[:2], "ba"},
		{"Repeated", `SELECT CAST($2 AS TEXT) || CAST($1 AS TEXT) || CAST($2 AS TEXT)`, letters[:2], "bab"},
		// Every argument is used: PostgreSQL must know the type of each.
		{"TwoDigits", `SELECT CAST($10 AS TEXT) || CAST($1 AS TEXT) || CAST($1 AS TEXT)
			WHERE CAST($2 AS TEXT) || CAST($3 AS TEXT) || CAST($4 AS TEXT) || CAST($5 AS TEXT) || CAST($6 AS TEXT) ||
				CAST($7 AS TEXT) || CAST($8 AS TEXT) || CAST($9 AS TEXT) IS NOT NULL`, letters, "jaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/WriteConn", func(t *testing.T) {
			var got string
			if err := db.WriteConn().QueryRowContext(ctx, tt.query, tt.args...).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("%s = %q, want %q", tt.query, got, tt.want)
			}
		})
		t.Run(tt.name+"/ReadConn", func(t *testing.T) {
			var got string
			if err := db.ReadConn().QueryRowContext(ctx, tt.query, tt.args...).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("%s = %q, want %q", tt.query, got, tt.want)
			}
		})
	}

	t.Run("Insert", func(t *testing.T) {
		tx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		// Columns in one order, placeholders in another, one used twice.
		if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (name, public_id, created_at, updated_at) VALUES ($3, $1, $2, $2)`,
			"org_placeholders", int64(42), "Placeholders"); err != nil {
			t.Fatal(err)
		}
		var name, publicID string
		var created, updated int64
		if err := tx.QueryRowContext(ctx, `SELECT name, public_id, created_at, updated_at FROM organizations WHERE public_id = $1`,
			"org_placeholders").Scan(&name, &publicID, &created, &updated); err != nil {
			t.Fatal(err)
		}
		if name != "Placeholders" || publicID != "org_placeholders" || created != 42 || updated != 42 {
			t.Fatalf("row = %q %q %d %d", name, publicID, created, updated)
		}
	})
}

// tableExists reports whether the database has the table.
func tableExists(tb testing.TB, db *sqlstore.DB, table string) bool {
	tb.Helper()
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if onPostgres() {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1`
	}
	return countQuery(tb, db, q, table) == 1
}
