package sqlstore_test

import (
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// twoFactorTOTP returns the fixture database's two-factor service: one
// secret key per database.
func (f *orgFixture) twoFactorTOTP(tb testing.TB) *sqlstore.TwoFactorService {
	tb.Helper()
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return sqlstore.NewTwoFactorService(f.db, box, testHasher)
}

// mustEnableTOTP gives user an authenticator app, enabled or only pending
// (which must not count).
func mustEnableTOTP(tb testing.TB, svc *sqlstore.TwoFactorService, user *keygate.User, enable bool) {
	tb.Helper()
	if err := svc.BeginTOTP(userCtx(user), "JBSWY3DPEHPK3PXP"); err != nil {
		tb.Fatal(err)
	}
	if enable {
		if err := svc.EnableTOTP(userCtx(user), 100, [][]byte{codeHash("one")}); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestOrganizationService_SetRequireTwoFactor(t *testing.T) {
	t.Parallel()
	t.Run("ErrOwnerWithoutFactor", func(t *testing.T) {
		f := mustOrgFixture(t)
		mustEnableTOTP(t, f.twoFactorTOTP(t), f.owner, false) // pending only
		_, err := f.orgs.SetRequireTwoFactor(f.ctx(asOwner), f.org.PublicID, true)
		assertError(t, err, keygate.EINVALID, keygate.MsgOwnerNeedsTwoFactor)
		assertFields(t, err, map[string]string{"require_two_factor": keygate.MsgOwnerNeedsTwoFactor})
		org, err := f.orgs.FindOrganizationByID(f.ctx(asOwner), f.org.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if org.RequireTwoFactor || org.ActorHasTwoFactor {
			t.Fatalf("require = %v, owner has factor = %v", org.RequireTwoFactor, org.ActorHasTwoFactor)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		f := mustOrgFixture(t)
		mustEnableTOTP(t, f.twoFactorTOTP(t), f.admin, true)
		_, err := f.orgs.SetRequireTwoFactor(f.ctx(asAdmin), f.org.PublicID, true)
		assertError(t, err, keygate.EFORBIDDEN, "Only an Owner can require two-factor authentication.")
		_, err = f.orgs.SetRequireTwoFactor(f.ctx(asOutsider), f.org.PublicID, true)
		assertError(t, err, keygate.ENOTFOUND, "Organization not found.")
	})
	t.Run("OK", func(t *testing.T) {
		f := mustOrgFixture(t)
		mustEnableTOTP(t, f.twoFactorTOTP(t), f.owner, true)
		org, err := f.orgs.SetRequireTwoFactor(f.ctx(asOwner), f.org.PublicID, true)
		if err != nil {
			t.Fatal(err)
		}
		if !org.RequireTwoFactor {
			t.Fatal("not required")
		}
		member, err := f.orgs.FindOrganizationByID(f.ctx(asMember), f.org.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if !member.RequireTwoFactor || member.ActorHasTwoFactor {
			t.Fatalf("member sees require = %v, has factor = %v", member.RequireTwoFactor, member.ActorHasTwoFactor)
		}
		if _, err := f.orgs.SetRequireTwoFactor(f.ctx(asOwner), f.org.PublicID, false); err != nil {
			t.Fatal(err)
		}
		// Saving the same state again records nothing.
		if _, err := f.orgs.SetRequireTwoFactor(f.ctx(asOwner), f.org.PublicID, false); err != nil {
			t.Fatal(err)
		}
		for action, want := range map[string]int{keygate.AuditOrgTwoFactorRequired: 1, keygate.AuditOrgTwoFactorNotRequired: 1} {
			if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = $2 AND actor_user_id = $3`,
				f.org.ID, action, f.owner.ID); got != want {
				t.Fatalf("%s events = %d, want %d", action, got, want)
			}
		}
	})
}

func TestMembers_TwoFactor(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	totp := f.twoFactorTOTP(t)
	mustEnableTOTP(t, totp, f.admin, true)
	mustEnableTOTP(t, totp, f.member, false)
	// A passkey is a second factor too.
	if _, err := totp.AddPasskey(f.ctx(asOwner), &keygate.Passkey{Name: "Laptop", CredentialID: []byte("owner-cred"), PublicKey: []byte("k")}, nil); err != nil {
		t.Fatal(err)
	}
	// The member signs in through the organization's own provider; the
	// outsider's identity there says nothing of this organization's.
	if _, err := f.db.WriteConn().Exec(`INSERT INTO identities (public_id, user_id, provider, issuer, subject, created_at)
		VALUES ('idn_a', $1, $2, 'https://idp.example', 'mia', 0), ('idn_b', $3, 'org:org_other', 'https://idp.example', 'adam', 0)`,
		f.member.ID, "org:"+f.org.PublicID, f.admin.ID); err != nil {
		t.Fatal(err)
	}
	want := map[int64]bool{f.owner.ID: true, f.admin.ID: true, f.member.ID: false}
	wantSSO := map[int64]bool{f.member.ID: true}
	members, err := f.orgs.FindMembers(f.ctx(asOwner), f.org.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	details, err := sqlstore.NewMembershipService(f.db).FindMemberDetails(f.ctx(asOwner), f.org.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 3 || len(details) != 3 {
		t.Fatalf("members = %d, details = %d", len(members), len(details))
	}
	for i := range members {
		if got := members[i].TwoFactor; got != want[members[i].User.ID] {
			t.Errorf("FindMembers %s two-factor = %v", members[i].User.Email, got)
		}
		if got := details[i].TwoFactor; got != want[details[i].User.ID] {
			t.Errorf("FindMemberDetails %s two-factor = %v", details[i].User.Email, got)
		}
		if got := details[i].OrgSSO; got != wantSSO[details[i].User.ID] {
			t.Errorf("FindMemberDetails %s org SSO = %v", details[i].User.Email, got)
		}
	}
}
