package sqlstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

const orgSSOSecret = "ORG-SSO-CLIENT-SECRET-4d2c9e7f1a3b5d7f9e1c3a5b"

// mustSaveOrgSSO saves Acme's settings as its Owner, claiming example.com
// (pending until verified).
func mustSaveOrgSSO(tb testing.TB, f *orgFixture, s *sqlstore.OrgSSOService, require bool) *keygate.OrgSSO {
	tb.Helper()
	out, err := s.SaveOrgSSO(f.ctx(asOwner), f.org.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.example.com", ClientID: "client",
		ClientSecret: orgSSOSecret, Domains: "example.com", RequireSSO: require})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// fakeDNS answers TXT lookups from a map; a missing name is NXDOMAIN.
type fakeDNS map[string][]string

func (d fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if recs, ok := d[name]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// mustVerify publishes the claim's token and verifies it as actor a.
func mustVerify(tb testing.TB, f *orgFixture, s *sqlstore.OrgSSOService, a actor, org *keygate.Organization, domain string) {
	tb.Helper()
	conf, err := s.FindOrgSSO(f.ctx(a), org.PublicID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range conf.Domains {
		if d.Domain == domain {
			if _, err := s.VerifyOrgSSODomain(f.ctx(a), org.PublicID, domain, fakeDNS{d.RecordName(): {d.Token}}); err != nil {
				tb.Fatal(err)
			}
			return
		}
	}
	tb.Fatalf("%s not claimed", domain)
}

func TestOrgSSOService_Save(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("OKPendingUntilVerified", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
		out := mustSaveOrgSSO(t, f, s, false)
		if got, want := out.MaskedSecret(), "••••••••"+orgSSOSecret[len(orgSSOSecret)-4:]; got != want || out.ClientSecret != "" {
			t.Fatalf("masked = %q, secret = %q", got, out.ClientSecret)
		}
		if len(out.Domains) != 1 || out.Domains[0].Verified() || !strings.HasPrefix(out.Domains[0].Token, "keygate-") ||
			out.Domains[0].RecordName() != "_keygate-challenge.example.com" {
			t.Fatalf("domains = %+v", out.Domains[0])
		}
		if _, err := s.FindOrgSSOByEmail(ctx, "someone@example.com"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("a pending domain routes: %v", err)
		}
		mustVerify(t, f, s, asOwner, f.org, "example.com")
		conf, err := s.FindOrgSSOByEmail(ctx, "Someone@EXAMPLE.com")
		if err != nil || conf.ClientSecret != orgSSOSecret || conf.OrgPublicID != f.org.PublicID {
			t.Fatalf("by email: %+v, %v", conf, err)
		}
		// Saving again keeps the claim's verification and token.
		again := mustSaveOrgSSO(t, f, s, false)
		if !again.Domains[0].Verified() || again.Domains[0].Token != out.Domains[0].Token {
			t.Fatalf("after saving again: %+v", again.Domains[0])
		}
	})
	t.Run("ErrForbiddenMember", func(t *testing.T) {
		f := mustOrgFixture(t)
		_, err := sqlstore.NewOrgSSOService(f.db, mustBox(t)).SaveOrgSSO(f.ctx(asMember), f.org.PublicID, &keygate.OrgSSOSave{})
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("OKPendingClaimBlocksNobody", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		if _, err := s.SaveOrgSSO(f.ctx(asOutsider), f.outsiderOrg.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.globex.com", ClientID: "c",
			ClientSecret: "s", Domains: "globex.com, EXAMPLE.com"}); err != nil {
			t.Fatalf("claiming a domain another organization only claimed: %v", err)
		}
	})
	t.Run("ErrDomainVerifiedByAnother", func(t *testing.T) {
		f := mustOrgFixture(t)
		s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		mustVerify(t, f, s, asOwner, f.org, "example.com")
		_, err := s.SaveOrgSSO(f.ctx(asOutsider), f.outsiderOrg.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.globex.com", ClientID: "c",
			ClientSecret: "s", Domains: "globex.com, EXAMPLE.com"})
		if got, want := keygate.ErrorFields(err)["domains"], "example.com is already used by another organization."; got != want {
			t.Fatalf("domains error = %q, want %q", got, want)
		}
	})
	t.Run("ErrUnknownDomain", func(t *testing.T) {
		f := mustOrgFixture(t)
		_, err := sqlstore.NewOrgSSOService(f.db, mustBox(t)).FindOrgSSOByEmail(ctx, "x@nowhere.example")
		if got, want := keygate.ErrorCode(err), keygate.ENOTFOUND; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}

func TestOrgSSOService_VerifyDomain(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
	conf := mustSaveOrgSSO(t, f, s, false)
	claim := conf.Domains[0]
	if _, err := s.SaveOrgSSO(f.ctx(asOutsider), f.outsiderOrg.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.globex.com", ClientID: "c",
		ClientSecret: "s", Domains: "example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		actor    actor
		dns      fakeDNS
		wantCode string
		wantMsg  string
	}{
		{"ErrNoRecord", asAdmin, fakeDNS{}, keygate.EINVALID, "There is no TXT record at _keygate-challenge.example.com yet."},
		{"ErrWrongToken", asAdmin, fakeDNS{claim.RecordName(): {"keygate-something-else"}}, keygate.EINVALID,
			"The TXT record at _keygate-challenge.example.com does not hold this domain's token. Its value must be exactly " + claim.Token + "."},
		{"ErrTokenOfAnotherName", asAdmin, fakeDNS{"example.com": {claim.Token}}, keygate.EINVALID, "There is no TXT record"},
		{"ErrForbiddenMember", asMember, fakeDNS{claim.RecordName(): {claim.Token}}, keygate.EFORBIDDEN, ""},
		{"ErrNotFoundOutsider", asOutsider, fakeDNS{claim.RecordName(): {claim.Token}}, keygate.ENOTFOUND, ""},
		{"OK", asAdmin, fakeDNS{claim.RecordName(): {"v=spf1 -all", " " + claim.Token + " "}}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.VerifyOrgSSODomain(f.ctx(tt.actor), f.org.PublicID, "example.com", tt.dns)
			if got := keygate.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, tt.wantCode, err)
			}
			if !strings.HasPrefix(keygate.ErrorMessage(err), tt.wantMsg) {
				t.Fatalf("message = %q, want %q", keygate.ErrorMessage(err), tt.wantMsg)
			}
			if err == nil && (!d.Verified() || d.VerifiedMethod != keygate.DomainVerifiedDNS) {
				t.Fatalf("claim = %+v", d)
			}
		})
	}
	t.Run("ErrVerifiedByAnother", func(t *testing.T) {
		other, err := s.FindOrgSSO(f.ctx(asOutsider), f.outsiderOrg.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if !other.Domains[0].TakenElsewhere {
			t.Fatalf("claim = %+v, want taken elsewhere", other.Domains[0])
		}
		_, err = s.VerifyOrgSSODomain(f.ctx(asOutsider), f.outsiderOrg.PublicID, "example.com", fakeDNS{other.Domains[0].RecordName(): {other.Domains[0].Token}})
		if got, want := keygate.ErrorMessage(err), "example.com is already verified by another organization."; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
		if _, err := s.ApproveSSODomain(f.ctx(asOwner), f.outsiderOrg.PublicID, "example.com"); keygate.ErrorCode(err) != keygate.ECONFLICT {
			t.Fatalf("approve: %v", err)
		}
	})
	t.Run("OKAuditEvent", func(t *testing.T) {
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1 AND organization_id = $2 AND target_name = $3`,
			keygate.AuditSSODomainVerify, f.org.ID, "example.com (DNS record)"); got != 1 {
			t.Fatalf("verify events = %d, want 1", got)
		}
	})
}

func TestOrgSSOService_ApproveDomain(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t) // the Owner is the instance's first user: a superuser
	s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
	mustSaveOrgSSO(t, f, s, false)
	if _, err := s.FindSSODomains(f.ctx(asAdmin)); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
		t.Fatalf("an organization Admin lists domains: %v", err)
	}
	if _, err := s.ApproveSSODomain(f.ctx(asAdmin), f.org.PublicID, "example.com"); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
		t.Fatalf("an organization Admin approves: %v", err)
	}
	list, err := s.FindSSODomains(f.ctx(asOwner))
	if err != nil || len(list) != 1 || list[0].Verified() || list[0].OrgName != "Acme" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	d, err := s.ApproveSSODomain(f.ctx(asOwner), f.org.PublicID, "example.com")
	if err != nil || !d.Verified() || d.VerifiedMethod != keygate.DomainVerifiedAdmin || d.VerifiedByName != "Olivia Owner" {
		t.Fatalf("approved = %+v, %v", d, err)
	}
	if _, err := s.FindOrgSSOByEmail(context.Background(), "x@example.com"); err != nil {
		t.Fatalf("an approved domain does not route: %v", err)
	}
}

func TestOrgSSOService_RequireSSOKeepsPasswords(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	mustSaveOrgSSO(t, f, sqlstore.NewOrgSSOService(f.db, mustBox(t)), true)
	for _, email := range []string{"member@example.com", "admin@example.com", "owner@example.com", "outsider@example.com"} {
		if _, err := f.users.Authenticate(context.Background(), email, testPassword); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
	}
	org, err := f.orgs.FindOrganizationByID(f.ctx(asMember), f.org.PublicID)
	if err != nil || !org.RequireSSO {
		t.Fatalf("org = %+v, %v", org, err)
	}
	own, err := f.orgs.FindOrganizationByID(f.ctx(asOutsider), f.outsiderOrg.PublicID)
	if err != nil || own.RequireSSO {
		t.Fatalf("another organization requires SSO: %+v, %v", own, err)
	}
}

func TestOrgSSOService_LoginWithOrgIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ext := func(sub, email string, verified bool) *keygate.ExternalIdentity {
		return &keygate.ExternalIdentity{Issuer: "https://idp.example.com", Subject: sub, Email: email, Name: "New Person", EmailTrusted: verified}
	}
	setup := func(t *testing.T, verify bool) (*orgFixture, *sqlstore.OrgSSOService) {
		f := mustOrgFixture(t)
		s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
		mustSaveOrgSSO(t, f, s, false)
		if verify {
			mustVerify(t, f, s, asOwner, f.org, "example.com")
		}
		return f, s
	}
	t.Run("OKJustInTimeMember", func(t *testing.T) {
		f, s := setup(t, true)
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
	t.Run("ErrPendingDomainProvisionsNobody", func(t *testing.T) {
		f, s := setup(t, false)
		before := countRows(t, f.db, "users")
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("new-1", "new@example.com", true))
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
		if got := countRows(t, f.db, "users"); got != before {
			t.Fatalf("users = %d, want %d", got, before)
		}
	})
	t.Run("OKLinksMemberVerifiedEmail", func(t *testing.T) {
		f, s := setup(t, true)
		user, outcome, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("mia-1", "member@example.com", true))
		if err != nil || outcome != keygate.SSOLinked || user.ID != f.member.ID {
			t.Fatalf("user=%+v outcome=%v err=%v", user, outcome, err)
		}
	})
	t.Run("ErrNotAMember", func(t *testing.T) {
		f, s := setup(t, true)
		// The outsider (outsider@example.com) is in Acme's verified domain
		// but not a member of Acme: the provider's word is not enough.
		before := countRows(t, f.db, "identities")
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("out-1", "outsider@example.com", true))
		if got, want := keygate.ErrorMessage(err), "This account is not a member of Acme. Ask an admin for an invitation."; got != want || keygate.ErrorCode(err) != keygate.EFORBIDDEN {
			t.Fatalf("error = %v, want %q", err, want)
		}
		if got := countRows(t, f.db, "identities"); got != before {
			t.Fatalf("identities = %d, want %d", got, before)
		}
		if _, err := f.orgs.FindOrganizationByID(f.ctx(asOutsider), f.org.PublicID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("the outsider became a member: %v", err)
		}
		// Recorded where Acme's admins and the outsider's own admins look.
		for _, org := range []int64{f.org.ID, f.outsiderOrg.ID} {
			if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1 AND organization_id = $2 AND target_id = $3`,
				keygate.AuditLoginSSORefused, org, f.outsider.PublicID); got != 1 {
				t.Fatalf("refusal events in organization %d = %d, want 1", org, got)
			}
		}
	})
	t.Run("ErrSuperuser", func(t *testing.T) {
		f, s := setup(t, true)
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("own-1", "owner@example.com", true))
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q (%v)", got, want, err)
		}
	})
	t.Run("ErrUnverifiedEmailOfMember", func(t *testing.T) {
		f, s := setup(t, true)
		before := countRows(t, f.db, "identities")
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("mia-1", "member@example.com", false))
		if got, want := keygate.ErrorCode(err), keygate.ECONFLICT; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
		if got := countRows(t, f.db, "identities"); got != before {
			t.Fatalf("identities = %d, want %d", got, before)
		}
	})
	t.Run("ErrEmailOutsideDomains", func(t *testing.T) {
		f, s := setup(t, true)
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("x", "someone@elsewhere.example", true))
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("ErrLinkOutlivesMembership", func(t *testing.T) {
		f, s := setup(t, true)
		if _, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("mia-1", "member@example.com", true)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.WriteConn().Exec(`DELETE FROM memberships WHERE user_id = $1 AND organization_id = $2`, f.member.ID, f.org.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, ext("mia-1", "member@example.com", true))
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}

func TestOrgSSOService_IdentitiesRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := mustOrgFixture(t)
	s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
	if _, err := s.SaveOrgSSO(f.ctx(asOwner), f.org.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.example.com", ClientID: "client",
		ClientSecret: orgSSOSecret, Domains: "example.com, example.net"}); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, f, s, asOwner, f.org, "example.com")
	mustVerify(t, f, s, asOwner, f.org, "example.net")
	login := func(sub, email string) {
		t.Helper()
		if _, _, err := s.LoginWithOrgIdentity(ctx, f.org.PublicID, &keygate.ExternalIdentity{Issuer: "https://idp.example.com",
			Subject: sub, Email: email, EmailTrusted: true}); err != nil {
			t.Fatal(err)
		}
	}
	login("a", "a@example.com")
	login("b", "b@example.net")
	provider := "org:" + f.org.PublicID
	count := func() int {
		return countQuery(t, f.db, `SELECT COUNT(*) FROM identities WHERE provider = $1`, provider)
	}
	if got := count(); got != 2 {
		t.Fatalf("identities = %d, want 2", got)
	}
	t.Run("OKDomainRemoved", func(t *testing.T) {
		if _, err := s.SaveOrgSSO(f.ctx(asOwner), f.org.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.example.com", ClientID: "client",
			Domains: "example.com"}); err != nil {
			t.Fatal(err)
		}
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM identities WHERE provider = $1 AND email = 'b@example.net'`, provider); got != 0 {
			t.Fatal("the identity of a released domain survived")
		}
		if got := count(); got != 1 {
			t.Fatalf("identities = %d, want 1", got)
		}
	})
	t.Run("OKSSODeleted", func(t *testing.T) {
		if err := s.DeleteOrgSSO(f.ctx(asMember), f.org.PublicID); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
			t.Fatalf("a Member deletes SSO: %v", err)
		}
		if err := s.DeleteOrgSSO(f.ctx(asAdmin), f.org.PublicID); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != 0 {
			t.Fatalf("identities = %d, want 0", got)
		}
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM org_sso_domains WHERE organization_id = $1`, f.org.ID); got != 0 {
			t.Fatalf("domains = %d, want 0", got)
		}
		if _, err := s.FindOrgSSO(f.ctx(asAdmin), f.org.PublicID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("settings survived: %v", err)
		}
	})
}

