package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// openCreateDialog goes to API Keys and opens the create dialog.
func (b *Browser) openCreateDialog() {
	b.tb.Helper()
	b.Click(mainNav + Link("API Keys"))
	b.WaitVisible(`//h1[normalize-space()="API Keys"]`)
	b.Click(`(` + Button("+ Create API Key") + `)[1]`)
	b.WaitVisible(Dialog("Create API Key"))
}

// submitCreateDialog submits the open create dialog and returns the key
// shown in the "API Key Created" modal, which it leaves open.
func (b *Browser) submitCreateDialog(name string) string {
	b.tb.Helper()
	b.Click(Dialog("Create API Key") + `//button[normalize-space()="Create API Key"]`)
	b.WaitVisible(Dialog("API Key Created"))
	var secret string
	b.Run(chromedp.Value(Label(name), &secret, chromedp.BySearch))
	if _, err := apikey.Parse(secret); err != nil {
		b.tb.Fatalf("the modal shows %q: %v", secret, err)
	}
	return secret
}

// closeKeyModal closes the "API Key Created" modal with Escape.
func (b *Browser) closeKeyModal() {
	b.tb.Helper()
	b.Press(kb.Escape)
	b.Run(chromedp.WaitNotPresent(`#key-created`, chromedp.ByQuery))
}

// Count returns how many elements match the XPath.
func (b *Browser) Count(xpath string) int {
	b.tb.Helper()
	var n int
	b.Eval(fmt.Sprintf(`document.evaluate(%q, document, null, 7, null).snapshotLength`, xpath), &n)
	return n
}

// Checked reports whether the checkbox labelled label is checked.
func (b *Browser) Checked(label string) bool {
	b.tb.Helper()
	var on bool
	b.Eval(fmt.Sprintf(`document.evaluate(%q, document, null, 9, null).singleNodeValue.checked`, Label(label)), &on)
	return on
}

// Select chooses the option with text in the select labelled label.
func (b *Browser) Select(label, option string) {
	b.tb.Helper()
	var value string
	b.Run(chromedp.Value(Label(label)+`/option[normalize-space()=`+xq(option)+`]`, &value, chromedp.BySearch))
	b.Run(chromedp.SetValue(Label(label), value, chromedp.BySearch))
}

// TestBrowserSignupLogoutLogin signs up, logs out from the account menu and
// logs in again with the form.
func TestBrowserSignupLogoutLogin(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)

	b.Visit("/signup")
	b.WaitVisible(Heading("Create your account"))
	b.CheckA11y("signup")
	b.Fill("Name", "Ada Lovelace")
	b.Fill("Email", "ada@example.com")
	b.Fill("Password", testPassword)
	b.Fill("Organization name", "Analytical Engines")
	b.Click(Button("Create account"))
	b.WaitVisible(Heading("Overview"))
	org := b.OrgID()
	b.CheckA11y("overview")

	b.Click(Menu("Account menu for Ada Lovelace"))
	b.Click(MenuItem("Account menu for Ada Lovelace", "Log out"))
	b.WaitVisible(Heading("Log in to Keygate"))
	if got, want := b.Text(`//*[@role="status"]`), "You have been logged out."; got != want {
		t.Fatalf("after logout the page says %q, want %q", got, want)
	}
	b.CheckA11y("login")
	b.Visit("/orgs/" + org)
	b.WaitVisible(Heading("Log in to Keygate"))

	b.Fill("Email", "ada@example.com")
	b.Fill("Password", testPassword)
	b.Click(Button("Log in"))
	b.WaitVisible(Heading("Overview"))
	if got := b.OrgID(); got != org {
		t.Fatalf("logged in to %s, want %s", got, org)
	}
	if got := b.Text(mainNav + `//li/a[@aria-current="page" and not(ancestor::details)]`); got != "Overview" {
		t.Fatalf("current page in the sidebar = %q, want Overview", got)
	}
}

