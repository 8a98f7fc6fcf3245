package web_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/keygate/keygate/internal/keygate"
)

// box is an element's rectangle on screen, in CSS pixels.
type box struct {
	Left   float64 `json:"left"`
	Top    float64 `json:"top"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

func (r box) Right() float64   { return r.Left + r.Width }
func (r box) Bottom() float64  { return r.Top + r.Height }
func (r box) CenterX() float64 { return r.Left + r.Width/2 }

// Boxes returns the rectangles of every element matching the CSS selector.
func (b *Browser) Boxes(css string) []box {
	b.tb.Helper()
	var out []box
	b.Eval(fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(function(e){var r=e.getBoundingClientRect(); return {left:r.left, top:r.top, width:r.width, height:r.height}})`, css), &out)
	return out
}

// Box returns the rectangle of the first element matching the CSS
// selector, failing the test if there is none.
func (b *Browser) Box(css string) box {
	b.tb.Helper()
	bs := b.Boxes(css)
	if len(bs) == 0 {
		b.tb.Fatalf("no element matches %s", css)
	}
	return bs[0]
}

// Shown reports whether the element matching the XPath takes up space on
// the page (neither it nor an ancestor is display:none or hidden).
func (b *Browser) Shown(xpath string) bool {
	b.tb.Helper()
	var on bool
	b.Eval(fmt.Sprintf(`(function(){var n=document.evaluate(%q,document,null,9,null).singleNodeValue; if(!n) return false; var r=n.getBoundingClientRect(); return r.width>0 && r.height>0 && getComputedStyle(n).visibility!=="hidden"})()`, xpath), &on)
	return on
}

// Attr returns an attribute of the element matching the XPath.
func (b *Browser) Attr(xpath, name string) string {
	b.tb.Helper()
	var v string
	b.Eval(fmt.Sprintf(`(function(){var n=document.evaluate(%q,document,null,9,null).singleNodeValue; return n ? (n.getAttribute(%q)||"") : ""})()`, xpath, name), &v)
	return v
}

// assertNoSidewaysScroll fails if the page, or any table wrapper on it,
// is wider than the screen.
func (b *Browser) assertNoSidewaysScroll(name string) {
	b.tb.Helper()
	var got struct {
		Page   int      `json:"page"`
		Screen int      `json:"screen"`
		Wraps  []string `json:"wraps"`
	}
	b.Eval(`({page: document.documentElement.scrollWidth, screen: window.innerWidth,
		wraps: Array.from(document.querySelectorAll(".table-wrap")).filter(function(w){return w.scrollWidth > w.clientWidth + 1}).map(function(w){return (w.getAttribute("aria-label")||w.getAttribute("aria-labelledby")) + " " + w.scrollWidth + ">" + w.clientWidth})})`, &got)
	if got.Page > got.Screen {
		b.tb.Errorf("%s: the page is %d pixels wide on a %d-pixel screen", name, got.Page, got.Screen)
	}
	if len(got.Wraps) > 0 {
		b.tb.Errorf("%s: tables scroll sideways: %v", name, got.Wraps)
	}
}

// adaBrowser opens an app and a browser in which Ada Lovelace has just
// signed up, and returns her organization.
func adaBrowser(t *testing.T) (*App, *Browser, string) {
	t.Helper()
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	return app, b, b.OrgID()
}

const menuButton = mainNav + `//*[@aria-controls and normalize-space()="Menu"]`

func TestBrowserPhoneNavigation(t *testing.T) {
	_, b, org := adaBrowser(t)
	b.Viewport(390)
	apiKeys := mainNav + Link("API Keys")

	t.Run("OKMenuOpensTheNavigation", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/orgs/" + org)
		b.WaitVisible(menuButton)
		if b.Shown(apiKeys) {
			t.Fatal("the navigation links show before the menu is opened")
		}
		if got := b.Attr(menuButton, "aria-expanded"); got != "false" {
			t.Fatalf("aria-expanded = %q before opening", got)
		}
		if nav := b.Box(".sidebar"); nav.Height > 72 {
			t.Errorf("the closed header is %.0f pixels tall", nav.Height)
		}
		b.Click(menuButton)
		b.WaitVisible(menuButton + `[@aria-expanded="true"]`)
		if !b.Shown(apiKeys) {
			t.Fatal("the navigation links are hidden after opening the menu")
		}
		b.assertNoSidewaysScroll("open menu")
		b.Click(apiKeys)
		b.WaitVisible(Heading("API Keys"))
		if b.Shown(apiKeys) {
			t.Fatal("the menu stays open on the next page")
		}
	})

	t.Run("OKWithoutJavaScript", func(t *testing.T) {
		b := b.For(t)
		b.Run(emulation.SetScriptExecutionDisabled(true))
		defer b.Run(emulation.SetScriptExecutionDisabled(false))
		b.Visit("/orgs/" + org)
		b.WaitVisible(menuButton)
		if b.Shown(apiKeys) {
			t.Fatal("the navigation links show before the menu is opened")
		}
		b.Click(menuButton)
		if !b.Shown(apiKeys) {
			t.Fatal("without JavaScript, the menu button does not open the navigation")
		}
	})

	t.Run("OKDesktopHasNoMenuButton", func(t *testing.T) {
		b := b.For(t)
		b.Viewport(1280)
		defer b.Viewport(390)
		b.Visit("/orgs/" + org)
		b.WaitVisible(apiKeys)
		if b.Shown(menuButton) {
			t.Fatal("the menu button shows on a desktop")
		}
	})
}

