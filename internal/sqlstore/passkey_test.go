package sqlstore_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// mustAddPasskey adds a passkey named name with credential id cred and
// the recovery codes "one" and "two" (kept only for a first factor).
func (f *twoFactorFixture) mustAddPasskey(tb testing.TB, name, cred string) (*keygate.Passkey, bool) {
	tb.Helper()
	p := &keygate.Passkey{Name: name, CredentialID: []byte(cred), PublicKey: []byte("cose-" + cred), SignCount: 1,
		Transports: []string{"internal", "hybrid"}, AAGUID: make([]byte, 16), Flags: 0x1d, AttestationType: "none"}
	first, err := f.svc.AddPasskey(f.ctx, p, [][]byte{codeHash("one"), codeHash("two")})
	if err != nil {
		tb.Fatalf("add passkey %s: %v", name, err)
	}
	return p, first
}

func (f *twoFactorFixture) recoveryCodes(tb testing.TB) int {
	tb.Helper()
	return countQuery(tb, f.db, `SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1`, f.user.ID)
}

func TestPasskeyService_Add(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustTwoFactor(t)
		p, first := f.mustAddPasskey(t, "  MacBook Touch ID ", "cred-1")
		if !first || f.recoveryCodes(t) != 2 {
			t.Fatalf("first = %v, codes = %d; want true, 2", first, f.recoveryCodes(t))
		}
		// A second passkey is not the first factor: the codes stay as
		// they are.
		if _, first := f.mustAddPasskey(t, "YubiKey", "cred-2"); first {
			t.Fatal("second passkey counted as first")
		}
		if _, err := f.svc.UseRecoveryCode(f.ctx, f.user.ID, codeHash("one")); err != nil {
			t.Fatal(err)
		}
		f.mustAddPasskey(t, "Phone", "cred-3")
		if got := f.recoveryCodes(t); got != 1 {
			t.Fatalf("codes = %d, want 1: a later passkey replaced them", got)
		}
		list, err := f.svc.Passkeys(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].Name != "MacBook Touch ID" || list[0].ID != p.ID {
			t.Fatalf("passkeys = %+v", list)
		}
		got := list[0]
		if string(got.CredentialID) != "cred-1" || string(got.PublicKey) != "cose-cred-1" || got.SignCount != 1 ||
			len(got.Transports) != 2 || got.Transports[1] != "hybrid" || got.Flags != 0x1d || got.AttestationType != "none" || got.LastUsedAt != nil {
			t.Fatalf("stored passkey = %+v", got)
		}
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditPasskeyAdded); n != 3 {
			t.Fatalf("passkey added events = %d, want 3", n)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		f := mustTwoFactor(t)
		f.mustAddPasskey(t, "One", "same")
		_, err := f.svc.AddPasskey(f.ctx, &keygate.Passkey{Name: "Two", CredentialID: []byte("same"), PublicKey: []byte("k")}, nil)
		assertError(t, err, keygate.ECONFLICT, "This passkey is registered already.")
	})
	t.Run("ErrNameRequired", func(t *testing.T) {
		f := mustTwoFactor(t)
		_, err := f.svc.AddPasskey(f.ctx, &keygate.Passkey{Name: "  ", CredentialID: []byte("c"), PublicKey: []byte("k")}, nil)
		if keygate.ErrorCode(err) != keygate.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
	t.Run("AfterApp", func(t *testing.T) {
		f := mustTwoFactor(t)
		f.mustEnable(t, "JBSWY3DPEHPK3PXP")
		if _, err := f.svc.UseRecoveryCode(f.ctx, f.user.ID, codeHash("one")); err != nil {
			t.Fatal(err)
		}
		if _, first := f.mustAddPasskey(t, "Laptop", "cred-1"); first {
			t.Fatal("a passkey after the app counted as the first factor")
		}
		if got := f.recoveryCodes(t); got != 1 {
			t.Fatalf("codes = %d, want the app's 1 left", got)
		}
	})
}

func TestPasskeyService_Remove(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustTwoFactor(t)
		a, _ := f.mustAddPasskey(t, "A", "cred-a")
		b, _ := f.mustAddPasskey(t, "B", "cred-b")
		if err := f.svc.RemovePasskey(f.ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.recoveryCodes(t); got != 2 {
			t.Fatalf("codes = %d after removing one of two passkeys, want 2", got)
		}
		if err := f.svc.RemovePasskey(f.ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.recoveryCodes(t); got != 0 {
			t.Fatalf("codes = %d after removing the last factor, want 0", got)
		}
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditPasskeyRemoved); n != 2 {
			t.Fatalf("passkey removed events = %d, want 2", n)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := mustTwoFactor(t)
		p, _ := f.mustAddPasskey(t, "Mine", "cred-mine")
		bob, _ := mustSignup(t, f.users, "Bob", "bob@example.com", "Bobco")
		// Someone else's passkey is not found, and stays.
		assertError(t, f.svc.RemovePasskey(userCtx(bob), p.ID), keygate.ENOTFOUND, "Passkey not found.")
		if list, _ := f.svc.Passkeys(f.ctx); len(list) != 1 {
			t.Fatalf("passkeys = %d, want 1", len(list))
		}
	})
	t.Run("AppRemains", func(t *testing.T) {
		f := mustTwoFactor(t)
		f.mustEnable(t, "JBSWY3DPEHPK3PXP")
		p, _ := f.mustAddPasskey(t, "A", "cred-a")
		if err := f.svc.RemovePasskey(f.ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.recoveryCodes(t); got != 2 {
			t.Fatalf("codes = %d with the app still on, want 2", got)
		}
	})
}

func TestPasskeyService_DisableAppKeepsCodes(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t)
	f.mustEnable(t, "JBSWY3DPEHPK3PXP")
	f.mustAddPasskey(t, "A", "cred-a")
	if err := f.svc.DisableTOTP(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.recoveryCodes(t); got != 2 {
		t.Fatalf("codes = %d after turning off the app with a passkey left, want 2", got)
	}
	// Regenerating works with a passkey alone.
	if err := f.svc.ReplaceRecoveryCodes(f.ctx, [][]byte{codeHash("three")}); err != nil {
		t.Fatal(err)
	}
	if got := f.recoveryCodes(t); got != 1 {
		t.Fatalf("codes = %d after regenerating, want 1", got)
	}
}

func TestPasskeyService_FindAndUse(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t)
	p, _ := f.mustAddPasskey(t, "A", "cred-a")
	t.Run("OK", func(t *testing.T) {
		got, err := f.svc.FindPasskey(f.ctx, []byte("cred-a"))
		if err != nil || got.ID != p.ID || got.UserID != f.user.ID {
			t.Fatalf("find = %+v, %v", got, err)
		}
		logins := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditLogin)
		if err := f.svc.UsePasskey(f.ctx, p.ID, 7, false); err != nil {
			t.Fatal(err)
		}
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditLogin); n != logins {
			t.Fatalf("a second step recorded a login: %d, want %d", n, logins)
		}
		if err := f.svc.UsePasskey(f.ctx, p.ID, 8, true); err != nil {
			t.Fatal(err)
		}
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditLogin); n != logins+1 {
			t.Fatalf("login events = %d, want %d", n, logins+1)
		}
		list, err := f.svc.UserPasskeys(f.ctx, f.user.ID)
		if err != nil || len(list) != 1 || list[0].SignCount != 8 || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(accountTestStart.Truncate(time.Millisecond)) {
			t.Fatalf("after use = %+v, %v", list[0], err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := f.svc.FindPasskey(f.ctx, []byte("nope"))
		assertError(t, err, keygate.ENOTFOUND, "Passkey not found.")
		assertError(t, f.svc.UsePasskey(f.ctx, 999, 1, false), keygate.ENOTFOUND, "Passkey not found.")
	})
}

func TestPasskeyService_ResetRemovesPasskeys(t *testing.T) {
	t.Parallel()
	f := mustTwoFactor(t) // Ada, the first user, is the superuser
	bob, _ := mustSignup(t, f.users, "Bob", "bob@example.com", "Bobco")
	bobF := &twoFactorFixture{db: f.db, svc: f.svc, user: bob, ctx: userCtx(bob)}
	bobF.mustAddPasskey(t, "Bob's key", "cred-bob")
	on, err := f.svc.TwoFactorUsers(f.ctx)
	if err != nil || !on[bob.ID] {
		t.Fatalf("TwoFactorUsers = %v, %v: a passkey is two-step verification", on, err)
	}
	if _, err := f.svc.ResetTwoFactor(f.ctx, bob.PublicID); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.svc.UserPasskeys(f.ctx, bob.ID); len(list) != 0 {
		t.Fatalf("passkeys after reset = %d", len(list))
	}
	if got := bobF.recoveryCodes(t); got != 0 {
		t.Fatalf("codes after reset = %d", got)
	}
}