// TestBrowserUseThenRevokeKey creates a key in the browser, uses it with
// both header schemes, revokes it in the browser and sees it refused.
func TestBrowserUseThenRevokeKey(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")

	b.Click(mainNav + Link("API Keys"))
	b.WaitVisible(Heading("No API keys yet"))
	b.CheckA11y("api-keys-empty")
	b.Click(`(` + Button("+ Create API Key") + `)[1]`)
	b.WaitVisible(Dialog("Create API Key"))
	b.CheckA11y("create-dialog")
	b.Click(Dialog("Create API Key") + `//button[normalize-space()="Create API Key"]`)
	b.WaitVisible(Dialog("Create API Key") + `//p[normalize-space()="Name is required."]`)
	b.CheckA11y("create-dialog-errors")
	b.Fill("Name", "Billing service")
	if !b.Checked("Read") {
		t.Fatal("Read is not checked by default")
	}
	b.Run(chromedp.Click(Label("Write"), chromedp.BySearch))
	secret := b.submitCreateDialog("Billing service")
	b.CheckA11y("key-created")
	b.closeKeyModal()
	b.WaitVisible(KeyRow("Billing service"))
	b.CheckA11y("api-keys")

	for _, scheme := range []string{"Token", "Bearer"} {
		auth := scheme + " " + secret
		me := app.API(t, http.MethodGet, "/api/v1/me", auth, "")
		wantAPI(t, me, http.StatusOK, "", "")
		key, _ := me.JSON["key"].(map[string]any)
		if key["name"] != "Billing service" || fmt.Sprint(key["scopes"]) != "[read write]" {
			t.Fatalf("%s: /me = %s", scheme, me.Raw)
		}
		wantAPI(t, app.API(t, http.MethodGet, "/api/v1/bots", auth, ""), http.StatusOK, "", "")
	}

	b.RowAction("Billing service", "Revoke")
	dialog := Dialog("Revoke API key")
	b.WaitVisible(dialog)
	want := "Revoke “Billing service”? Applications using it will stop working immediately. This cannot be undone."
	if got := b.Text(dialog + `//p`); got != want {
		t.Fatalf("the confirm dialog asks %q, want %q", got, want)
	}
	b.CheckA11y("revoke-dialog")
	b.Click(dialog + `//button[normalize-space()="Revoke key"]`)
	b.WaitVisible(`//*[@role="status" and normalize-space()="Key “Billing service” revoked. Requests using it now fail."]`)
	if n := b.Count(KeyRow("Billing service")); n != 0 {
		t.Fatalf("the revoked key is still listed as active (%d rows)", n)
	}

	wantAPI(t, app.API(t, http.MethodGet, "/api/v1/me", "Bearer "+secret, ""), http.StatusUnauthorized, "Invalid token.", "")
	wantAPI(t, app.API(t, http.MethodGet, "/api/v1/bots", "Token "+secret, ""), http.StatusUnauthorized, "Invalid token.", "")
}

