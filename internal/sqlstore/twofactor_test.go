package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// twoFactorFixture is a user with a fresh two-factor service.
type twoFactorFixture struct {
	db    *sqlstore.DB
	svc   *sqlstore.TwoFactorService
	users *sqlstore.UserService
	user  *keygate.User
	ctx   context.Context
	box   *secretbox.Box
}

func mustTwoFactor(tb testing.TB) *twoFactorFixture {
	tb.Helper()
	db, _ := mustOpenDB(tb)
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	users := sqlstore.NewUserService(db, testHasher)
	user, _ := mustSignup(tb, users, "Ada", "ada@example.com", "Acme")
	return &twoFactorFixture{db: db, svc: sqlstore.NewTwoFactorService(db, box, testHasher), users: users, user: user, ctx: userCtx(user), box: box}
}

func codeHash(code string) []byte {
	sum := sha256.Sum256([]byte(code))
	return sum[:]
}

// mustEnable enables an authenticator with secret and two recovery codes,
// "one" and "two", at step 100.
func (f *twoFactorFixture) mustEnable(tb testing.TB, secret string) {
	tb.Helper()
	if err := f.svc.BeginTOTP(f.ctx, secret); err != nil {
		tb.Fatal(err)
	}
	if err := f.svc.EnableTOTP(f.ctx, 100, [][]byte{codeHash("one"), codeHash("two")}); err != nil {
		tb.Fatal(err)
	}
}

