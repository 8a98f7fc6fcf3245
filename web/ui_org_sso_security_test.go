package web_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Anonymous traffic to the begin routes must not grow the sessions table:
// each request used to store a session row for its flow.
func TestSSOBeginStoresNoSessions(t *testing.T) {
	dns := NewFakeDNS()
	app, _ := MustOpenAppWithOP(t, "Okta", WithAllowPrivateDestinations(), WithDNS(dns))
	op := MustStartOP(t, app.URL+"/auth/org/callback")
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	owner.mustSaveOrgSSO(org, orgSSOForm(op, false))
	owner.mustVerifyDomain(dns, org, "zitadel.ch")
	before := app.Count(t, "sessions")
	for range 30 {
		c := app.NewClient(t)
		p := c.Post("/login/sso", url.Values{"email": {"someone@zitadel.ch"}})
		assertStatus(t, p, http.StatusSeeOther)
		assertStatus(t, c.Get("/auth/oidc"), http.StatusSeeOther)
	}
	if got := app.Count(t, "sessions"); got != before {
		t.Fatalf("sessions = %d after 60 anonymous begins, want %d", got, before)
	}
	// The flow lives in the browser: a forged or foreign flow cookie is no
	// flow at all.
	c := app.NewClient(t)
	p := c.Post("/login/sso", url.Values{"email": {"someone@zitadel.ch"}})
	state := location(t, p).Query().Get("state")
	var flow *http.Cookie
	for _, ck := range p.Cookies() {
		if ck.Name == "__Host-keygate_sso" {
			flow = ck
		}
	}
	if flow == nil || !flow.Secure || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.MaxAge != 600 {
		t.Fatalf("flow cookie = %+v", flow)
	}
	if strings.Contains(flow.Value, state) {
		t.Fatal("the flow cookie carries its state in clear")
	}
	other := app.NewClient(t)
	req, _ := http.NewRequest(http.MethodGet, app.URL+"/auth/org/callback?code=x&state="+url.QueryEscape(state), nil)
	req.AddCookie(&http.Cookie{Name: flow.Name, Value: flow.Value[:len(flow.Value)-2] + "xx"})
	assertStatus(t, other.Do(req), http.StatusBadRequest)
}

