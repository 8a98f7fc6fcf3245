package main_test

import (
	"bytes"
	"database/sql"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/sqlstore"
)

// pgPassword is the password the tests put in database URLs: Keygate must
// never print it.
const pgPassword = "pg-s3cret-do-not-print"

// TestBinaryDatabasePostgres runs the real binary's commands with
// --database on PostgreSQL: the start-up log names the engine and masks
// the password, migrate and user create work there, and backup answers
// with the pg_dump command.
func TestBinaryDatabasePostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dbURL := withPassword(t, mustCreatePGDatabase(t), "postgres", pgPassword)
	redacted := sqlstore.RedactDSN(dbURL)
	if strings.Contains(redacted, pgPassword) || !strings.Contains(redacted, "postgres:xxxxx@") {
		t.Fatalf("RedactDSN = %q", redacted)
	}
	env := []string{"KEYGATE_DATABASE=" + dbURL, "KEYGATE_SECRET_KEY=" + newSecretKey()}

	t.Run("OKMigrate", func(t *testing.T) {
		for range 2 { // the second run finds nothing to do
			out, code := runBinary(t, bin, nil, "migrate", "--data-dir", t.TempDir(), "--database", dbURL)
			if got, want := out, "Database "+redacted+" is up to date.\n"; code != 0 || got != want {
				t.Fatalf("exit %d, output %q, want %q", code, got, want)
			}
		}
	})

	t.Run("OKUserCreate", func(t *testing.T) {
		cmd := exec.Command(bin, "user", "create", "--data-dir", t.TempDir(), "--email", testEmail, "--name", testName, "--organization", testOrg)
		cmd.Env = append(childEnv(), env...)
		cmd.Stdin = strings.NewReader(testPassword + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "Created superuser "+testEmail) {
			t.Fatalf("user create: %v: %s", err, out)
		}
		var n int
		if err := mustOpenPG(t, dbURL).QueryRow(`SELECT COUNT(*) FROM users WHERE email = $1`, testEmail).Scan(&n); err != nil || n != 1 {
			t.Fatalf("users %s in PostgreSQL: %d, %v", testEmail, n, err)
		}
	})

	t.Run("OKServe", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		srv := mustStartWith(t, bin, dataDir, env)
		l, _ := srv.log.find(`msg="Keygate is running"`)
		if got, want := logAttr(l.text, "database"), "postgres"; got != want {
			t.Errorf("database = %q, want %q", got, want)
		}
		if got, want := logAttr(l.text, "database_url"), redacted; got != want {
			t.Errorf("database_url = %q, want %q", got, want)
		}
		c, _ := newClient(t, filepath.Join(dataDir, "tls", "selfsigned-cert.pem"), nil)
		if p := mustGet(t, c, srv.url("/readyz")); p.StatusCode != http.StatusOK {
			t.Errorf("GET /readyz: status %d: %s", p.StatusCode, p.body)
		}
		// The account user create made in PostgreSQL logs in.
		p := mustPostForm(t, c, srv.url("/login"), map[string][]string{"email": {testEmail}, "password": {testPassword}})
		mustBeOverview(t, p)
		srv.mustStop(t)
		if _, err := os.Stat(filepath.Join(dataDir, "keygate.db")); err == nil {
			t.Error("serve on PostgreSQL created an SQLite database")
		}
		if strings.Contains(srv.log.String(), pgPassword) {
			t.Fatalf("the log holds the database password:\n%s", srv.log)
		}
	})

	t.Run("ErrBackup", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "keygate.dump")
		out, code := runBinary(t, bin, env, "backup", "--data-dir", t.TempDir(), dest)
		if code != 1 {
			t.Fatalf("exit %d, want 1: %s", code, out)
		}
		want := "pg_dump --format=custom --file=" + dest + " '" + strings.Replace(redacted, "postgres:xxxxx@", "postgres@", 1) + "'"
		if !strings.Contains(out, want) || !strings.Contains(out, "PGPASSWORD") {
			t.Fatalf("output %q lacks %q", out, want)
		}
		if strings.Contains(out, pgPassword) {
			t.Fatalf("output holds the password: %q", out)
		}
		if _, err := os.Stat(dest); err == nil {
			t.Fatal("backup wrote a file")
		}
	})
}

// TestBinaryRotateSecretKeyPostgres rotates the secret key of an instance
// on PostgreSQL: the replicas are told to take the new key, which then
// starts a replica, and the old key no longer does.
func TestBinaryRotateSecretKeyPostgres(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dbURL := mustCreatePGDatabase(t)
	oldKey := []string{"KEYGATE_DATABASE=" + dbURL, "KEYGATE_SECRET_KEY=" + newSecretKey()}
	// The first start seals the check value with the old key.
	mustStartWith(t, bin, filepath.Join(t.TempDir(), "data"), oldKey).mustStop(t)

	dataDir := filepath.Join(t.TempDir(), "rotate")
	out, code := runBinary(t, bin, oldKey, "rotate-secret-key", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("rotate-secret-key: exit %d: %s", code, out)
	}
	if want := "Every replica needs the new key: give each the new --secret-key (KEYGATE_SECRET_KEY) before it restarts.\n"; !strings.Contains(out, want) {
		t.Fatalf("output %q lacks %q", out, want)
	}
	newKey, err := os.ReadFile(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv := mustStartWith(t, bin, filepath.Join(t.TempDir(), "data"), []string{"KEYGATE_DATABASE=" + dbURL, "KEYGATE_SECRET_KEY=" + strings.TrimSpace(string(newKey))})
	srv.mustStop(t)
	out, code = runBinary(t, bin, oldKey, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0", "--http-addr", "")
	if code != 1 || !strings.Contains(out, "the secret key does not match") {
		t.Fatalf("serve with the old key: exit %d: %s", code, out)
	}
}

// TestBinarySchemaTooNew starts the real binary against a database that a
// newer Keygate migrated: it refuses, says why, and changes nothing.
func TestBinarySchemaTooNew(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	for _, engine := range []string{"SQLite", "PostgreSQL"} {
		t.Run("Err"+engine, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			var env []string
			var db *sql.DB
			if engine == "PostgreSQL" {
				dbURL := mustCreatePGDatabase(t)
				env = []string{"KEYGATE_DATABASE=" + dbURL}
				db = mustOpenPG(t, dbURL)
			}
			if out, code := runBinary(t, bin, env, "migrate", "--data-dir", dataDir); code != 0 {
				t.Fatalf("migrate: exit %d: %s", code, out)
			}
			if db == nil {
				var err error
				if db, err = sql.Open("sqlite", filepath.Join(dataDir, "keygate.db")); err != nil {
					t.Fatal(err)
				}
				defer db.Close()
			}
			if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
				t.Fatal(err)
			}
			db.Close()

			cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--http-addr", "")
			cmd.Env = append(childEnv(), env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
				t.Fatalf("exit code %d (%v), want 1: %s", code, err, out.String())
			}
			want := "keygate: " + sqlstore.ErrSchemaTooNew.Error() + ": it is at version 9999 and this binary knows up to "
			if !strings.Contains(out.String(), want) {
				t.Fatalf("output %q lacks %q", out.String(), want)
			}
			if strings.Contains(out.String(), "Keygate is running") {
				t.Fatalf("it started: %s", out.String())
			}
		})
	}
}
