package sqlstore_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestMembershipService_FindMemberAPIKeys(t *testing.T) {
	t.Parallel()
	db, _ := mustOpenDB(t)
	users, orgs := sqlstore.NewUserService(db, testHasher), sqlstore.NewOrganizationService(db)
	members, keys := sqlstore.NewMembershipService(db), sqlstore.NewAPIKeyService(db)
	ada, org := mustSignup(t, users, "Ada", "ada@example.com", "Acme")
	al, _ := mustSignup(t, users, "Al", "al@example.com", "Al's org")
	mia, _ := mustSignup(t, users, "Mia", "mia@example.com", "Mia's org")
	mustAddMember(t, orgs, org, al, keygate.RoleAdmin)
	mustAddMember(t, orgs, org, mia, keygate.RoleMember)
	asAda, asAl := keygate.NewContextWithUser(context.Background(), ada), keygate.NewContextWithUser(context.Background(), al)

	// 150 keys of Al's, more than any page holds, then 150 made by his
	// first key, one revoked key of his and one of Ada's.
	mustInsertKeys(t, db, org.ID, al.ID, 300, 0)
	revoked, _, err := keys.CreateAPIKey(asAl, org.PublicID, &keygate.APIKeyCreate{Name: "revoked", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.RevokeAPIKey(asAda, org.PublicID, revoked.PublicID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.CreateAPIKey(asAda, org.PublicID, &keygate.APIKeyCreate{Name: "Ada's", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}}); err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		got, err := members.FindMemberAPIKeys(asAda, org.PublicID, al.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(got), 150; got != want {
			t.Fatalf("keys = %d, want %d", got, want)
		}
		for _, k := range got {
			if k.CreatedByID != al.ID || k.RevokedAt != nil {
				t.Fatalf("key %s (created by %d, revoked %v) listed", k.Name, k.CreatedByID, k.RevokedAt)
			}
		}
	})
	t.Run("ErrNotMember", func(t *testing.T) {
		_, err := members.FindMemberAPIKeys(asAda, org.PublicID, "usr_nobody")
		assertError(t, err, keygate.ENOTFOUND, "Member not found.")
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		_, err := members.FindMemberAPIKeys(keygate.NewContextWithUser(context.Background(), mia), org.PublicID, al.PublicID)
		assertError(t, err, keygate.EFORBIDDEN, "You need the Admin role to manage members")
	})
	t.Run("RemoveRevokesAll", func(t *testing.T) {
		n, err := members.RemoveMember(asAda, org.PublicID, al.PublicID, true)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := n, 150; got != want {
			t.Fatalf("revoked = %d, want %d", got, want)
		}
		if got, want := countQuery(t, db, `SELECT COUNT(*) FROM api_keys WHERE created_by = $1 AND revoked_at IS NULL`, al.ID), 0; got != want {
			t.Fatalf("active keys of Al's = %d, want %d", got, want)
		}
	})
}
