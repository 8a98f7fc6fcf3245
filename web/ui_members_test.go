package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
)

// MustInvite invites email with role through the Members page and returns
// the link shown once.
func (c *Client) MustInvite(orgID, email, role string) string {
	c.tb.Helper()
	p := c.Post("/orgs/"+orgID+"/invitations", url.Values{"email": {email}, "role": {role}})
	if p.StatusCode != http.StatusOK {
		c.tb.Fatalf("invite status = %d; body %.500s", p.StatusCode, p.Body)
	}
	link, _ := p.Doc.Find("#invite-link").Attr("value")
	if !strings.Contains(link, "/invitations/") {
		c.tb.Fatalf("no invitation link shown: %q", link)
	}
	return link
}

// path turns an absolute link into a path for the test client.
func (a *App) path(link string) string { return strings.TrimPrefix(link, a.URL) }

func TestInviteAndSignup(t *testing.T) {
	t.Parallel()
	sink, err := mailer.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m, _ := mailer.New(sink.URL(), "keygate@keygate.test")
	app := MustOpenAppWithMailer(t, m, WithSignupMode("invite"))
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")

	p := owner.Post("/orgs/"+orgID+"/invitations", url.Values{"email": {"Bob@Example.com"}, "role": {"admin"}})
	assertStatus(t, p, http.StatusOK)
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("the link's response may be cached")
	}
	link, _ := p.Doc.Find("#invite-link").Attr("value")
	if !strings.HasPrefix(link, app.URL+"/invitations/") || !strings.Contains(p.Text("[data-testid=invitation-link]"), "only time") {
		t.Fatalf("link = %q", link)
	}
	if !strings.Contains(p.Text("[data-testid=invitation-link]"), "We also emailed it") {
		t.Fatal("page does not say the link was emailed")
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].To != "bob@example.com" || !strings.Contains(msgs[0].Data, link) {
		t.Fatalf("emails = %+v", msgs)
	}
	if p.Doc.Find("[data-testid=invitation-row]:contains('bob@example.com')").Length() != 1 {
		t.Fatal("pending invitation not listed")
	}
	// The link is not on the page again.
	if strings.Contains(owner.Get("/orgs/"+orgID+"/members").Body, app.path(link)) {
		t.Fatal("the Members page shows the link again")
	}

	bob := app.NewClient(t)
	p = bob.Get(app.path(link))
	assertStatus(t, p, http.StatusOK)
	if !strings.Contains(p.Text("[data-testid=invitation]"), "join Org A as Admin") {
		t.Fatalf("invitation page = %q", p.Text("[data-testid=invitation]"))
	}
	signup, _ := p.Doc.Find("a:contains('Sign up to accept')").Attr("href")
	p = bob.Get(signup)
	assertStatus(t, p, http.StatusOK)
	if got, _ := p.Doc.Find("#f-email").Attr("value"); got != "bob@example.com" {
		t.Fatalf("email = %q", got)
	}
	token := strings.TrimPrefix(app.path(link), "/invitations/")
	p = bob.Post("/signup", url.Values{"invite": {token}, "name": {"Bob"}, "email": {"bob@example.com"}, "password": {"short"}})
	assertStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "password") == "" {
		t.Fatal("no password error")
	}
	p = bob.Post("/signup", url.Values{"invite": {token}, "name": {"Bob"}, "email": {"bob@example.com"}, "password": {testPassword}})
	assertStatus(t, p, http.StatusSeeOther)
	if loc := p.Header.Get("Location"); loc != "/orgs/"+orgID {
		t.Fatalf("joined, redirected to %q", loc)
	}
	p = bob.Follow(p)
	if !strings.Contains(p.Text(".org-switcher .org-name"), "Org A") || p.Doc.Find("nav[aria-label=Main] a:contains('API Keys')").Length() != 1 {
		t.Fatal("Bob did not join Org A as Admin")
	}
	if n := app.Count(t, "organizations"); n != 1 {
		t.Fatalf("organizations = %d: an invited signup made its own", n)
	}
	// The link works once.
	p = app.NewClient(t).Get(app.path(link))
	assertStatus(t, p, http.StatusNotFound)
	if !strings.Contains(p.Body, "already been used") {
		t.Fatalf("reused link: %q", p.Text("[role=alert]"))
	}
	// Invite-only signup refuses anyone without an invitation.
	assertStatus(t, app.NewClient(t).Post("/signup", url.Values{"name": {"E"}, "email": {"e@example.com"}, "password": {testPassword}, "organization": {"E"}}), http.StatusForbidden)
}

