package web_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// rowMenu is the XPath of the "⋯" button of the key named name.
func rowMenu(name string) string {
	return KeyRow(name) + `//button[@aria-haspopup="menu"]`
}

// RowAction opens the "⋯" menu of the key named name and chooses item
// (View, Roll key, Revoke).
func (b *Browser) RowAction(name, item string) {
	b.tb.Helper()
	b.Click(rowMenu(name))
	b.Click(KeyRow(name) + `//*[@role="menu"]//*[@role="menuitem" and normalize-space()=` + xq(item) + `]`)
}

// TestBrowserAPIKeysTableFits fills the API Keys table the way a busy
// organization does (16 keys, long names, keys created through the API, a
// rolled key) and checks that it never scrolls sideways on a desktop.
func TestBrowserAPIKeysTableFits(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()
	seedKeyTable(t, app, org, app.MustUser(t, "ada@example.com"))

	b.Visit("/orgs/" + org + "/api-keys")
	b.WaitVisible(KeyRow(longKeyName))
	if n := b.Count(`//tr[@data-testid="api-key-row"]`); n < 16 {
		t.Fatalf("the table shows %d keys, want at least 16", n)
	}
	for _, width := range []int64{1024, 1280, 1440} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			b.Viewport(width)
			var got struct {
				Scroll, Client int
			}
			b.Eval(`(function(){var w=document.querySelector('[data-testid="api-keys"]').closest(".table-wrap");
				return {Scroll: w.scrollWidth, Client: w.clientWidth}})()`, &got)
			if got.Client == 0 || got.Scroll > got.Client {
				t.Fatalf("at %d px the table is %d px wide in a %d px wrapper: it scrolls sideways", width, got.Scroll, got.Client)
			}
			var hidden []string
			b.Eval(`Array.from(document.querySelectorAll('[data-testid="api-key-row"] button[aria-haspopup]')).filter(function(e){
				var r=e.getBoundingClientRect(); return r.width===0 || r.right>window.innerWidth}).map(function(e){return e.getAttribute("aria-label")})`, &hidden)
			if len(hidden) > 0 {
				t.Fatalf("at %d px these row menus are off-screen: %v", width, hidden)
			}
		})
	}
	b.Viewport(1280)
	b.CheckA11y("api-keys-full")
}

// TestBrowserAPIKeyRowMenuKeyboard opens a row's "⋯" menu with the
// keyboard, walks it with the arrow keys and revokes the key from it.
func TestBrowserAPIKeyRowMenuKeyboard(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()
	owner := app.MustUser(t, "ada@example.com")
	app.MustKey(t, owner, org, keyCreate("Deploy bot", "read"))
	app.MustKey(t, owner, org, keyCreate("Billing service", "write"))
	b.Visit("/orgs/" + org + "/api-keys")

	button := rowMenu("Deploy bot")
	b.WaitVisible(button)
	var expanded string
	b.Run(chromedp.AttributeValue(button, "aria-expanded", &expanded, nil, chromedp.BySearch))
	if expanded != "false" {
		t.Fatalf("closed menu: aria-expanded = %q, want false", expanded)
	}
	b.TabTo(button, 40)
	b.AssertFocusVisible()
	b.Press(kb.Enter)
	menu := KeyRow("Deploy bot") + `//*[@role="menu"]`
	b.WaitVisible(menu)
	b.Run(chromedp.AttributeValue(button, "aria-expanded", &expanded, nil, chromedp.BySearch))
	if expanded != "true" {
		t.Fatalf("open menu: aria-expanded = %q, want true", expanded)
	}
	var items []string
	b.Eval(`Array.from(document.querySelectorAll('[role="menu"]:not([hidden]) [role="menuitem"]')).map(function(e){return e.textContent.trim()})`, &items)
	if fmt.Sprint(items) != "[View Roll key Revoke]" {
		t.Fatalf("menu items = %v, want View, Roll key, Revoke", items)
	}
	item := func(text string) string { return menu + `//*[@role="menuitem" and normalize-space()=` + xq(text) + `]` }
	if !b.Focused(item("View")) {
		t.Fatal("Enter did not move focus to the menu's first item")
	}
	b.AssertFocusVisible()
	b.Press(kb.ArrowDown)
	if !b.Focused(item("Roll key")) {
		t.Fatal("ArrowDown did not move to Roll key")
	}
	b.Press(kb.Escape)
	if !b.Focused(button) || b.Count(menu+`[not(@hidden)]`) != 0 {
		t.Fatal("Escape did not close the menu and return focus to its button")
	}

	b.Press(kb.ArrowDown)
	b.WaitVisible(menu)
	b.Press(kb.End)
	if !b.Focused(item("Revoke")) {
		t.Fatal("End did not move to the last item, Revoke")
	}
	b.Press(kb.Enter)
	revoke := Dialog("Revoke API key")
	b.WaitVisible(revoke)
	b.assertFocusIn(revoke)
	if got, want := b.Text(revoke+`//p`), "Revoke “Deploy bot”? Applications using it will stop working immediately. This cannot be undone."; got != want {
		t.Fatalf("the dialog asks %q, want %q", got, want)
	}
	b.TabTo(revoke+`//button[normalize-space()="Revoke key"]`, 5)
	b.Press(kb.Enter)
	b.WaitVisible(`//*[@role="status" and normalize-space()="Key “Deploy bot” revoked. Requests using it now fail."]`)
	if n := b.Count(KeyRow("Deploy bot")); n != 0 {
		t.Fatal("the revoked key is still listed as active")
	}
	if n := b.Count(KeyRow("Billing service")); n != 1 {
		t.Fatal("the other key went missing")
	}
}

// TestBrowserKeyPageError saves a bad rate limit on a key's page: the page
// comes back whole, usage included, with the error beside the field and
// the focus on it.
func TestBrowserKeyPageError(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()
	_, k := app.MustKey(t, app.MustUser(t, "ada@example.com"), org, keyCreate("Throttle test", "read"))
	b.Visit("/orgs/" + org + "/api-keys/" + k.PublicID)
	b.WaitVisible(Heading("Usage"))

	b.Fill("Rate limit", "abc")
	b.Click(Button("Save changes"))
	b.WaitVisible(`//p[@id="f-rate_limit-error" and normalize-space()="Enter a limit like 1000/h, 60/m or 10/s."]`)
	if b.Count(Heading("Usage")) != 1 {
		t.Fatal("the Usage section is gone after the error")
	}
	if !b.Focused(Label("Rate limit")) {
		var active string
		b.Eval(`document.activeElement.outerHTML.slice(0, 160)`, &active)
		t.Fatalf("focus is on %s, not on Rate limit", active)
	}
	var inView bool
	b.Eval(`(function(){var r=document.getElementById("f-rate_limit-error").getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight})()`, &inView)
	if !inView {
		t.Fatal("the error is outside the window")
	}
	var value string
	b.Run(chromedp.Value(Label("Rate limit"), &value, chromedp.BySearch))
	if value != "abc" {
		t.Fatalf("Rate limit kept as %q", value)
	}
}
