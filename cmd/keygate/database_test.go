package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunDatabaseFlag checks --database and copy-db's --to before anything
// connects: a value that is not a PostgreSQL URL is refused with a message
// that names the flag and never repeats the password, and nothing is
// created.
func TestRunDatabaseFlag(t *testing.T) {
	const pw = "hunter2-not-to-be-printed"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"ErrServeNotPostgres", nil, []string{"serve", "--database", "mysql://keygate:" + pw + "@db.example.com/keygate"},
			"keygate: --database must be a postgres:// or postgresql:// URL (or empty for SQLite in --data-dir), not mysql://\n"},
		{"ErrServeFromEnvironment", map[string]string{"KEYGATE_DATABASE": "host=db.example.com user=keygate password=" + pw + " dbname=keygate"}, []string{"serve"},
			"keygate: --database must be a postgres:// or postgresql:// URL (or empty for SQLite in --data-dir)\n"},
		{"ErrMigrateNotAURL", nil, []string{"migrate", "--database", "postgres://keygate:" + pw + "@db.example.com:port/keygate"},
			"keygate: --database is not a valid URL: write it as postgres://user:pass@host:5432/keygate?sslmode=verify-full, with special characters in the password percent-encoded\n"},
		{"ErrUserCreate", nil, []string{"user", "create", "--email", "a@example.com", "--name", "A", "--organization", "A", "--database", "sqlite://" + pw},
			"keygate: --database must be a postgres:// or postgresql:// URL (or empty for SQLite in --data-dir), not sqlite://\n"},
		{"ErrRotateSecretKey", nil, []string{"rotate-secret-key", "--database", "redis://:" + pw + "@cache"},
			"keygate: --database must be a postgres:// or postgresql:// URL (or empty for SQLite in --data-dir), not redis://\n"},
		{"ErrCopyDBNoTarget", nil, []string{"copy-db"},
			"keygate: --to is required: the PostgreSQL database, postgres://user:pass@host:5432/keygate\n"},
		{"ErrCopyDBNotPostgres", nil, []string{"copy-db", "--to", "mysql://root:" + pw + "@db/keygate"},
			"keygate: --to must be a postgres:// or postgresql:// URL, not mysql://\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dir := filepath.Join(t.TempDir(), "data")
			args := append(slices.Clone(tt.args), "--data-dir", dir)
			r := runCmd(t, testPassword+"\n", args...).mustCode(t, 1)
			if r.stderr != tt.want {
				t.Fatalf("stderr = %q, want %q", r.stderr, tt.want)
			}
			if strings.Contains(r.stdout+r.stderr, pw) {
				t.Fatal("the password was printed")
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("a refused --database still created the data directory (stat: %v)", err)
			}
		})
	}

	t.Run("OKPostgresqlScheme", func(t *testing.T) {
		c := Config{Database: "postgresql://keygate@db.example.com/keygate"}
		if err := c.checkDatabase(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrBackupOnPostgres", func(t *testing.T) {
		// No connection is needed to say how PostgreSQL is backed up.
		dest := filepath.Join(t.TempDir(), "keygate.dump")
		r := runCmd(t, "", "backup", "--data-dir", t.TempDir(), "--database", "postgres://keygate:"+pw+"@db.example.com:5432/keygate?sslmode=verify-full", dest).mustCode(t, 1)
		want := "keygate: backup copies the SQLite database; back up PostgreSQL with pg_dump (it takes the password from PGPASSWORD or ~/.pgpass):\n" +
			"  pg_dump --format=custom --file=" + dest + " 'postgres://keygate@db.example.com:5432/keygate?sslmode=verify-full'\n"
		if r.stderr != want {
			t.Fatalf("stderr = %q, want %q", r.stderr, want)
		}
		if strings.Contains(r.stderr, pw) || fileExists(dest) {
			t.Fatal("the password was printed or a file written")
		}
	})
}

func TestRunHelpDatabase(t *testing.T) {
	for _, tt := range []struct {
		args         []string
		want, absent string
	}{
		{[]string{"serve", "--help"}, "-database", ""},
		{[]string{"migrate", "--help"}, "-database", ""},
		{[]string{"backup", "--help"}, "-database", ""},
		{[]string{"user", "create", "--help"}, "-database", ""},
		{[]string{"rotate-secret-key", "--help"}, "-database", ""},
		{[]string{"copy-db", "--help"}, "-to", "-database"},
		{[]string{"cert", "--help"}, "-tls-cert", "-database"},
		{[]string{"--help"}, "keygate copy-db", ""},
	} {
		t.Run("OK"+strings.Join(tt.args, ""), func(t *testing.T) {
			r := runCmd(t, "", tt.args...).mustCode(t, 0)
			out := r.stdout + r.stderr
			if !strings.Contains(out, tt.want) {
				t.Errorf("usage lacks %q:\n%s", tt.want, out)
			}
			if tt.absent != "" && strings.Contains(out, tt.absent) {
				t.Errorf("usage mentions %q:\n%s", tt.absent, out)
			}
		})
	}
}
