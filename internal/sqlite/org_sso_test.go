package sqlite_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlite"
)

const orgSSOSecret = "ORG-SSO-CLIENT-SECRET-4d2c9e7f1a3b5d7f9e1c3a5b"

// mustSaveOrgSSO saves Acme's settings as its Owner, claiming example.com.
func mustSaveOrgSSO(tb testing.TB, f *orgFixture, s *sqlite.OrgSSOService, require bool) *keygate.OrgSSO {
	tb.Helper()
	out, err := s.SaveOrgSSO(f.ctx(asOwner), f.org.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.example.com", ClientID: "client",
		ClientSecret: orgSSOSecret, Domains: "example.com", RequireSSO: require})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestOrgSSOService_Save(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlite.NewOrgSSOService(f.db, mustBox(t))
		out := mustSaveOrgSSO(t, f, s, false)
		if got, want := out.MaskedSecret(), "••••••••"+orgSSOSecret[len(orgSSOSecret)-4:]; got != want || out.ClientSecret != "" {
			t.Fatalf("masked = %q, secret = %q", got, out.ClientSecret)
		}
		conf, err := s.FindOrgSSOByEmail(ctx, "Someone@EXAMPLE.com")
		if err != nil || conf.ClientSecret != orgSSOSecret || conf.OrgPublicID != f.org.PublicID {
			t.Fatalf("by email: %+v, %v", conf, err)
		}
	})
	t.Run("ErrForbiddenMember", func(t *testing.T) {
		f := mustOrgFixture(t)
		_, err := sqlite.NewOrgSSOService(f.db, mustBox(t)).SaveOrgSSO(f.ctx(asMember), f.org.PublicID, &keygate.OrgSSOSave{})
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("ErrDomainTaken", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlite.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		_, err := s.SaveOrgSSO(f.ctx(asOutsider), f.outsiderOrg.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.globex.com", ClientID: "c",
			ClientSecret: "s", Domains: "globex.com, EXAMPLE.com"})
		if got, want := keygate.ErrorFields(err)["domains"], "example.com is already used by another organization."; got != want {
			t.Fatalf("domains error = %q, want %q", got, want)
		}
	})
	t.Run("ErrUnknownDomain", func(t *testing.T) {
		f := mustOrgFixture(t)
		_, err := sqlite.NewOrgSSOService(f.db, mustBox(t)).FindOrgSSOByEmail(ctx, "x@nowhere.example")
		if got, want := keygate.ErrorCode(err), keygate.ENOTFOUND; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}

func TestOrgSSOService_RequireSSO(t *testing.T) {
	f := mustOrgFixture(t)
	mustSaveOrgSSO(t, f, sqlite.NewOrgSSOService(f.db, mustBox(t)), true)
	for _, tt := range []struct {
		name, email string
		wantCode    string
	}{
		{"ErrMember", "member@example.com", keygate.EFORBIDDEN},
		{"ErrAdmin", "admin@example.com", keygate.EFORBIDDEN},
		{"OKOwner", "owner@example.com", ""},
		{"OKOutsider", "outsider@example.com", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.users.Authenticate(context.Background(), tt.email, testPassword)
			if got := keygate.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, tt.wantCode, err)
			}
			if tt.wantCode != "" && keygate.ErrorMessage(err) != keygate.MsgRequireSSO {
				t.Fatalf("message = %q", keygate.ErrorMessage(err))
			}
		})
	}
}

func TestOrgSSOService_LoginWithOrgIdentity(t *testing.T) {
	ctx := context.Background()
	ext := func(sub, email string, verified bool) *keygate.ExternalIdentity {
		return &keygate.ExternalIdentity{Issuer: "https://idp.example.com", Subject: sub, Email: email, Name: "New Person", EmailTrusted: verified}
	}
	t.Run("OKJustInTimeMember", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlite.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		user, outcome, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("new-1", "new@example.com", false))
		if err != nil || outcome != keygate.SSOSignedUp || user.HasPassword {
			t.Fatalf("user=%+v outcome=%v err=%v", user, outcome, err)
		}
		orgs, err := f.orgs.FindOrganizations(userCtx(user))
		if err != nil || len(orgs) != 1 || orgs[0].PublicID != f.org.PublicID || orgs[0].Role != keygate.RoleMember {
			t.Fatalf("orgs = %+v, %v", orgs, err)
		}
		again, outcome, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("new-1", "new@example.com", false))
		if err != nil || outcome != keygate.SSOLoggedIn || again.ID != user.ID {
			t.Fatalf("again: %+v %v %v", again, outcome, err)
		}
	})
	t.Run("OKLinksVerifiedEmail", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlite.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		// The outsider (outsider@example.com) is in Acme's domain.
		user, outcome, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("out-1", "outsider@example.com", true))
		if err != nil || outcome != keygate.SSOLinked || user.ID != f.outsider.ID {
			t.Fatalf("user=%+v outcome=%v err=%v", user, outcome, err)
		}
		org, err := f.orgs.FindOrganizationByID(userCtx(f.outsider), f.org.PublicID)
		if err != nil || org.Role != keygate.RoleMember {
			t.Fatalf("membership: %+v %v", org, err)
		}
	})
	t.Run("ErrUnverifiedEmailOfExistingAccount", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlite.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		before := countRows(t, f.db, "identities")
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("out-1", "outsider@example.com", false))
		if got, want := keygate.ErrorCode(err), keygate.ECONFLICT; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
		if got := countRows(t, f.db, "identities"); got != before {
			t.Fatalf("identities = %d, want %d", got, before)
		}
	})
	t.Run("ErrEmailOutsideDomains", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlite.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("x", "someone@elsewhere.example", true))
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}

func TestOrgSSOService_RotateSecretKey(t *testing.T) {
	ctx := context.Background()
	f := mustOrgFixture(t)
	old, next := mustBox(t), mustBox(t)
	mustSaveOrgSSO(t, f, sqlite.NewOrgSSOService(f.db, old), false)
	n, err := sqlite.NewIntegrationService(f.db, old).RotateSecretKey(ctx, old, next)
	if err != nil || n != 1 {
		t.Fatalf("rotate: n=%d err=%v", n, err)
	}
	conf, err := sqlite.NewOrgSSOService(f.db, next).FindOrgSSOForLogin(ctx, f.org.PublicID)
	if err != nil || conf.ClientSecret != orgSSOSecret {
		t.Fatalf("after rotation: %+v %v", conf, err)
	}
	if _, err := sqlite.NewOrgSSOService(f.db, old).FindOrgSSOForLogin(ctx, f.org.PublicID); !errors.Is(err, sqlite.ErrSecretKeyMismatch) {
		t.Fatalf("old key: %v", err)
	}
	// The check row lost: a wrong key must not become the recorded one.
	if _, err := f.db.WriteConn().Exec(`DELETE FROM secret_key_check`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.NewIntegrationService(f.db, mustBox(t)).CheckSecretKey(ctx); !errors.Is(err, sqlite.ErrSecretKeyMismatch) {
		t.Fatalf("wrong key with the check lost: %v", err)
	}
}
