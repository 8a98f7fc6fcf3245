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
)

// Long, recognisable secrets, so that finding one anywhere means it leaked.
const (
	webZoomSecret     = "zoom-secret-Q7fJ2kLm9PzX4vB8nR1tY6wE3uI0oA5s"
	webDeepgramSecret = "deepgram-key-3c1f9e7a5b2d4f6a8c0e2b4d6f8a0c2e4a6b"
	webOtherSecret    = "other-secret-sk_live_9XyZaBcDeFgHiJkLmNoPqRsTuV"
)

// integrationsPath is Settings > Integrations of org.
func integrationsPath(org string) string { return "/orgs/" + org + "/settings/integrations" }

// mustSaveIntegration posts a credential form and follows the redirect.
func (c *Client) mustSaveIntegration(org, kind string, form url.Values) *Page {
	c.tb.Helper()
	p := c.Post(integrationsPath(org)+"/"+kind, form)
	assertStatus(c.tb, p, http.StatusSeeOther)
	if loc, _ := p.Location(); loc == nil || loc.Path != integrationsPath(org) || loc.Fragment != "integration-"+kind {
		c.tb.Fatalf("redirected to %v", loc)
	}
	return c.Follow(p)
}

// assertNoSecret fails if the response body (all of it) holds a secret.
func assertNoSecret(tb testing.TB, body string, secrets ...string) {
	tb.Helper()
	for _, s := range secrets {
		if strings.Contains(body, s) || strings.Contains(body, s[:len(s)/2]) {
			tb.Fatalf("response contains the secret %q", s)
		}
	}
}

// secretInputs returns the secret inputs of a page with their values.
func secretInputs(p *Page) map[string]string {
	out := map[string]string{}
	p.Doc.Find(`input[type=password]`).Each(func(_ int, s *goquerySelection) {
		id, _ := s.Attr("id")
		v, _ := s.Attr("value")
		out[id] = v
	})
	return out
}

func TestIntegrationsPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")

	t.Run("OKSubnavLink", func(t *testing.T) {
		p := owner.Get("/orgs/" + org + "/settings")
		assertStatus(t, p, http.StatusOK)
		nav := p.Doc.Find(`nav[aria-label="Organization settings"]`)
		links := map[string]string{}
		nav.Find("a").Each(func(_ int, a *goquerySelection) { links[strings.TrimSpace(a.Text())], _ = a.Attr("href") })
		if links["Integrations"] != integrationsPath(org) || links["API Keys"] == "" || links["Audit log"] == "" {
			t.Fatalf("subnav links = %v", links)
		}
	})

	t.Run("OKEmpty", func(t *testing.T) {
		p := owner.Get(integrationsPath(org))
		assertStatus(t, p, http.StatusOK)
		if got := p.Text("h1"); got != "Integrations" {
			t.Fatalf("h1 = %q", got)
		}
		if cur, _ := p.Doc.Find(`nav[aria-label="Organization settings"] a[aria-current=page]`).Attr("href"); cur != integrationsPath(org) {
			t.Fatalf("current subnav link = %q", cur)
		}
		// Every section has its own form with labelled inputs.
		for _, tt := range []struct {
			section, action string
			labels          map[string]string // input id -> label
		}{
			{"integration-zoom", "/zoom", map[string]string{"f-client_id": "Client ID", "f-client_secret": "Client Secret"}},
			{"integration-deepgram", "/deepgram", map[string]string{"f-api_key": "API key"}},
			{"integration-other", "/other", map[string]string{"f-name": "Name", "f-secret": "Secret"}},
		} {
			sec := p.Doc.Find("[data-testid=" + tt.section + "]")
			forms := sec.Find("form")
			if forms.Length() != 1 {
				t.Fatalf("%s: %d forms", tt.section, forms.Length())
			}
			if action, _ := forms.Attr("action"); action != integrationsPath(org)+tt.action {
				t.Fatalf("%s: action %q", tt.section, action)
			}
			if method, _ := forms.Attr("method"); method != "post" {
				t.Fatalf("%s: method %q", tt.section, method)
			}
			for id, label := range tt.labels {
				if forms.Find("input#"+id).Length() != 1 {
					t.Fatalf("%s: no input #%s", tt.section, id)
				}
				if got := strings.TrimSpace(forms.Find(`label[for="` + id + `"]`).Text()); got != label {
					t.Fatalf("%s: label of #%s = %q, want %q", tt.section, id, got, label)
				}
			}
		}
		for id, v := range secretInputs(p) {
			if v != "" {
				t.Fatalf("secret input %s has value %q", id, v)
			}
		}
	})
}

