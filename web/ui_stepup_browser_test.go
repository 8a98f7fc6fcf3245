package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/keygate/keygate/internal/keygate"
)

// TestBrowserStepUp creates an Admin key from a session older than ten
// minutes: the "Confirm it's you" dialog asks for the password, with the
// keyboard alone, and the key is then created as first filled in.
func TestBrowserStepUp(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Admin", "ada@example.com", "Step Co")
	app.Clock.Advance(11 * time.Minute)

	b.openCreateDialog()
	b.Fill("Name", "Deploy bot")
	b.Click(Dialog("Create API Key") + `//label[normalize-space()="Admin"]`)
	b.Click(Dialog("Create API Key") + `//button[normalize-space()="Create API Key"]`)
	b.WaitVisible(Heading("Confirm it's you"))
	b.CheckA11y("step-up dialog")
	if !b.Focused(Label("Password")) {
		t.Fatal("the password field does not have focus")
	}
	b.Press("not my password", kb.Enter)
	b.WaitVisible(`//*[@id="f-_stepup_password-error"][normalize-space()="Password is incorrect."]`)
	b.Fill("Password", testPassword)
	b.TabTo(Button("Confirm"), 5)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(Dialog("API Key Created"))
	var secret string
	b.Run(chromedp.Value(Label("Deploy bot"), &secret, chromedp.BySearch))
	if secret == "" {
		t.Fatal("the modal shows no key")
	}
	ada := app.MustUser(t, "ada@example.com")
	orgs, _ := app.Orgs.FindOrganizations(keygate.NewContextWithUser(t.Context(), ada))
	k := app.keyByName(t, ada, orgs[0].PublicID, "Deploy bot", keygate.KeyActive)
	if !k.Scopes.Has(keygate.ScopeAdmin) {
		t.Fatalf("key scopes = %v, want Admin", k.Scopes)
	}
}

// TestBrowserStepUpPasskey confirms an Admin key's creation with a passkey
// (a virtual authenticator) from a session older than ten minutes.
func TestBrowserStepUpPasskey(t *testing.T) {
	app, b := openPasskeyBrowser(t)
	b.Signup("Pat Passkey", "pat@example.com", "Passkey Co")
	b.Visit("/settings/security")
	b.WaitVisible(Heading("Passkeys"))
	b.Fill("Name", "Test laptop")
	b.Click(Button("Add a passkey"))
	b.WaitVisible(Heading("Your recovery codes"))

	app.Clock.Advance(11 * time.Minute)
	b.Visit("/")
	b.openCreateDialog()
	b.Fill("Name", "Passkey admin")
	b.Click(Dialog("Create API Key") + `//label[normalize-space()="Admin"]`)
	b.Click(Dialog("Create API Key") + `//button[normalize-space()="Create API Key"]`)
	b.WaitVisible(Heading("Confirm it's you"))
	// A person with a passkey is not asked for the password.
	if n := b.Count(`//input[@name="_stepup_password"]`); n != 0 {
		t.Fatal("the dialog asks a person with a passkey for the password")
	}
	b.WaitVisible(Button("Use your passkey"))
	b.CheckA11y("step-up dialog with a passkey")
	b.Click(Button("Use your passkey"))
	b.WaitVisible(Dialog("API Key Created"))
	pat := app.MustUser(t, "pat@example.com")
	orgs, _ := app.Orgs.FindOrganizations(keygate.NewContextWithUser(t.Context(), pat))
	if k := app.keyByName(t, pat, orgs[0].PublicID, "Passkey admin", keygate.KeyActive); !k.Scopes.Has(keygate.ScopeAdmin) {
		t.Fatalf("key scopes = %v", k.Scopes)
	}
}