func TestBrowserCardRows(t *testing.T) {
	app, b, org := adaBrowser(t)
	owner := app.MustUser(t, "ada@example.com")
	for _, name := range []string{"Production backend (eu-west-1)", "CI deploy"} {
		app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: name, Scopes: []keygate.Scope{keygate.ScopeRead, keygate.ScopeWrite}})
	}
	MustAddMember(t, app, org, "Mia Member", "mia@example.com", keygate.RoleMember)
	b.Viewport(390)

	for _, path := range []string{"/audit-log", "/api-keys", "/members", "/logs"} {
		t.Run("OK"+path, func(t *testing.T) {
			b := b.For(t)
			b.Visit("/orgs/" + org + path)
			b.WaitVisible(`//h1`)
			b.assertNoSidewaysScroll(path)
		})
	}

	t.Run("OKColumnNamesAsLabels", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/orgs/" + org + "/audit-log")
		b.WaitVisible(`//table[@data-testid="audit-log"]`)
		var got struct {
			Row    string `json:"row"`
			Label  string `json:"label"`
			Head   int    `json:"head"`
			Across int    `json:"across"`
		}
		b.Eval(`(function(){var td=document.querySelector('[data-testid=audit-row] td[data-label="Actor"]');
			var tds=td.parentElement.querySelectorAll("td");
			return {row: getComputedStyle(td.parentElement).display, label: getComputedStyle(td, "::before").content,
				head: document.querySelector('[data-testid=audit-log] thead').getBoundingClientRect().height,
				across: Math.round(tds[1].getBoundingClientRect().top - tds[0].getBoundingClientRect().top)}})()`, &got)
		if got.Label != `"Actor"` {
			t.Errorf("the Actor cell's label = %s, want \"Actor\"", got.Label)
		}
		if got.Row == "table-row" || got.Across <= 0 {
			t.Errorf("rows are still table rows (display %s; second cell %dpx below the first)", got.Row, got.Across)
		}
		if got.Head > 1 {
			t.Errorf("the column headers still take %d pixels", got.Head)
		}
	})

	t.Run("OKDesktopKeepsTables", func(t *testing.T) {
		b := b.For(t)
		b.Viewport(1280)
		defer b.Viewport(390)
		b.Visit("/orgs/" + org + "/audit-log")
		b.WaitVisible(`//table[@data-testid="audit-log"]`)
		var display string
		b.Eval(`getComputedStyle(document.querySelector("[data-testid=audit-row]")).display`, &display)
		if display != "table-row" {
			t.Fatalf("desktop rows are %s", display)
		}
	})
}