func TestIntegrationsSaveReplaceDelete(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	admin := MustAddMember(t, app, org, "Al", "al@example.com", keygate.RoleAdmin)
	all := []string{webZoomSecret, webDeepgramSecret, webOtherSecret}

	tests := []struct {
		name      string
		client    *Client
		kind      string
		form      url.Values
		section   string
		wantFlash string
		dataName  string // the saved row's data-name, for Other
	}{
		{"OKZoom", owner, "zoom", url.Values{"client_id": {"zoom-client-id-123"}, "client_secret": {webZoomSecret}},
			"integration-zoom", "Zoom OAuth app saved.", ""},
		{"OKDeepgram", admin, "deepgram", url.Values{"api_key": {webDeepgramSecret}},
			"integration-deepgram", "Deepgram API key saved.", ""},
		{"OKOther", owner, "other", url.Values{"name": {"Twilio"}, "secret": {webOtherSecret}},
			"integration-other", "Credential “Twilio” saved.", "Twilio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.client.mustSaveIntegration(org, tt.kind, tt.form)
			assertStatus(t, p, http.StatusOK)
			if got := p.Doc.Find(".flash-success").Last().Text(); got != tt.wantFlash {
				t.Fatalf("flash = %q, want %q", got, tt.wantFlash)
			}
			assertNoSecret(t, p.Body, all...)
			row := p.Doc.Find("[data-testid=" + tt.section + "] [data-testid=saved-integration]")
			if tt.dataName != "" {
				row = row.Filter(`[data-name="` + tt.dataName + `"]`)
			}
			if row.Length() != 1 {
				t.Fatalf("%d saved rows", row.Length())
			}
			secret := tt.form.Get("client_secret") + tt.form.Get("api_key") + tt.form.Get("secret")
			if got, want := strings.TrimSpace(row.Find("[data-testid=masked-secret]").Text()), "••••••••"+secret[len(secret)-4:]; got != want {
				t.Fatalf("masked = %q, want %q", got, want)
			}
			for id, v := range secretInputs(p) {
				if v != "" {
					t.Fatalf("secret input %s pre-filled", id)
				}
			}
			if row.Find("details.replace summary").Text() != "Replace" || row.Find("a[data-dialog-open]").Text() != "Delete" {
				t.Fatal("no Replace or Delete")
			}
			got, err := app.Integrations.DecryptSecret(context.Background(), org, keygate.IntegrationKind(tt.kind), tt.dataName)
			if err != nil || got != secret {
				t.Fatalf("stored secret = %q, %v", got, err)
			}
		})
	}

	t.Run("OKZoomClientIDShown", func(t *testing.T) {
		p := owner.Get(integrationsPath(org))
		if got := p.Text("[data-testid=integration-zoom] [data-testid=client-id]"); got != "zoom-client-id-123" {
			t.Fatalf("client id = %q", got)
		}
		// The Replace form starts with the (not secret) client ID only.
		if v, _ := p.Doc.Find("[data-testid=integration-zoom] input#f-client_id").Attr("value"); v != "zoom-client-id-123" {
			t.Fatalf("client id input = %q", v)
		}
	})

	t.Run("OKReplace", func(t *testing.T) {
		const newSecret = "replacement-zoom-secret-WXYZ"
		p := admin.mustSaveIntegration(org, "zoom", url.Values{"client_id": {"new-client"}, "client_secret": {newSecret}})
		assertNoSecret(t, p.Body, newSecret, webZoomSecret)
		if got := p.Text("[data-testid=integration-zoom] [data-testid=masked-secret]"); got != "••••••••WXYZ" {
			t.Fatalf("masked = %q", got)
		}
		if got := p.Text("[data-testid=integration-zoom] [data-testid=client-id]"); got != "new-client" {
			t.Fatalf("client id = %q", got)
		}
		if n := app.Count(t, "integrations"); n != 3 {
			t.Fatalf("rows = %d, want 3 (replaced, not added)", n)
		}
		if got, _ := app.Integrations.DecryptSecret(context.Background(), org, keygate.IntegrationZoom, ""); got != newSecret {
			t.Fatalf("secret = %q", got)
		}
		// An Other credential's own Replace form posts its name back.
		p = owner.Get(integrationsPath(org))
		form := p.Doc.Find(`[data-testid=integration-other] [data-name="Twilio"] details.replace form`)
		if n, _ := form.Find("input[name=name]").Attr("value"); n != "Twilio" || form.Find("input#f-other-2-secret").Length() != 1 {
			t.Fatalf("Other replace form: name %q, %d secret inputs", n, form.Find("input#f-other-2-secret").Length())
		}
		p = owner.mustSaveIntegration(org, "other", url.Values{"name": {"Twilio"}, "replace": {"1"}, "secret": {"twilio-replacement-secret-ABCD"}})
		if got := p.Text(`[data-name="Twilio"] [data-testid=masked-secret]`); got != "••••••••ABCD" {
			t.Fatalf("masked = %q", got)
		}
	})

	t.Run("OKDelete", func(t *testing.T) {
		for _, tt := range []struct {
			kind, name, confirmPath, wantFlash string
		}{
			{"zoom", "", integrationsPath(org) + "/zoom/delete", "Zoom OAuth app deleted."},
			{"deepgram", "", integrationsPath(org) + "/deepgram/delete", "Deepgram API key deleted."},
			{"other", "Twilio", integrationsPath(org) + "/other/delete?name=Twilio", "Credential “Twilio” deleted."},
		} {
			p := owner.Get(integrationsPath(org))
			link := p.Doc.Find("[data-testid=integration-" + tt.kind + "] a[data-dialog-open]")
			if href, _ := link.Attr("href"); href != tt.confirmPath {
				t.Fatalf("%s: delete link %q, want %q", tt.kind, href, tt.confirmPath)
			}
			dialogID, _ := link.Attr("data-dialog-open")
			if action, _ := p.Doc.Find("dialog#" + dialogID + " form").Attr("action"); action != integrationsPath(org)+"/"+tt.kind+"/delete" {
				t.Fatalf("%s: dialog posts to %q", tt.kind, action)
			}
			// Without JavaScript the link leads to a confirmation page.
			confirm := owner.Get(tt.confirmPath)
			assertStatus(t, confirm, http.StatusOK)
			form := confirm.Doc.Find("main form[method=post]")
			if action, _ := form.Attr("action"); action != integrationsPath(org)+"/"+tt.kind+"/delete" {
				t.Fatalf("%s: confirmation posts to %q", tt.kind, action)
			}
			if n, _ := form.Find("input[name=name]").Attr("value"); n != tt.name {
				t.Fatalf("%s: confirmation name %q", tt.kind, n)
			}
			if app.Count(t, "integrations") == 0 {
				t.Fatal("the confirmation page deleted")
			}
			p = owner.Post(integrationsPath(org)+"/"+tt.kind+"/delete", url.Values{"name": {tt.name}})
			assertStatus(t, p, http.StatusSeeOther)
			p = owner.Follow(p)
			if got := p.Doc.Find(".flash-success").Last().Text(); got != tt.wantFlash {
				t.Fatalf("flash = %q, want %q", got, tt.wantFlash)
			}
			if p.Doc.Find("[data-testid=integration-"+tt.kind+"] [data-testid=saved-integration]").Length() != 0 {
				t.Fatalf("%s still shown", tt.kind)
			}
		}
		if n := app.Count(t, "integrations"); n != 0 {
			t.Fatalf("rows = %d", n)
		}
		// Deleting again says so, and changes nothing.
		p := owner.Follow(owner.Post(integrationsPath(org)+"/zoom/delete", nil))
		if got := p.Text(".flash-info"); got != "That credential was already deleted." {
			t.Fatalf("flash = %q", got)
		}
		assertStatus(t, owner.Get(integrationsPath(org)+"/zoom/delete"), http.StatusNotFound)
	})

	t.Run("OKAudit", func(t *testing.T) {
		ada := app.MustUser(t, "ada@example.com")
		n := len(app.orgAuditEvents(t, ada, org, keygate.AuditIntegrationSave)) + len(app.orgAuditEvents(t, ada, org, keygate.AuditIntegrationDelete))
		if n != 8 { // 3 saves, 2 replaces, 3 deletes
			t.Fatalf("integration events = %d, want 8", n)
		}
		p := owner.Get("/orgs/" + org + "/audit-log?action=integration.save")
		assertStatus(t, p, http.StatusOK)
		assertNoSecret(t, p.Body, all...)
		if !strings.Contains(p.Body, "Zoom OAuth app") || !strings.Contains(p.Body, "Twilio") {
			t.Fatal("audit log does not name the integrations")
		}
	})
}