func TestInvitationMisuse(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")
	eve := app.NewClient(t)
	eve.MustSignup("Eve", "eve@example.com", "Eve's")
	carol := app.NewClient(t)
	carol.MustSignup("Carol", "carol@example.com", "Carol's")
	isMember := func(email string) bool {
		ms, _ := app.Orgs.FindMembers(keygate.NewContextWithUser(context.Background(), app.MustUser(t, "ada@example.com")), orgID)
		for _, m := range ms {
			if m.User.Email == email {
				return true
			}
		}
		return false
	}

	t.Run("WrongAccount", func(t *testing.T) {
		link := owner.MustInvite(orgID, "carol@example.com", "member")
		p := eve.Post(app.path(link)+"/accept", nil)
		assertStatus(t, p, http.StatusForbidden)
		if isMember("eve@example.com") {
			t.Fatal("another account used the invitation")
		}
		// The invited person can still accept.
		assertStatus(t, carol.Post(app.path(link)+"/accept", nil), http.StatusSeeOther)
		if !isMember("carol@example.com") {
			t.Fatal("the invited person could not accept")
		}
	})
	var pending string
	t.Run("Tampered", func(t *testing.T) {
		link := owner.MustInvite(orgID, "eve@example.com", "member")
		pending = link
		bad := app.path(link)[:len(app.path(link))-2] + "zz"
		p := eve.Get(bad)
		assertStatus(t, p, http.StatusNotFound)
		assertStatus(t, eve.Post(bad+"/accept", nil), http.StatusNotFound)
		if isMember("eve@example.com") {
			t.Fatal("a tampered link worked")
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		// A pending invitation is not replaced by another: it is revoked.
		assertStatus(t, owner.Post("/orgs/"+orgID+"/invitations", url.Values{"email": {"eve@example.com"}, "role": {"admin"}}), http.StatusConflict)
		link := pending
		p := owner.Get("/orgs/" + orgID + "/members")
		revoke, _ := p.Doc.Find("[data-testid=invitation-row]:contains('eve@example.com') form[action$='/revoke']").Attr("action")
		assertStatus(t, owner.Post(revoke, nil), http.StatusSeeOther)
		p = eve.Post(app.path(link)+"/accept", nil)
		assertStatus(t, p, http.StatusBadRequest)
		if !strings.Contains(p.Body, "revoked") || isMember("eve@example.com") {
			t.Fatal("a revoked invitation worked")
		}
	})
	t.Run("Expired", func(t *testing.T) {
		link := owner.MustInvite(orgID, "eve@example.com", "member")
		app.Clock.Advance(keygate.InvitationTTL + time.Second)
		eve.MustLogin("eve@example.com", testPassword)
		p := eve.Post(app.path(link)+"/accept", nil)
		assertStatus(t, p, http.StatusBadRequest)
		if !strings.Contains(p.Body, "expired") || isMember("eve@example.com") {
			t.Fatal("an expired invitation worked")
		}
		owner.MustLogin("ada@example.com", testPassword)
	})
	t.Run("ResendReplacesLink", func(t *testing.T) {
		old := owner.MustInvite(orgID, "eve@example.com", "member")
		p := owner.Get("/orgs/" + orgID + "/members")
		resend, _ := p.Doc.Find("[data-testid=invitation-row]:contains('eve@example.com') form[action$='/resend']").Attr("action")
		p = owner.Post(resend, nil)
		assertStatus(t, p, http.StatusOK)
		fresh, _ := p.Doc.Find("#invite-link").Attr("value")
		if fresh == old || fresh == "" {
			t.Fatal("re-send did not make a new link")
		}
		assertStatus(t, eve.Post(app.path(old)+"/accept", nil), http.StatusNotFound)
		assertStatus(t, eve.Post(app.path(fresh)+"/accept", nil), http.StatusSeeOther)
		if !isMember("eve@example.com") {
			t.Fatal("the re-sent link did not work")
		}
	})
}

func TestMemberRules(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")
	admin := MustAddMember(t, app, orgID, "Al", "al@example.com", keygate.RoleAdmin)
	member := MustAddMember(t, app, orgID, "Mia", "mia@example.com", keygate.RoleMember)
	ada, al, mia := app.MustUser(t, "ada@example.com"), app.MustUser(t, "al@example.com"), app.MustUser(t, "mia@example.com")
	role := func(u *keygate.User) keygate.Role {
		ms, _ := app.Orgs.FindMembers(keygate.NewContextWithUser(context.Background(), ada), orgID)
		for _, m := range ms {
			if m.User.ID == u.ID {
				return m.Role
			}
		}
		return ""
	}
	members := "/orgs/" + orgID + "/members/"

	// An Admin cannot grant Owner or change an Owner.
	p := admin.Post("/orgs/"+orgID+"/invitations", url.Values{"email": {"x@example.com"}, "role": {"owner"}})
	assertStatus(t, p, http.StatusBadRequest)
	if fieldError(p, "role") != "Only an Owner can invite an Owner." {
		t.Fatalf("role error = %q", fieldError(p, "role"))
	}
	admin.Post(members+mia.PublicID+"/role", url.Values{"role": {"owner"}})
	admin.Post(members+ada.PublicID+"/role", url.Values{"role": {"member"}})
	if role(mia) != keygate.RoleMember || role(ada) != keygate.RoleOwner {
		t.Fatal("an Admin granted Owner or changed an Owner")
	}
	// A Member cannot manage anyone.
	assertStatus(t, member.Post(members+al.PublicID+"/role", url.Values{"role": {"member"}}), http.StatusForbidden)
	// The last Owner cannot be demoted, removed or leave.
	p = owner.Follow(owner.Post(members+ada.PublicID+"/role", url.Values{"role": {"admin"}}))
	if !strings.Contains(p.Text(".flash-error"), "at least one Owner") || role(ada) != keygate.RoleOwner {
		t.Fatalf("last Owner demoted: %q", p.Text(".flashes"))
	}
	owner.Post(members+ada.PublicID+"/remove", nil)
	owner.Post("/orgs/"+orgID+"/leave", nil)
	if role(ada) != keygate.RoleOwner {
		t.Fatal("last Owner removed or left")
	}
	// An Owner changes roles.
	assertStatus(t, owner.Post(members+mia.PublicID+"/role", url.Values{"role": {"admin"}}), http.StatusSeeOther)
	if role(mia) != keygate.RoleAdmin {
		t.Fatal("role not changed")
	}
	// Transfer: Al becomes Owner, Ada an Admin (with a new session id); now
	// Ada can leave.
	before := owner.SessionCookie()
	assertStatus(t, owner.Post("/orgs/"+orgID+"/transfer", url.Values{"user": {al.PublicID}}), http.StatusSeeOther)
	if owner.SessionCookie() == before {
		t.Fatal("session id not regenerated after giving up ownership")
	}
	if role(al) != keygate.RoleOwner {
		t.Fatal("ownership not transferred")
	}
	if role(ada) != keygate.RoleAdmin {
		t.Fatalf("previous Owner is %q", role(ada))
	}
	assertStatus(t, owner.Post("/orgs/"+orgID+"/leave", nil), http.StatusSeeOther)
	assertStatus(t, owner.Get("/orgs/"+orgID), http.StatusNotFound)
}

func TestOffboarding(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")
	for _, name := range []string{"Al", "Bo"} {
		c := MustAddMember(t, app, orgID, name, strings.ToLower(name)+"@example.com", keygate.RoleAdmin)
		c.MustCreateKey(orgID, keyForm(name+"'s key", "production", []string{"read"}, "30"))
	}
	al, bo := app.MustUser(t, "al@example.com"), app.MustUser(t, "bo@example.com")
	alClient := app.NewClient(t)
	alClient.MustLogin("al@example.com", testPassword)

	p := owner.Get("/orgs/" + orgID + "/members/" + al.PublicID + "/remove")
	assertStatus(t, p, http.StatusOK)
	if !strings.Contains(p.Text("[data-testid=member-keys]"), "Al's key") || !strings.Contains(p.Body, "keep working after their creator leaves") {
		t.Fatal("offboarding page does not list the keys or say they survive")
	}
	// Keep: Al's key survives; Al loses access at the next request.
	assertStatus(t, owner.Post("/orgs/"+orgID+"/members/"+al.PublicID+"/remove", url.Values{"keys": {"keep"}}), http.StatusSeeOther)
	assertStatus(t, alClient.Get("/orgs/"+orgID), http.StatusNotFound)
	app.keyByName(t, app.MustUser(t, "ada@example.com"), orgID, "Al's key", keygate.KeyActive)
	// Revoke: Bo's key is revoked with him.
	p = owner.Follow(owner.Post("/orgs/"+orgID+"/members/"+bo.PublicID+"/remove", url.Values{"keys": {"revoke"}}))
	if got := p.Text(".flashes"); !strings.Contains(got, "Member removed and 1 key revoked.") {
		t.Fatalf("flash = %q", got)
	}
	app.keyByName(t, app.MustUser(t, "ada@example.com"), orgID, "Bo's key", keygate.KeyRevoked)
}

func TestMembersAPI(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	r := app.API(t, "POST", "/api/v1/invitations", "Token "+org.Admin, `{"email": "bob@example.com", "role": "member"}`)
	wantAPI(t, r, 201, "", "")
	link, _ := r.JSON["link"].(string)
	if !strings.HasPrefix(link, app.URL+"/invitations/") {
		t.Fatalf("invite = %s", r.Raw)
	}
	list := app.API(t, "GET", "/api/v1/invitations", "Token "+org.Admin, "")
	if strings.Contains(list.Raw, app.path(link)) || !strings.Contains(list.Raw, "bob@example.com") {
		t.Fatal("invitation list shows the link or lacks the invitation")
	}
	wantAPI(t, app.API(t, "POST", "/api/v1/invitations", "Token "+org.Admin, `{"email": "x@example.com", "role": "owner"}`), 400, "", "")
	wantAPI(t, app.API(t, "POST", "/api/v1/invitations", "Token "+org.Write, `{"email": "x@example.com"}`), 403, "", "insufficient_scope")

	bob := app.NewClient(t)
	token := strings.TrimPrefix(app.path(link), "/invitations/")
	assertStatus(t, bob.Post("/signup", url.Values{"invite": {token}, "name": {"Bob"}, "email": {"bob@example.com"}, "password": {testPassword}}), http.StatusSeeOther)
	bobID := app.MustUser(t, "bob@example.com").PublicID
	r = app.API(t, "PATCH", "/api/v1/members/"+bobID, "Token "+org.Admin, `{"role": "admin"}`)
	wantAPI(t, r, 200, "", "")
	if r.JSON["role"] != "admin" {
		t.Fatalf("role = %v", r.JSON["role"])
	}
	wantAPI(t, app.API(t, "PATCH", "/api/v1/members/"+org.Owner.PublicID, "Token "+org.Admin, `{"role": "member"}`), 403, "", "")
	wantAPI(t, app.API(t, "DELETE", "/api/v1/members/"+bobID, "Token "+org.Admin, ""), 204, "", "")
	wantAPI(t, app.API(t, "DELETE", "/api/v1/members/"+bobID, "Token "+org.Admin, ""), 404, "", "")
}

// TestOffboardingOldestKey removes a member whose one key is older than
// the organization's newest hundred: the page lists it and "revoke"
// revokes it.
func TestOffboardingOldestKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")
	MustAddMember(t, app, orgID, "Al", "al@example.com", keygate.RoleAdmin)
	ada, al := app.MustUser(t, "ada@example.com"), app.MustUser(t, "al@example.com")
	app.MustKey(t, al, orgID, keygate.APIKeyCreate{Name: "Al's old key", Scopes: []keygate.Scope{keygate.ScopeRead}})
	for i := range 101 {
		app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "newer " + itoa(i), Scopes: []keygate.Scope{keygate.ScopeRead}})
	}

	p := owner.Get("/orgs/" + orgID + "/members/" + al.PublicID + "/remove")
	assertStatus(t, p, http.StatusOK)
	items := p.Doc.Find("[data-testid=member-keys] li")
	if got, want := items.Length(), 1; got != want {
		t.Fatalf("keys listed = %d, want %d", got, want)
	}
	if got := items.Find("strong").Text(); got != "Al's old key" {
		t.Fatalf("key listed = %q", got)
	}
	p = owner.Follow(owner.Post("/orgs/"+orgID+"/members/"+al.PublicID+"/remove", url.Values{"keys": {"revoke"}}))
	if got := p.Text(".flashes"); !strings.Contains(got, "Member removed and 1 key revoked.") {
		t.Fatalf("flash = %q", got)
	}
	app.keyByName(t, ada, orgID, "Al's old key", keygate.KeyRevoked)
}
