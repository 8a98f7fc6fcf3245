package web_test

import (
	"strings"
	"testing"
)

// TestBrowser_SSOLogin signs up through a real OpenID provider the way a
// person does: the button, the provider's login form, back to Keygate.
func TestBrowser_SSOLogin(t *testing.T) {
	app, op := MustOpenAppWithOP(t, "Acme SSO")
	b := NewBrowser(t, app)
	b.Visit("/login")
	b.Click(Button("Continue with Acme SSO"))
	b.Fill("Username:", op.Username)
	b.Fill("Password:", "verysecure")
	b.Click(Button("Login"))
	b.WaitVisible(mainNav)
	if got := b.Text(`//*[contains(@class,"flash-success")]`); !strings.Contains(got, "created with Acme SSO") {
		t.Fatalf("flash = %q", got)
	}
	b.Visit("/settings/sign-in-methods")
	if got := b.Text(`//*[@data-testid="identity-row"]`); !strings.Contains(got, opEmail) {
		t.Fatalf("identity row = %q", got)
	}
}
