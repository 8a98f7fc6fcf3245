package web_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// TestBrowser_OrgSSO is an Admin setting up single sign-on and proving a
// domain, and a member of the Require SSO organization getting through
// with "Continue with SSO", the way people click, each page checked by
// axe.
func TestBrowser_OrgSSO(t *testing.T) {
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithAllowPrivateDestinations(), WithDNS(dns))
	op := MustStartOP(t, app.URL+"/auth/org/callback")
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()
	MustAddMember(t, app, org, "Tess Tester", opEmail, keygate.RoleAdmin)

	b.Visit("/orgs/" + org + "/settings/sso")
	b.Fill("Issuer URL", op.Issuer)
	b.Fill("Client ID", op.ClientID)
	b.Fill("Client secret", op.Secret)
	b.Fill("Email domains", "zitadel.ch")
	b.Click(Label("Require SSO"))
	b.Click(Button("Save"))
	domain := `//tr[@data-domain="zitadel.ch"]`
	b.WaitVisible(domain + `//*[normalize-space()="Pending verification"]`)
	b.CheckA11y("sso-settings-pending")

	// Verify before the record exists: the reason beside the domain.
	b.Click(domain + `//button[starts-with(normalize-space(),"Verify")]`)
	b.WaitVisible(`//*[@data-testid="domain-error"]`)
	if got := b.Text(`//*[@data-testid="domain-error"]`); !strings.HasPrefix(got, "There is no TXT record at _keygate-challenge.zitadel.ch yet.") {
		t.Fatalf("error = %q", got)
	}
	b.CheckA11y("sso-settings-verify-error")
	dns.SetTXT(b.Text(domain+`//*[@data-testid="domain-record"]`), b.Text(domain+`//*[@data-testid="domain-token"]`))
	b.Click(domain + `//button[starts-with(normalize-space(),"Verify")]`)
	b.WaitVisible(domain + `//*[normalize-space()="Verified"]`)

	b.Visit("/admin/domains")
	b.WaitVisible(Heading("SSO domains"))
	b.CheckA11y("admin-domains")

	// Tess logs in with her password: her organization asks for SSO.
	b.Click(Menu("Account menu for Ada Lovelace"))
	b.Click(MenuItem("Account menu for Ada Lovelace", "Log out"))
	b.WaitVisible(`//*[normalize-space()="You have been logged out."]`)
	b.Login(opEmail)
	b.Visit("/orgs/" + org + "/api-keys")
	b.WaitVisible(Heading("Analytical Engines requires single sign-on"))
	b.CheckA11y("sso-required")
	b.Click(Button("Continue with SSO"))
	b.Fill("Username:", op.Username)
	b.Fill("Password:", "verysecure")
	b.Click(Button("Login"))
	b.WaitVisible(`//h1[normalize-space()="API Keys"]`)
}
