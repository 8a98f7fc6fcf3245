package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/keygate/keygate/internal/sqlstore"
)

// databaseFlag registers --database, for every command that opens the
// database.
func databaseFlag(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Database, "database", "", "PostgreSQL database to use instead of SQLite in --data-dir, for several replicas: postgres://user:pass@host:5432/keygate?sslmode=verify-full (prefer KEYGATE_DATABASE: flags show in process lists); empty means <data-dir>/keygate.db")
}

// checkDatabase validates --database. Its messages never repeat a
// password: the value is shown, if at all, with the password masked.
func (c *Config) checkDatabase() error {
	return checkPostgresURL("--database", c.Database, true)
}

// checkPostgresURL checks that v is a postgres:// or postgresql:// URL
// (or, when emptyOK, empty).
func checkPostgresURL(flagName, v string, emptyOK bool) error {
	if v == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("%s is required: the PostgreSQL database, postgres://user:pass@host:5432/keygate", flagName)
	}
	u, err := url.Parse(v)
	// url.Parse's error quotes its input, password and all: it is not shown.
	if err != nil || u.Opaque != "" {
		return fmt.Errorf("%s is not a valid URL: write it as postgres://user:pass@host:5432/keygate?sslmode=verify-full, with special characters in the password percent-encoded", flagName)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		msg := flagName + " must be a postgres:// or postgresql:// URL"
		if emptyOK {
			msg += " (or empty for SQLite in --data-dir)"
		}
		if u.Scheme != "" {
			msg += ", not " + u.Scheme + "://"
		}
		return errors.New(msg)
	}
	return nil
}

// onPostgres reports whether the commands use PostgreSQL.
func (c *Config) onPostgres() bool { return c.Database != "" }

// newDB returns the configured database, not yet opened.
func (c *Config) newDB() *sqlstore.DB {
	if c.onPostgres() {
		return sqlstore.NewPostgresDB(c.Database)
	}
	return sqlstore.NewDB(sqlitePath(c))
}

// sqlitePath is the SQLite database of c's data directory.
func sqlitePath(c *Config) string { return filepath.Join(c.DataDir, "keygate.db") }

// databaseName names the database for people: the SQLite file, or the
// PostgreSQL URL with its password masked.
func (c *Config) databaseName() string {
	if c.onPostgres() {
		return sqlstore.RedactDSN(c.Database)
	}
	return sqlitePath(c)
}

// databaseAttrs name the database in the start-up log: its engine and, on
// PostgreSQL, its URL with the password masked (SQLite's file is in the
// data directory).
func databaseAttrs(c *Config, db *sqlstore.DB) []any {
	attrs := []any{"database", string(db.Engine())}
	if c.onPostgres() {
		attrs = append(attrs, "database_url", sqlstore.RedactDSN(c.Database))
	}
	return attrs
}

// errBackupPostgres is backup's answer on PostgreSQL, which keygate backup
// does not copy: the pg_dump command that does, writing to dest.
func errBackupPostgres(c *Config, dest string) error {
	return fmt.Errorf("backup copies the SQLite database; back up PostgreSQL with pg_dump (it takes the password from PGPASSWORD or ~/.pgpass):\n  %s",
		sqlstore.PgDumpCommand(c.Database, dest))
}
