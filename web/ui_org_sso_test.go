package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// orgSSOSecret is long and recognisable: finding it anywhere means it leaked.
const orgSSOSecret = "org-sso-client-secret-Zq8Wm3Kp5Vt1Xy7Bn4Hs2Jd6"

// orgSSOPath is Settings > Single sign-on of org.
func orgSSOPath(org string) string { return "/orgs/" + org + "/settings/sso" }

// mustSaveOrgSSO posts the SSO settings form and follows the redirect.
func (c *Client) mustSaveOrgSSO(org string, form url.Values) *Page {
	c.tb.Helper()
	p := c.Post(orgSSOPath(org), form)
	assertStatus(c.tb, p, http.StatusSeeOther)
	if loc, _ := p.Location(); loc == nil || loc.Path != orgSSOPath(org) {
		c.tb.Fatalf("redirected to %v", loc)
	}
	return c.Follow(p)
}

// orgSSOForm is a valid settings form for op, claiming the OP user's
// domain (zitadel.ch) and example.org.
func orgSSOForm(op *TestOP, requireSSO bool) url.Values {
	v := url.Values{"issuer": {op.Issuer}, "client_id": {op.ClientID}, "client_secret": {op.Secret}, "domains": {"zitadel.ch, Example.ORG\n"}}
	if requireSSO {
		v.Set("require_sso", "1")
	}
	return v
}

func TestOrgSSOSettings(t *testing.T) {
	t.Parallel()
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithDNS(dns))
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	member := MustAddMember(t, app, org, "Mia", "mia@example.com", keygate.RoleMember)
	stranger := app.NewClient(t)
	strangerOrg := stranger.MustSignup("Bob", "bob@example.com", "Org B")
	form := url.Values{"issuer": {"https://login.example.org"}, "client_id": {"keygate-app"}, "client_secret": {orgSSOSecret},
		"domains": {"example.org,\nexample.net"}}

	t.Run("OKLinkedFromSettings", func(t *testing.T) {
		p := owner.Get("/orgs/" + org + "/settings")
		assertStatus(t, p, http.StatusOK)
		if got := p.Doc.Find(`nav[aria-label="Organization settings"] a[href="` + orgSSOPath(org) + `"]`).Text(); got != "Single sign-on" {
			t.Fatalf("settings subnav link = %q", got)
		}
		p = owner.Get(orgSSOPath(org))
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("h1"), "Single sign-on"; got != want {
			t.Fatalf("h1 = %q, want %q", got, want)
		}
		if got, want := p.Text(`[data-testid="org-sso-callback"]`), app.URL+"/auth/org/callback"; got != want {
			t.Fatalf("callback shown = %q, want %q", got, want)
		}
	})

	t.Run("OKSavedMasked", func(t *testing.T) {
		p := owner.mustSaveOrgSSO(org, form)
		if got, want := p.Text(`[data-testid="masked-secret"]`), "••••••••"+orgSSOSecret[len(orgSSOSecret)-4:]; got != want {
			t.Fatalf("masked = %q, want %q", got, want)
		}
		var rows []string
		p.Doc.Find(`[data-testid="org-sso-domain"]`).Each(func(_ int, r *goquerySelection) {
			rows = append(rows, r.AttrOr("data-domain", "")+": "+r.Find(`[data-testid="domain-status"]`).Text()+" "+r.Find(`[data-testid="domain-record"]`).Text())
		})
		if got, want := strings.Join(rows, "; "), "example.net: Pending verification _keygate-challenge.example.net; example.org: Pending verification _keygate-challenge.example.org"; got != want {
			t.Fatalf("domains = %q, want %q", got, want)
		}
		if v := p.Doc.Find("#f-client_secret").AttrOr("value", ""); v != "" {
			t.Fatalf("secret input pre-filled with %q", v)
		}
		assertNoSecret(t, p.Body, orgSSOSecret)
		assertNoSecret(t, owner.Get("/orgs/"+org+"/audit-log").Body, orgSSOSecret)
		assertAuditActions(t, app, keygate.AuditOrgSSOSave)
	})

	t.Run("OKEmptySecretKeepsSaved", func(t *testing.T) {
		keep := url.Values{"issuer": {"https://login.example.org"}, "client_id": {"keygate-app-2"}, "domains": {"example.org"}}
		owner.mustSaveOrgSSO(org, keep)
		conf, err := sqlstore.NewOrgSSOService(app.DB, app.SecretBox).FindOrgSSOForLogin(context.Background(), org)
		if err != nil || conf.ClientSecret != orgSSOSecret || conf.ClientID != "keygate-app-2" {
			t.Fatalf("conf = %+v, %v", conf, err)
		}
		// example.net was left out: its claim is released.
		if got := strings.Join(conf.DomainNames(), ","); got != "example.org" {
			t.Fatalf("domains = %s", got)
		}
	})

	for _, tt := range []struct {
		name, field, value, wantErr string
	}{
		{"ErrIssuerNotHTTPS", "issuer", "http://login.example.org", "The issuer must use https://."},
		{"ErrDomainInvalid", "domains", "example.org, not a domain", "“not” is not a domain name, like example.com."},
		{"ErrDomainsRequired", "domains", " , ", "Enter at least one email domain, like example.com."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := url.Values{}
			for k, v := range form {
				bad[k] = v
			}
			bad.Set(tt.field, tt.value)
			p := owner.Post(orgSSOPath(org), bad)
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, tt.field); got != tt.wantErr {
				t.Fatalf("error beside %s = %q, want %q", tt.field, got, tt.wantErr)
			}
			if got := p.Doc.Find("#f-client_id").AttrOr("value", ""); got != "keygate-app" {
				t.Fatalf("client id not kept: %q", got)
			}
			assertNoSecret(t, p.Body, orgSSOSecret)
		})
	}

	t.Run("OKPendingClaimOfAnotherOrganization", func(t *testing.T) {
		// A claim proves nothing, so it blocks nobody: a squatter cannot
		// keep a domain's owner from claiming it.
		stranger.mustSaveOrgSSO(strangerOrg, url.Values{"issuer": {"https://login.example.net"}, "client_id": {"b"}, "client_secret": {"s"},
			"domains": {"example.org"}})
	})

	t.Run("ErrDomainOfAnotherOrganization", func(t *testing.T) {
		owner.mustVerifyDomain(dns, org, "example.org")
		p := stranger.Get(orgSSOPath(strangerOrg))
		if got := p.Text(`[data-domain="example.org"] [data-testid="domain-status"]`); got != "Verified by another organization" {
			t.Fatalf("the other claim's status = %q", got)
		}
		p = stranger.Post(orgSSOPath(strangerOrg), form)
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "domains"), "example.org is already used by another organization."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
	})

	for _, tt := range []struct {
		name       string
		client     *Client
		wantStatus int
		wantBody   string
	}{
		{"ErrForbiddenMember", member, http.StatusForbidden, "You need the Admin role to manage single sign-on"},
		{"ErrNotFoundOtherOrganization", stranger, http.StatusNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []*Page{tt.client.Get(orgSSOPath(org)), tt.client.Post(orgSSOPath(org), form)} {
				assertStatus(t, p, tt.wantStatus)
				if !strings.Contains(p.Text("[data-testid=error-page]"), tt.wantBody) {
					t.Fatalf("error page says %q", p.Text("[data-testid=error-page]"))
				}
				assertNoSecret(t, p.Body, orgSSOSecret)
			}
		})
	}
	t.Run("ErrMemberHasNoLink", func(t *testing.T) {
		p := member.Get("/orgs/" + org + "/settings")
		assertStatus(t, p, http.StatusOK)
		if p.Doc.Find(`a[href="`+orgSSOPath(org)+`"]`).Length() != 0 {
			t.Fatal("a Member sees the Single sign-on link")
		}
	})
}

