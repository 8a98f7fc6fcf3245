package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
)

// assertWebhookForm checks the endpoint page's edit form holds the URL,
// the description and exactly the ticked events.
func assertWebhookForm(t *testing.T, p *Page, wantURL, wantDesc string, wantEvents ...string) {
	t.Helper()
	form := p.Doc.Find(`form[data-testid="edit-webhook"]`)
	if form.Length() != 1 {
		t.Fatalf("%d edit forms; body: %.400s", form.Length(), p.Body)
	}
	if v := form.Find("#f-url").AttrOr("value", ""); v != wantURL {
		t.Errorf("url field = %q, want %q", v, wantURL)
	}
	if v := form.Find("#f-description").AttrOr("value", ""); v != wantDesc {
		t.Errorf("description field = %q, want %q", v, wantDesc)
	}
	var ticked []string
	form.Find(`input[name="events"][checked]`).Each(func(_ int, s *goquery.Selection) { ticked = append(ticked, s.AttrOr("value", "")) })
	if strings.Join(ticked, ",") != strings.Join(wantEvents, ",") {
		t.Errorf("ticked events = %v, want %v", ticked, wantEvents)
	}
	if n := form.Find(`input[name="events"]`).Length(); n != len(keygate.WebhookEventTypes) {
		t.Errorf("%d event checkboxes, want %d", n, len(keygate.WebhookEventTypes))
	}
}

func TestUIWebhooks_EditEndpoint(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Acme")
	base := "/orgs/" + org + "/settings/webhooks"
	assertStatus(t, owner.Post(base, url.Values{"url": {"https://203.0.113.10/in"}, "description": {"Sync"}, "events": {"key.created"}}), http.StatusCreated)
	page, _ := owner.Get(base).Doc.Find(`[data-testid="webhook"] a`).Attr("href")

	t.Run("PrefilledWithCurrentValues", func(t *testing.T) {
		p := owner.Get(page)
		assertStatus(t, p, http.StatusOK)
		assertWebhookForm(t, p, "https://203.0.113.10/in", "Sync", "key.created")
		form := p.Doc.Find(`form[data-testid="edit-webhook"]`)
		if form.AttrOr("method", "") != "post" || form.AttrOr("action", "") != page {
			t.Fatalf("form method %q action %q, want post to %q", form.AttrOr("method", ""), form.AttrOr("action", ""), page)
		}
		if form.Find(`button[type="submit"]:contains("Save endpoint")`).Length() != 1 {
			t.Fatal("no Save endpoint button")
		}
	})
	unchanged := func(t *testing.T) {
		t.Helper()
		if got := owner.Get(page).Text(`[data-testid="webhook-url"]`); got != "https://203.0.113.10/in" {
			t.Fatalf("saved URL = %q after refused input", got)
		}
	}
	t.Run("ErrFieldsKeepInput", func(t *testing.T) {
		p := owner.Post(page, url.Values{"url": {"http://203.0.113.10/typed"}, "description": {"Typed"}, "events": {"key.revoked", "member.added"}})
		assertStatus(t, p, http.StatusBadRequest)
		if msg := fieldError(p, "url"); !strings.Contains(msg, "https://") {
			t.Fatalf("url error = %q", msg)
		}
		assertWebhookForm(t, p, "http://203.0.113.10/typed", "Typed", "key.revoked", "member.added")
		if p.Doc.Find(`[data-testid="deliveries-empty"]`).Length() != 1 {
			t.Fatal("the rest of the endpoint page is not shown")
		}
		unchanged(t)
	})
	t.Run("ErrInternalAddress", func(t *testing.T) {
		p := owner.Post(page, url.Values{"url": {"https://192.168.1.20/in"}, "description": {"Sync"}, "events": {"key.created"}})
		assertStatus(t, p, http.StatusBadRequest)
		if msg := fieldError(p, "url"); !strings.Contains(msg, outbound.FlagName) {
			t.Fatalf("url error = %q, want it to name %s", msg, outbound.FlagName)
		}
		assertWebhookForm(t, p, "https://192.168.1.20/in", "Sync", "key.created")
		unchanged(t)
	})
	t.Run("ErrNoEvents", func(t *testing.T) {
		p := owner.Post(page, url.Values{"url": {"https://203.0.113.11/in"}, "description": {"Kept"}})
		assertStatus(t, p, http.StatusBadRequest)
		if msg := fieldError(p, "events"); msg != "Choose at least one event type." {
			t.Fatalf("events error = %q", msg)
		}
		assertWebhookForm(t, p, "https://203.0.113.11/in", "Kept")
		unchanged(t)
	})
	t.Run("ErrForbiddenForMembers", func(t *testing.T) {
		member := MustAddMember(t, app, org, "Mia", "mia@example.com", keygate.RoleMember)
		assertStatus(t, member.Post(page, url.Values{"url": {"https://203.0.113.12/x"}, "events": {"key.created"}}), http.StatusForbidden)
		unchanged(t)
	})
	t.Run("ErrCrossOrigin", func(t *testing.T) {
		form := url.Values{"url": {"https://203.0.113.13/x"}, "events": {"key.created"}}
		req, _ := http.NewRequest(http.MethodPost, app.URL+page, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		assertStatus(t, owner.Do(req), http.StatusForbidden)
		unchanged(t)
	})
	t.Run("OK", func(t *testing.T) {
		p := owner.Post(page, url.Values{"url": {"https://203.0.113.20/hooks"}, "description": {"Billing"}, "events": {"key.revoked", "member.added"}})
		assertStatus(t, p, http.StatusSeeOther)
		if loc, _ := p.Location(); loc == nil || loc.Path != page {
			t.Fatalf("redirect to %v, want %s", loc, page)
		}
		saved := owner.Follow(p)
		assertStatus(t, saved, http.StatusOK)
		if got := saved.Text(".flash"); got != "Endpoint saved." {
			t.Fatalf("flash = %q", got)
		}
		if got := saved.Text(`[data-testid="webhook-url"]`); got != "https://203.0.113.20/hooks" {
			t.Fatalf("URL shown = %q", got)
		}
		assertWebhookForm(t, saved, "https://203.0.113.20/hooks", "Billing", "key.revoked", "member.added")
		row := owner.Get(base).Doc.Find(`[data-testid="webhook"]`)
		if !strings.Contains(row.Text(), "https://203.0.113.20/hooks") || !strings.Contains(row.Text(), "Billing") ||
			!strings.Contains(row.Text(), "member.added") || strings.Contains(row.Text(), "key.created") {
			t.Fatalf("list row = %q", row.Text())
		}
		events := app.orgAuditEvents(t, app.MustUser(t, "ada@example.com"), org, keygate.AuditWebhookUpdate)
		if len(events) != 1 || events[0].TargetName != "https://203.0.113.20/hooks" {
			t.Fatalf("webhook.update audit events = %+v, want one naming the new URL", events)
		}
		if audit := owner.Get("/orgs/" + org + "/audit-log"); !strings.Contains(audit.Body, "webhook endpoint changed by Ada") {
			t.Fatalf("audit log lacks the change: %.2000s", audit.Doc.Find("main").Text())
		}
	})
}
