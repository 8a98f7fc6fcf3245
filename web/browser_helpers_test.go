package web_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testenv"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath finds Debian's Chromium.
func chromiumPath() string {
	for _, p := range []string{os.Getenv("KEYGATE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// Browser is a headless Chromium tab for one test.
type Browser struct {
	ctx context.Context
	tb  testing.TB
	app *App
	// Step bounds each Run, so a missing element fails fast.
	Step time.Duration
	// scheme is the emulated prefers-color-scheme, "" for the default.
	scheme string
}

// NewBrowser starts headless Chromium with a fresh profile. Without
// Chromium the test is skipped, except under CI=true, where it fails: the
// test command installs Chromium, so a missing one is a broken set-up.
func NewBrowser(tb testing.TB, app *App) *Browser {
	tb.Helper()
	path := chromiumPath()
	if path == "" {
		testenv.SkipUnlessCI(tb, "Chromium not found: ./scripts/test installs it (apt-get install chromium)")
	}
	// Chromium's helpers may still write to the profile for a moment after
	// it exits, so the profile is removed with retries, not by t.TempDir.
	profile, err := os.MkdirTemp("", "keygate-chromium-")
	if err != nil {
		tb.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(profile),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	tb.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := &Browser{ctx: ctx, tb: tb, app: app, Step: 15 * time.Second}
	// The first run starts the browser: it must not carry a step timeout.
	if err := chromedp.Run(ctx); err != nil {
		tb.Fatalf("start Chromium: %v", err)
	}
	// A headless tab is never the focused window: without this, :focus and
	// :focus-visible do not match until the first key press.
	b.Run(emulation.SetFocusEmulationEnabled(true))
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		b.Run(browser.SetPermission(&browser.PermissionDescriptor{Name: name}, browser.PermissionSettingGranted).WithOrigin(app.URL))
	}
	return b
}

// For returns the same tab bound to a subtest, so that a failure ends the
// subtest rather than its parent.
func (b *Browser) For(tb testing.TB) *Browser {
	c := *b
	c.tb = tb
	return &c
}

// Run performs actions, failing the test on error.
func (b *Browser) Run(actions ...chromedp.Action) {
	b.tb.Helper()
	ctx, cancelStep := context.WithTimeout(b.ctx, b.Step)
	defer cancelStep()
	if err := chromedp.Run(ctx, actions...); err != nil {
		// Say where the browser was, to make the failure readable.
		var where, text string
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		defer cancel()
		chromedp.Run(ctx, chromedp.Location(&where), chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 1500) : ""`, &text))
		b.tb.Fatalf("browser: %v\nat %s:\n%s", err, where, text)
	}
}

// Visit opens a path of the app.
func (b *Browser) Visit(path string) {
	b.tb.Helper()
	b.Run(chromedp.Navigate(b.app.URL + path))
}

// xq quotes s for XPath.
func xq(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "concat('" + strings.ReplaceAll(s, "'", `', "'", '`) + "')"
}

// Label is the XPath of the form control labelled text, the way a person
// finds a field.
func Label(text string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space()=%s]/@for]`, xq(text))
}

// Button is the XPath of a visible button or button-like link whose text
// or accessible name (aria-label) is text.
func Button(text string) string {
	return fmt.Sprintf(`//*[(self::button or self::a or self::summary) and (normalize-space()=%[1]s or @aria-label=%[1]s) and not(ancestor::dialog[not(@open)])]`, xq(text))
}

// Link is the XPath of a link with text.
func Link(text string) string {
	return fmt.Sprintf(`//a[normalize-space()=%s]`, xq(text))
}

// Fill types value into the field labelled label.
func (b *Browser) Fill(label, value string) {
	b.tb.Helper()
	xp := Label(label)
	clear := fmt.Sprintf(`(function(){var n=document.evaluate(%q,document,null,9,null).singleNodeValue; if(n){n.value="";} return !!n})()`, xp)
	var found bool
	b.Run(chromedp.WaitVisible(xp, chromedp.BySearch), chromedp.Evaluate(clear, &found), chromedp.SendKeys(xp, value, chromedp.BySearch))
}

// Click clicks the first visible element matching the XPath.
func (b *Browser) Click(xpath string) {
	b.tb.Helper()
	b.Run(chromedp.WaitVisible(xpath, chromedp.BySearch), chromedp.Click(xpath, chromedp.BySearch, chromedp.NodeVisible))
}

// Eval evaluates JavaScript in the page and stores the result in out.
func (b *Browser) Eval(js string, out any) {
	b.tb.Helper()
	b.Run(chromedp.Evaluate(js, out))
}

// HTML returns the page's current HTML.
func (b *Browser) HTML() string {
	b.tb.Helper()
	var html string
	b.Run(chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	return html
}

// Text returns the visible text of the element matching the XPath.
func (b *Browser) Text(xpath string) string {
	b.tb.Helper()
	var s string
	b.Run(chromedp.WaitVisible(xpath, chromedp.BySearch), chromedp.Text(xpath, &s, chromedp.BySearch))
	return strings.TrimSpace(s)
}

// WaitVisible waits until the element matching the XPath is visible.
func (b *Browser) WaitVisible(xpath string) {
	b.tb.Helper()
	b.Run(chromedp.WaitVisible(xpath, chromedp.BySearch))
}

// Signup signs up through the form.
func (b *Browser) Signup(name, email, org string) {
	b.tb.Helper()
	b.Visit("/signup")
	b.Fill("Name", name)
	b.Fill("Email", email)
	b.Fill("Password", testPassword)
	b.Fill("Organization name", org)
	b.Click(Button("Create account"))
	b.WaitVisible(`//h1[normalize-space()="Overview"]`)
}

// Login logs in through the form and waits for the dashboard.
func (b *Browser) Login(email string) {
	b.tb.Helper()
	b.Visit("/login")
	b.Fill("Email", email)
	b.Fill("Password", testPassword)
	b.Click(Button("Log in"))
	b.WaitVisible(mainNav)
}

// mainNav is the XPath of the dashboard's sidebar.
const mainNav = `//nav[@aria-label="Main"]`

// Heading is the XPath of a heading (h1 to h3) with text.
func Heading(text string) string {
	return fmt.Sprintf(`//*[(self::h1 or self::h2 or self::h3) and normalize-space()=%s]`, xq(text))
}

// Dialog is the XPath of the open dialog whose heading is title.
func Dialog(title string) string {
	return fmt.Sprintf(`//dialog[@open and @aria-labelledby=//*[normalize-space()=%s]/@id]`, xq(title))
}

// Menu is the XPath of the button (summary) of the <details> menu whose
// name contains name, like "Account menu for Ada Lovelace".
func Menu(name string) string {
	return fmt.Sprintf(`//details/summary[contains(normalize-space(), %s)]`, xq(name))
}

// MenuItem is the XPath of a link or button with text in the open menu
// named menu.
func MenuItem(menu, text string) string {
	return fmt.Sprintf(`//details[@open][summary[contains(normalize-space(), %s)]]//*[(self::a or self::button) and normalize-space()=%s]`, xq(menu), xq(text))
}

// KeyRow is the XPath of the API key list's row of the key named name.
func KeyRow(name string) string {
	return fmt.Sprintf(`//tr[th[@scope="row"]//a[normalize-space()=%s]]`, xq(name))
}

// awaitPromise makes an Evaluate wait for the promise it returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams {
	return p.WithAwaitPromise(true)
}

// Press sends key events to the focused element: text, or kb.Tab,
// kb.Enter, kb.Escape, " ".
func (b *Browser) Press(keys ...string) {
	b.tb.Helper()
	for _, k := range keys {
		b.Run(chromedp.KeyEvent(k))
	}
}

// Focused reports whether the element matching the XPath has focus.
func (b *Browser) Focused(xpath string) bool {
	b.tb.Helper()
	var on bool
	b.Eval(fmt.Sprintf(`(function(){var n=document.evaluate(%q,document,null,9,null).singleNodeValue; return !!n && n===document.activeElement})()`, xpath), &on)
	return on
}

// TabTo presses Tab until the element matching the XPath has focus, at
// most max times, the way a keyboard user reaches a control.
func (b *Browser) TabTo(xpath string, max int) {
	b.tb.Helper()
	for i := 0; i <= max; i++ {
		if b.Focused(xpath) {
			return
		}
		b.Press(kb.Tab)
	}
	var active string
	b.Eval(`document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : ""`, &active)
	b.tb.Fatalf("%d Tab presses did not reach %s; focus is on %s", max, xpath, active)
}

// AssertFocusVisible fails unless the focused element matches
// :focus-visible and draws an outline or a box shadow.
func (b *Browser) AssertFocusVisible() {
	b.tb.Helper()
	var got struct {
		Visible bool   `json:"visible"`
		Outline string `json:"outline"`
		Shadow  string `json:"shadow"`
		HTML    string `json:"html"`
	}
	b.Eval(`(function(){var e=document.activeElement, s=getComputedStyle(e);
		return {visible: e.matches(":focus-visible"), outline: s.outlineStyle === "none" || parseFloat(s.outlineWidth) === 0 ? "none" : s.outlineStyle + " " + s.outlineWidth,
			shadow: s.boxShadow, html: e.outerHTML.slice(0, 160)}})()`, &got)
	if !got.Visible {
		b.tb.Fatalf("focused element does not match :focus-visible: %s", got.HTML)
	}
	if got.Outline == "none" && (got.Shadow == "" || got.Shadow == "none") {
		b.tb.Fatalf("focus is invisible (no outline, no box-shadow) on %s", got.HTML)
	}
}

// Viewport emulates a screen width in CSS pixels: a phone (touch, mobile
// viewport) up to 720, a desktop window above.
func (b *Browser) Viewport(width int64) {
	b.tb.Helper()
	if width <= 720 {
		b.Run(chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile))
	} else {
		b.Run(chromedp.EmulateViewport(width, 900))
	}
}

// ColorScheme emulates prefers-color-scheme: "light" or "dark".
func (b *Browser) ColorScheme(scheme string) {
	b.tb.Helper()
	b.Run(emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}))
	b.scheme = scheme
}

