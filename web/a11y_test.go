package web_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/testenv"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/keygate/keygate/internal/keygate"
)

var orgInPath = regexp.MustCompile(`/orgs/(org_[0-9A-Za-z]+)`)

// OrgID returns the organization in the page's address.
func (b *Browser) OrgID() string {
	b.tb.Helper()
	var loc string
	b.Run(chromedp.Location(&loc))
	m := orgInPath.FindStringSubmatch(loc)
	if m == nil {
		b.tb.Fatalf("no organization in %s", loc)
	}
	return m[1]
}

// tour walks the browser through every page and state of the dashboard
// (signup, login, overview, the phones' open menu, API keys empty and full,
// the create, revoke and roll dialogs, the new key, key detail with and
// without errors, audit log, members, API logs, API reference, bots,
// conversations, the account menu, settings, organization settings, the
// admin pages, 403 and 404) and calls at on each, named.
func tour(t *testing.T, app *App, b *Browser, at func(name string)) {
	t.Helper()
	b.Visit("/signup")
	b.WaitVisible(Heading("Create your account"))
	at("signup")
	b.Click(Button("Create account"))
	b.WaitVisible(`//p[normalize-space()="Name is required."]`)
	at("signup-errors")

	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()
	at("overview")
	// The Menu button only shows on phones: open it as a tap would.
	b.Eval(`document.querySelector("[data-nav-toggle]").open = true`, nil)
	b.Run(chromedp.WaitReady(`//summary[@aria-expanded="true"]`, chromedp.BySearch))
	at("menu-open")
	b.Eval(`document.querySelector("[data-nav-toggle]").open = false`, nil)

	b.Click(mainNav + Link("API Keys"))
	b.WaitVisible(Heading("No API keys yet"))
	at("api-keys-empty")

	create := Dialog("Create API Key")
	b.Click(`(` + Button("+ Create API Key") + `)[1]`)
	b.WaitVisible(create)
	at("create-dialog")
	b.Click(create + `//button[normalize-space()="Create API Key"]`)
	b.WaitVisible(create + `//p[normalize-space()="Name is required."]`)
	at("create-dialog-errors")
	b.Fill("Name", "Production backend (eu-west-1)")
	b.Run(chromedp.Click(Label("Write"), chromedp.BySearch))
	b.Click(create + `//button[normalize-space()="Create API Key"]`)
	b.WaitVisible(Dialog("API Key Created"))
	at("key-created")
	b.Press(kb.Escape)
	b.Run(chromedp.WaitNotPresent(`#key-created`, chromedp.ByQuery))

	owner := app.MustUser(t, "ada@example.com")
	soon := time.Now().Add(3 * 24 * time.Hour)
	app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: "CI deploy", Environment: keygate.EnvCI, Scopes: []keygate.Scope{keygate.ScopeAdmin}, ExpiresAt: &soon})
	app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: "Staging worker", Environment: keygate.EnvStaging, Scopes: []keygate.Scope{keygate.ScopeRead, keygate.ScopeWrite}})
	app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: "Local development", Environment: keygate.EnvDevelopment, Scopes: []keygate.Scope{keygate.ScopeRead}})
	b.Visit("/orgs/" + org + "/api-keys")
	b.WaitVisible(KeyRow("CI deploy"))
	at("api-keys")

	b.RowAction("CI deploy", "Revoke")
	b.WaitVisible(Dialog("Revoke API key"))
	at("revoke-dialog")
	b.Press(kb.Escape)
	b.RowAction("Staging worker", "Roll key")
	b.WaitVisible(Dialog("Roll key “Staging worker”"))
	at("roll-dialog")
	b.Press(kb.Escape)

	b.Click(KeyRow("Production backend (eu-west-1)") + Link("Production backend (eu-west-1)"))
	b.WaitVisible(Heading("Details"))
	at("key-detail")
	b.Fill("Rate limit", "abc")
	b.Click(Button("Save changes"))
	b.WaitVisible(Heading("There is a problem"))
	at("key-detail-errors")

	b.Click(mainNav + Link("Settings"))
	b.WaitVisible(Heading("Organization settings"))
	at("org-settings")
	b.Click(`//nav[@aria-label="Organization settings"]` + Link("Permissions"))
	b.WaitVisible(Button("Add permission"))
	b.Fill("Name", "invoices:write")
	b.Click(Button("Add permission"))
	b.WaitVisible(`//code[normalize-space()="invoices:write"]`)
	at("permissions")
	b.Visit("/orgs/" + org + "/api-keys")
	b.Click(`(` + Button("+ Create API Key") + `)[1]`)
	b.WaitVisible(create + `//legend[starts-with(normalize-space(), "Permissions")]`)
	at("create-dialog-permissions")
	b.Press(kb.Escape)
	b.Visit("/orgs/" + org + "/settings/permissions")
	b.WaitVisible(Button("Add permission"))
	b.Click(`//nav[@aria-label="Organization settings"]` + Link("Audit log"))
	b.WaitVisible(Heading("Audit log"))
	at("audit-log")
	b.Visit("/orgs/" + org + "/settings/security")
	b.WaitVisible(Label("Require two-factor authentication"))
	at("org-security")
	b.Click(Label("Require two-factor authentication"))
	b.Click(Button("Save"))
	b.WaitVisible(`//p[@id="f-require_two_factor-error"]`)
	at("org-security-errors")
	b.Click(`//nav[@aria-label="Organization settings"]` + Link("Key policy"))
	b.WaitVisible(Heading("Key policy"))
	at("key-policy")

	// A reminder in the bell, of a key made a month ago that expires in
	// 10 days.
	billing := time.Now().Add(10 * 24 * time.Hour)
	_, billingKey := app.MustKey(t, owner, org, keygate.APIKeyCreate{Name: "Billing", Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &billing})
	if _, err := app.DB.WriteConn().Exec(`UPDATE api_keys SET created_at = created_at - $1 WHERE id = $2`, (30 * 24 * time.Hour).Milliseconds(), billingKey.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.NewNotificationService(app.DB).SweepKeyReminders(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Visit("/notifications")
	b.WaitVisible(Heading("1 unread"))
	at("notifications")
	b.Click(Menu("Notifications, 1 unread"))
	b.WaitVisible(MenuItem("Notifications, 1 unread", "All notifications"))
	at("bell-open")
	b.Visit("/settings/notifications")
	b.WaitVisible(Heading("Email"))
	at("notification-settings")

	// A webhook endpoint's page, with its edit form and a delivery.
	b.Visit("/orgs/" + org + "/settings/webhooks")
	b.Fill("URL", "https://203.0.113.10/hooks")
	b.Run(chromedp.Click(`//input[@type="checkbox" and @value="key.created"]`, chromedp.BySearch))
	b.Click(Button("Add endpoint"))
	b.WaitVisible(Heading("Endpoint added: https://203.0.113.10/hooks"))
	at("webhook-added")
	b.Click(Link("https://203.0.113.10/hooks"))
	b.WaitVisible(Heading("Deliveries"))
	b.Click(Button("Send test event"))
	b.WaitVisible(`//*[@data-testid="delivery-status"]`)
	at("webhook-endpoint")

	b.Click(Menu("Account menu for Ada Lovelace"))
	b.WaitVisible(MenuItem("Account menu for Ada Lovelace", "Log out"))
	at("account-menu")
	b.Click(MenuItem("Account menu for Ada Lovelace", "Settings"))
	b.WaitVisible(Heading("Sessions"))
	at("settings")
	b.Click(Link("Manage two-step verification"))
	b.WaitVisible(Heading("Authenticator app"))
	at("security")
	b.Click(Button("Set up an authenticator app"))
	b.WaitVisible(`//img[@data-testid="totp-qr"]`)
	b.Click(Button("Turn on"))
	b.WaitVisible(`//p[normalize-space()="Enter the 6-digit code from your app."]`)
	at("security-enroll-errors")
	var secret string
	b.Eval(`document.querySelector("#totp-secret").value.replaceAll(" ", "")`, &secret)
	b.Fill("Code from your app", totpCodeAt(t, secret, app.Clock.Now()))
	b.Click(Button("Turn on"))
	b.WaitVisible(Heading("Your recovery codes"))
	at("security-recovery-codes")

	for _, page := range []struct{ name, path, heading string }{
		{"audit-log-sidebar", "/orgs/" + org + "/audit-log", "Audit log"},
		{"members", "/orgs/" + org + "/members", "Members"},
		{"api-logs", "/orgs/" + org + "/logs", ""},
		{"api-reference", "/orgs/" + org + "/api-reference", ""},
		{"bots", "/orgs/" + org + "/bots", ""},
		{"conversations", "/orgs/" + org + "/conversations", ""},
		{"admin", "/admin", "Instance administration"},
		{"admin-organizations", "/admin/organizations", "Organizations"},
		{"admin-users", "/admin/users", "Users"},
		{"admin-domains", "/admin/domains", "SSO domains"},
		{"admin-settings", "/admin/settings", "Instance settings"},
	} {
		b.Visit(page.path)
		if page.heading != "" {
			b.WaitVisible(`//h1[normalize-space()=` + xq(page.heading) + `]`)
		} else {
			b.WaitVisible(`//h1`)
		}
		at(page.name)
	}

	// Removing a member who created a key: the page lists it.
	MustAddMember(t, app, org, "Al Admin", "al@example.com", keygate.RoleAdmin)
	al := app.MustUser(t, "al@example.com")
	app.MustKey(t, al, org, keygate.APIKeyCreate{Name: "Al's deploy key", Scopes: []keygate.Scope{keygate.ScopeRead}})
	b.Visit("/orgs/" + org + "/members/" + al.PublicID + "/remove")
	b.WaitVisible(`//*[@data-testid="member-keys"]`)
	at("remove-member")

	b.Visit("/orgs/" + org + "/no-such-page")
	b.WaitVisible(Heading("Page not found"))
	at("404")

	b.Click(Menu("Account menu for Ada Lovelace"))
	b.Click(MenuItem("Account menu for Ada Lovelace", "Log out"))
	b.WaitVisible(`//*[normalize-space()="You have been logged out."]`)
	at("login")
	b.Fill("Email", "ada@example.com")
	b.Fill("Password", testPassword)
	b.Click(Button("Log in"))
	b.WaitVisible(Heading("Two-step verification"))
	at("login-verify")
	b.Click(Link("Use a recovery code"))
	b.WaitVisible(Label("Recovery code"))
	at("login-verify-recovery")

	MustAddMember(t, app, org, "Mia Member", "mia@example.com", keygate.RoleMember)
	b.Login("mia@example.com")
	b.Visit("/orgs/" + org + "/api-keys")
	b.WaitVisible(`//*[@data-testid="error-page"]`)
	at("403")
}

// TestBrowserAccessibility runs axe-core on every page and state of the
// dashboard, in light and dark.
func TestBrowserAccessibility(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)

	// axe is injected by DevTools evaluation; the page's CSP must still
	// refuse a script the page itself inserts.
	b.Visit("/login")
	var inline bool
	b.Eval(`(function(){var s=document.createElement("script"); s.textContent="window.inlineRan=true"; document.head.appendChild(s); return window.inlineRan === true})()`, &inline)
	if inline {
		t.Fatal("an inline script ran: the Content-Security-Policy is not in force")
	}

	tour(t, app, b, b.CheckA11y)
}

