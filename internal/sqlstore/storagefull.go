package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// StorageFull reports whether err means that the database could not write
// because its disk (or, on SQLite, its max_page_count) is full: SQLITE_FULL,
// an SQLite I/O error that names ENOSPC, or PostgreSQL's disk_full (53100).
// Nothing of the failed write was kept, and the same write can succeed
// once space is freed, so it is no bug of the request's.
func StorageFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return true
		case sqlite3.SQLITE_IOERR:
			// The unix VFS answers ENOSPC with SQLITE_FULL on write, but
			// with an I/O error when growing the WAL index or syncing;
			// only the message tells those apart.
			msg := strings.ToLower(serr.Error())
			return strings.Contains(msg, "no space left") || strings.Contains(msg, "enospc")
		}
		return false
	}
	var perr *pgconn.PgError
	return errors.As(err, &perr) && perr.Code == "53100"
}

// StorageFull is the package's StorageFull, for the web layer, which knows
// the DB only as an interface.
func (db *DB) StorageFull(err error) bool { return StorageFull(err) }

// ProbeWrite makes a small write that must take new space and commits it:
// it fails (StorageFull) while the database's storage is full, and
// succeeds once there is room again. It leaves nothing behind but, on
// SQLite, a page or two on the free list, which the next probe reuses.
// The readiness probe runs it only while writes are known to fail, so
// that a replica taken out of rotation comes back without traffic.
func (db *DB) ProbeWrite(ctx context.Context) error {
	// A table of its own, created, filled and dropped in one transaction:
	// no row of Keygate's is touched, and a fresh table's first row needs
	// a new page on either engine. The name is random so that replicas
	// probing at once on PostgreSQL do not wait on each other.
	table := "keygate_probe_" + strings.ToLower(randomBase62(12))
	err := db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE `+table+` (b BYTEA)`); err != nil {
			return err
		}
		// 8000 bytes: more than one SQLite page (4 KiB), most of a
		// PostgreSQL one (8 KiB).
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (b) VALUES ($1)`, make([]byte, 8000)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DROP TABLE `+table)
		return err
	})
	if err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	return nil
}
