package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/keygate/keygate/internal/keygate"
)

// stepUpDialog checks that p is the "Confirm it's you" dialog and returns
// its form's action and fields.
func stepUpDialog(tb testing.TB, p *Page) (string, url.Values) {
	tb.Helper()
	assertStatus(tb, p, http.StatusOK)
	return stepUpFields(tb, p)
}

// stepUpFields returns the action and fields of a dialog shown with any
// status (again, after a wrong factor).
func stepUpFields(tb testing.TB, p *Page) (string, url.Values) {
	tb.Helper()
	if got := p.Text("#stepup-heading"); got != "Confirm it's you" {
		tb.Fatalf("heading = %q, want the step-up dialog; body: %.600s", got, p.Body)
	}
	form := p.Doc.Find("[data-testid=step-up] form")
	fields := url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) {
		fields.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	return form.AttrOr("action", ""), fields
}

// staleSession makes c's session older than the step-up window.
func staleSession(app *App) { app.Clock.Advance(11 * time.Minute) }

// stepUpCase is one dangerous action: the form posted, and whether it
// took effect.
type stepUpCase struct {
	name string
	path func() string
	form url.Values
	// done reports whether the action took effect.
	done func(t *testing.T) bool
	// status of the action's own answer once confirmed.
	status int
}

