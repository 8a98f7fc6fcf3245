package web_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp/kb"
	"github.com/keygate/keygate/internal/keygate"
)

// TestBrowserLeakPolicy chooses, on Settings > Key policy, what happens
// to an exposed key with the keyboard alone, reports a key and looks at
// its page, running axe on each.
func TestBrowserLeakPolicy(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()
	secret, key := app.MustKey(t, app.MustUser(t, "ada@example.com"), org, keygate.APIKeyCreate{Name: "Deploy", Scopes: []keygate.Scope{keygate.ScopeWrite}})

	b.Click(mainNav + Link("Settings"))
	b.Click(`//nav[@aria-label="Organization settings"]` + Link("Key policy"))
	b.WaitVisible(Heading("Key policy"))
	b.CheckA11y("key-policy")
	// Tab to the checked radio, arrow to the next choices, Enter submits.
	b.TabTo(`//input[@id="f-leak_policy-notify"]`, 80)
	b.Press(kb.ArrowDown)
	b.Press(kb.ArrowDown)
	if !b.Focused(`//input[@id="f-leak_policy-revoke"]`) {
		t.Fatal("arrows did not reach Revoke it")
	}
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(`//*[contains(@class,"flash") and normalize-space()="Key policy saved."]`)
	if !b.Checked("Revoke it") {
		t.Fatal("Revoke it was not saved")
	}

	body, _ := json.Marshal(map[string]string{"key": secret, "url": "https://example.com/paste/1", "source": "a reader"})
	wantAPI(t, app.API(t, "POST", "/api/v1/keys/report-leak", "", string(body)), http.StatusAccepted, "", "")
	b.Visit("/orgs/" + org + "/api-keys/" + key.PublicID)
	b.WaitVisible(`//*[@data-testid="key-leak-reported"]`)
	b.CheckA11y("key-leak-reported")
}
