package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/sqlstore"
)

func TestRunUserResetPassword(t *testing.T) {
	dir := t.TempDir()
	mustCreateUser(t, dir, "ada@example.com")

	t.Run("OK", func(t *testing.T) {
		r := runCmd(t, "", "user", "reset-password", "--data-dir", dir, "--email", "Ada@Example.com", "--base-url", "https://keys.example.com/").mustCode(t, 0)
		m := regexp.MustCompile(`^https://keys\.example\.com/password/reset/([A-Za-z0-9_-]{43})\n$`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("stdout = %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "ada@example.com") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		db := sqlstore.NewDB(sqlitePath(&Config{DataDir: dir}))
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		user, err := sqlstore.NewPasswordResetService(db, nil).FindPasswordReset(context.Background(), m[1])
		if err != nil || user.Email != "ada@example.com" {
			t.Fatalf("the printed link does not work: %v, %v", user, err)
		}
	})

	t.Run("ErrUnknownEmail", func(t *testing.T) {
		r := runCmd(t, "", "user", "reset-password", "--data-dir", dir, "--email", "nobody@example.com", "--base-url", "https://keys.example.com").mustCode(t, 1)
		if r.stdout != "" || !strings.Contains(r.stderr, "No account has the email nobody@example.com.") {
			t.Fatalf("stdout = %q, stderr = %q", r.stdout, r.stderr)
		}
	})

	t.Run("ErrBaseURLRequired", func(t *testing.T) {
		r := runCmd(t, "", "user", "reset-password", "--data-dir", dir, "--email", "ada@example.com").mustCode(t, 1)
		if r.stdout != "" || !strings.Contains(r.stderr, "--base-url") {
			t.Fatalf("stdout = %q, stderr = %q", r.stdout, r.stderr)
		}
	})
}
