package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// mustFillSQLite makes db's SQLite file full: it may grow no further than
// it is (max_page_count, on the one write connection), so a write that
// needs a new page fails with SQLITE_FULL, as on a full disk. It returns a
// func that makes room again.
func mustFillSQLite(tb testing.TB, db *sqlstore.DB) (makeRoom func()) {
	tb.Helper()
	w := db.WriteConn()
	// SQLite keeps max_page_count no lower than the pages the file has.
	if _, err := w.Exec(`PRAGMA max_page_count = 1`); err != nil {
		tb.Fatal(err)
	}
	return func() {
		tb.Helper()
		if _, err := w.Exec(`PRAGMA max_page_count = 1073741823`); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestStorageFull(t *testing.T) {
	t.Run("SQLiteFull", func(t *testing.T) {
		skipOnPostgres(t)
		db, _ := mustOpenDB(t)
		users := sqlstore.NewUserService(db, testHasher)
		makeRoom := mustFillSQLite(t, db)
		// Writes that fit in the file's pages still succeed; some write
		// soon needs a new one.
		var err error
		for i := 0; err == nil && i < 200; i++ {
			_, _, err = users.Signup(context.Background(), &keygate.Signup{Name: "Ada", Email: fmt.Sprintf("ada%d@example.com", i),
				Password: testPassword, OrganizationName: "Analytical"})
		}
		if !sqlstore.StorageFull(err) {
			t.Fatalf("signup on a full database: %v, want a storage-full error", err)
		}
		err = db.ProbeWrite(context.Background())
		if err == nil || !sqlstore.StorageFull(err) {
			t.Fatalf("ProbeWrite on a full database: %v, want a storage-full error", err)
		}
		// Reads need no space.
		if _, err := users.FindUserByEmail(context.Background(), "nobody@example.com"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("read on a full database: %v, want ENOTFOUND", err)
		}
		makeRoom()
		if err := db.ProbeWrite(context.Background()); err != nil {
			t.Fatalf("ProbeWrite once there is room: %v", err)
		}
	})
}

func TestStorageFullClassifies(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"Nil", nil, false},
		{"Other", errors.New("boom"), false},
		{"PostgresDiskFull", fmt.Errorf("insert api key: %w", &pgconn.PgError{Code: "53100"}), true},
		{"PostgresUniqueViolation", &pgconn.PgError{Code: "23505"}, false},
		{"PostgresOutOfMemory", &pgconn.PgError{Code: "53200"}, false},
		{"ENOSPC", fmt.Errorf("write wal: %w", &fs.PathError{Op: "write", Path: "keygate.db-wal", Err: syscall.ENOSPC}), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := sqlstore.StorageFull(tt.err); got != tt.want {
				t.Fatalf("StorageFull(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestProbeWrite runs on either engine: with room, the probe write
// succeeds and leaves no table behind.
func TestProbeWrite(t *testing.T) {
	db, _ := mustOpenDB(t)
	tables := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`
	if onPostgres() {
		tables = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	var before, after int
	if err := db.ReadConn().QueryRow(tables).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := db.ProbeWrite(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ReadConn().QueryRow(tables).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before == 0 || after != before {
		t.Fatalf("%d tables after probing, %d before", after, before)
	}
}
