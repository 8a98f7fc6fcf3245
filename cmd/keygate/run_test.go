package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

const testPassword = "correct horse battery staple"

// result is what one run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command in-process with stdin as its standard input.
func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// mustCode fails the test unless r exited with want.
func (r result) mustCode(t *testing.T, want int) result {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code = %d, want %d\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
	return r
}

// mustOpenSQLite opens an existing database file through the driver.
func mustOpenSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return db
}

// userRoles returns each user's email and whether it is a superuser.
func userRoles(t *testing.T, path string) map[string]bool {
	t.Helper()
	rows, err := mustOpenSQLite(t, path).Query(`SELECT email, is_superuser FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var email string
		var super bool
		if err := rows.Scan(&email, &super); err != nil {
			t.Fatal(err)
		}
		out[email] = super
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// mustCreateUser runs user create and returns its output.
func mustCreateUser(t *testing.T, dataDir, email string, extra ...string) string {
	t.Helper()
	args := append([]string{"user", "create", "--data-dir", dataDir, "--email", email, "--name", "Someone", "--organization", "Org of " + email}, extra...)
	return runCmd(t, testPassword+"\n", args...).mustCode(t, 0).stdout
}

func TestRunVersion(t *testing.T) {
	t.Run("OKDev", func(t *testing.T) {
		r := runCmd(t, "", "version").mustCode(t, 0)
		if !strings.HasPrefix(r.stdout, "keygate ") || strings.TrimSpace(strings.TrimPrefix(r.stdout, "keygate ")) == "" {
			t.Fatalf("version printed %q", r.stdout)
		}
	})
	t.Run("OKLinkerVersion", func(t *testing.T) {
		old := version
		version = "v1.2.3"
		t.Cleanup(func() { version = old })
		if got, want := runCmd(t, "", "version").mustCode(t, 0).stdout, "keygate v1.2.3\n"; got != want {
			t.Fatalf("version printed %q, want %q", got, want)
		}
	})
}

func TestRunHelp(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		want   []string // in stdout+stderr
		absent []string
	}{
		{"Top", []string{"--help"}, []string{"keygate migrate", "keygate user create", "keygate backup", "keygate cert", "keygate version", "KEYGATE_DATA_DIR"}, nil},
		{"TopShort", []string{"-h"}, []string{"keygate migrate"}, nil},
		{"HelpCommand", []string{"help"}, []string{"keygate migrate"}, nil},
		{"Serve", []string{"serve", "--help"}, []string{"keygate serve", "-data-dir", "-addr", "-http-addr", "-trusted-proxies", "-signup", "-tls-cert", "-acme-domain", "-rate-limit", "-request-log-retention", "KEYGATE_"}, nil},
		{"Migrate", []string{"migrate", "--help"}, []string{"keygate migrate", "-data-dir", "-log-format"}, []string{"-addr", "-signup"}},
		{"Backup", []string{"backup", "--help"}, []string{"keygate backup", "FILE", "-data-dir"}, []string{"-addr"}},
		{"UserCreate", []string{"user", "create", "--help"}, []string{"keygate user create", "-data-dir", "-email", "-name", "-organization", "-superuser"}, []string{"-addr"}},
		{"User", []string{"user", "--help"}, []string{"keygate user create"}, nil},
	}
	for _, tt := range tests {
		t.Run("OK"+tt.name, func(t *testing.T) {
			r := runCmd(t, "", tt.args...).mustCode(t, 0)
			out := r.stdout + r.stderr
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("usage lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(out, s) {
					t.Errorf("usage mentions %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Run("ErrUnknownCommand", func(t *testing.T) {
		r := runCmd(t, "", "frobnicate").mustCode(t, 2)
		if !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
			t.Fatalf("stderr = %q", r.stderr)
		}
	})
	t.Run("ErrUnknownFlag", func(t *testing.T) {
		r := runCmd(t, "", "migrate", "--data-dir", t.TempDir(), "--bogus").mustCode(t, 2)
		if !strings.Contains(r.stderr, "-bogus") {
			t.Fatalf("stderr does not name the flag: %q", r.stderr)
		}
	})
	t.Run("ErrUserSubcommand", func(t *testing.T) {
		runCmd(t, "", "user", "delete").mustCode(t, 2)
	})
	t.Run("ErrServeArgument", func(t *testing.T) {
		r := runCmd(t, "", "serve", "--data-dir", t.TempDir(), "extra").mustCode(t, 1)
		if !strings.Contains(r.stderr, "serve takes no arguments") {
			t.Fatalf("stderr = %q", r.stderr)
		}
	})
	t.Run("ErrServeBadSignup", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		r := runCmd(t, "", "serve", "--data-dir", dir, "--signup", "sometimes").mustCode(t, 1)
		if !strings.Contains(r.stderr, "--signup") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("invalid config still created the data directory (stat: %v)", err)
		}
	})
	t.Run("ErrServeBadSignupRateLimit", func(t *testing.T) {
		t.Setenv("KEYGATE_SIGNUP_RATE_LIMIT", "lots")
		r := runCmd(t, "", "serve", "--data-dir", filepath.Join(t.TempDir(), "data")).mustCode(t, 1)
		if !strings.Contains(r.stderr, "--signup-rate-limit") {
			t.Fatalf("stderr = %q", r.stderr)
		}
	})
	t.Run("ErrBadEnvServe", func(t *testing.T) {
		t.Setenv("KEYGATE_REQUEST_LOG_RETENTION", "forever")
		dir := filepath.Join(t.TempDir(), "data")
		r := runCmd(t, "", "serve", "--data-dir", dir).mustCode(t, 1)
		if !strings.Contains(r.stderr, "KEYGATE_REQUEST_LOG_RETENTION") {
			t.Fatalf("stderr does not name the variable: %q", r.stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("bad environment still created the data directory (stat: %v)", err)
		}
	})
	t.Run("ErrBadEnv", func(t *testing.T) {
		t.Setenv("KEYGATE_SUPERUSER", "perhaps")
		dir := t.TempDir()
		r := runCmd(t, testPassword+"\n", "user", "create", "--data-dir", dir, "--email", "a@example.com", "--name", "A", "--organization", "A").mustCode(t, 1)
		if !strings.Contains(r.stderr, "KEYGATE_SUPERUSER") {
			t.Fatalf("stderr does not name the variable: %q", r.stderr)
		}
	})
}

func TestRunMigrate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	dbPath := filepath.Join(dir, "keygate.db")
	for range 2 { // the second run finds nothing to do
		r := runCmd(t, "", "migrate", "--data-dir", dir).mustCode(t, 0)
		if got, want := r.stdout, "Database "+dbPath+" is up to date.\n"; got != want {
			t.Fatalf("stdout = %q, want %q", got, want)
		}
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("database mode = %v, want %v", got, want)
	}
	var applied int
	if err := mustOpenSQLite(t, dbPath).QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied == 0 {
		t.Fatal("no migrations recorded")
	}
	if n := len(userRoles(t, dbPath)); n != 0 {
		t.Fatalf("fresh database has %d users", n)
	}
}

var createdRE = regexp.MustCompile(`^Created (superuser|user) (\S+) \(usr_\w+\), Owner of (.+) \(org_\w+\)\.\n$`)

func TestRunUserCreate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		for _, tt := range []struct {
			email    string
			flags    []string
			wantRole string
		}{
			{"first@example.com", nil, "superuser"}, // the first user always is
			{"second@example.com", []string{"--superuser"}, "superuser"},
			{"third@example.com", nil, "user"},
		} {
			out := mustCreateUser(t, dir, tt.email, tt.flags...)
			m := createdRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("output %q does not match %s", out, createdRE)
			}
			if m[1] != tt.wantRole || m[2] != tt.email || m[3] != "Org of "+tt.email {
				t.Fatalf("output %q: role %q email %q org %q; want %q %q", out, m[1], m[2], m[3], tt.wantRole, tt.email)
			}
		}
		want := map[string]bool{"first@example.com": true, "second@example.com": true, "third@example.com": false}
		got := userRoles(t, filepath.Join(dir, "keygate.db"))
		if len(got) != len(want) {
			t.Fatalf("users = %v, want %v", got, want)
		}
		for email, super := range want {
			if s, ok := got[email]; !ok || s != super {
				t.Errorf("user %s: in db %v, superuser %v; want superuser %v", email, ok, s, super)
			}
		}
	})

	t.Run("OKPasswordLineCRLF", func(t *testing.T) {
		// Only the first line counts, without its line ending.
		dir := t.TempDir()
		runCmd(t, testPassword+"\r\nsecond line\n", "user", "create", "--data-dir", dir,
			"--email", "a@example.com", "--name", "A", "--organization", "A").mustCode(t, 0)
	})

	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantStderr []string
	}{
		{"ErrPasswordTooShort", "short\n", []string{"--email", "a@example.com", "--name", "A", "--organization", "A"},
			[]string{"--password (stdin)", "at least 12 characters"}},
		{"ErrPasswordCommon", "passwordpassword\n", []string{"--email", "a@example.com", "--name", "A", "--organization", "A"},
			[]string{"--password (stdin)"}},
		{"ErrPasswordMissing", "", []string{"--email", "a@example.com", "--name", "A", "--organization", "A"},
			[]string{"no password on standard input"}},
		{"ErrPasswordEmptyLine", "\nsecond\n", []string{"--email", "a@example.com", "--name", "A", "--organization", "A"},
			[]string{"no password on standard input"}},
		{"ErrFieldsRequired", testPassword + "\n", []string{"--organization", "A"},
			[]string{"--email: Email is required.", "--name: Name is required."}},
		{"ErrEmailInvalid", testPassword + "\n", []string{"--email", "not-an-email", "--name", "A", "--organization", "A"},
			[]string{"--email: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"user", "create", "--data-dir", dir}, tt.args...)
			r := runCmd(t, tt.stdin, args...).mustCode(t, 1)
			for _, s := range tt.wantStderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q lacks %q", r.stderr, s)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if path := filepath.Join(dir, "keygate.db"); fileExists(path) {
				if n := len(userRoles(t, path)); n != 0 {
					t.Errorf("%d users created", n)
				}
			}
		})
	}

	t.Run("ErrEmailTaken", func(t *testing.T) {
		dir := t.TempDir()
		mustCreateUser(t, dir, "a@example.com")
		r := runCmd(t, testPassword+"\n", "user", "create", "--data-dir", dir,
			"--email", "A@Example.com", "--name", "Other", "--organization", "Other").mustCode(t, 1)
		if !strings.Contains(r.stderr, "--email: An account with this email already exists") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		if n := len(userRoles(t, filepath.Join(dir, "keygate.db"))); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
	})
}

func TestRunBackup(t *testing.T) {
	dir := t.TempDir()
	mustCreateUser(t, dir, "ada@example.com")

	t.Run("OK", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "backup.db")
		r := runCmd(t, "", "backup", "--data-dir", dir, dest).mustCode(t, 0)
		if !strings.Contains(r.stdout, "Backed up") || !strings.Contains(r.stdout, dest) {
			t.Fatalf("stdout = %q", r.stdout)
		}
		fi, err := os.Stat(dest)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Errorf("backup mode = %v, want %v", got, want)
		}
		if got := userRoles(t, dest); len(got) != 1 || !got["ada@example.com"] {
			t.Fatalf("users in backup = %v", got)
		}
	})

	t.Run("ErrDestinationExists", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "backup.db")
		if err := os.WriteFile(dest, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCmd(t, "", "backup", "--data-dir", dir, dest).mustCode(t, 1)
		if !strings.Contains(r.stderr, "already exists") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		if b, _ := os.ReadFile(dest); string(b) != "precious" {
			t.Fatalf("existing file overwritten: %q", b)
		}
	})

	t.Run("ErrNoDatabase", func(t *testing.T) {
		// A mistyped --data-dir must not produce an empty "backup".
		tmp := t.TempDir()
		missing, dest := filepath.Join(tmp, "typo"), filepath.Join(tmp, "backup.db")
		r := runCmd(t, "", "backup", "--data-dir", missing, dest).mustCode(t, 1)
		if !strings.Contains(r.stderr, "--data-dir") {
			t.Errorf("stderr = %q", r.stderr)
		}
		for _, p := range []string{missing, dest} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failed backup (stat: %v)", p, err)
			}
		}
	})

	for name, args := range map[string][]string{
		"ErrNoFile":        {"backup", "--data-dir", dir},
		"ErrTwoFiles":      {"backup", "--data-dir", dir, filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")},
		"ErrFlagAfterFile": {"backup", filepath.Join(dir, "c.db"), "--data-dir", dir},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCmd(t, "", args...).mustCode(t, 2)
			if !strings.Contains(r.stderr, "keygate backup [flags] FILE") {
				t.Fatalf("stderr lacks usage: %q", r.stderr)
			}
			for _, f := range []string{"a.db", "b.db", "c.db"} {
				if fileExists(filepath.Join(dir, f)) {
					t.Errorf("%s written", f)
				}
			}
		})
	}
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
