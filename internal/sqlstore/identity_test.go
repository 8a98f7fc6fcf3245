package sqlstore_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
)

func mustIdentityServices(tb testing.TB) (*sqlstore.DB, *sqlstore.UserService, *sqlstore.IdentityService) {
	tb.Helper()
	db, _ := mustOpenDB(tb)
	users := sqlstore.NewUserService(db, password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0))
	return db, users, sqlstore.NewIdentityService(db, users)
}

func ext(sub, email string, trusted bool) *keygate.ExternalIdentity {
	return &keygate.ExternalIdentity{Provider: "oidc", Issuer: "https://idp.example.com", Subject: sub, Email: email, Name: "Ada Lovelace", EmailTrusted: trusted}
}

func TestIdentityService_LoginWithIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("OKSignsUpThenLogsIn", func(t *testing.T) {
		db, _, ids := mustIdentityServices(t)
		user, outcome, err := ids.LoginWithIdentity(ctx, ext("s1", "Ada@Example.com", false))
		if err != nil || outcome != keygate.SSOSignedUp {
			t.Fatalf("LoginWithIdentity = %v, %v", outcome, err)
		}
		if user.Email != "ada@example.com" || user.HasPassword || !user.IsSuperuser {
			t.Fatalf("user = %+v", user)
		}
		if got := countQuery(t, db, `SELECT COUNT(*) FROM organizations WHERE name = $1`, "Ada Lovelace's organization"); got != 1 {
			t.Fatalf("organizations = %d", got)
		}
		again, outcome, err := ids.LoginWithIdentity(ctx, ext("s1", "changed@example.com", false))
		if err != nil || outcome != keygate.SSOLoggedIn || again.ID != user.ID {
			t.Fatalf("second login = %+v, %v, %v", again, outcome, err)
		}
	})
	t.Run("ErrUntrustedEmailOfExistingAccount", func(t *testing.T) {
		db, users, ids := mustIdentityServices(t)
		mustSignup(t, users, "Ada", "ada@example.com", "Engines")
		_, _, err := ids.LoginWithIdentity(ctx, ext("s1", "ada@example.com", false))
		if got, want := keygate.ErrorCode(err), keygate.ECONFLICT; got != want {
			t.Fatalf("code = %q, want %q (%v)", got, want, err)
		}
		if got := countQuery(t, db, `SELECT COUNT(*) FROM identities`); got != 0 {
			t.Fatalf("identities = %d", got)
		}
	})
	t.Run("OKTrustedEmailLinks", func(t *testing.T) {
		_, users, ids := mustIdentityServices(t)
		ada, _ := mustSignup(t, users, "Ada", "ada@example.com", "Engines")
		user, outcome, err := ids.LoginWithIdentity(ctx, ext("s1", "ada@example.com", true))
		if err != nil || outcome != keygate.SSOLinked || user.ID != ada.ID {
			t.Fatalf("LoginWithIdentity = %+v, %v, %v", user, outcome, err)
		}
	})
	t.Run("ErrNoEmail", func(t *testing.T) {
		_, _, ids := mustIdentityServices(t)
		if _, _, err := ids.LoginWithIdentity(ctx, ext("s1", "", true)); keygate.ErrorCode(err) != keygate.EINVALID {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrSignupClosed", func(t *testing.T) {
		_, users, ids := mustIdentityServices(t)
		users.SignupMode = keygate.SignupClosed
		mustSignup(t, users, "First", "first@example.com", "First")
		if _, _, err := ids.LoginWithIdentity(ctx, ext("s1", "new@example.com", true)); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestIdentityService_LinkAndUnlink(t *testing.T) {
	t.Parallel()
	t.Run("ErrLinkedToAnotherUser", func(t *testing.T) {
		_, users, ids := mustIdentityServices(t)
		ada, _ := mustSignup(t, users, "Ada", "ada@example.com", "Engines")
		bob, _ := mustSignup(t, users, "Bob", "bob@example.com", "Bobs")
		if _, err := ids.LinkIdentity(userCtx(ada), ext("s1", "x@example.com", false)); err != nil {
			t.Fatal(err)
		}
		if _, err := ids.LinkIdentity(userCtx(bob), ext("s1", "x@example.com", false)); keygate.ErrorCode(err) != keygate.ECONFLICT {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrUnlinkLastWayIn", func(t *testing.T) {
		_, _, ids := mustIdentityServices(t)
		user, _, err := ids.LoginWithIdentity(context.Background(), ext("s1", "ada@example.com", false))
		if err != nil {
			t.Fatal(err)
		}
		list, err := ids.FindIdentities(userCtx(user))
		if err != nil || len(list) != 1 {
			t.Fatalf("FindIdentities = %v, %v", list, err)
		}
		if err := ids.UnlinkIdentity(userCtx(user), list[0].PublicID); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
			t.Fatalf("err = %v", err)
		}
		// With a second identity, the first may go.
		if _, err := ids.LinkIdentity(userCtx(user), ext("s2", "ada@example.com", false)); err != nil {
			t.Fatal(err)
		}
		if err := ids.UnlinkIdentity(userCtx(user), list[0].PublicID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrUnlinkAnotherUsersIdentity", func(t *testing.T) {
		_, users, ids := mustIdentityServices(t)
		ada, _ := mustSignup(t, users, "Ada", "ada@example.com", "Engines")
		bob, _ := mustSignup(t, users, "Bob", "bob@example.com", "Bobs")
		id, err := ids.LinkIdentity(userCtx(ada), ext("s1", "x@example.com", false))
		if err != nil {
			t.Fatal(err)
		}
		if err := ids.UnlinkIdentity(userCtx(bob), id.PublicID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrDisabledUser", func(t *testing.T) {
		db, _, ids := mustIdentityServices(t)
		user, _, err := ids.LoginWithIdentity(context.Background(), ext("s1", "ada@example.com", false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.WriteConn().Exec(`UPDATE users SET disabled_at = 1 WHERE id = $1`, user.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ids.LoginWithIdentity(context.Background(), ext("s1", "ada@example.com", false)); keygate.ErrorCode(err) != keygate.EUNAUTHORIZED {
			t.Fatalf("err = %v", err)
		}
	})
}