// An Organization Admin must not make Keygate call internal hosts
// through its provider's settings.
func TestOrgSSOOutboundGuard(t *testing.T) {
	t.Parallel()
	t.Run("ErrInternalIssuer", func(t *testing.T) {
		dns := NewFakeDNS()
		dns.SetAddr("idp.corp.example", "10.1.2.3")
		app := MustOpenApp(t, WithDNS(dns)) // without --allow-private-destinations
		c := app.NewClient(t)
		org := c.MustSignup("Ada", "ada@example.com", "Org A")
		flag := " An operator can allow private and loopback addresses with --allow-private-destinations."
		for _, tt := range []struct{ issuer, want string }{
			{"http://127.0.0.1:9/", "Keygate does not connect to private or internal addresses: 127.0.0.1 is a loopback address." + flag},
			{"http://localhost:9/", "Keygate does not connect to private or internal addresses: localhost resolves to 127.0.0.1, a loopback address." + flag},
			{"https://10.0.0.5/", "Keygate does not connect to private or internal addresses: 10.0.0.5 is a private address." + flag},
			{"https://169.254.169.254/", "Keygate does not connect to private or internal addresses: 169.254.169.254 is a link-local address."},
			{"https://idp.corp.example/", "Keygate does not connect to private or internal addresses: idp.corp.example resolves to 10.1.2.3, a private address." + flag},
		} {
			if tt.issuer == "http://localhost:9/" {
				dns.SetAddr("localhost", "127.0.0.1")
			}
			p := c.Post(orgSSOPath(org), url.Values{"issuer": {tt.issuer}, "client_id": {"c"}, "client_secret": {"s"}, "domains": {"example.com"}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "issuer"); got != tt.want {
				t.Fatalf("%s: error = %q, want %q", tt.issuer, got, tt.want)
			}
		}
		if got := app.Count(t, "org_sso"); got != 0 {
			t.Fatalf("org_sso rows = %d: an internal issuer was saved", got)
		}
	})

	// A discovery document that redirects, or that names an internal
	// token endpoint, is refused when used, not followed.
	var internalHits atomic.Int32
	internal := mustServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		w.Write([]byte(`{"issuer":"x"}`))
	}))
	var issuer string
	discovery := map[string]string{}
	idp := mustServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		if discovery["redirect"] != "" {
			http.Redirect(w, r, discovery["redirect"], http.StatusFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "auth",
			"token_endpoint": discovery["token"], "jwks_uri": issuer + "keys", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	}))
	issuer = idp + "/"
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithAllowPrivateDestinations(), WithDNS(dns))
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")

	t.Run("ErrDiscoveryRedirectNotFollowed", func(t *testing.T) {
		discovery["redirect"] = internal + "/internal/admin"
		owner.mustSaveOrgSSO(org, url.Values{"issuer": {issuer}, "client_id": {"c"}, "client_secret": {"s"}, "domains": {"example.com"}})
		owner.mustVerifyDomain(dns, org, "example.com")
		p := app.NewClient(t).Post("/login/sso", url.Values{"email": {"someone@example.com"}})
		assertStatus(t, p, http.StatusServiceUnavailable)
		if got := p.Text(`[data-testid="sso-error-message"]`); !strings.Contains(got, "Keygate does not follow redirects from an organization's services") {
			t.Fatalf("message = %q", got)
		}
		if n := internalHits.Load(); n != 0 {
			t.Fatalf("the redirect was followed: %d requests reached the internal host", n)
		}
	})
	t.Run("ErrInternalTokenEndpoint", func(t *testing.T) {
		delete(discovery, "redirect")
		discovery["token"] = "http://169.254.169.254/latest/api/token"
		owner.mustSaveOrgSSO(org, url.Values{"issuer": {issuer}, "client_id": {"c2"}, "domains": {"example.com"}}) // a new client id: discovery again
		c := app.NewClient(t)
		p := c.Post("/login/sso", url.Values{"email": {"someone@example.com"}})
		assertStatus(t, p, http.StatusSeeOther)
		state := location(t, p).Query().Get("state")
		start := time.Now()
		p = c.Get("/auth/org/callback?code=attacker-chosen&state=" + url.QueryEscape(state))
		assertStatus(t, p, http.StatusUnauthorized)
		if got := p.Text(`[data-testid="sso-error-message"]`); !strings.Contains(got, "169.254.169.254 is a link-local address") {
			t.Fatalf("message = %q", got)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the token request was attempted (%v)", d)
		}
	})
}