func TestStepUp_Actions(t *testing.T) {
	t.Parallel()
	app, _, c := mustOpenResetApp(t)
	ada := app.MustUser(t, "ada@example.com")
	as := keygate.NewContextWithUser(context.Background(), ada)
	orgs, err := app.Orgs.FindOrganizations(as)
	if err != nil || len(orgs) != 1 {
		t.Fatalf("orgs = %v, %v", orgs, err)
	}
	orgID := orgs[0].PublicID
	MustAddMember(t, app, orgID, "Al", "al@example.com", keygate.RoleMember)
	MustAddMember(t, app, orgID, "Bo", "bo@example.com", keygate.RoleMember)
	al, bo := app.MustUser(t, "al@example.com"), app.MustUser(t, "bo@example.com")
	c.MustCreateKey(orgID, keyForm("Root", "production", []string{"admin"}, "none"))
	root := app.keyByName(t, ada, orgID, "Root", keygate.KeyActive)
	role := func(u *keygate.User) keygate.Role {
		ms, _ := app.Orgs.FindMembers(as, orgID)
		for _, m := range ms {
			if m.User.ID == u.ID {
				return m.Role
			}
		}
		return ""
	}
	org := "/orgs/" + orgID

	cases := []stepUpCase{
		{name: "create an Admin key", path: func() string { return org + "/api-keys" },
			form:   keyForm("Ops", "production", []string{"admin"}, "none"),
			done:   func(t *testing.T) bool { return len(app.keysOf(t, ada, orgID, keygate.KeyActive)) == 2 },
			status: http.StatusOK},
		{name: "roll an Admin key", path: func() string { return org + "/api-keys/" + root.PublicID + "/roll" },
			form: url.Values{"grace": {"0"}, "form_token": {"roll-root"}},
			done: func(t *testing.T) bool {
				k, err := app.Keys.FindAPIKeyByID(as, orgID, root.PublicID)
				return err == nil && k.RevokedAt != nil
			}, status: http.StatusOK},
		{name: "change a role", path: func() string { return org + "/members/" + al.PublicID + "/role" },
			form:   url.Values{"role": {"admin"}},
			done:   func(*testing.T) bool { return role(al) == keygate.RoleAdmin },
			status: http.StatusSeeOther},
		{name: "remove a member and revoke their keys", path: func() string { return org + "/members/" + bo.PublicID + "/remove" },
			form:   url.Values{"keys": {"revoke"}},
			done:   func(*testing.T) bool { return role(bo) == "" },
			status: http.StatusSeeOther},
		{name: "change the password", path: func() string { return "/settings/password" },
			form: url.Values{"current_password": {testPassword}, "new_password": {"a brand new passphrase 42"}},
			done: func(*testing.T) bool {
				_, err := app.Users.Authenticate(context.Background(), "ada@example.com", "a brand new passphrase 42")
				return err == nil
			}, status: http.StatusSeeOther},
		{name: "change the email", path: func() string { return "/settings/profile" },
			form:   url.Values{"name": {"Ada"}, "email": {"ada@new.example.com"}, "profile_password": {"a brand new passphrase 42"}},
			done:   func(*testing.T) bool { return app.Count(t, "email_changes") == 1 },
			status: http.StatusSeeOther},
		{name: "set up an authenticator app", path: func() string { return "/settings/security/totp/begin" },
			done:   func(*testing.T) bool { return app.Count(t, "user_totp") == 1 },
			status: http.StatusOK},
		{name: "transfer ownership", path: func() string { return org + "/transfer" },
			form:   url.Values{"user": {al.PublicID}},
			done:   func(*testing.T) bool { return role(al) == keygate.RoleOwner },
			status: http.StatusSeeOther},
	}
	password := testPassword
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			staleSession(app)
			p := c.Post(tc.path(), tc.form)
			action, fields := stepUpDialog(t, p)
			if action != tc.path() {
				t.Fatalf("dialog posts to %q, want %q", action, tc.path())
			}
			if tc.done(t) {
				t.Fatal("the action took effect before the confirmation")
			}
			// Nothing the person typed is on the page in clear.
			for _, vs := range tc.form {
				for _, v := range vs {
					if len(v) > 6 && strings.Contains(p.Body, v) {
						t.Fatalf("the dialog shows %q", v)
					}
				}
			}
			// A wrong password: the dialog again, the error by the field.
			wrong := url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_password": {"not it"}}
			p = c.Post(action, wrong)
			assertStatus(t, p, http.StatusUnauthorized)
			if got := fieldError(p, "_stepup_password"); got != "Password is incorrect." {
				t.Fatalf("password error = %q", got)
			}
			if tc.done(t) {
				t.Fatal("the action took effect after a wrong password")
			}
			_, fields = stepUpFields(t, p)
			// From another site: refused.
			confirm := url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_password": {password}}
			req, _ := http.NewRequest(http.MethodPost, app.URL+action, strings.NewReader(confirm.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			assertStatus(t, c.Do(req), http.StatusForbidden)
			// Confirmed: the action proceeds with the data first sent.
			p = c.Post(action, confirm)
			assertStatus(t, p, tc.status)
			if !tc.done(t) {
				t.Fatalf("the action did not take effect; body: %.600s", p.Body)
			}
			if tc.name == "change the password" {
				password = "a brand new passphrase 42"
			}
			// The same confirmation again is refused (a session renewed by
			// the action no longer knows it at all).
			if p := c.Post(action, confirm); p.StatusCode != http.StatusConflict && p.StatusCode != http.StatusBadRequest {
				t.Fatalf("replayed confirmation: status %d", p.StatusCode)
			}
		})
	}
}

func TestStepUp_RecentSessionNotAsked(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	ada := app.MustUser(t, "ada@example.com")
	// Within 10 minutes of the login nothing is asked.
	app.Clock.Advance(9 * time.Minute)
	c.MustCreateKey(orgID, keyForm("Root", "production", []string{"admin"}, "none"))
	// A Read key never asks, however old the session.
	staleSession(app)
	c.MustCreateKey(orgID, keyForm("Reader", "production", []string{"read"}, "none"))
	if n := len(app.keysOf(t, ada, orgID, keygate.KeyActive)); n != 2 {
		t.Fatalf("keys = %d, want 2", n)
	}
	// Logging in again counts as a recent authentication.
	c.Post("/logout", nil)
	c.MustLogin("ada@example.com", testPassword)
	c.MustCreateKey(orgID, keyForm("Root 2", "production", []string{"admin"}, "none"))
}

