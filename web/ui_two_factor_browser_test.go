package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserTwoFactorKeyboardOnly turns on two-step verification and logs
// in with a code from the app, with the keyboard alone.
func TestBrowserTwoFactorKeyboardOnly(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Kim Keys", "kim@example.com", "Keyboard Co")

	b.Visit("/settings/security")
	b.WaitVisible(Heading("Authenticator app"))
	b.TabTo(Button("Set up an authenticator app"), 40)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(`//img[@data-testid="totp-qr"]`)
	var secret string
	b.Eval(`document.querySelector("#totp-secret").value.replaceAll(" ", "")`, &secret)
	b.TabTo(Label("Code from your app"), 40)
	b.AssertFocusVisible()
	b.Press(totpCodeAt(t, secret, app.Clock.Now()))
	b.TabTo(Button("Turn on"), 3)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(Heading("Your recovery codes"))
	b.TabTo(Button("Copy"), 40)
	b.AssertFocusVisible()

	// A new browser session: the password, then the code.
	b.Run(network.ClearBrowserCookies())
	app.Clock.Advance(60 * time.Second)
	b.Visit("/login")
	b.WaitVisible(Label("Email"))
	for _, f := range []struct{ label, value string }{{"Email", "kim@example.com"}, {"Password", testPassword}} {
		b.TabTo(Label(f.label), 10)
		b.Press(f.value)
	}
	b.Press(kb.Enter)
	b.WaitVisible(Heading("Two-step verification"))
	if !b.Focused(Label("Authentication code")) {
		t.Fatal("the code field does not have focus")
	}
	b.Press(totpCodeAt(t, secret, app.Clock.Now()), kb.Enter)
	b.WaitVisible(mainNav)
}