func TestIntegrationsInvalid(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Org A")
	before := app.Count(t, "audit_events")

	tests := []struct {
		name       string
		kind       string
		form       url.Values
		wantErrors map[string]string // field id (without f-) -> message
		wantValues map[string]string // kept input
	}{
		{"ErrZoomRequired", "zoom", url.Values{"client_id": {""}, "client_secret": {""}},
			map[string]string{"client_id": "Client ID is required.", "client_secret": "Client Secret is required."}, nil},
		{"ErrZoomSecretRequired", "zoom", url.Values{"client_id": {"kept-client-id"}, "client_secret": {"  "}},
			map[string]string{"client_secret": "Client Secret is required."}, map[string]string{"client_id": "kept-client-id"}},
		{"ErrZoomClientIDRequiredSecretNotEchoed", "zoom", url.Values{"client_secret": {webZoomSecret}},
			map[string]string{"client_id": "Client ID is required."}, nil},
		{"ErrDeepgramRequired", "deepgram", url.Values{},
			map[string]string{"api_key": "API key is required."}, nil},
		{"ErrDeepgramTooLong", "deepgram", url.Values{"api_key": {strings.Repeat("k", 4097)}},
			map[string]string{"api_key": "API key must be at most 4096 bytes."}, nil},
		{"ErrOtherRequired", "other", url.Values{"name": {" "}, "secret": {""}},
			map[string]string{"name": "Name is required.", "secret": "Secret is required."}, nil},
		{"ErrOtherNameTooLong", "other", url.Values{"name": {strings.Repeat("n", 101)}, "secret": {webOtherSecret}},
			map[string]string{"name": "Name must be at most 100 characters."}, map[string]string{"name": strings.Repeat("n", 101)}},
		{"ErrOtherSecretRequired", "other", url.Values{"name": {"Kept name"}},
			map[string]string{"secret": "Secret is required."}, map[string]string{"name": "Kept name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := owner.Post(integrationsPath(org)+"/"+tt.kind, tt.form)
			assertStatus(t, p, http.StatusBadRequest)
			for field, msg := range tt.wantErrors {
				if got := fieldError(p, field); got != msg {
					t.Fatalf("error beside %s = %q, want %q", field, got, msg)
				}
				if inv, _ := p.Doc.Find("#f-" + field).Attr("aria-invalid"); inv != "true" {
					t.Fatalf("#f-%s not marked invalid", field)
				}
			}
			for field, want := range tt.wantValues {
				if got, _ := p.Doc.Find("#f-" + field).Attr("value"); got != want {
					t.Fatalf("%s kept as %q, want %q", field, got, want)
				}
			}
			for id, v := range secretInputs(p) {
				if v != "" {
					t.Fatalf("secret input %s re-filled", id)
				}
			}
			assertNoSecret(t, p.Body, webZoomSecret, webOtherSecret)
			if n := app.Count(t, "integrations"); n != 0 {
				t.Fatalf("rows = %d", n)
			}
			if n := app.Count(t, "audit_events"); n != before {
				t.Fatalf("audit events %d, want %d", n, before)
			}
		})
	}

	t.Run("ErrReplaceShownInItsForm", func(t *testing.T) {
		owner.mustSaveIntegration(org, "deepgram", url.Values{"api_key": {webDeepgramSecret}})
		owner.mustSaveIntegration(org, "other", url.Values{"name": {"Twilio"}, "secret": {webOtherSecret}})
		p := owner.Post(integrationsPath(org)+"/deepgram", url.Values{"api_key": {""}})
		assertStatus(t, p, http.StatusBadRequest)
		details := p.Doc.Find("[data-testid=integration-deepgram] details.replace")
		if _, open := details.Attr("open"); !open || strings.TrimSpace(details.Find("#f-api_key-error").Text()) != "API key is required." {
			t.Fatalf("replace form: open %v, error %q", open, details.Find("#f-api_key-error").Text())
		}
		p = owner.Post(integrationsPath(org)+"/other", url.Values{"name": {"Twilio"}, "replace": {"1"}, "secret": {""}})
		assertStatus(t, p, http.StatusBadRequest)
		row := p.Doc.Find(`[data-testid=integration-other] [data-name="Twilio"] details.replace`)
		if _, open := row.Attr("open"); !open || strings.TrimSpace(row.Find(".field-error").Text()) != "Secret is required." {
			t.Fatalf("Other replace form: open %v, error %q", open, row.Find(".field-error").Text())
		}
		assertNoSecret(t, p.Body, webDeepgramSecret, webOtherSecret)
		if got, _ := app.Integrations.DecryptSecret(context.Background(), org, keygate.IntegrationDeepgram, ""); got != webDeepgramSecret {
			t.Fatalf("secret changed to %q", got)
		}
	})
}