// TestBrowserScreenshots saves full-page screenshots of every page at 1024,
// 1280 and 390 pixels wide into $KEYGATE_SCREENSHOTS, for a person to look
// at, and checks each one: a PNG as wide as its window (a page that
// overflows its window makes a wider one). $KEYGATE_SCREENSHOT_SCHEMES
// picks the color schemes, "light,dark" by default. Without
// KEYGATE_SCREENSHOTS the test is skipped; under CI=true (where
// ./scripts/test sets it) it fails.
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("KEYGATE_SCREENSHOTS")
	if dir == "" {
		testenv.SkipUnlessCI(t, "KEYGATE_SCREENSHOTS is not set: no screenshots taken")
	}
	schemes := strings.Split(cmp.Or(os.Getenv("KEYGATE_SCREENSHOT_SCHEMES"), "light,dark"), ",")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Step = time.Minute
	n := 0
	tour(t, app, b, func(name string) {
		n++
		for _, w := range []int64{1024, 1280, 390} {
			b.Viewport(w)
			for _, scheme := range schemes {
				b.ColorScheme(scheme)
				path := filepath.Join(dir, fmt.Sprintf("%02d-%s-%d-%s.png", n, name, w, scheme))
				b.Screenshot(path)
				assertPNG(t, path, int(w))
			}
		}
		b.Viewport(1280)
		b.ColorScheme("light")
	})
	if got, want := n, 32; got < want {
		t.Errorf("the tour took %d screenshots per width and scheme, want at least %d", got, want)
	}
}

// assertPNG fails unless the file at path is a whole PNG image width
// pixels wide. It reads the header and checks the closing IEND chunk
// rather than decoding every pixel, which takes seconds a shot under -race.
func assertPNG(tb testing.TB, path string, width int) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("%s is not a PNG: %v", filepath.Base(path), err)
	}
	if !bytes.HasSuffix(data, pngEnd) {
		tb.Errorf("%s is cut short: no IEND chunk", filepath.Base(path))
	}
	if cfg.Width != width || cfg.Height == 0 {
		tb.Errorf("%s is %dx%d, want %d pixels wide", filepath.Base(path), cfg.Width, cfg.Height, width)
	}
}

// pngEnd is the IEND chunk every PNG file ends with.
var pngEnd = []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}