func TestBrowserChartOnPhones(t *testing.T) {
	app, b, org := adaBrowser(t)
	secret, key := app.MustKey(t, app.MustUser(t, "ada@example.com"), org, keygate.APIKeyCreate{Name: "busy", Scopes: []keygate.Scope{keygate.ScopeRead}})
	for i := 0; i < 5; i++ {
		app.API(t, "GET", "/api/v1/me", "Token "+secret, "")
	}
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{"/orgs/" + org, "/orgs/" + org + "/api-keys/" + key.PublicID} {
		for _, width := range []int64{390, 1280} {
			t.Run(fmt.Sprintf("OKReadable%d%s", width, strings.ReplaceAll(path, "/", "_")), func(t *testing.T) {
				b := b.For(t)
				b.Viewport(width)
				defer b.Viewport(1280)
				b.Visit(path)
				b.WaitVisible(`//figure[contains(@class,"chart")]`)
				var scaled int
				b.Eval(`document.querySelectorAll('svg[preserveAspectRatio="none"] text, svg[viewBox] .chart-axis').length`, &scaled)
				if scaled != 0 {
					t.Errorf("%d axis labels are inside a scaled SVG", scaled)
				}
				labels := b.Boxes(".chart .chart-axis")
				if len(labels) < 5 {
					t.Fatalf("axis labels = %d", len(labels))
				}
				var shown []box
				for _, l := range labels {
					if l.Width == 0 {
						continue // hidden to make room
					}
					if l.Height < 10 || l.Height > 20 {
						t.Errorf("an axis label is %.1f pixels tall, want 10 to 20", l.Height)
					}
					shown = append(shown, l)
				}
				// The x labels sit on one line and must not overlap.
				var xs []box
				for _, l := range shown {
					if math.Abs(l.Top-shown[len(shown)-1].Top) < 1 {
						xs = append(xs, l)
					}
				}
				if len(xs) < 3 {
					t.Fatalf("x labels shown = %d", len(xs))
				}
				for i := 1; i < len(xs); i++ {
					if xs[i].Left < xs[i-1].Right()+2 {
						t.Errorf("x labels %d and %d overlap: %.1f < %.1f", i-1, i, xs[i].Left, xs[i-1].Right()+2)
					}
				}
				bars := b.Boxes(".chart rect")
				if len(bars) == 0 || bars[0].Height < 2 || bars[0].Width < 1 {
					t.Errorf("bars = %v", bars)
				}
			})
		}
	}
}

func TestBrowserPolish(t *testing.T) {
	_, b, org := adaBrowser(t)

	t.Run("OKOverviewWelcomeGap", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/orgs/" + org)
		b.WaitVisible(`//*[contains(@class,"empty-state")]`)
		welcome, stats := b.Box(".empty-state"), b.Box(".stats")
		if gap := stats.Top - welcome.Bottom(); math.Abs(gap-24) > 0.5 {
			t.Fatalf("gap between the welcome box and the stat cards = %.1f, want 24", gap)
		}
	})

	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprintf("OKEmptyStateButtonCentred%d", width), func(t *testing.T) {
			b := b.For(t)
			b.Viewport(width)
			defer b.Viewport(1280)
			b.Visit("/orgs/" + org + "/api-keys")
			b.WaitVisible(Heading("No API keys yet"))
			empty, button := b.Box(".empty-state"), b.Box(".empty-state .button")
			if d := math.Abs(empty.CenterX() - button.CenterX()); d > 1 {
				t.Fatalf("the Create button is %.1f pixels off centre", d)
			}
		})
	}

	t.Run("OKSubnavShowsCurrentPage", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/orgs/" + org + "/settings")
		b.WaitVisible(`//nav[@aria-label="Organization settings"]`)
		var got struct {
			Current string `json:"current"`
			Other   string `json:"other"`
		}
		b.Eval(`(function(){var nav=document.querySelector('nav[aria-label="Organization settings"]');
			var cur=nav.querySelector('[aria-current=page]'), other=nav.querySelector('a:not([aria-current])');
			function look(e){var s=getComputedStyle(e); return s.backgroundColor+" "+s.color+" "+s.borderColor}
			return {current: cur ? look(cur) : "", other: look(other)}})()`, &got)
		if got.Current == "" || got.Current == got.Other {
			t.Fatalf("the current tab looks like the others: %q vs %q", got.Current, got.Other)
		}
	})

	t.Run("OKAPIReferenceBadges", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/orgs/" + org + "/api-reference")
		b.WaitVisible(`//h1`)
		var badges []struct {
			Width  float64 `json:"width"`
			Offset float64 `json:"offset"`
			Text   string  `json:"text"`
		}
		b.Eval(`Array.from(document.querySelectorAll(".api-method")).map(function(e){
			var r=e.getBoundingClientRect(), range=document.createRange(); range.selectNodeContents(e);
			var t=range.getBoundingClientRect();
			return {width: r.width, offset: (t.left+t.width/2)-(r.left+r.width/2), text: e.textContent.trim()}})`, &badges)
		methods := map[string]bool{}
		for _, m := range badges {
			methods[m.Text] = true
			if math.Abs(m.Width-badges[0].Width) > 0.01 {
				t.Errorf("%s badge is %.2f pixels wide, %s is %.2f", m.Text, m.Width, badges[0].Text, badges[0].Width)
			}
			if math.Abs(m.Offset) > 1 {
				t.Errorf("%s badge text is %.1f pixels off centre", m.Text, m.Offset)
			}
		}
		if !methods["GET"] || !methods["DELETE"] {
			t.Fatalf("methods = %v", methods)
		}
	})
}

