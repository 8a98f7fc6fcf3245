package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// openPasskeyBrowser starts an app the browser reaches at "localhost",
// where WebAuthn works, and a tab with a virtual platform authenticator
// (a built-in one that verifies the user, like Touch ID).
func openPasskeyBrowser(t *testing.T) (*App, *Browser) {
	t.Helper()
	app := MustOpenApp(t, withPasskeyHost)
	app.URL = passkeyOrigin(app)
	b := NewBrowser(t, app)
	b.Run(cdpwebauthn.Enable().WithEnableUI(false), chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := cdpwebauthn.AddVirtualAuthenticator(&cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}).Do(ctx)
		return err
	}))
	return app, b
}

// codesShown counts the recovery codes on the page.
func (b *Browser) codesShown() int {
	b.tb.Helper()
	var n int
	b.Eval(`(function(){var t=document.querySelector("#recovery-codes"); return t ? t.value.split(/\s+/).filter(Boolean).length : 0})()`, &n)
	return n
}

// TestBrowserPasskeys adds a passkey, then uses it as the second step and
// on its own from the login page.
func TestBrowserPasskeys(t *testing.T) {
	app, b := openPasskeyBrowser(t)
	b.Signup("Pat Passkey", "pat@example.com", "Passkey Co")

	t.Run("Add", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/settings/security")
		b.WaitVisible(Heading("Passkeys"))
		b.CheckA11y("Security, no passkey")
		b.Fill("Name", "Test laptop")
		b.Click(Button("Add a passkey"))
		b.WaitVisible(Heading("Your recovery codes"))
		if got := b.Text(`//*[@data-testid="passkey-name"]`); got != "Test laptop" {
			t.Fatalf("passkey listed as %q", got)
		}
		if got := b.Text(`//*[@data-testid="passkey-last-used"]`); got != "Never used" {
			t.Fatalf("last used = %q", got)
		}
		if n := b.codesShown(); n != 10 {
			t.Fatalf("recovery codes shown = %d, want 10", n)
		}
		b.CheckA11y("Security, passkey added")
		// Shown once: a reload (which re-posts) shows none.
		b.Run(chromedp.Reload())
		b.WaitVisible(Heading("Passkeys"))
		if n := b.codesShown(); n != 0 {
			t.Fatalf("recovery codes shown again after a reload: %d", n)
		}
		b.Visit("/settings/security")
		if n := b.codesShown(); n != 0 {
			t.Fatalf("recovery codes shown again: %d", n)
		}

		// The same authenticator again: the browser refuses, and the
		// message is beside the name, which has focus.
		b.Fill("Name", "Again")
		b.Click(Button("Add a passkey"))
		if got, want := b.Text(`//*[@id="f-passkey-name-error" and @role="alert" and normalize-space()!=""]`), "This device already holds a passkey for your account."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
		if !b.Focused(Label("Name")) {
			t.Fatal("the name field does not have focus after the error")
		}
		var invalid string
		b.Eval(`document.querySelector("#f-passkey-name").getAttribute("aria-invalid")`, &invalid)
		if invalid != "true" {
			t.Fatalf("aria-invalid = %q", invalid)
		}
	})

	t.Run("SecondStep", func(t *testing.T) {
		b := b.For(t)
		b.Run(network.ClearBrowserCookies())
		b.Visit("/login?next=/settings/security")
		b.Fill("Email", "pat@example.com")
		b.Fill("Password", testPassword)
		b.Click(Button("Log in"))
		b.WaitVisible(Heading("Two-step verification"))
		b.WaitVisible(Button("Use your passkey"))
		var appLinks int
		b.Eval(`document.querySelectorAll('a[href="/login/verify?method=app"]').length`, &appLinks)
		if appLinks != 0 {
			t.Fatal("offers an authenticator app the person does not have")
		}
		b.WaitVisible(Link("Use a recovery code"))
		b.CheckA11y("Login, passkey step")
		b.Click(Button("Use your passkey"))
		b.WaitVisible(mainNav)
		b.WaitVisible(Heading("Passkeys"))
		if got := b.Text(`//*[@data-testid="passkey-last-used"]`); got != "just now" {
			t.Fatalf("last used = %q after use", got)
		}
	})

	t.Run("SignIn", func(t *testing.T) {
		b := b.For(t)
		b.Run(network.ClearBrowserCookies())
		b.Visit("/login")
		b.WaitVisible(Button("Sign in with a passkey"))
		b.CheckA11y("Login with passkey button")
		b.Click(Button("Sign in with a passkey"))
		b.WaitVisible(mainNav)
	})

	t.Run("Remove", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/settings/security")
		b.Click(`//*[@data-testid="passkey"]//a[normalize-space()="Remove"]`)
		b.WaitVisible(Dialog("Remove passkey"))
		var modal bool
		b.Eval(`document.querySelector("dialog[open]").matches(":modal")`, &modal)
		if !modal {
			t.Fatal("the question is not a modal dialog")
		}
		b.Click(Button("Remove passkey"))
		b.WaitVisible(`//*[@data-testid="passkeys-none"]`)
		if n := app.Count(t, "user_passkeys"); n != 0 {
			t.Fatalf("passkeys stored = %d", n)
		}
	})
}

// TestBrowserPasskeyKeyboardOnly adds a passkey with the keyboard alone.
func TestBrowserPasskeyKeyboardOnly(t *testing.T) {
	_, b := openPasskeyBrowser(t)
	b.Signup("Kai Keys", "kai@example.com", "Keyboard Co")
	b.Visit("/settings/security")
	b.WaitVisible(Heading("Passkeys"))
	b.TabTo(Label("Name"), 40)
	b.AssertFocusVisible()
	b.Press("Work phone")
	b.TabTo(Button("Add a passkey"), 3)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(Heading("Your recovery codes"))
	if got := b.Text(`//*[@data-testid="passkey-name"]`); got != "Work phone" {
		t.Fatalf("passkey listed as %q", got)
	}
	// On to its Remove button, and back out of the question with Escape.
	b.TabTo(`//*[@data-testid="passkey"]//a[normalize-space()="Remove"]`, 60)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(Dialog("Remove passkey"))
	b.Press(kb.Escape)
	var open int
	b.Eval(`document.querySelectorAll("dialog[open]").length`, &open)
	if open != 0 {
		t.Fatal("Escape did not close the question")
	}
}