func TestOrgSSOLogin(t *testing.T) {
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithAllowPrivateDestinations(), WithDNS(dns))
	op := MustStartOP(t, app.URL+"/auth/org/callback")
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	owner.mustSaveOrgSSO(org, orgSSOForm(op, false))

	t.Run("ErrPendingDomainRoutesNobody", func(t *testing.T) {
		p := app.NewClient(t).Post("/login/sso", url.Values{"email": {"someone@zitadel.ch"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "email"), "No organization uses single sign-on for this domain."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
	})
	owner.mustVerifyDomain(dns, org, "zitadel.ch")

	t.Run("OKJustInTimeMember", func(t *testing.T) {
		c := app.NewClient(t)
		p := c.Get("/login")
		assertStatus(t, p, http.StatusOK)
		link := p.Doc.Find(`[data-testid="sso-org-link"]`)
		if got, want := strings.TrimSpace(link.Text()), "Sign in with SSO"; got != want {
			t.Fatalf("link = %q, want %q", got, want)
		}
		p = c.Get(link.AttrOr("href", ""))
		assertStatus(t, p, http.StatusOK)
		if got := p.Text(`label[for="f-email"]`); got != "Work email" {
			t.Fatalf("label = %q", got)
		}
		p = c.Post("/login/sso", url.Values{"email": {"someone@zitadel.ch"}})
		assertStatus(t, p, http.StatusSeeOther)
		authURL := location(t, p)
		q := authURL.Query()
		if authURL.Host != op.Host || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || q.Get("client_id") != op.ClientID {
			t.Fatalf("authorization URL = %s", authURL)
		}
		before := c.SessionCookie()
		cb := c.MustAuthorizeAtOP(op, authURL, op.Username)
		if cb.Path != "/auth/org/callback" {
			t.Fatalf("callback = %s", cb)
		}
		p = c.GetURL(cb.String())
		assertStatus(t, p, http.StatusSeeOther)
		if got, want := location(t, p).Path, "/orgs/"+org; got != want {
			t.Fatalf("redirected to %s, want %s", got, want)
		}
		if c.SessionCookie() == before {
			t.Fatal("session id not rotated at SSO login")
		}
		if got := c.LoggedInAs(); got != opEmail {
			t.Fatalf("logged in as %q, want %q", got, opEmail)
		}
		user := app.MustUser(t, opEmail)
		orgs, err := app.Orgs.FindOrganizations(keygate.NewContextWithUser(context.Background(), user))
		if err != nil || len(orgs) != 1 || orgs[0].PublicID != org || orgs[0].Role != keygate.RoleMember {
			t.Fatalf("organizations = %+v, %v", orgs, err)
		}
		assertAuditActions(t, app, keygate.AuditJoin, keygate.AuditLoginSSO)

		// The callback is good once.
		assertStatus(t, app.NewClient(t).GetURL(cb.String()), http.StatusBadRequest)
		assertStatus(t, c.GetURL(cb.String()), http.StatusBadRequest)
	})

	t.Run("OKSecondLoginSameAccount", func(t *testing.T) {
		c := app.NewClient(t)
		p := c.Post("/login/sso", url.Values{"email": {"Someone@Zitadel.CH"}})
		assertStatus(t, c.GetURL(c.MustAuthorizeAtOP(op, location(t, p), op.Username).String()), http.StatusSeeOther)
		if got := c.LoggedInAs(); got != opEmail {
			t.Fatalf("logged in as %q", got)
		}
		if got, want := app.Count(t, "identities"), 1; got != want {
			t.Fatalf("identities = %d, want %d", got, want)
		}
	})

	for _, tt := range []struct{ name, email, wantErr string }{
		{"ErrUnknownDomain", "someone@unknown.example", "No organization uses single sign-on for this domain."},
		{"ErrInvalidEmail", "not-an-email", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := app.NewClient(t)
			p := c.Post("/login/sso", url.Values{"email": {tt.email}})
			assertStatus(t, p, http.StatusBadRequest)
			got := fieldError(p, "email")
			if got == "" || (tt.wantErr != "" && got != tt.wantErr) {
				t.Fatalf("error beside the email = %q, want %q", got, tt.wantErr)
			}
			if v := p.Doc.Find("#f-email").AttrOr("value", ""); v != tt.email {
				t.Fatalf("email not kept: %q", v)
			}
		})
	}

	t.Run("ErrCallbackWithoutBegin", func(t *testing.T) {
		p := app.NewClient(t).Get("/auth/org/callback?code=x&state=y")
		assertStatus(t, p, http.StatusBadRequest)
		if p.Doc.Find(`[data-testid="sso-error"]`).Length() == 0 {
			t.Fatalf("no error page: %.300s", p.Body)
		}
	})
}

