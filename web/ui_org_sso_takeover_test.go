package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// The account takeover the security review found: an organization claims
// someone else's email domain and points its single sign-on at a provider
// it runs, which asserts the victim's email as verified. Each step below
// signed the attacker in as the victim before domains were verified and
// organization providers were limited to their own members.
func TestOrgSSOTakeover(t *testing.T) {
	t.Parallel()
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithAllowPrivateDestinations(), WithDNS(dns))
	admin := app.NewClient(t)
	admin.MustSignup("Root", "root@instance.example", "Instance") // the instance's superuser
	victim := app.NewClient(t)
	victimOrg := victim.MustSignup("Alice", "alice@victim.example", "Victim Inc")

	// The attacker's own provider says its user is alice@victim.example,
	// verified.
	op := MustStartOPWithUsers(t, app.URL+"/auth/org/callback",
		OPUser{Subject: "evil-sub-1", Username: "eve", Email: "alice@victim.example", EmailVerified: true},
		OPUser{Subject: "evil-sub-2", Username: "root", Email: "root@instance.example", EmailVerified: true})
	attacker := app.NewClient(t)
	evil := attacker.MustSignup("Eve", "eve@evil.example", "Evil Org")
	attacker.mustSaveOrgSSO(evil, url.Values{"issuer": {op.Issuer}, "client_id": {op.ClientID}, "client_secret": {op.Secret},
		"domains": {"victim.example, instance.example"}, "require_sso": {"1"}})

	assertNoSessionFor := func(t *testing.T, c *Client, email string) {
		t.Helper()
		if got := c.LoggedInAs(); got == email {
			t.Fatalf("the attacker's browser is logged in as %s", email)
		}
		if got := app.Count(t, "identities"); got != 0 {
			t.Fatalf("identities = %d: the provider was linked to an account", got)
		}
	}

	t.Run("ErrUnverifiedDomainRoutesNobody", func(t *testing.T) {
		c := app.NewClient(t)
		p := c.Post("/login/sso", url.Values{"email": {"alice@victim.example"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "email"), "No organization uses single sign-on for this domain."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
		assertNoSessionFor(t, c, "alice@victim.example")
		// Nor through the organization's own "Continue with SSO".
		p = attacker.Post("/orgs/"+evil+"/sso", nil)
		assertStatus(t, p, http.StatusSeeOther)
		p = attacker.GetURL(attacker.MustAuthorizeAtOP(op, location(t, p), "eve").String())
		assertStatus(t, p, http.StatusForbidden)
		assertNoSessionFor(t, attacker, "alice@victim.example")
		if got := attacker.LoggedInAs(); got != "eve@evil.example" {
			t.Fatalf("the attacker's session became %q", got)
		}
	})

	t.Run("ErrPendingInTheAdminArea", func(t *testing.T) {
		p := admin.Get("/admin/domains")
		assertStatus(t, p, http.StatusOK)
		row := p.Doc.Find(`[data-testid="admin-domain"][data-domain="victim.example"]`)
		if got := row.Find(`[data-testid="domain-status"]`).Text(); got != "Pending verification" || !strings.Contains(row.Text(), "Evil Org") {
			t.Fatalf("admin row = %q", row.Text())
		}
	})

	// The attacker gets the domain verified (a DNS answer the test
	// injects): the provider still may not sign in an account outside
	// its organization, nor a superuser.
	attacker.mustVerifyDomain(dns, evil, "victim.example")
	attacker.mustVerifyDomain(dns, evil, "instance.example")

	t.Run("ErrVictimNotAMember", func(t *testing.T) {
		c := app.NewClient(t)
		p := c.orgSSOLogin(op, "alice@victim.example", "eve")
		assertStatus(t, p, http.StatusForbidden)
		if got, want := p.Text(`[data-testid="sso-error-message"]`), "This account is not a member of Evil Org. Ask an admin for an invitation."; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
		assertNoSessionFor(t, c, "alice@victim.example")
		alice := app.MustUser(t, "alice@victim.example")
		if n := countAudit(t, app, keygate.AuditLoginSSORefused, alice.PublicID); n < 2 {
			t.Fatalf("refusal events = %d, want one in Evil Org's log and one in Victim Inc's", n)
		}
		// Victim Inc's Owner sees it in the audit log.
		if p := victim.Get("/orgs/" + victimOrg + "/audit-log"); !strings.Contains(p.Body, keygate.AuditLoginSSORefused) {
			t.Fatal("the victim's organization was not told")
		}
	})

	t.Run("ErrSuperuser", func(t *testing.T) {
		root := app.MustUser(t, "root@instance.example")
		if err := app.Orgs.AddMember(t.Context(), evil, root.ID, keygate.RoleMember); err != nil {
			t.Fatal(err)
		}
		c := app.NewClient(t)
		p := c.orgSSOLogin(op, "root@instance.example", "root")
		assertStatus(t, p, http.StatusForbidden)
		assertNoSessionFor(t, c, "root@instance.example")
	})

	t.Run("OKRequireSSOLocksNobodyOut", func(t *testing.T) {
		c := app.NewClient(t)
		c.MustLogin("alice@victim.example", testPassword)
		assertStatus(t, c.Get("/orgs/"+victimOrg+"/api-keys"), http.StatusOK)
		assertStatus(t, victim.Get("/orgs/"+victimOrg), http.StatusOK)
	})

	t.Run("OKInvitedMemberLinks", func(t *testing.T) {
		link := attacker.MustInvite(evil, "alice@victim.example", "member")
		assertStatus(t, victim.Post(app.path(link)+"/accept", nil), http.StatusSeeOther)
		c := app.NewClient(t)
		p := c.orgSSOLogin(op, "alice@victim.example", "eve")
		assertStatus(t, p, http.StatusSeeOther)
		if got, want := location(t, p).Path, "/orgs/"+evil; got != want {
			t.Fatalf("redirected to %s, want %s", got, want)
		}
		if got := c.LoggedInAs(); got != "alice@victim.example" {
			t.Fatalf("logged in as %q", got)
		}
		assertStatus(t, c.Get("/orgs/"+evil), http.StatusOK)
		if got := app.Count(t, "identities"); got != 1 {
			t.Fatalf("identities = %d, want 1", got)
		}
	})

	t.Run("OKDomainRemovedUnlinks", func(t *testing.T) {
		attacker.mustSaveOrgSSO(evil, url.Values{"issuer": {op.Issuer}, "client_id": {op.ClientID}, "domains": {"instance.example"}})
		if got := app.Count(t, "identities"); got != 0 {
			t.Fatalf("identities = %d after the domain was removed", got)
		}
	})
}

// countAudit counts the audit events of action about the target, across
// organizations and including those of none (refused sign-ins), which no
// service lists: hence SQL.
func countAudit(tb testing.TB, app *App, action, targetID string) int {
	tb.Helper()
	var n int
	if err := app.DB.WriteConn().QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = $1 AND target_id = $2`, action, targetID).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
