package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
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
}

// NewBrowser starts headless Chromium with a fresh profile. Without
// Chromium the test is skipped, except under CI=true, where it fails: the
// test command installs Chromium, so a missing one is a broken set-up.
func NewBrowser(tb testing.TB, app *App) *Browser {
	tb.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("Chromium not found: ./scripts/test installs it (apt-get install chromium)")
		}
		tb.Skip("Chromium not found; ./scripts/test installs it")
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
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		b.Run(browser.SetPermission(&browser.PermissionDescriptor{Name: name}, browser.PermissionSettingGranted).WithOrigin(app.URL))
	}
	return b
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

// Button is the XPath of a visible button or button-like link with text.
func Button(text string) string {
	return fmt.Sprintf(`//*[(self::button or self::a or self::summary) and normalize-space()=%s and not(ancestor::dialog[not(@open)])]`, xq(text))
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

// WaitText waits until the element matching the XPath is visible.
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

type runtimeEvaluateParams = runtime.EvaluateParams
