package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

func TestReinvitePendingRefused(t *testing.T) {
	t.Parallel()
	const msg = "grace@example.com already has a pending invitation as Admin. Resend it, or revoke it first."
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada Lovelace", "ada@example.com")
	owner := app.NewClient(t)
	owner.MustLogin("ada@example.com", testPassword)

	r := app.API(t, http.MethodPost, "/api/v1/invitations", "Token "+org.Admin, `{"email": "grace@example.com", "role": "admin"}`)
	wantAPI(t, r, http.StatusCreated, "", "")
	first := app.path(r.JSON["link"].(string))

	t.Run("ErrDashboard", func(t *testing.T) {
		for _, email := range []string{"grace@example.com", " Grace@Example.COM "} {
			p := owner.Post("/orgs/"+org.ID+"/invitations", url.Values{"email": {email}, "role": {"member"}})
			assertStatus(t, p, http.StatusConflict)
			if got := fieldError(p, "email"); got != msg {
				t.Fatalf("%q: error beside Email = %q, want %q", email, got, msg)
			}
			if got, _ := p.Doc.Find("#f-email").Attr("value"); got != strings.TrimSpace(email) {
				t.Fatalf("email kept as %q", got)
			}
			if p.Doc.Find("#invite-link").Length() != 0 {
				t.Fatal("a new link was shown")
			}
		}
	})

	t.Run("ErrAPI", func(t *testing.T) {
		r := app.API(t, http.MethodPost, "/api/v1/invitations", "Token "+org.Admin, `{"email": "grace@example.com"}`)
		wantAPI(t, r, http.StatusConflict, msg, "")
		if _, ok := r.JSON["link"]; ok {
			t.Fatal("the 409 carries a link")
		}
	})

	t.Run("PendingUnchanged", func(t *testing.T) {
		if n := app.Count(t, "invitations"); n != 1 {
			t.Fatalf("invitations = %d, want 1", n)
		}
		p := owner.Get("/orgs/" + org.ID + "/members")
		row := p.Doc.Find("[data-testid=invitation-row]:contains('grace@example.com')")
		if row.Length() != 1 || !strings.Contains(row.Text(), "Admin") {
			t.Fatalf("pending row = %q", squash(row.Text()))
		}
		landing := app.NewClient(t).Get(first)
		assertStatus(t, landing, http.StatusOK)
		if strings.Contains(landing.Body, "revoked") || !strings.Contains(squash(landing.Text("[data-testid=invitation]")), "as Admin") {
			t.Fatalf("the first link no longer works: %s", squash(landing.Text("[data-testid=invitation]")))
		}
	})

	t.Run("OKAfterRevoke", func(t *testing.T) {
		p := owner.Get("/orgs/" + org.ID + "/members")
		revoke, _ := p.Doc.Find("[data-testid=invitation-row]:contains('grace@example.com') form[action$='/revoke']").Attr("action")
		assertStatus(t, owner.Post(revoke, nil), http.StatusSeeOther)
		owner.MustInvite(org.ID, "grace@example.com", "member")
	})

	t.Run("OKAfterExpiry", func(t *testing.T) {
		app.Clock.Advance(keygate.InvitationTTL + time.Minute)
		owner.MustLogin("ada@example.com", testPassword)
		owner.MustInvite(org.ID, "grace@example.com", "admin")
	})
}

func TestInvitedByAPIKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	secret, ci := app.MustKey(t, app.MustUser(t, "ada@example.com"), org, keygate.APIKeyCreate{Name: "CI", Scopes: []keygate.Scope{keygate.ScopeAdmin}})
	wantAPI(t, app.API(t, http.MethodPost, "/api/v1/invitations", "Token "+secret, `{"email": "grace@example.com", "role": "admin"}`), http.StatusCreated, "", "")
	c.MustInvite(org, "bob@example.com", "member")

	p := c.Get("/orgs/" + org + "/members")
	assertStatus(t, p, http.StatusOK)
	for email, want := range map[string]string{
		"grace@example.com": "API key “CI” (" + ci.PublicID + ")",
		"bob@example.com":   "Ada Lovelace",
	} {
		row := p.Doc.Find("[data-testid=invitation-row]:contains('" + email + "')")
		if got := squash(row.Find("[data-testid=invited-by]").Text()); got != want {
			t.Errorf("%s: invited by %q, want %q", email, got, want)
		}
	}
}

// memberNames lists the names of the Members table's rows, in order.
func memberNames(p *Page) []string {
	var out []string
	p.Doc.Find("[data-testid=member-row] [data-testid=member-name]").Each(func(_ int, s *goquerySelection) { out = append(out, squash(s.Text())) })
	return out
}