func TestIntegrationsForbiddenAndNotFound(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	orgA := owner.MustSignup("Ada", "ada@example.com", "Org A")
	owner.mustSaveIntegration(orgA, "other", url.Values{"name": {"Twilio"}, "secret": {webOtherSecret}})
	member := MustAddMember(t, app, orgA, "Mia", "mia@example.com", keygate.RoleMember)
	stranger := app.NewClient(t)
	stranger.MustSignup("Bob", "bob@example.com", "Org B")

	base := integrationsPath(orgA)
	gets := []string{base, base + "/other/delete?name=Twilio"}
	posts := map[string]url.Values{
		base + "/zoom":         {"client_id": {"x"}, "client_secret": {webZoomSecret}},
		base + "/deepgram":     {"api_key": {webDeepgramSecret}},
		base + "/other":        {"name": {"Twilio"}, "secret": {"stranger's secret"}},
		base + "/other/delete": {"name": {"Twilio"}},
	}
	tests := []struct {
		name       string
		client     *Client
		wantStatus int
		wantBody   string
	}{
		{"ErrForbiddenMember", member, http.StatusForbidden, "You need the Admin role to manage integrations"},
		{"ErrNotFoundOtherOrganization", stranger, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range gets {
				p := tt.client.Get(path)
				assertStatus(t, p, tt.wantStatus)
				if !strings.Contains(p.Text("[data-testid=error-page]"), tt.wantBody) {
					t.Fatalf("%s: error page says %q", path, p.Text("[data-testid=error-page]"))
				}
				assertNoSecret(t, p.Body, webOtherSecret)
			}
			for path, form := range posts {
				p := tt.client.Post(path, form)
				assertStatus(t, p, tt.wantStatus)
				if !strings.Contains(p.Text("[data-testid=error-page]"), tt.wantBody) {
					t.Fatalf("%s: error page says %q", path, p.Text("[data-testid=error-page]"))
				}
			}
		})
	}
	t.Run("ErrMemberHasNoLink", func(t *testing.T) {
		p := member.Get("/orgs/" + orgA + "/settings")
		assertStatus(t, p, http.StatusOK)
		if p.Doc.Find(`a[href="`+base+`"]`).Length() != 0 {
			t.Fatal("a Member sees the Integrations link")
		}
	})
	t.Run("ErrUnknownKind", func(t *testing.T) {
		assertStatus(t, owner.Post(base+"/slack", url.Values{"secret": {"x"}}), http.StatusNotFound)
		assertStatus(t, owner.Get(base+"/slack/delete"), http.StatusNotFound)
		assertStatus(t, owner.Get(base+"/other/delete?name=Nope"), http.StatusNotFound)
	})
	if got, _ := app.Integrations.DecryptSecret(context.Background(), orgA, keygate.IntegrationOther, "Twilio"); got != webOtherSecret || app.Count(t, "integrations") != 1 {
		t.Fatal("a refused request changed the integrations")
	}
}