func TestStepUp_AuthenticatorCode(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	secret, _ := c.MustEnrollTOTP()
	staleSession(app)
	p := c.Post("/orgs/"+orgID+"/api-keys", keyForm("Ops", "production", []string{"admin"}, "none"))
	action, fields := stepUpDialog(t, p)
	// A person with a second factor confirms with it, not the password.
	if p.Doc.Find("input[name=_stepup_password]").Length() != 0 || p.Doc.Find("input[name=_stepup_code]").Length() != 1 {
		t.Fatalf("dialog fields: %.800s", p.Body)
	}
	p = c.Post(action, url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_code": {wrongCode(totpCodeAt(t, secret, app.Clock.Now()))}})
	assertStatus(t, p, http.StatusUnauthorized)
	if fieldError(p, "_stepup_code") == "" {
		t.Fatalf("no error by the code field: %.600s", p.Body)
	}
	_, fields = stepUpFields(t, p)
	code := totpCodeAt(t, secret, app.Clock.Now())
	secretShown, _ := c.MustCreateKeyConfirmed(action, url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_code": {code}})
	if secretShown == "" {
		t.Fatal("no key shown after the confirmation")
	}
	// The same code cannot confirm a second time.
	staleSession(app)
	_, fields = stepUpDialog(t, c.Post("/orgs/"+orgID+"/api-keys", keyForm("Ops 2", "production", []string{"admin"}, "none")))
	p = c.Post(action, url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_code": {code}})
	assertStatus(t, p, http.StatusUnauthorized)
}

// MustCreateKeyConfirmed posts a confirmed dialog of a key creation and
// returns the secret the modal shows.
func (c *Client) MustCreateKeyConfirmed(action string, form url.Values) (string, *Page) {
	c.tb.Helper()
	p := c.Post(action, form)
	assertStatus(c.tb, p, http.StatusOK)
	secret, _ := p.Doc.Find("#new-api-key").Attr("value")
	return secret, p
}

func TestStepUp_ExpiredDialog(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	staleSession(app)
	action, fields := stepUpDialog(t, c.Post("/orgs/"+orgID+"/api-keys", keyForm("Ops", "production", []string{"admin"}, "none")))
	// A dialog left open too long, or posted to another action, is refused.
	assertStatus(t, c.Post("/orgs/"+orgID+"/delete", url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_password": {testPassword}}), http.StatusBadRequest)
	app.Clock.Advance(11 * time.Minute)
	p := c.Post(action, url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_password": {testPassword}})
	if p.StatusCode != http.StatusBadRequest && p.StatusCode != http.StatusConflict {
		t.Fatalf("stale dialog status = %d", p.StatusCode)
	}
	// Another session cannot use this one's dialog.
	other := app.NewClient(t)
	other.MustLogin("ada@example.com", testPassword)
	staleSession(app)
	_, fields = stepUpDialog(t, c.Post("/orgs/"+orgID+"/api-keys", keyForm("Ops", "production", []string{"admin"}, "none")))
	assertStatus(t, other.Post(action, url.Values{"_stepup_form": fields["_stepup_form"], "_stepup_password": {testPassword}}), http.StatusBadRequest)
}

func TestStepUp_SingleSignOn(t *testing.T) {
	app, op := MustOpenAppWithOP(t, "Acme SSO")
	c := app.NewClient(t)
	// Signed up through the provider: no password, no second factor.
	assertStatus(t, c.GetURL(c.MustSSOCallback(op).String()), http.StatusSeeOther)
	ada := app.MustUser(t, opEmail)
	orgs, err := app.Orgs.FindOrganizations(keygate.NewContextWithUser(context.Background(), ada))
	if err != nil || len(orgs) != 1 {
		t.Fatalf("orgs = %v, %v", orgs, err)
	}
	orgID := orgs[0].PublicID
	staleSession(app)
	p := c.Post("/orgs/"+orgID+"/api-keys", keyForm("Ops", "production", []string{"admin"}, "none"))
	stepUpDialog(t, p)
	button := p.Doc.Find("[data-testid=step-up] form[action='/settings/step-up/oidc']")
	if got := strings.TrimSpace(button.Find("button").Text()); got != "Continue with Acme SSO" {
		t.Fatalf("provider button = %q; body: %.800s", got, p.Body)
	}
	sealed := button.Find("input[name=_stepup_form]").AttrOr("value", "")
	// The provider is asked to sign the person in again.
	authURL := location(t, c.Post("/settings/step-up/oidc", url.Values{"_stepup_form": {sealed}}))
	if q := authURL.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "0" {
		t.Fatalf("authorization URL %s lacks prompt=login and max_age=0", authURL)
	}
	if len(app.keysOf(t, ada, orgID, keygate.KeyActive)) != 0 {
		t.Fatal("key created before the confirmation")
	}
	callback := c.MustAuthorizeAtOP(op, authURL, op.Username)
	p = c.GetURL(callback.String())
	action, fields := stepUpDialog(t, p)
	if got := strings.TrimSpace(p.Doc.Find("#stepup-form button").Text()); got != "Continue" {
		t.Fatalf("button = %q", got)
	}
	secret, _ := c.MustCreateKeyConfirmed(action, fields)
	if secret == "" || len(app.keysOf(t, ada, orgID, keygate.KeyActive)) != 1 {
		t.Fatal("the key was not created after the provider confirmed")
	}
	// Once only.
	assertStatus(t, c.Post(action, fields), http.StatusConflict)
}

// confirmStepUp answers the dialog p with the password and returns the
// action's own answer.
func (c *Client) confirmStepUp(p *Page, password string) *Page {
	c.tb.Helper()
	action, fields := stepUpDialog(c.tb, p)
	fields.Set("_stepup_password", password)
	return c.Post(action, fields)
}

func TestStepUp_OrgSSOAndDelete(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	org := "/orgs/" + orgID

	// Single sign-on settings: the form comes back after the confirmation
	// with what was typed, the handler's own error beside its field.
	staleSession(app)
	sso := url.Values{"issuer": {"not a url"}, "client_id": {"keygate-client-17"}, "client_secret": {"s3cret-value-xyz"}, "domains": {"example.com"}}
	p := c.confirmStepUp(c.Post(org+"/settings/sso", sso), testPassword)
	assertStatus(t, p, http.StatusBadRequest)
	if got := p.Doc.Find("#f-client_id").AttrOr("value", ""); got != "keygate-client-17" {
		t.Fatalf("client id after the confirmation = %q; body: %.600s", got, p.Body)
	}
	if fieldError(p, "issuer") == "" {
		t.Fatalf("no issuer error: %.600s", p.Body)
	}

	// Deleting the organization, typed name and all.
	staleSession(app)
	p = c.Post(org+"/delete", url.Values{"confirm": {"Org A"}})
	if _, err := app.Orgs.FindOrganizationByID(keygate.NewContextWithUser(context.Background(), app.MustUser(t, "ada@example.com")), orgID); err != nil {
		t.Fatalf("the organization went before the confirmation: %v", err)
	}
	assertStatus(t, c.confirmStepUp(p, testPassword), http.StatusSeeOther)
	if _, err := app.Orgs.FindOrganizationByID(keygate.NewContextWithUser(context.Background(), app.MustUser(t, "ada@example.com")), orgID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Fatalf("organization still there: %v", err)
	}
}

func TestStepUp_RenewedSessionKeepsItsTime(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	MustAddMember(t, app, orgID, "Al", "al@example.com", keygate.RoleAdmin)
	al := app.MustUser(t, "al@example.com")
	// Giving up ownership renews the session, which is no new sign-in.
	app.Clock.Advance(5 * time.Minute)
	assertStatus(t, c.Post("/orgs/"+orgID+"/transfer", url.Values{"user": {al.PublicID}}), http.StatusSeeOther)
	app.Clock.Advance(6 * time.Minute)
	stepUpDialog(t, c.Post("/orgs/"+orgID+"/api-keys", keyForm("Ops", "production", []string{"admin"}, "none")))
}