func TestTwoFactorService_Enroll(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustTwoFactor(t)
		if err := f.svc.BeginTOTP(f.ctx, "FIRSTSECRET"); err != nil {
			t.Fatal(err)
		}
		// A second "Set up" replaces the pending secret.
		if err := f.svc.BeginTOTP(f.ctx, "JBSWY3DPEHPK3PXP"); err != nil {
			t.Fatal(err)
		}
		if got, err := f.svc.PendingTOTP(f.ctx); err != nil || got != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("pending = %q, %v", got, err)
		}
		if _, err := f.svc.FindTOTP(f.ctx, f.user.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("pending secret found as enabled: %v", err)
		}
		if err := f.svc.EnableTOTP(f.ctx, 100, [][]byte{codeHash("one"), codeHash("two")}); err != nil {
			t.Fatal(err)
		}
		st, err := f.svc.TwoFactorStatus(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Enabled || st.Pending || st.RecoveryCodesLeft != 2 {
			t.Fatalf("status = %+v", st)
		}
		got, err := f.svc.FindTOTP(f.ctx, f.user.ID)
		if err != nil || got.Secret != "JBSWY3DPEHPK3PXP" || got.LastStep != 100 {
			t.Fatalf("FindTOTP = %+v, %v", got, err)
		}
		// One event, in the audit log of Ada's one organization.
		if got, want := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditTwoFactorEnabled), 1; got != want {
			t.Fatalf("enabled events = %d, want %d", got, want)
		}
	})
	t.Run("SecretSealed", func(t *testing.T) {
		f := mustTwoFactor(t)
		f.mustEnable(t, "JBSWY3DPEHPK3PXP")
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM user_totp WHERE secret = $1`, []byte("JBSWY3DPEHPK3PXP")); n != 0 {
			t.Fatal("the secret is stored in clear")
		}
	})
	t.Run("ErrAlreadyOn", func(t *testing.T) {
		f := mustTwoFactor(t)
		f.mustEnable(t, "JBSWY3DPEHPK3PXP")
		if err := f.svc.BeginTOTP(f.ctx, "OTHER"); keygate.ErrorCode(err) != keygate.ECONFLICT {
			t.Fatalf("err = %v, want ECONFLICT", err)
		}
	})
	t.Run("ErrNothingPending", func(t *testing.T) {
		f := mustTwoFactor(t)
		if err := f.svc.EnableTOTP(f.ctx, 1, nil); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("err = %v, want ENOTFOUND", err)
		}
	})
}

func TestTwoFactorService_UseTOTPStep(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t)
	f.mustEnable(t, "JBSWY3DPEHPK3PXP")
	if err := f.svc.UseTOTPStep(context.Background(), f.user.ID, 101); err != nil {
		t.Fatalf("next step: %v", err)
	}
	for _, step := range []int64{101, 100} {
		if err := f.svc.UseTOTPStep(context.Background(), f.user.ID, step); keygate.ErrorCode(err) != keygate.ECONFLICT {
			t.Fatalf("step %d again: err = %v, want ECONFLICT", step, err)
		}
	}
}

func TestTwoFactorService_RecoveryCodes(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t)
	f.mustEnable(t, "JBSWY3DPEHPK3PXP")
	ctx := context.Background()
	left, err := f.svc.UseRecoveryCode(ctx, f.user.ID, codeHash("one"))
	if err != nil || left != 1 {
		t.Fatalf("first use = %d, %v", left, err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.user.ID, codeHash("one")); keygate.ErrorCode(err) != keygate.EUNAUTHORIZED {
		t.Fatalf("second use: err = %v, want EUNAUTHORIZED", err)
	}
	if err := f.svc.ReplaceRecoveryCodes(f.ctx, [][]byte{codeHash("three")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UseRecoveryCode(ctx, f.user.ID, codeHash("two")); keygate.ErrorCode(err) != keygate.EUNAUTHORIZED {
		t.Fatalf("replaced code: err = %v, want EUNAUTHORIZED", err)
	}
	if left, err := f.svc.UseRecoveryCode(ctx, f.user.ID, codeHash("three")); err != nil || left != 0 {
		t.Fatalf("new code = %d, %v", left, err)
	}
}

func TestTwoFactorService_Disable(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t)
	f.mustEnable(t, "JBSWY3DPEHPK3PXP")
	if ok, err := f.svc.CheckPassword(f.ctx, "wrong password"); err != nil || ok {
		t.Fatalf("wrong password = %v, %v", ok, err)
	}
	if ok, err := f.svc.CheckPassword(f.ctx, testPassword); err != nil || !ok {
		t.Fatalf("right password = %v, %v", ok, err)
	}
	if err := f.svc.DisableTOTP(f.ctx); err != nil {
		t.Fatal(err)
	}
	st, err := f.svc.TwoFactorStatus(f.ctx)
	if err != nil || st.Enabled || st.Pending || st.RecoveryCodesLeft != 0 {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

func TestTwoFactorService_ResetTwoFactor(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t) // Ada, the first user, is the superuser
	bob, _ := mustSignup(t, f.users, "Bob", "bob@example.com", "Bobco")
	bobSvc := &twoFactorFixture{db: f.db, svc: f.svc, user: bob, ctx: userCtx(bob)}
	bobSvc.mustEnable(t, "JBSWY3DPEHPK3PXP")
	t.Run("ErrForbidden", func(t *testing.T) {
		if _, err := f.svc.ResetTwoFactor(bobSvc.ctx, bob.PublicID); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
			t.Fatalf("err = %v, want EFORBIDDEN", err)
		}
		if _, err := f.svc.TwoFactorUsers(bobSvc.ctx); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
			t.Fatalf("err = %v, want EFORBIDDEN", err)
		}
	})
	t.Run("OK", func(t *testing.T) {
		on, err := f.svc.TwoFactorUsers(f.ctx)
		if err != nil || !on[bob.ID] || on[f.user.ID] {
			t.Fatalf("TwoFactorUsers = %v, %v", on, err)
		}
		if _, err := f.svc.ResetTwoFactor(f.ctx, bob.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.FindTOTP(f.ctx, bob.ID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("after reset: %v", err)
		}
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1`, bob.ID); n != 0 {
			t.Fatalf("recovery codes left = %d", n)
		}
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditTwoFactorResetByAdmin); n == 0 {
			t.Fatal("no audit event")
		}
	})
}

func TestTwoFactorService_RotateSecretKey(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t)
	f.mustEnable(t, "JBSWY3DPEHPK3PXP")
	next, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.NewIntegrationService(f.db, f.box).RotateSecretKey(context.Background(), f.box, next); err != nil {
		t.Fatal(err)
	}
	got, err := sqlstore.NewTwoFactorService(f.db, next, testHasher).FindTOTP(context.Background(), f.user.ID)
	if err != nil || got.Secret != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("after rotation = %+v, %v", got, err)
	}
}
