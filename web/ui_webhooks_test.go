package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
)

func TestUIWebhooks_AddEndpoint(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Acme")
	base := "/orgs/" + org + "/settings/webhooks"

	t.Run("LinkedFromSettings", func(t *testing.T) {
		p := owner.Get("/orgs/" + org + "/settings/integrations")
		assertStatus(t, p, http.StatusOK)
		if href, _ := p.Doc.Find(`nav[aria-label="Organization settings"] a:contains("Webhooks")`).Attr("href"); href != base {
			t.Fatalf("Webhooks link = %q, want %q", href, base)
		}
		assertStatus(t, owner.Get(base), http.StatusOK)
	})
	t.Run("ErrFieldsKeepInput", func(t *testing.T) {
		p := owner.Post(base, url.Values{"url": {"http://203.0.113.10/in"}, "description": {"Sync"}, "events": {"key.revoked"}})
		assertStatus(t, p, http.StatusBadRequest)
		if msg := p.Text("#f-url-error"); !strings.Contains(msg, "https://") {
			t.Fatalf("url error = %q", msg)
		}
		if v, _ := p.Doc.Find("#f-url").Attr("value"); v != "http://203.0.113.10/in" {
			t.Fatalf("url kept as %q", v)
		}
		if v, _ := p.Doc.Find("#f-description").Attr("value"); v != "Sync" {
			t.Fatalf("description kept as %q", v)
		}
		if p.Doc.Find(`input[name="events"][value="key.revoked"]`).AttrOr("checked", "no") == "no" {
			t.Fatal("the ticked event was not kept")
		}
	})
	t.Run("ErrInternalAddress", func(t *testing.T) {
		p := owner.Post(base, url.Values{"url": {"https://192.168.1.20/in"}, "events": {"key.created"}})
		assertStatus(t, p, http.StatusBadRequest)
		if msg := p.Text("#f-url-error"); !strings.Contains(msg, outbound.FlagName) {
			t.Fatalf("url error = %q, want it to name %s", msg, outbound.FlagName)
		}
	})
	t.Run("ErrNoEvents", func(t *testing.T) {
		p := owner.Post(base, url.Values{"url": {"https://203.0.113.10/in"}})
		assertStatus(t, p, http.StatusBadRequest)
		if msg := p.Text("#f-events-error"); msg != "Choose at least one event type." {
			t.Fatalf("events error = %q", msg)
		}
	})
	t.Run("OK", func(t *testing.T) {
		p := owner.Post(base, url.Values{"url": {"https://203.0.113.10/in"}, "description": {"Sync"}, "events": {"key.created", "member.added"}})
		assertStatus(t, p, http.StatusCreated)
		secret, _ := p.Doc.Find(`[data-testid="webhook-secret"] input`).Attr("value")
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("secret shown = %q", secret)
		}
		if p.Doc.Find(`[data-testid="webhook-secret"] button:contains("Copy")`).Length() != 1 {
			t.Fatal("no Copy button")
		}
		list := owner.Get(base)
		if strings.Contains(list.Body, secret) {
			t.Fatal("the secret is shown again")
		}
		row := list.Doc.Find(`[data-testid="webhook"]`)
		if row.Length() != 1 || !strings.Contains(row.Text(), "https://203.0.113.10/in") || row.Find(`[data-testid="webhook-state"]`).Text() != "Active" {
			t.Fatalf("list row = %q", row.Text())
		} // The audit log says it in words.
		if audit := owner.Get("/orgs/" + org + "/audit-log"); !strings.Contains(audit.Body, "webhook endpoint added by Ada") {
			t.Fatalf("audit log lacks the endpoint: %.2000s", audit.Doc.Find("main").Text())
		}
	})
	t.Run("ErrForbiddenForMembers", func(t *testing.T) {
		member := MustAddMember(t, app, org, "Mia", "mia@example.com", keygate.RoleMember)
		assertStatus(t, member.Get(base), http.StatusForbidden)
		assertStatus(t, member.Post(base, url.Values{"url": {"https://203.0.113.10/x"}, "events": {"key.created"}}), http.StatusForbidden)
	})
}

func TestUIWebhooks_EndpointPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPrivateDestinations)
	owner := app.NewClient(t)
	org := owner.MustSignup("Ada", "ada@example.com", "Acme")
	recv := newHookReceiver(t)
	created := owner.Post("/orgs/"+org+"/settings/webhooks", url.Values{"url": {recv.URL + "/in"}, "events": {"key.created"}})
	assertStatus(t, created, http.StatusCreated)
	page, _ := owner.Get("/orgs/" + org + "/settings/webhooks").Doc.Find(`[data-testid="webhook"] a`).Attr("href")

	// Send test event, then deliver it.
	p := owner.Post(page+"/test", nil)
	assertStatus(t, p, http.StatusSeeOther)
	if got := owner.Get(page).Doc.Find(`[data-testid="delivery-status"]`).Text(); got != "Pending" {
		t.Fatalf("status before delivery = %q", got)
	}
	deliverWebhooks(t, app)
	row := owner.Get(page).Doc.Find(`[data-testid="delivery"]`)
	if row.Length() != 1 || row.Find(`[data-testid="delivery-status"]`).Text() != "Delivered" ||
		row.Find(`[data-testid="delivery-code"]`).Text() != "200" || !strings.Contains(row.Text(), "webhook.test") {
		t.Fatalf("delivery row = %q", row.Text())
	}
	if evs := recv.events(t); len(evs) != 1 || evs[0]["type"] != "webhook.test" {
		t.Fatalf("receiver got %v", evs)
	}

	// Resend it.
	resend, _ := row.Find(`form`).Attr("action")
	assertStatus(t, owner.Post(resend, nil), http.StatusSeeOther)
	deliverWebhooks(t, app)
	if n := len(recv.events(t)); n != 2 {
		t.Fatalf("receiver got %d events after a resend, want 2", n)
	}

	// Roll the secret: shown once, on the answer.
	rolled := owner.Post(page+"/roll-secret", nil)
	assertStatus(t, rolled, http.StatusOK)
	if s, _ := rolled.Doc.Find(`[data-testid="webhook-secret"] input`).Attr("value"); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("rolled secret = %q", s)
	}
	if rolled.Doc.Find(`[data-testid="webhook-grace"]`).Length() != 1 {
		t.Fatal("the grace period is not shown")
	}

	// Disable, enable.
	assertStatus(t, owner.Post(page+"/state", url.Values{"enabled": {"false"}}), http.StatusSeeOther)
	if got := owner.Get(page).Doc.Find(`[data-testid="webhook-state"]`).Text(); got != "Disabled" {
		t.Fatalf("state = %q", got)
	}
	assertStatus(t, owner.Post(page+"/state", url.Values{"enabled": {"true"}}), http.StatusSeeOther)
	if got := owner.Get(page).Doc.Find(`[data-testid="webhook-state"]`).Text(); got != "Active" {
		t.Fatalf("state = %q", got)
	}

	// Delete, after a confirmation page.
	confirm := owner.Get(page + "/delete")
	assertStatus(t, confirm, http.StatusOK)
	action, _ := confirm.Doc.Find(`form[method="post"]`).Last().Attr("action")
	assertStatus(t, owner.Post(action, nil), http.StatusSeeOther)
	if owner.Get("/orgs/"+org+"/settings/webhooks").Doc.Find(`[data-testid="webhooks-empty"]`).Length() != 1 {
		t.Fatal("the endpoint is still listed")
	}
	assertStatus(t, owner.Get(page), http.StatusNotFound)
}