// mustServe serves h on a loopback port over plain HTTP and returns its
// base URL.
func mustServe(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestOrgSSODomainVerification(t *testing.T) {
	t.Parallel()
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithDNS(dns))
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	member := MustAddMember(t, app, org, "Mia", "mia@example.com", keygate.RoleMember)
	owner.mustSaveOrgSSO(org, url.Values{"issuer": {"https://login.example.org"}, "client_id": {"c"}, "client_secret": {"s"},
		"domains": {"example.org"}})
	p := owner.Get(orgSSOPath(org))
	row := p.Doc.Find(`[data-testid="org-sso-domain"][data-domain="example.org"]`)
	token := row.Find(`[data-testid="domain-token"]`).Text()
	verify := row.Find(`[data-testid="domain-verify"]`).Closest("form").AttrOr("action", "")
	if verify != "/orgs/"+org+"/settings/sso/domains/example.org/verify" || !strings.HasPrefix(token, "keygate-") {
		t.Fatalf("verify action %q, token %q", verify, token)
	}
	for _, tt := range []struct {
		name    string
		records []string
		want    string
	}{
		{"ErrNoRecord", nil, "There is no TXT record at _keygate-challenge.example.org yet. Add it with the value shown, then verify again: DNS changes can take a few minutes to appear."},
		{"ErrWrongValue", []string{"keygate-not-the-token"}, "The TXT record at _keygate-challenge.example.org does not hold this domain's token. Its value must be exactly " + token + "."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.records != nil {
				dns.SetTXT("_keygate-challenge.example.org", tt.records...)
			}
			p := owner.Post(verify, nil)
			assertStatus(t, p, http.StatusBadRequest)
			if got := p.Text(`[data-testid="domain-error"]`); got != tt.want {
				t.Fatalf("error = %q, want %q", got, tt.want)
			}
			if got := p.Text(`[data-domain="example.org"] [data-testid="domain-status"]`); got != "Pending verification" {
				t.Fatalf("status = %q", got)
			}
		})
	}
	t.Run("ErrForbiddenMember", func(t *testing.T) {
		assertStatus(t, member.Post(verify, nil), http.StatusForbidden)
	})
	t.Run("OK", func(t *testing.T) {
		dns.SetTXT("_keygate-challenge.example.org", "v=spf1 -all", token)
		p := owner.Post(verify, nil)
		assertStatus(t, p, http.StatusSeeOther)
		p = owner.Follow(p)
		if got := p.Text(`[data-domain="example.org"] [data-testid="domain-status"]`); got != "Verified" {
			t.Fatalf("status = %q", got)
		}
		if p.Doc.Find(`[data-domain="example.org"] [data-testid="domain-verify"]`).Length() != 0 {
			t.Fatal("a verified domain still offers Verify")
		}
		assertAuditActions(t, app, keygate.AuditSSODomainVerify)
	})
	t.Run("OKStaysVerifiedWhenTheRecordGoes", func(t *testing.T) {
		dns.SetTXT("_keygate-challenge.example.org")
		owner.mustSaveOrgSSO(org, url.Values{"issuer": {"https://login.example.org"}, "client_id": {"c"}, "domains": {"example.org"}})
		if got := owner.Get(orgSSOPath(org)).Text(`[data-domain="example.org"] [data-testid="domain-status"]`); got != "Verified" {
			t.Fatalf("status = %q", got)
		}
	})
}

func TestAdminApprovesDomain(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	root := app.NewClient(t)
	root.MustSignup("Root", "root@example.com", "Instance") // the first account: a superuser
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@acme.example", "Acme")
	owner.mustSaveOrgSSO(org, url.Values{"issuer": {"https://login.acme.example"}, "client_id": {"c"}, "client_secret": {"s"},
		"domains": {"acme.example"}})
	action := "/admin/organizations/" + org + "/domains/acme.example/approve"

	t.Run("ErrNotSuperuser", func(t *testing.T) {
		assertStatus(t, owner.Get("/admin/domains"), http.StatusNotFound)
		assertStatus(t, owner.Post(action, nil), http.StatusNotFound)
	})
	t.Run("OKPendingListed", func(t *testing.T) {
		p := root.Get("/admin")
		if got := p.Doc.Find(`[data-testid="stat"]:contains("SSO domains pending verification") dd`).Text(); got != "1" {
			t.Fatalf("pending stat = %q", got)
		}
		p = root.Get("/admin/domains")
		assertStatus(t, p, http.StatusOK)
		row := p.Doc.Find(`[data-testid="admin-domain"][data-domain="acme.example"]`)
		if got := row.Find(`[data-testid="domain-status"]`).Text(); got != "Pending verification" {
			t.Fatalf("status = %q", got)
		}
		if got := row.Find(`[data-testid="domain-approve"]`).Closest("form").AttrOr("action", ""); got != action {
			t.Fatalf("approve action = %q, want %q", got, action)
		}
	})
	t.Run("OKApproved", func(t *testing.T) {
		p := root.Post(action, nil)
		assertStatus(t, p, http.StatusSeeOther)
		p = root.Follow(p)
		row := p.Doc.Find(`[data-testid="admin-domain"][data-domain="acme.example"]`)
		if got := row.Find(`[data-testid="domain-status"]`).Text(); got != "Verified" || row.Find(`[data-testid="domain-approve"]`).Length() != 0 {
			t.Fatalf("row = %q", row.Text())
		}
		if got := owner.Get(orgSSOPath(org)).Text(`[data-domain="acme.example"] [data-testid="domain-status"]`); got != "Verified" {
			t.Fatalf("the organization sees %q", got)
		}
	})
}

