package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

const planNotice = "Your organization's plan (Free) does not include API access. " +
	"Keys you create will not work until a superuser moves the organization to Professional or Enterprise."

func TestPlans_FreeHasNoAPIAccess(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	ada := app.NewClient(t)
	ada.MustSignup("Ada", "ada@example.com", "Ada Org") // the superuser
	o := mustAPIOrg(t, app, "Bob", "bob@example.com")
	bob := app.NewClient(t)
	bob.MustLogin("bob@example.com", testPassword)
	setPlan := func(t *testing.T, plan string) {
		t.Helper()
		assertStatus(t, ada.Post("/admin/organizations/"+o.ID+"/plan", url.Values{"plan": {plan}}), http.StatusSeeOther)
	}

	// Cached in the verifier by this call: the plan change must get past it.
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+o.Read, ""), http.StatusOK, "", "")
	if p := bob.Get("/orgs/" + o.ID + "/api-keys"); p.Doc.Find("[data-testid=plan-notice]").Length() != 0 {
		t.Fatal("a Professional organization gets the plan notice")
	}

	setPlan(t, "free")
	t.Run("Free", func(t *testing.T) {
		for _, key := range []string{o.Read, o.Write, o.Admin} {
			r := app.API(t, "GET", "/api/v1/me", "Token "+key, "")
			wantAPI(t, r, http.StatusForbidden, "Your organization's plan does not include API access.", "plan_required")
			// Refused before the rate limit, which it does not spend.
			if got := r.Header.Get("X-RateLimit-Remaining"); got != "" {
				t.Fatalf("X-RateLimit-Remaining = %q, want none", got)
			}
		}
		// Still a key check first: a bad key is a 401, not a plan matter.
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token kg_nope", ""), http.StatusUnauthorized, "", "invalid_token")

		p := bob.Get("/orgs/" + o.ID + "/api-keys")
		assertStatus(t, p, http.StatusOK)
		if got := p.Text("[data-testid=plan-notice]"); got != planNotice {
			t.Fatalf("notice = %q, want %q", got, planNotice)
		}
		p = bob.Get("/orgs/" + o.ID + "/settings")
		if got := p.Text("[data-testid=org-plan]"); got != "Free" {
			t.Fatalf("settings plan = %q, want Free", got)
		}
		if p.Doc.Find("select[name=plan]").Length() != 0 {
			t.Fatal("a non-superuser can change the plan")
		}
	})

	setPlan(t, "professional")
	t.Run("BackToProfessional", func(t *testing.T) {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+o.Read, ""), http.StatusOK, "", "")
		if p := bob.Get("/orgs/" + o.ID + "/api-keys"); p.Doc.Find("[data-testid=plan-notice]").Length() != 0 {
			t.Fatal("the plan notice stays")
		}
	})
}

func TestPlans_SuperuserChangesPlanInSettings(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	ada := app.NewClient(t)
	orgID := ada.MustSignup("Ada", "ada@example.com", "Ada Org")
	p := ada.Get("/orgs/" + orgID + "/settings")
	assertStatus(t, p, http.StatusOK)
	form := p.Doc.Find("select[name=plan]").Closest("form")
	if got, want := form.AttrOr("action", ""), "/admin/organizations/"+orgID+"/plan"; got != want {
		t.Fatalf("form action = %q, want %q", got, want)
	}
	next := form.Find("input[name=next]").AttrOr("value", "")
	p = ada.Post(form.AttrOr("action", ""), url.Values{"plan": {"enterprise"}, "next": {next}})
	assertStatus(t, p, http.StatusSeeOther)
	p = ada.Follow(p)
	if got := p.Text("[data-testid=org-plan]"); got != "Enterprise" {
		t.Fatalf("plan = %q, want Enterprise", got)
	}
}

func TestPlans_DefaultPlan(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	// As --default-plan free; set before the first request.
	app.DB.DefaultPlan = keygate.PlanFree
	planOf := func(t *testing.T, c *Client, orgID string) string {
		t.Helper()
		p := c.Get("/orgs/" + orgID + "/settings")
		assertStatus(t, p, http.StatusOK)
		return p.Text("[data-testid=org-plan]")
	}

	ada := app.NewClient(t)
	adaOrg := ada.MustSignup("Ada", "ada@example.com", "Ada Org")
	if got := planOf(t, ada, adaOrg); got != "Free" {
		t.Fatalf("plan under --default-plan free = %q, want Free", got)
	}
	bob := app.NewClient(t)
	bobOrg := bob.MustSignup("Bob", "bob@example.com", "Bob Org")
	secret, _ := app.MustKey(t, app.MustUser(t, "bob@example.com"), bobOrg, keygate.APIKeyCreate{Scopes: []keygate.Scope{keygate.ScopeRead}})
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusForbidden, "", "plan_required")

	// The superuser's setting beats the flag.
	p := ada.Get("/admin/settings")
	if got, want := p.Text("#f-default_plan option[value='']"), "Use the --default-plan flag (Free)"; got != want {
		t.Fatalf("flag option = %q, want %q", got, want)
	}
	assertStatus(t, ada.Post("/admin/settings", url.Values{"default_plan": {"enterprise"}}), http.StatusSeeOther)
	carol := app.NewClient(t)
	carolOrg := carol.MustSignup("Carol", "carol@example.com", "Carol Org")
	if got := planOf(t, carol, carolOrg); got != "Enterprise" {
		t.Fatalf("plan under the setting = %q, want Enterprise", got)
	}
	// An organization made later by an existing user follows it too.
	p = carol.Post("/orgs", url.Values{"name": {"Carol Two"}})
	assertStatus(t, p, http.StatusSeeOther)
	loc, _ := p.Location()
	if got := planOf(t, carol, loc.Path[len("/orgs/"):]); got != "Enterprise" {
		t.Fatalf("plan of a second organization = %q, want Enterprise", got)
	}
}