func TestOrgSSOService_LinkOrgIdentity(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	s := sqlstore.NewOrgSSOService(f.db, mustBox(t))
	mustSaveOrgSSO(t, f, s, false)
	ext := func(sub string) *keygate.ExternalIdentity {
		return &keygate.ExternalIdentity{Issuer: "https://idp.example.com", Subject: sub, Email: sub + "@corp.example"}
	}
	for _, tt := range []struct {
		name     string
		actor    actor
		wantCode string
	}{
		{"OKMember", asMember, ""},
		{"ErrOutsider", asOutsider, keygate.EFORBIDDEN},
		{"ErrSuperuser", asOwner, keygate.EFORBIDDEN},
		{"ErrNobody", nobody, keygate.EUNAUTHORIZED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.LinkOrgIdentity(f.ctx(tt.actor), f.org.PublicID, ext(tt.name))
			if got := keygate.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, tt.wantCode, err)
			}
		})
	}
	t.Run("ErrLinkedToAnother", func(t *testing.T) {
		_, err := s.LinkOrgIdentity(f.ctx(asAdmin), f.org.PublicID, ext("OKMember"))
		if got, want := keygate.ErrorCode(err), keygate.ECONFLICT; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}

func TestOrgSSOService_RotateSecretKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := mustOrgFixture(t)
	old, next := mustBox(t), mustBox(t)
	mustSaveOrgSSO(t, f, sqlstore.NewOrgSSOService(f.db, old), false)
	n, err := sqlstore.NewIntegrationService(f.db, old).RotateSecretKey(ctx, old, next)
	if err != nil || n != 1 {
		t.Fatalf("rotate: n=%d err=%v", n, err)
	}
	conf, err := sqlstore.NewOrgSSOService(f.db, next).FindOrgSSOForLogin(ctx, f.org.PublicID)
	if err != nil || conf.ClientSecret != orgSSOSecret {
		t.Fatalf("after rotation: %+v %v", conf, err)
	}
	if _, err := sqlstore.NewOrgSSOService(f.db, old).FindOrgSSOForLogin(ctx, f.org.PublicID); !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
		t.Fatalf("old key: %v", err)
	}
	// The check row lost: a wrong key must not become the recorded one.
	if _, err := f.db.WriteConn().Exec(`DELETE FROM secret_key_check`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.NewIntegrationService(f.db, mustBox(t)).CheckSecretKey(ctx); !errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
		t.Fatalf("wrong key with the check lost: %v", err)
	}
}

