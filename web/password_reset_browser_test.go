package web_test

import (
	"testing"

	"github.com/chromedp/chromedp/kb"
)

// TestBrowserPasswordReset walks forgot → reset → login with the keyboard
// alone, and checks each page's accessibility, light and dark.
func TestBrowserPasswordReset(t *testing.T) {
	app, sink, _ := mustOpenResetApp(t)
	b := NewBrowser(t, app)

	b.Visit("/login")
	b.WaitVisible(Heading("Log in to Keygate"))
	b.TabTo(Link("Forgot your password?"), 10)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(Heading("Reset your password"))
	b.CheckA11y("forgot-password")
	if !b.Focused(Label("Email")) {
		t.Fatal("the Email field does not have focus")
	}
	b.Press("ada@example.com", kb.Enter)
	b.WaitVisible(`//*[@data-testid="reset-sent"]`)
	b.CheckA11y("forgot-password-sent")
	app.Web.WaitBackground()
	links := resetLinks(sink, "ada@example.com")
	if len(links) != 1 {
		t.Fatalf("links = %v", links)
	}

	// The link is opened from the email.
	b.Visit(app.path(links[0]))
	b.WaitVisible(Heading("Choose a new password"))
	b.CheckA11y("reset-password")
	b.Press("a brand new passphrase", kb.Tab, "not the same passphrase", kb.Enter)
	b.WaitVisible(`//p[normalize-space()="The passwords do not match."]`)
	b.CheckA11y("reset-password-errors")
	b.Fill("New password", "a brand new passphrase")
	b.Fill("Confirm new password", "a brand new passphrase")
	b.Press(kb.Enter)
	b.WaitVisible(`//*[normalize-space()="Your password has been changed. Log in with your new password."]`)
	b.CheckA11y("login-after-reset")
	b.Press("ada@example.com", kb.Tab, "a brand new passphrase", kb.Enter)
	b.WaitVisible(mainNav)

	b.Visit(app.path(links[0]))
	b.WaitVisible(`//*[@data-testid="reset-gone"]`)
	b.CheckA11y("reset-link-gone")

	b.Visit("/admin/users")
	b.Click(Button("Make a password reset link for Ada"))
	b.WaitVisible(Heading("Password reset link"))
	b.CheckA11y("admin-reset-link")

	b.Visit("/settings")
	b.Fill("Email", "ada@new.example")
	b.Click(Button("Save profile"))
	b.WaitVisible(`//p[normalize-space()="Enter your current password."]`)
	b.CheckA11y("settings-email-change-errors")
	b.Fill("Current password", "a brand new passphrase")
	b.Click(Button("Save profile"))
	b.WaitVisible(`//*[contains(normalize-space(), "We sent a link to ada@new.example")]`)
	app.Web.WaitBackground()
	confirm := mailTo(sink, "ada@new.example")
	if len(confirm) != 1 {
		t.Fatalf("emails to the new address: %d", len(confirm))
	}
	b.Visit(app.path(confirmLinkRE.FindString(confirm[0].Data)))
	b.WaitVisible(Heading("Confirm your new email"))
	b.CheckA11y("confirm-email")
	b.TabTo(Button("Confirm new email"), 10)
	b.Press(kb.Enter)
	b.WaitVisible(`//*[normalize-space()="Your email is now ada@new.example."]`)
}