// TestBrowserRollKeyWithGrace rolls a key with an hour's grace: both keys
// work, and the old one's row says when it stops.
func TestBrowserRollKeyWithGrace(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	b.openCreateDialog()
	b.Fill("Name", "Payments worker")
	old := b.submitCreateDialog("Payments worker")
	b.closeKeyModal()
	oldHint := b.Text(KeyRow("Payments worker") + `//code`)

	b.RowAction("Payments worker", "Roll key")
	dialog := Dialog("Roll key “Payments worker”")
	b.WaitVisible(dialog)
	b.CheckA11y("roll-dialog")
	b.Select("Old key keeps working for", "1 hour")
	b.Click(dialog + `//button[normalize-space()="Roll key"]`)
	b.WaitVisible(Dialog("Key rolled"))
	var next string
	b.Run(chromedp.Value(Label("Payments worker"), &next, chromedp.BySearch))
	if _, err := apikey.Parse(next); err != nil || next == old {
		t.Fatalf("the modal shows %q (old %q): %v", next, old, err)
	}
	var until string
	for _, k := range app.keysOf(t, app.MustUser(t, "ada@example.com"), b.OrgID(), keygate.KeyActive) {
		if k.Hint == oldHint && k.ExpiresAt != nil {
			until = k.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
		}
	}
	if until == "" {
		t.Fatalf("no active key %s with an expiry", oldHint)
	}
	note := "The old key keeps working for 1 hour, until " + until + "."
	if got := b.Text(Dialog("Key rolled") + `//p[contains(., "old key")]`); got != note {
		t.Fatalf("the modal says %q, want %q", got, note)
	}

	for _, secret := range []string{old, next} {
		me := app.API(t, http.MethodGet, "/api/v1/me", "Bearer "+secret, "")
		wantAPI(t, me, http.StatusOK, "", "")
	}

	b.closeKeyModal()
	oldRow := KeyRow("Payments worker") + `[.//code[normalize-space()=` + xq(oldHint) + `]]`
	if got := b.Text(oldRow + `//*[@data-testid="key-expiry"]`); got != "Expires in 1 hour" {
		t.Fatalf("the old key's expiry says %q, want %q", got, "Expires in 1 hour")
	}
	if n := b.Count(KeyRow("Payments worker")); n != 2 {
		t.Fatalf("rows named Payments worker = %d, want the old and the new", n)
	}
}

// TestBrowserMemberCannotManageKeys logs in as a Member: no API Keys in
// the sidebar, and the page itself answers 403.
func TestBrowserMemberCannotManageKeys(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()

	// The Owner invites Mia as a Member on the Members page.
	b.Click(mainNav + Link("Members"))
	b.WaitVisible(Heading("Members"))
	b.Fill("Email", "mia@example.com")
	b.Click(Button("Create invitation"))
	var link string
	b.Run(chromedp.Value(`#invite-link`, &link, chromedp.ByQuery))
	if !strings.Contains(link, "/invitations/") {
		t.Fatalf("no invitation link: %q", link)
	}
	b.CheckA11y("members with invitation link")
	b.Click(Menu("Account menu"))
	b.Click(Button("Log out"))
	b.WaitVisible(Heading("Log in to Keygate"))

	// Mia opens the link, signs up, and joins as a Member.
	b.Run(chromedp.Navigate(link))
	b.Click(Link("Sign up to accept"))
	b.Fill("Name", "Mia Member")
	b.Fill("Password", testPassword)
	b.Click(Button("Create account and join"))
	b.WaitVisible(Heading("Overview"))
	if got := b.OrgID(); got != org {
		t.Fatalf("joined %s, want %s", got, org)
	}
	if b.Count(mainNav+Link("Overview")) != 1 {
		t.Fatal("the sidebar has no Overview link")
	}
	if n := b.Count(mainNav + Link("API Keys")); n != 0 {
		t.Fatal("a Member sees API Keys in the sidebar")
	}

	b.Visit("/orgs/" + org + "/api-keys")
	b.WaitVisible(Heading("Access denied"))
	if got := b.Text(`//main//p[contains(., "Admin role")]`); got != "You need the Admin role to manage API keys" {
		t.Fatalf("the 403 page says %q", got)
	}
	if got := b.Text(`//main//p[1]`); got != "403" {
		t.Fatalf("the error page shows status %q, want 403", got)
	}
	b.CheckA11y("403")
}