func TestBrowserFormErrors(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)

	t.Run("OKFocusOnFirstBadField", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/signup")
		b.Fill("Name", "Ada Lovelace")
		b.Fill("Email", "ada@example.com")
		b.Fill("Password", "short")
		b.Fill("Organization name", "Analytical Engines")
		b.Click(Button("Create account"))
		b.assertFormError("Password")
	})

	t.Run("OKSummaryLinkFocusesField", func(t *testing.T) {
		b := b.For(t)
		b.Visit("/signup")
		b.Click(Button("Create account"))
		b.WaitVisible(Heading("There is a problem"))
		link := `//*[@data-testid="error-summary"]//a[@href="#f-organization"]`
		b.Click(link)
		if !b.Focused(Label("Organization name")) {
			t.Fatal("the summary link does not focus its field")
		}
	})

	t.Run("OKLongPageScrollsToTheError", func(t *testing.T) {
		b := b.For(t)
		b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
		org := b.OrgID()
		_, key := app.MustKey(t, app.MustUser(t, "ada@example.com"), org, keygate.APIKeyCreate{Name: "Throttle test", Scopes: []keygate.Scope{keygate.ScopeRead}})
		b.Run(chromedp.EmulateViewport(1280, 800))
		b.Visit("/orgs/" + org + "/api-keys/" + key.PublicID)
		b.Fill("Rate limit", "abc")
		b.Click(Button("Save changes"))
		b.assertFormError("Rate limit")
	})
}

// assertFormError fails unless the page shows its error summary on screen
// with the focus in the field labelled label.
func (b *Browser) assertFormError(label string) {
	b.tb.Helper()
	b.WaitVisible(Heading("There is a problem"))
	if !b.Focused(Label(label)) {
		b.tb.Fatalf("focus is not on the first field in error (%s)", label)
	}
	var height float64
	b.Eval(`window.innerHeight`, &height)
	if sum := b.Box("[data-testid=error-summary]"); sum.Top < 0 || sum.Bottom() > height {
		b.tb.Fatalf("the error summary is off screen (%+v in a %.0f-pixel window)", sum, height)
	}
}

func TestBrowserCopyWithoutClipboard(t *testing.T) {
	app, b, _ := adaBrowser(t)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		b.Run(browser.SetPermission(&browser.PermissionDescriptor{Name: name}, browser.PermissionSettingDenied).WithOrigin(app.URL))
	}
	copyButton := Dialog("API Key Created") + `//button[@data-copy]`

	t.Run("OKCopiedBySelection", func(t *testing.T) {
		b := b.For(t)
		b.openCreateDialog()
		b.Fill("Name", "Copied the old way")
		secret := b.submitCreateDialog("Copied the old way")
		var refused bool
		b.Run(chromedp.Evaluate(`navigator.clipboard.writeText("x").then(function(){return false}, function(){return true})`, &refused, awaitPromise))
		if !refused {
			t.Fatal("the browser did not refuse the Clipboard API")
		}
		b.Click(copyButton)
		b.WaitVisible(copyButton + `[normalize-space()="Copied"]`)
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			b.Run(browser.SetPermission(&browser.PermissionDescriptor{Name: name}, browser.PermissionSettingGranted).WithOrigin(app.URL))
		}
		var got string
		b.Run(chromedp.Evaluate(`navigator.clipboard.readText()`, &got, awaitPromise))
		if got != secret {
			t.Fatalf("clipboard = %q, want the new key", got)
		}
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			b.Run(browser.SetPermission(&browser.PermissionDescriptor{Name: name}, browser.PermissionSettingDenied).WithOrigin(app.URL))
		}
		b.closeKeyModal()
	})

	t.Run("OKPressCtrlCHint", func(t *testing.T) {
		b := b.For(t)
		b.openCreateDialog()
		b.Fill("Name", "Copied by hand")
		secret := b.submitCreateDialog("Copied by hand")
		// A browser that allows neither way of copying.
		b.Eval(`document.execCommand = function(){ return false }; true`, nil)
		b.Click(copyButton)
		hint := Dialog("API Key Created") + `//*[@role="status" and normalize-space()="Press Ctrl+C to copy"]`
		b.WaitVisible(hint)
		var selected string
		b.Eval(`(function(){var e=document.activeElement; return e && e.value !== undefined ? e.value.slice(e.selectionStart, e.selectionEnd) : String(window.getSelection())})()`, &selected)
		if selected != secret {
			t.Fatalf("selected = %q, want the whole key", selected)
		}
		if got := b.Text(copyButton); got != "Copy" {
			t.Fatalf("the button says %q although nothing was copied", got)
		}
	})
}