// Migration 13 makes every domain claimed before it pending, and drops the
// links an organization's provider made to accounts that existed before.
func TestMigrate_OrgSSODomainsPending(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t) // SQLite\'s files and upgrades from its older formats
	db, _ := mustOpenUnmigrated(t)
	ctx := context.Background()
	if err := db.MigrateThrough(ctx, 12); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, public_id, name, email, created_at, updated_at) VALUES (1, 'usr_a', 'Alice', 'alice@a.test', 1000, 1000)`,
		`INSERT INTO users (id, public_id, name, email, created_at, updated_at) VALUES (2, 'usr_n', 'New', 'new@evil.test', 5000, 5000)`,
		`INSERT INTO organizations (id, public_id, name, created_at, updated_at) VALUES (1, 'org_evil', 'Evil Org', 1000, 1000)`,
		`INSERT INTO org_sso (organization_id, issuer, client_id, client_secret, created_at, updated_at) VALUES (1, 'https://idp', 'c', x'00', 2000, 3000)`,
		`INSERT INTO org_sso_domains (domain, organization_id) VALUES ('a.test', 1), ('evil.test', 1)`,
		// Alice's account existed before the provider linked itself to it.
		`INSERT INTO identities (public_id, user_id, provider, issuer, subject, email, created_at) VALUES ('idn_1', 1, 'org:org_evil', 'https://idp', 's1', 'alice@a.test', 4000)`,
		// This identity created its account.
		`INSERT INTO identities (public_id, user_id, provider, issuer, subject, email, created_at) VALUES ('idn_2', 2, 'org:org_evil', 'https://idp', 's2', 'new@evil.test', 5000)`,
		// An instance provider's link is not the organization's.
		`INSERT INTO identities (public_id, user_id, provider, issuer, subject, email, created_at) VALUES ('idn_3', 1, 'oidc', 'https://op', 's3', 'alice@a.test', 4000)`,
	} {
		if _, err := db.WriteConn().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countQuery(t, db, `SELECT COUNT(*) FROM org_sso_domains WHERE verified_at IS NULL AND token LIKE 'keygate-%' AND created_at = 3000`); got != 2 {
		t.Fatalf("pending domains with a token = %d, want 2", got)
	}
	var ids []string
	rows, err := db.WriteConn().Query(`SELECT public_id FROM identities ORDER BY public_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if got, want := strings.Join(ids, ","), "idn_2,idn_3"; got != want {
		t.Fatalf("identities = %s, want %s", got, want)
	}
	if _, err := sqlstore.NewOrgSSOService(db, mustBox(t)).FindOrgSSOByEmail(ctx, "alice@a.test"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Fatalf("a domain claimed before the migration routes: %v", err)
	}
}
