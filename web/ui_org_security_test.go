package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// orgSecurityPath is Settings > Security of org.
func orgSecurityPath(org string) string { return "/orgs/" + org + "/settings/security" }

// requireTwoFactorForm asks for the requirement, or not.
func requireTwoFactorForm(on bool) url.Values {
	if on {
		return url.Values{"require_two_factor": {"1"}}
	}
	return url.Values{}
}

// assertSentToSecurity checks that p sends its user to the personal
// Security page, to come back to next.
func assertSentToSecurity(tb testing.TB, p *Page, next string) {
	tb.Helper()
	assertStatus(tb, p, http.StatusSeeOther)
	loc := location(tb, p)
	if got, want := loc.Path, "/settings/security"; got != want {
		tb.Fatalf("redirected to %s, want %s", loc, want)
	}
	if got := loc.Query().Get("next"); got != next {
		tb.Fatalf("next = %q, want %q", got, next)
	}
}

// twoFactorColumn reads the Members page's 2FA column, by member name.
func (c *Client) twoFactorColumn(org string) map[string]string {
	c.tb.Helper()
	p := c.Get("/orgs/" + org + "/members")
	assertStatus(c.tb, p, http.StatusOK)
	got := map[string]string{}
	p.Doc.Find(`[data-testid="member-row"]`).Each(func(_ int, r *goquerySelection) {
		got[r.Find(`[data-testid="member-name"]`).Text()] = r.Find(`[data-testid="member-two-factor"]`).Text()
	})
	return got
}

const msgAcmeRequires = "Acme requires two-factor authentication. Set up an authenticator app or a passkey to continue."