// Screenshot saves a full-page PNG of the page as it is.
func (b *Browser) Screenshot(path string) {
	b.tb.Helper()
	var png []byte
	b.Run(chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.tb.Fatal(err)
	}
}

// axePath is axe-core's browser build, installed by scripts/test with
// npm ci from web/testdata/axe/package-lock.json.
const axePath = "testdata/axe/node_modules/axe-core/axe.min.js"

var axeSource = sync.OnceValues(func() ([]byte, error) { return os.ReadFile(axePath) })

// axeViolation is one failed rule of an axe-core run.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// CheckA11y runs axe-core on the page in view twice, light on a 1280-pixel
// desktop and dark on a 390-pixel phone (contrast depends on the scheme,
// layout on the width), and fails the test on every violation of impact
// serious or critical; lesser ones are logged. It also fails if the page is
// wider than the phone. axe is injected by DevTools evaluation, which the
// page's Content-Security-Policy (script-src 'self') does not govern.
// Without axe-core installed the test fails under CI=true and is skipped
// otherwise.
func (b *Browser) CheckA11y(name string) {
	b.tb.Helper()
	src, err := axeSource()
	if err != nil {
		testenv.SkipUnlessCI(b.tb, fmt.Sprintf("accessibility check of %s: axe-core not installed (%v): ./scripts/test runs npm ci --prefix web/testdata/axe", name, err))
	}
	prev := b.scheme
	defer func() {
		b.Viewport(1280)
		b.ColorScheme(cmp.Or(prev, "light"))
	}()
	for _, pass := range []struct {
		scheme string
		width  int64
	}{{"light", 1280}, {"dark", 390}} {
		scheme := pass.scheme
		b.ColorScheme(scheme)
		b.Viewport(pass.width)
		if pass.width < 720 {
			var width int
			b.Eval(`document.documentElement.scrollWidth`, &width)
			if width > int(pass.width) {
				b.tb.Errorf("%s: the page is %d pixels wide on a %d-pixel phone: something does not scroll inside its wrapper", name, width, pass.width)
			}
		}
		var ok bool
		b.Eval(`typeof axe === "object"`, &ok)
		if !ok {
			b.Run(chromedp.Evaluate(string(src)+"\n;typeof axe === \"object\"", &ok))
		}
		if !ok {
			b.tb.Fatalf("%s: axe-core did not load into the page", name)
		}
		var vs []axeViolation
		b.Run(chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(function (r) { return r.violations })`, &vs, awaitPromise))
		for _, v := range vs {
			var targets []string
			for _, n := range v.Nodes {
				targets = append(targets, fmt.Sprint(n.Target...))
			}
			msg := fmt.Sprintf("%s (%s, %dpx): axe %s [%s] %s: %s", name, scheme, pass.width, v.ID, v.Impact, v.Help, strings.Join(targets, ", "))
			if v.Impact == "serious" || v.Impact == "critical" {
				if len(v.Nodes) > 0 && v.Nodes[0].Summary != "" {
					msg += "\n\t" + strings.ReplaceAll(v.Nodes[0].Summary, "\n", "\n\t")
				}
				b.tb.Error(msg)
			} else {
				b.tb.Log(msg)
			}
		}
	}
}

type runtimeEvaluateParams = runtime.EvaluateParams
