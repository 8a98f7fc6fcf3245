package web_test

import (
	"strings"
	"testing"
)

// TestBrowserIntegrations goes to Settings > Integrations the way a person
// does, saves, replaces and deletes a credential, and runs axe on each
// state of the page.
func TestBrowserIntegrations(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")

	b.Click(mainNav + Link("Settings"))
	b.Click(`//nav[@aria-label="Organization settings"]` + Link("Integrations"))
	b.WaitVisible(Heading("Integrations"))
	b.CheckA11y("integrations-empty")

	b.Click(Button("Save Deepgram key"))
	b.WaitVisible(`//p[@id="f-api_key-error" and normalize-space()="API key is required."]`)
	b.CheckA11y("integrations-errors")

	b.Fill("Client ID", "zoom-client-id")
	b.Fill("Client Secret", webZoomSecret)
	b.Click(Button("Save Zoom app"))
	b.WaitVisible(`//*[contains(@class,"flash") and normalize-space()="Zoom OAuth app saved."]`)
	if got, want := b.Text(`//*[@data-testid="integration-zoom"]//*[@data-testid="masked-secret"]`), "••••••••"+webZoomSecret[len(webZoomSecret)-4:]; got != want {
		t.Fatalf("masked = %q, want %q", got, want)
	}
	if strings.Contains(b.HTML(), webZoomSecret) {
		t.Fatal("the page holds the secret")
	}

	b.Click(Button("Replace Zoom OAuth app"))
	b.WaitVisible(Label("Client Secret"))
	b.CheckA11y("integrations-replace")

	b.Click(Button("Delete Zoom OAuth app"))
	dialog := Dialog("Delete Zoom OAuth app?")
	b.WaitVisible(dialog)
	b.CheckA11y("integrations-delete-dialog")
	b.Click(dialog + `//button[normalize-space()="Delete"]`)
	b.WaitVisible(`//*[contains(@class,"flash") and normalize-space()="Zoom OAuth app deleted."]`)
	if n := app.Count(t, "integrations"); n != 0 {
		t.Fatalf("rows = %d after delete", n)
	}
}