func TestIntegrationsAPI(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	a := mustAPIOrg(t, app, "Ada", "ada@example.com")
	b := mustAPIOrg(t, app, "Bob", "bob@example.com")
	ctxA := keygate.NewContextWithUser(context.Background(), a.Owner)
	for _, in := range []keygate.IntegrationSave{
		{Kind: keygate.IntegrationZoom, ClientID: "zoom-client", Secret: webZoomSecret},
		{Kind: keygate.IntegrationOther, Name: "Twilio", Secret: webOtherSecret},
	} {
		if _, err := app.Integrations.SaveIntegration(ctxA, a.ID, &in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := app.Integrations.SaveIntegration(keygate.NewContextWithUser(context.Background(), b.Owner), b.ID,
		&keygate.IntegrationSave{Kind: keygate.IntegrationDeepgram, Secret: webDeepgramSecret}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		method     string
		auth       string
		wantStatus int
		wantCode   string
	}{
		{"ErrNoKey", "GET", "", http.StatusUnauthorized, ""},
		{"ErrReadScope", "GET", "Token " + a.Read, http.StatusForbidden, "insufficient_scope"},
		{"ErrWriteScope", "GET", "Token " + a.Write, http.StatusForbidden, "insufficient_scope"},
		{"ErrMethod", "POST", "Token " + a.Admin, http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := app.API(t, tt.method, "/api/v1/integrations", tt.auth, "")
			wantAPI(t, r, tt.wantStatus, "", tt.wantCode)
			assertNoSecret(t, r.Raw, webZoomSecret, webOtherSecret)
		})
	}
	t.Run("OKMasked", func(t *testing.T) {
		r := app.API(t, "GET", "/api/v1/integrations", "Token "+a.Admin, "")
		wantAPI(t, r, http.StatusOK, "", "")
		assertNoSecret(t, r.Raw, webZoomSecret, webOtherSecret, webDeepgramSecret)
		results, _ := r.JSON["results"].([]any)
		if len(results) != 2 {
			t.Fatalf("results = %v", r.JSON["results"])
		}
		zoom, _ := results[0].(map[string]any)
		other, _ := results[1].(map[string]any)
		if zoom["kind"] != "zoom" || zoom["client_id"] != "zoom-client" || zoom["masked_secret"] != "••••••••"+webZoomSecret[len(webZoomSecret)-4:] ||
			zoom["secret_last4"] != webZoomSecret[len(webZoomSecret)-4:] || zoom["updated_by"] != "Ada" {
			t.Fatalf("zoom = %v", zoom)
		}
		if other["kind"] != "other" || other["name"] != "Twilio" || other["masked_secret"] != "••••••••"+webOtherSecret[len(webOtherSecret)-4:] {
			t.Fatalf("other = %v", other)
		}
		for _, res := range results {
			for k := range res.(map[string]any) {
				if k == "secret" || k == "client_secret" || k == "api_key" {
					t.Fatalf("result has a %q field", k)
				}
			}
		}
	})
	t.Run("OKOwnOrganizationOnly", func(t *testing.T) {
		r := app.API(t, "GET", "/api/v1/integrations", "Token "+b.Admin, "")
		wantAPI(t, r, http.StatusOK, "", "")
		results, _ := r.JSON["results"].([]any)
		if len(results) != 1 || results[0].(map[string]any)["kind"] != "deepgram" {
			t.Fatalf("results = %v", results)
		}
	})
}

// TestIntegrationSecretsStoredNowhere saves long secrets through the
// dashboard, then reads the database file and its WAL, the session rows and
// the logs: the secrets are in none of them.
func TestIntegrationSecretsStoredNowhere(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	org := c.MustSignup("Ada", "ada@example.com", "Org A")
	c.mustSaveIntegration(org, "zoom", url.Values{"client_id": {"recognisable-client-id"}, "client_secret": {webZoomSecret}})
	c.mustSaveIntegration(org, "deepgram", url.Values{"api_key": {webDeepgramSecret}})
	c.mustSaveIntegration(org, "other", url.Values{"name": {"Stripe"}, "secret": {webOtherSecret}})
	// A failed form must not leave the secret behind either.
	assertStatus(t, c.Post(integrationsPath(org)+"/zoom", url.Values{"client_secret": {webZoomSecret + "-v2"}}), http.StatusBadRequest)
	c.Get(integrationsPath(org))
	c.Get("/orgs/" + org + "/audit-log")

	secrets := []string{webZoomSecret, webDeepgramSecret, webOtherSecret}
	files, _ := filepath.Glob(app.DB.Path + "*")
	var sawWAL, sawClientID bool
	for _, f := range files {
		buf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sawWAL = sawWAL || strings.HasSuffix(f, "-wal")
		// The client ID is stored as is: finding it shows the files hold the rows.
		sawClientID = sawClientID || bytes.Contains(buf, []byte("recognisable-client-id"))
		for _, s := range secrets {
			for _, needle := range []string{s, s[:len(s)/2], s[len(s)/2:]} {
				if bytes.Contains(buf, []byte(needle)) {
					t.Fatalf("%s contains %q", filepath.Base(f), needle)
				}
			}
		}
	}
	if !sawWAL || !sawClientID {
		t.Fatalf("files %v: WAL read %v, client id found %v", files, sawWAL, sawClientID)
	}
	rows, err := app.DB.WriteConn().Query(`SELECT data FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var data []byte
		rows.Scan(&data)
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Fatal("a session row contains a secret")
			}
		}
	}
	assertNoSecret(t, app.Logs.String(), secrets...)
	if !strings.Contains(app.Logs.String(), "POST /orgs/{org}/settings/integrations/{kind}") {
		t.Fatal("logs did not record the save requests at all")
	}
}
