package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err means that the database could not be
// reached or went away (a connection refused, dropped or timed out, a
// server shutting down or out of connections), rather than that a query
// was wrong: a request that failed so can succeed later, and is answered
// 503, not 500.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var cerr *pgconn.ConnectError
	if errors.As(err, &cerr) {
		return true
	}
	var perr *pgconn.PgError
	if errors.As(err, &perr) {
		// Class 08 is the connection exceptions; 57P01-57P03 a server
		// shutting down or starting; 53300 too many connections.
		return strings.HasPrefix(perr.Code, "08") || perr.Code == "57P01" || perr.Code == "57P02" ||
			perr.Code == "57P03" || perr.Code == "53300"
	}
	if pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr)
}

// Unavailable is the package's Unavailable, for the web layer's error
// sink, which knows the DB only as an interface.
func (db *DB) Unavailable(err error) bool { return Unavailable(err) }