func TestMembersSortAndPages(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada", "ada@example.com", "Analytical Engines")
	for _, m := range []struct {
		name string
		role keygate.Role
	}{{"cy", keygate.RoleMember}, {"Bo", keygate.RoleAdmin}, {"Al", keygate.RoleOwner}} {
		app.Clock.Advance(time.Minute)
		MustAddMember(t, app, org, m.name, strings.ToLower(m.name)+"@example.com", m.role)
	}
	list := "/orgs/" + org + "/members"
	testSorts(t, c, list, "members", memberNames, []sortCase{
		{"DefaultByName", "", "Ada Al Bo cy", "name", "ascending"},
		{"NameDescending", "?sort=name&dir=desc", "cy Bo Al Ada", "name", "descending"},
		{"RoleOwnersFirst", "?sort=role&dir=asc", "Ada Al Bo cy", "role", "ascending"},
		{"RoleMembersFirst", "?sort=role&dir=desc", "cy Bo Ada Al", "role", "descending"},
		{"JoinedNewestFirst", "?sort=joined&dir=desc", "Al Bo cy Ada", "joined", "descending"},
		{"JoinedOldestFirst", "?sort=joined&dir=asc", "Ada cy Bo Al", "joined", "ascending"},
		{"UnknownSortIsDefault", "?sort=email&dir=up", "Ada Al Bo cy", "name", "ascending"},
	})

	t.Run("HeaderLinks", func(t *testing.T) {
		p := c.Get(list + "?sort=role&dir=asc")
		for col, want := range map[string]string{"name": "sort=name&dir=asc", "role": "sort=role&dir=desc", "joined": "sort=joined&dir=desc"} {
			href, _ := p.Doc.Find("[data-testid=members] thead th[data-sort=" + col + "] a").Attr("href")
			u, _ := url.Parse(href)
			w, _ := url.ParseQuery(want)
			if u == nil || u.Path != list || u.Query().Encode() != w.Encode() {
				t.Errorf("%s header links to %q, want %s?%s", col, href, list, want)
			}
		}
	})

	t.Run("Pages", func(t *testing.T) {
		for i := 0; i < 48; i++ {
			MustAddMember(t, app, org, "Zed "+itoa(100+i), "zed"+itoa(100+i)+"@example.com", keygate.RoleMember)
		}
		p := c.Get(list + "?sort=name&dir=desc")
		if got := memberNames(p); len(got) != 50 || got[0] != "Zed 147" {
			t.Fatalf("first page: %d members, first %v", len(got), got[:1])
		}
		p = c.Get(nextPage(t, p, "name", "desc"))
		if got := strings.Join(memberNames(p), " "); got != "Al Ada" {
			t.Fatalf("second page = %s", got)
		}
		if got := squash(p.Text("nav.pager")); !strings.Contains(got, "Page 2 of 2 · 52 members") {
			t.Fatalf("pager says %q", got)
		}
	})
}

func TestLeaveOrganizationSection(t *testing.T) {
	t.Parallel()
	const sole = "You are the only Owner: transfer ownership or delete the organization"
	const advice = "The last Owner cannot leave"
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	settings := "/orgs/" + org + "/settings"
	leaveButton := func(p *Page) int {
		return p.Doc.Find("form[action='/orgs/" + org + "/leave'] button").Length()
	}

	t.Run("SoleOwner", func(t *testing.T) {
		p := owner.Get(settings)
		assertStatus(t, p, http.StatusOK)
		if n := leaveButton(p); n != 0 {
			t.Fatal("the sole Owner is offered Leave organization")
		}
		if got := squash(p.Text("[data-testid=leave-org]")); !strings.Contains(got, sole) {
			t.Fatalf("the Leave section says %q, want %q", got, sole)
		}
	})

	member := MustAddMember(t, app, org, "Mia Member", "mia@example.com", keygate.RoleMember)
	admin := MustAddMember(t, app, org, "Al Admin", "al@example.com", keygate.RoleAdmin)
	for name, c := range map[string]*Client{"Member": member, "Admin": admin} {
		t.Run(name, func(t *testing.T) {
			p := c.Get(settings)
			assertStatus(t, p, http.StatusOK)
			if leaveButton(p) != 1 {
				t.Fatal("no Leave organization button")
			}
			text := squash(p.Text("[data-testid=leave-org]"))
			if !strings.Contains(text, "You lose access at once.") {
				t.Fatalf("the Leave section says %q", text)
			}
			if strings.Contains(text, advice) || strings.Contains(text, "only Owner") {
				t.Fatalf("a %s is told about Owners: %q", name, text)
			}
		})
	}

	t.Run("OneOfTwoOwners", func(t *testing.T) {
		MustAddMember(t, app, org, "Olga Owner", "olga@example.com", keygate.RoleOwner)
		p := owner.Get(settings)
		if leaveButton(p) != 1 {
			t.Fatal("an Owner with a co-Owner cannot leave")
		}
		if text := squash(p.Text("[data-testid=leave-org]")); !strings.Contains(text, advice) || strings.Contains(text, sole) {
			t.Fatalf("the Leave section says %q", text)
		}
	})
}
