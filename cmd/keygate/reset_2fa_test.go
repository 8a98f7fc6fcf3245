package main

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestRunUserReset2FA(t *testing.T) {
	dir := t.TempDir()
	mustCreateUser(t, dir, "ada@example.com")
	db := sqlstore.NewDB(sqlitePath(&Config{DataDir: dir}))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	ada, err := sqlstore.NewUserService(db, nil).FindUserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Ada has an authenticator app, recovery codes and a session.
	for _, q := range []string{
		`INSERT INTO user_totp (user_id, secret, enabled_at, created_at) VALUES (?, X'00', 1, 1)`,
		`INSERT INTO user_recovery_codes (user_id, code_hash) VALUES (?, X'01')`,
	} {
		if _, err := db.WriteConn().ExecContext(ctx, q, ada.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := sqlstore.NewSessionService(db).CreateSession(ctx, &keygate.Session{UserID: ada.ID}, []byte("token-hash")); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		var n int
		if err := db.ReadConn().QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE user_id = ?`, ada.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	r := runCmd(t, "", "user", "reset-2fa", "--data-dir", dir, "--email", "Ada@Example.com").mustCode(t, 0)
	if !strings.Contains(r.stdout, "Two-step verification is off for ada@example.com") {
		t.Fatalf("stdout = %q", r.stdout)
	}
	for _, table := range []string{"user_totp", "user_recovery_codes", "user_passkeys", "sessions"} {
		if n := count(table); n != 0 {
			t.Fatalf("%s rows left: %d", table, n)
		}
	}
	var audited int
	if err := db.ReadConn().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE action = ?`, keygate.AuditTwoFactorResetByAdmin).Scan(&audited); err != nil || audited == 0 {
		t.Fatalf("no audit event: %d, %v", audited, err)
	}

	r = runCmd(t, "", "user", "reset-2fa", "--data-dir", dir, "--email", "nobody@example.com").mustCode(t, 1)
	if !strings.Contains(r.stderr, "No account has the email nobody@example.com.") {
		t.Fatalf("stderr = %q", r.stderr)
	}
}
