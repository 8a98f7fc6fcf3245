package sqlstore_test

import (
	"context"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestPasswordReset(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*sqlstore.DB, *botClock, *sqlstore.UserService, *sqlstore.PasswordResetService, *keygate.User) {
		db, clock := mustOpenDB(t)
		users := sqlstore.NewUserService(db, testHasher)
		user, _ := mustSignup(t, users, "Ada", "ada@example.com", "Org A")
		return db, clock, users, sqlstore.NewPasswordResetService(db, testHasher), user
	}

	t.Run("OK", func(t *testing.T) {
		db, _, users, resets, user := setup(t)
		sessions := sqlstore.NewSessionService(db)
		if err := sessions.CreateSession(ctx, &keygate.Session{UserID: user.ID}, []byte("old-session-token-hash")); err != nil {
			t.Fatal(err)
		}
		reset, err := resets.RequestPasswordReset(ctx, " ADA@example.com ")
		if err != nil {
			t.Fatal(err)
		}
		if raw, err := base64.RawURLEncoding.DecodeString(reset.Token); err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 bytes of base64url", reset.Token)
		}
		var stored int
		if err := db.WriteConn().QueryRow(`SELECT COUNT(*) FROM password_resets WHERE token_hash = $1`, []byte(reset.Token)).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("token stored in the clear (%d, %v)", stored, err)
		}
		other, err := resets.RequestPasswordReset(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := resets.FindPasswordReset(ctx, reset.Token); err != nil || got.ID != user.ID {
			t.Fatalf("find = %v, %v", got, err)
		}
		if _, err := resets.ResetPassword(ctx, reset.Token, "a brand new passphrase"); err != nil {
			t.Fatal(err)
		}
		if _, err := users.Authenticate(ctx, "ada@example.com", "a brand new passphrase"); err != nil {
			t.Fatalf("new password refused: %v", err)
		}
		if got := countRows(t, db, "sessions"); got != 0 {
			t.Fatalf("sessions = %d, want 0", got)
		}
		_, err = resets.ResetPassword(ctx, reset.Token, "yet another passphrase")
		assertError(t, err, keygate.ENOTFOUND, "This link has expired or was already used. Ask for a new one.")
		_, err = resets.FindPasswordReset(ctx, other.Token)
		assertError(t, err, keygate.ENOTFOUND, "This link has expired or was already used. Ask for a new one.")
		var n int
		if err := db.WriteConn().QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditPasswordReset).Scan(&n); err != nil || n == 0 {
			t.Fatalf("audit events = %d, %v", n, err)
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		_, clock, _, resets, _ := setup(t)
		reset, err := resets.RequestPasswordReset(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		_, err = resets.ResetPassword(ctx, reset.Token, "a brand new passphrase")
		assertError(t, err, keygate.ENOTFOUND, "This link has expired or was already used. Ask for a new one.")
	})

	t.Run("ErrNewPasswordWeak", func(t *testing.T) {
		_, _, _, resets, _ := setup(t)
		reset, _ := resets.RequestPasswordReset(ctx, "ada@example.com")
		_, err := resets.ResetPassword(ctx, reset.Token, "short")
		if keygate.ErrorCode(err) != keygate.EINVALID || keygate.ErrorFields(err)["new_password"] == "" {
			t.Fatalf("err = %v", err)
		}
		if _, err := resets.FindPasswordReset(ctx, reset.Token); err != nil {
			t.Fatalf("a refused password used up the link: %v", err)
		}
	})

	t.Run("OnceUnderConcurrency", func(t *testing.T) {
		_, _, _, resets, _ := setup(t)
		reset, _ := resets.RequestPasswordReset(ctx, "ada@example.com")
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = resets.ResetPassword(ctx, reset.Token, "a brand new passphrase") })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if keygate.ErrorCode(err) != keygate.ENOTFOUND {
				t.Fatalf("err = %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d resets succeeded, want 1", ok)
		}
	})

	t.Run("ErrUnknownEmail", func(t *testing.T) {
		db, _, _, resets, _ := setup(t)
		_, err := resets.RequestPasswordReset(ctx, "nobody@example.com")
		assertError(t, err, keygate.ENOTFOUND, "No account has the email nobody@example.com.")
		if got := countRows(t, db, "password_resets"); got != 0 {
			t.Fatalf("password_resets = %d", got)
		}
	})

	t.Run("ErrNoPassword", func(t *testing.T) {
		db, _, _, resets, user := setup(t)
		if _, err := db.WriteConn().Exec(`UPDATE users SET password_hash = NULL WHERE id = $1`, user.ID); err != nil {
			t.Fatal(err)
		}
		reset, err := resets.RequestPasswordReset(ctx, "ada@example.com")
		if keygate.ErrorCode(err) != keygate.EFORBIDDEN || reset == nil || reset.User.Email != "ada@example.com" || reset.Token != "" {
			t.Fatalf("reset = %+v, err = %v", reset, err)
		}
	})

	t.Run("AdminLink", func(t *testing.T) {
		db, _, users, resets, admin := setup(t)
		bob, _ := mustSignup(t, users, "Bob", "bob@example.com", "Org B")
		_, err := resets.MakePasswordResetLink(keygate.NewContextWithUser(ctx, bob), admin.PublicID)
		if code := keygate.ErrorCode(err); code == "" {
			t.Fatal("a non-superuser made a link")
		}
		reset, err := resets.MakePasswordResetLink(keygate.NewContextWithUser(ctx, admin), bob.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := resets.FindPasswordReset(ctx, reset.Token); err != nil || got.ID != bob.ID {
			t.Fatalf("find = %v, %v", got, err)
		}
		var actor string
		if err := db.WriteConn().QueryRow(`SELECT actor_name FROM audit_events WHERE action = $1 LIMIT 1`, keygate.AuditPasswordResetLink).Scan(&actor); err != nil || actor != "Ada" {
			t.Fatalf("audit actor = %q, %v", actor, err)
		}
		cli, err := resets.MakePasswordResetLinkByEmail(ctx, "BOB@example.com")
		if err != nil || cli.User.ID != bob.ID {
			t.Fatalf("cli = %+v, %v", cli, err)
		}
		_, err = resets.MakePasswordResetLinkByEmail(ctx, "nobody@example.com")
		assertError(t, err, keygate.ENOTFOUND, "No account has the email nobody@example.com.")
	})
}