func TestOrgSSORequireSSO(t *testing.T) {
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithAllowPrivateDestinations(), WithDNS(dns))
	op := MustStartOP(t, app.URL+"/auth/org/callback")
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	// The OP's user is a member with a password, and an organization of
	// its own that does not require SSO.
	member := MustAddMember(t, app, org, "Tess", opEmail, keygate.RoleAdmin)
	own := app.mustOwnOrg(t, opEmail)
	assertStatus(t, member.Get("/orgs/"+org), http.StatusOK)

	owner.mustSaveOrgSSO(org, orgSSOForm(op, true))
	owner.mustVerifyDomain(dns, org, "zitadel.ch")

	t.Run("OKPasswordLoginStillWorks", func(t *testing.T) {
		c := app.NewClient(t)
		c.MustLogin(opEmail, testPassword)
		if got := c.LoggedInAs(); got != opEmail {
			t.Fatalf("logged in as %q", got)
		}
		assertStatus(t, c.Get("/orgs/"+own), http.StatusOK)
	})
	t.Run("ErrOrganizationPagesNeedSSO", func(t *testing.T) {
		for _, path := range []string{"/orgs/" + org, "/orgs/" + org + "/api-keys", "/orgs/" + org + "/members", orgSSOPath(org)} {
			p := member.Get(path)
			assertStatus(t, p, http.StatusForbidden)
			if got, want := p.Text("h1"), "Org A requires single sign-on"; got != want {
				t.Fatalf("%s: h1 = %q, want %q", path, got, want)
			}
			if got := p.Text(`button[data-testid="org-sso-continue"]`); got != "Continue with SSO" {
				t.Fatalf("%s: button = %q", path, got)
			}
		}
		// Keys cannot be managed from a password session.
		before := app.Count(t, "api_keys")
		p := member.Post("/orgs/"+org+"/api-keys", url.Values{"name": {"sneaky"}, "scopes": {"read"}})
		assertStatus(t, p, http.StatusForbidden)
		if got := app.Count(t, "api_keys"); got != before {
			t.Fatalf("api_keys = %d, want %d", got, before)
		}
	})
	t.Run("OKOtherOrganizationUnaffected", func(t *testing.T) {
		assertStatus(t, member.Get("/orgs/"+own), http.StatusOK)
	})
	t.Run("OKOwnerPasswordFallback", func(t *testing.T) {
		assertStatus(t, owner.Get("/orgs/"+org), http.StatusOK)
		c := app.NewClient(t)
		c.MustLogin("ada@example.com", testPassword)
		assertStatus(t, c.Get("/orgs/"+org+"/api-keys"), http.StatusOK)
	})
	t.Run("OKContinueWithSSO", func(t *testing.T) {
		p := member.Get("/orgs/" + org + "/api-keys")
		form := p.Doc.Find(`[data-testid="org-sso-required"] form`)
		v := url.Values{}
		form.Find("input[type=hidden]").Each(func(_ int, in *goquerySelection) { v.Set(in.AttrOr("name", ""), in.AttrOr("value", "")) })
		p = member.Post(form.AttrOr("action", ""), v)
		assertStatus(t, p, http.StatusSeeOther)
		p = member.GetURL(member.MustAuthorizeAtOP(op, location(t, p), op.Username).String())
		assertStatus(t, p, http.StatusSeeOther)
		if got, want := location(t, p).Path, "/orgs/"+org+"/api-keys"; got != want {
			t.Fatalf("back to %s, want %s", got, want)
		}
		assertStatus(t, member.Get("/orgs/"+org+"/api-keys"), http.StatusOK)
		assertStatus(t, member.Get("/orgs/"+own), http.StatusOK)
		if got := member.LoggedInAs(); got != opEmail {
			t.Fatalf("logged in as %q", got)
		}
	})
	t.Run("OKLeaveWithoutSSO", func(t *testing.T) {
		leaver := MustAddMember(t, app, org, "Lee", "lee@example.com", keygate.RoleMember)
		assertStatus(t, leaver.Get("/orgs/"+org), http.StatusForbidden)
		assertStatus(t, leaver.Post("/orgs/"+org+"/leave", nil), http.StatusSeeOther)
		assertStatus(t, leaver.Get("/orgs/"+org), http.StatusNotFound)
	})
}