// TestBrowserKeyboardOnly signs up, creates a key and revokes it with the
// keyboard alone, checking that focus is always visible and goes where a
// keyboard user expects.
func TestBrowserKeyboardOnly(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)

	b.Visit("/signup")
	b.WaitVisible(Heading("Create your account"))
	for _, f := range []struct{ label, value string }{
		{"Name", "Kim Keys"}, {"Email", "kim@example.com"}, {"Password", testPassword}, {"Organization name", "Keyboard Co"},
	} {
		b.TabTo(Label(f.label), 5)
		b.AssertFocusVisible()
		b.Press(f.value)
	}
	b.TabTo(Button("Create account"), 3)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(Heading("Overview"))

	b.TabTo(mainNav+Link("API Keys"), 30)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(Heading("No API keys yet"))

	trigger := `//*[@id="create-key-button"]`
	b.TabTo(trigger, 30)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	create := Dialog("Create API Key")
	b.WaitVisible(create)
	b.assertFocusIn(create)
	// Enter opened the dialog; it must not also have submitted its form.
	if b.Count(create+`//p[normalize-space()="Name is required."]`) != 0 {
		t.Fatal("Enter on + Create API Key submitted the empty form")
	}
	if !b.Focused(Label("Name")) {
		t.Fatal("the create dialog did not focus its first field")
	}
	b.AssertFocusVisible()
	b.Press("Deploy bot")
	// Scopes are a radio group: Tab reaches the chosen one, an arrow key
	// chooses the next.
	b.TabTo(Label("Read"), 10)
	b.AssertFocusVisible()
	b.Press(kb.ArrowDown)
	if !b.Checked("Write") || b.Checked("Read") {
		t.Fatal("ArrowDown did not choose Write instead of Read")
	}
	b.TabTo(create+`//button[normalize-space()="Create API Key"]`, 15)
	b.AssertFocusVisible()
	b.Press(kb.Enter)

	created := Dialog("API Key Created")
	b.WaitVisible(created)
	b.assertFocusIn(created)
	b.AssertFocusVisible()
	b.Press(kb.Escape)
	b.Run(chromedp.WaitNotPresent(`#key-created`, chromedp.ByQuery))
	if !b.Focused(trigger) {
		t.Fatal("focus did not return to + Create API Key after the modal closed")
	}
	b.AssertFocusVisible()

	b.TabTo(rowMenu("Deploy bot"), 20)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(KeyRow("Deploy bot") + `//*[@role="menu"]`)
	b.Press(kb.End)
	if !b.Focused(KeyRow("Deploy bot") + `//*[@role="menuitem" and normalize-space()="Revoke"]`) {
		t.Fatal("End did not reach Revoke in the row's menu")
	}
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	revoke := Dialog("Revoke API key")
	b.WaitVisible(revoke)
	b.assertFocusIn(revoke)
	b.AssertFocusVisible()
	b.TabTo(revoke+`//button[normalize-space()="Revoke key"]`, 5)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	b.WaitVisible(`//*[@role="status" and contains(., "revoked")]`)
	if n := b.Count(KeyRow("Deploy bot")); n != 0 {
		t.Fatal("the key is still active after revoking it")
	}
	kim := app.MustUser(t, "kim@example.com")
	if active, revoked := app.keysOf(t, kim, b.OrgID(), keygate.KeyActive), app.keysOf(t, kim, b.OrgID(), keygate.KeyRevoked); len(active) != 0 || len(revoked) != 1 {
		t.Fatalf("%d active and %d revoked keys, want 0 and 1", len(active), len(revoked))
	}
}

// assertFocusIn fails unless the focus is inside the element matching the
// XPath, and that element is a modal dialog.
func (b *Browser) assertFocusIn(xpath string) {
	b.tb.Helper()
	var got struct {
		Modal, Inside bool
		Active        string
	}
	b.Eval(fmt.Sprintf(`(function(){var d=document.evaluate(%q,document,null,9,null).singleNodeValue;
		return {Modal: !!d && d.matches(":modal"), Inside: !!d && d.contains(document.activeElement), Active: document.activeElement.outerHTML.slice(0, 160)}})()`, xpath), &got)
	if !got.Modal || !got.Inside {
		b.tb.Fatalf("%s: modal %v, focus inside %v; focus is on %s", strings.TrimPrefix(xpath, "//"), got.Modal, got.Inside, got.Active)
	}
}
