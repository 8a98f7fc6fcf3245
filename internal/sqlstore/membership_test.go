package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestMembershipService_Invite(t *testing.T) {
	t.Parallel()
	db, clock := mustOpenDB(t)
	users := sqlstore.NewUserService(db, testHasher)
	members := sqlstore.NewMembershipService(db)
	ada, org := mustSignup(t, users, "Ada Lovelace", "ada@example.com", "Analytical Engines")
	asAda := keygate.NewContextWithUser(context.Background(), ada)
	asKey := keygate.NewContextWithKey(context.Background(), &keygate.KeyActor{KeyID: 1, PublicID: "key_ci", Name: "CI",
		OrganizationID: org.ID, OrgPublicID: org.PublicID, Scopes: keygate.NewScopes(keygate.ScopeAdmin)})

	first, _, err := members.Invite(asKey, org.PublicID, "grace@example.com", keygate.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ErrPending", func(t *testing.T) {
		for _, email := range []string{"grace@example.com", "Grace@Example.com"} {
			_, _, err := members.Invite(asAda, org.PublicID, email, keygate.RoleMember)
			const msg = "grace@example.com already has a pending invitation as Admin. Resend it, or revoke it first."
			assertError(t, err, keygate.ECONFLICT, msg)
			if !errors.Is(err, keygate.ErrInvitationPending) {
				t.Fatalf("%v is not ErrInvitationPending", err)
			}
			if got := keygate.ErrorFields(err)["email"]; got != msg {
				t.Fatalf("email field = %q", got)
			}
		}
		invs, err := members.FindInvitations(asAda, org.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if len(invs) != 1 || invs[0].PublicID != first.PublicID || invs[0].Role != keygate.RoleAdmin {
			t.Fatalf("pending invitations = %+v", invs)
		}
	})

	t.Run("InvitedByKey", func(t *testing.T) {
		if _, _, err := members.ResendInvitation(asAda, org.PublicID, first.PublicID); err != nil {
			t.Fatal(err)
		}
		invs, _ := members.FindInvitations(asAda, org.PublicID)
		if len(invs) != 1 || invs[0].InvitedByName != "API key “CI” (key_ci)" {
			t.Fatalf("invited by %q, want the key", invs[0].InvitedByName)
		}
	})

	t.Run("OKOnceExpired", func(t *testing.T) {
		clock.Advance(keygate.InvitationTTL + time.Second)
		inv, _, err := members.Invite(asAda, org.PublicID, "grace@example.com", keygate.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		if inv.InvitedByName != "Ada Lovelace" {
			t.Fatalf("invited by %q", inv.InvitedByName)
		}
	})
}