func TestOrgSSOSecretStoredNowhereAndRotated(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada", "ada@example.com", "Org A")
	c.mustSaveOrgSSO(org, url.Values{"issuer": {"https://login.example.org"}, "client_id": {"recognisable-sso-client-id"},
		"client_secret": {orgSSOSecret}, "domains": {"example.org"}})
	assertStatus(t, c.Post(orgSSOPath(org), url.Values{"issuer": {"ftp://x"}, "client_secret": {orgSSOSecret + "-v2"}}), http.StatusBadRequest)
	c.Get(orgSSOPath(org))

	files, _ := filepath.Glob(app.DB.Path + "*")
	var sawClientID bool
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sawClientID = sawClientID || bytes.Contains(buf, []byte("recognisable-sso-client-id"))
		s := orgSSOSecret
		for _, needle := range []string{s, s[:len(s)/2], s[len(s)/2:]} {
			if bytes.Contains(buf, []byte(needle)) {
				t.Fatalf("%s contains %q", filepath.Base(f), needle)
			}
		}
	}
	if !sawClientID {
		t.Fatalf("files %v: client id not found, so the rows were not read", files)
	}

	next, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := app.Integrations.RotateSecretKey(context.Background(), app.SecretBox, next)
	if err != nil || n != 1 {
		t.Fatalf("rotate: n=%d err=%v", n, err)
	}
	conf, err := sqlstore.NewOrgSSOService(app.DB, next).FindOrgSSOForLogin(context.Background(), org)
	if err != nil || conf.ClientSecret != orgSSOSecret {
		t.Fatalf("after rotation: %+v, %v", conf, err)
	}
	if _, err := sqlstore.NewOrgSSOService(app.DB, app.SecretBox).FindOrgSSOForLogin(context.Background(), org); err == nil {
		t.Fatal("the old key still opens the secret")
	}
}

// mustOwnOrg returns the organization that email's user signed up with.
func (a *App) mustOwnOrg(tb testing.TB, email string) string {
	tb.Helper()
	orgs, err := a.Orgs.FindOrganizations(keygate.NewContextWithUser(context.Background(), a.MustUser(tb, email)))
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range orgs {
		if o.Role == keygate.RoleOwner {
			return o.PublicID
		}
	}
	tb.Fatalf("%s owns no organization", email)
	return ""
}