func TestOrgRequireTwoFactor(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Acme")
	member := MustAddMember(t, app, org, "Mia", "mia@example.com", keygate.RoleAdmin)
	enrolled := MustAddMember(t, app, org, "Tom", "tom@example.com", keygate.RoleMember)
	enrolled.MustEnrollTOTP()

	t.Run("OKLinkedFromSettingsReadOnlyForOthers", func(t *testing.T) {
		p := owner.Get("/orgs/" + org + "/settings")
		assertStatus(t, p, http.StatusOK)
		if got := p.Doc.Find(`nav[aria-label="Organization settings"] a[href="` + orgSecurityPath(org) + `"]`).Text(); got != "Security" {
			t.Fatalf("settings subnav link = %q", got)
		}
		// A Member's settings link it too, without the Admins' pages.
		p = enrolled.Get("/orgs/" + org + "/settings")
		assertStatus(t, p, http.StatusOK)
		nav := p.Doc.Find(`nav[aria-label="Organization settings"]`)
		if got := nav.Find(`a[href="` + orgSecurityPath(org) + `"]`).Text(); got != "Security" {
			t.Fatalf("Member's subnav link = %q", got)
		}
		if n := nav.Find(`a[href="/orgs/` + org + `/api-keys"]`).Length(); n != 0 {
			t.Fatal("a Member's subnav links API Keys")
		}
		p = member.Get(orgSecurityPath(org))
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find(`input[name="require_two_factor"]`).Length(); n != 0 {
			t.Fatalf("an Admin sees the form (%d inputs)", n)
		}
		if got, want := p.Text(`[data-testid="require-two-factor-state"]`), "Off"; got != want {
			t.Fatalf("state = %q, want %q", got, want)
		}
	})
	t.Run("ErrOwnerWithoutFactor", func(t *testing.T) {
		p := owner.Get(orgSecurityPath(org))
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("h1"), "Security"; got != want {
			t.Fatalf("h1 = %q, want %q", got, want)
		}
		if got := p.Text(`label[for="f-require_two_factor"]`); got != "Require two-factor authentication" {
			t.Fatalf("label = %q", got)
		}
		p = owner.Post(orgSecurityPath(org), requireTwoFactorForm(true))
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "require_two_factor"), keygate.MsgOwnerNeedsTwoFactor; got != want {
			t.Fatalf("field error = %q, want %q", got, want)
		}
		if _, checked := p.Doc.Find(`#f-require_two_factor`).Attr("checked"); !checked {
			t.Fatal("the checkbox lost its input")
		}
		if n := len(app.orgAuditEvents(t, app.MustUser(t, "ada@example.com"), org, keygate.AuditOrgTwoFactorRequired)); n != 0 {
			t.Fatalf("audit events = %d", n)
		}
	})
	t.Run("ErrAdminCannotSave", func(t *testing.T) {
		assertStatus(t, member.Post(orgSecurityPath(org), requireTwoFactorForm(false)), http.StatusForbidden)
	})
	t.Run("OKOwnerWithFactor", func(t *testing.T) {
		owner.MustEnrollTOTP()
		p := owner.Post(orgSecurityPath(org), requireTwoFactorForm(true))
		assertStatus(t, p, http.StatusSeeOther)
		p = owner.Follow(p)
		if got, want := p.Text(".flash-success"), "Two-factor authentication is now required."; got != want {
			t.Fatalf("flash = %q, want %q", got, want)
		}
		if _, checked := p.Doc.Find(`#f-require_two_factor`).Attr("checked"); !checked {
			t.Fatal("the checkbox is not checked")
		}
		if n := len(app.orgAuditEvents(t, app.MustUser(t, "ada@example.com"), org, keygate.AuditOrgTwoFactorRequired)); n != 1 {
			t.Fatalf("audit events = %d, want 1", n)
		}
		p = owner.Get("/orgs/" + org + "/audit-log")
		if got, want := p.Text(`[data-testid="audit-summary"]`), "two-factor requirement enabled by Ada"; got != want {
			t.Fatalf("audit summary = %q, want %q", got, want)
		}
	})
	t.Run("ErrMemberWithoutFactorSentToSecurity", func(t *testing.T) {
		for _, path := range []string{"/orgs/" + org, "/orgs/" + org + "/api-keys"} {
			assertSentToSecurity(t, member.Get(path), path)
		}
		p := member.Follow(member.Get("/orgs/" + org))
		assertStatus(t, p, http.StatusOK)
		if got := p.Text(".flash"); got != msgAcmeRequires {
			t.Fatalf("flash = %q", got)
		}
		// Nothing changes from a session that does not meet the rule.
		before := app.Count(t, "api_keys")
		p = member.Post("/orgs/"+org+"/api-keys", url.Values{"name": {"sneaky"}, "scopes": {"read"}})
		assertStatus(t, p, http.StatusForbidden)
		if got := p.Text("main"); !strings.Contains(got, msgAcmeRequires) {
			t.Fatalf("403 page: %.300s", got)
		}
		if got := app.Count(t, "api_keys"); got != before {
			t.Fatalf("api_keys = %d, want %d", got, before)
		}
	})
	t.Run("OKMemberWithFactor", func(t *testing.T) {
		assertStatus(t, enrolled.Get("/orgs/"+org), http.StatusOK)
	})
	t.Run("OKContinueAfterEnrolling", func(t *testing.T) {
		next := "/orgs/" + org + "/api-keys"
		p := member.Follow(member.Get(next))
		if n := p.Doc.Find(`[data-testid="continue-org"]`).Length(); n != 0 {
			t.Fatal("a Continue link before enrolling")
		}
		member.MustEnrollTOTP()
		p = member.Get("/settings/security?next=" + url.QueryEscape(next))
		link := p.Doc.Find(`[data-testid="continue-org"]`)
		if got, want := link.Text(), "Continue to Acme"; got != want {
			t.Fatalf("link = %q, want %q", got, want)
		}
		if got := link.AttrOr("href", ""); got != next {
			t.Fatalf("href = %q, want %q", got, next)
		}
		p = member.Get("/settings/security?next=" + url.QueryEscape("//evil.example/orgs/"+org))
		if n := p.Doc.Find(`[data-testid="continue-org"]`).Length(); n != 0 {
			t.Fatal("a Continue link to another site")
		}
		assertStatus(t, member.Get(next), http.StatusOK)
	})
	t.Run("OKLeaveWithoutFactor", func(t *testing.T) {
		leaver := MustAddMember(t, app, org, "Lee", "lee@example.com", keygate.RoleMember)
		assertSentToSecurity(t, leaver.Get("/orgs/"+org), "/orgs/"+org)
		assertStatus(t, leaver.Post("/orgs/"+org+"/leave", nil), http.StatusSeeOther)
		assertStatus(t, leaver.Get("/orgs/"+org), http.StatusNotFound)
	})
	t.Run("OKMembersPageShowsFactor", func(t *testing.T) {
		MustAddMember(t, app, org, "Zed", "zed@example.com", keygate.RoleMember)
		got := owner.twoFactorColumn(org)
		want := map[string]string{"Ada": "On", "Mia": "On", "Tom": "On", "Zed": "Off"}
		for name, w := range want {
			if got[name] != w {
				t.Fatalf("2FA column = %v, want %v", got, want)
			}
		}
	})
	t.Run("OKAPIField", func(t *testing.T) {
		key, _ := app.MustKey(t, app.MustUser(t, "ada@example.com"), org, keygate.APIKeyCreate{Name: "admin", Scopes: []keygate.Scope{keygate.ScopeAdmin}})
		r := app.API(t, http.MethodGet, "/api/v1/members", "Bearer "+key, "")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("status = %d: %s", r.StatusCode, r.Raw)
		}
		var body struct {
			Results []struct {
				Email     string `json:"email"`
				TwoFactor *bool  `json:"two_factor"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"ada@example.com": true, "mia@example.com": true, "tom@example.com": true, "zed@example.com": false}
		for _, m := range body.Results {
			if m.TwoFactor == nil || *m.TwoFactor != want[m.Email] {
				t.Fatalf("%s two_factor = %v, want %v", m.Email, m.TwoFactor, want[m.Email])
			}
		}
	})
	t.Run("OKOwnerTurnsOff", func(t *testing.T) {
		p := owner.Post(orgSecurityPath(org), requireTwoFactorForm(false))
		assertStatus(t, p, http.StatusSeeOther)
		if n := len(app.orgAuditEvents(t, app.MustUser(t, "ada@example.com"), org, keygate.AuditOrgTwoFactorNotRequired)); n != 1 {
			t.Fatalf("audit events = %d, want 1", n)
		}
		zed := app.NewClient(t)
		zed.MustLogin("zed@example.com", testPassword)
		assertStatus(t, zed.Get("/orgs/"+org), http.StatusOK)
	})
}

// TestOrgRequireTwoFactor_SSOExempt: a member who came through the
// organization's own single sign-on is not asked for a factor: their
// identity provider checks them.
func TestOrgRequireTwoFactor_SSOExempt(t *testing.T) {
	t.Parallel()
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithAllowPrivateDestinations(), WithDNS(dns))
	op := MustStartOP(t, app.URL+"/auth/org/callback")
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Acme")
	member := MustAddMember(t, app, org, "Tess", opEmail, keygate.RoleMember)
	own := app.mustOwnOrg(t, opEmail)
	owner.mustSaveOrgSSO(org, orgSSOForm(op, false))
	owner.mustVerifyDomain(dns, org, "zitadel.ch")
	owner.MustEnrollTOTP()
	assertStatus(t, owner.Post(orgSecurityPath(org), requireTwoFactorForm(true)), http.StatusSeeOther)

	assertSentToSecurity(t, member.Get("/orgs/"+org), "/orgs/"+org)
	p := member.Post("/orgs/"+org+"/sso", url.Values{"next": {"/orgs/" + org}})
	assertStatus(t, p, http.StatusSeeOther)
	p = member.GetURL(member.MustAuthorizeAtOP(op, location(t, p), op.Username).String())
	assertStatus(t, p, http.StatusSeeOther)
	assertStatus(t, member.Get("/orgs/"+org), http.StatusOK)
	// The exemption is this organization's: their own organization
	// never asked.
	assertStatus(t, member.Get("/orgs/"+own), http.StatusOK)

	// The Members page says why Tess is let in without a factor.
	if got := owner.twoFactorColumn(org); got["Tess"] != "SSO" || got["Ada"] != "On" {
		t.Fatalf("2FA column = %v, want Tess SSO and Ada On", got)
	}
}