func TestOrgSSOLinkFromSignInMethods(t *testing.T) {
	app := MustOpenApp(t, WithAllowPrivateDestinations())
	op := MustStartOP(t, app.URL+"/auth/org/callback")
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	owner.mustSaveOrgSSO(org, orgSSOForm(op, false))
	member := MustAddMember(t, app, org, "Mia", "mia@example.com", keygate.RoleMember)

	p := member.Get("/settings/sign-in-methods")
	assertStatus(t, p, http.StatusOK)
	btn := p.Doc.Find(`[data-testid="link-org-` + org + `"]`)
	if got := strings.Join(strings.Fields(btn.Text()), " "); got != "Link Org A single sign-on" {
		t.Fatalf("button = %q", got)
	}
	// The instance's superuser may not link an organization's provider.
	if owner.Get("/settings/sign-in-methods").Doc.Find(`[data-testid="link-org-`+org+`"]`).Length() != 0 {
		t.Fatal("a superuser is offered the organization's provider")
	}
	p = member.Post(btn.Closest("form").AttrOr("action", ""), nil)
	assertStatus(t, p, http.StatusSeeOther)
	p = member.GetURL(member.MustAuthorizeAtOP(op, location(t, p), op.Username).String())
	assertStatus(t, p, http.StatusSeeOther)
	p = member.Follow(p)
	if got := p.Doc.Find(`[data-testid="identity-row"] td`).First().Text(); got != "Org A single sign-on" {
		t.Fatalf("linked provider = %q", got)
	}
	// Leaving the organization unlinks its provider.
	assertStatus(t, member.Post("/orgs/"+org+"/leave", nil), http.StatusSeeOther)
	if got := app.Count(t, "identities"); got != 0 {
		t.Fatalf("identities = %d after leaving", got)
	}
}

func TestOrgSSODelete(t *testing.T) {
	dns := NewFakeDNS()
	app := MustOpenApp(t, WithAllowPrivateDestinations(), WithDNS(dns))
	op := MustStartOP(t, app.URL+"/auth/org/callback")
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	owner.mustSaveOrgSSO(org, orgSSOForm(op, false))
	owner.mustVerifyDomain(dns, org, "zitadel.ch")
	c := app.NewClient(t)
	assertStatus(t, c.orgSSOLogin(op, "someone@zitadel.ch", op.Username), http.StatusSeeOther)
	if got := app.Count(t, "identities"); got != 1 {
		t.Fatalf("identities = %d", got)
	}
	p := owner.Get(orgSSOPath(org))
	p = owner.Get(p.Doc.Find(`[data-testid="org-sso-delete"]`).AttrOr("href", ""))
	assertStatus(t, p, http.StatusOK)
	form := p.Doc.Find(`form[action="/orgs/` + org + `/settings/sso/delete"]`)
	if form.Length() == 0 {
		t.Fatalf("no confirmation form: %.300s", p.Body)
	}
	p = owner.Post(form.AttrOr("action", ""), nil)
	assertStatus(t, p, http.StatusSeeOther)
	for table, want := range map[string]int{"identities": 0, "org_sso": 0, "org_sso_domains": 0} {
		if got := app.Count(t, table); got != want {
			t.Fatalf("%s = %d, want %d", table, got, want)
		}
	}
	assertAuditActions(t, app, keygate.AuditOrgSSODelete)
	p = app.NewClient(t).Post("/login/sso", url.Values{"email": {"someone@zitadel.ch"}})
	assertStatus(t, p, http.StatusBadRequest)
}
