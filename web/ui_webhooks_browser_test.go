package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"
)

// TestBrowserWebhooks walks Settings > Webhooks as a person would, with
// the keyboard where it matters, and checks every state with axe in light
// and dark.
func TestBrowserWebhooks(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()

	b.Visit("/orgs/" + org + "/settings/integrations")
	b.Click(`//nav[@aria-label="Organization settings"]` + Link("Webhooks"))
	b.WaitVisible(Heading("Add endpoint"))
	b.CheckA11y("webhooks-empty")

	b.Click(Button("Add endpoint"))
	b.WaitVisible(`//p[normalize-space()="Choose at least one event type."]`)
	b.CheckA11y("webhooks-errors")

	// The form by keyboard: the URL, then Space on an event's checkbox.
	b.Fill("URL", "https://203.0.113.10/hooks")
	b.TabTo(`//input[@type="checkbox" and @value="key.created"]`, 20)
	b.Press(" ")
	b.Press(kb.Enter)
	b.WaitVisible(Heading("Endpoint added: https://203.0.113.10/hooks"))
	var secret string
	b.Eval(`document.getElementById("webhook-signing-secret").value`, &secret)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret = %q", secret)
	}
	b.TabTo(Button("Copy"), 40)
	b.AssertFocusVisible()
	b.CheckA11y("webhook-created")

	b.Click(Link("https://203.0.113.10/hooks"))
	b.WaitVisible(Heading("Deliveries"))
	b.Click(Button("Send test event"))
	b.WaitVisible(`//*[@data-testid="delivery-status" and normalize-space()="Pending"]`)
	b.CheckA11y("webhook-endpoint")

	// Edit it by keyboard: Enter in the URL field saves the form.
	b.Fill("URL", "http://203.0.113.10/plain")
	b.Press(kb.Enter)
	b.WaitVisible(`//*[@id="f-url-error"]`)
	b.CheckA11y("webhook-edit-errors")
	b.Fill("URL", "https://203.0.113.10/edited")
	b.Press(kb.Enter)
	b.WaitVisible(`//*[contains(@class,"flash") and normalize-space()="Endpoint saved."]`)
	if got := b.Text(`//*[@data-testid="webhook-url"]`); got != "https://203.0.113.10/edited" {
		t.Fatalf("URL after the edit = %q", got)
	}

	b.Click(Button("Roll secret"))
	b.WaitVisible(Heading("New signing secret"))
	b.CheckA11y("webhook-rolled")

	b.Click(Button("Delete"))
	b.WaitVisible(Heading("Delete webhook endpoint"))
	b.CheckA11y("webhook-delete")
	b.Click(Button("Delete endpoint"))
	b.WaitVisible(`//*[@data-testid="webhooks-empty"]`)
}
