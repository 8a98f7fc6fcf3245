package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/keygate/keygate/internal/apikey"
)

// TestBrowserCreateKeyShownOnce creates a key in a real browser, copies it
// from the modal and checks that it is never shown again.
func TestBrowserCreateKeyShownOnce(t *testing.T) {
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")

	b.Click(`//nav[@aria-label="Main"]` + Link("API Keys"))
	b.WaitVisible(`//h1[normalize-space()="API Keys"]`)
	b.Click(`(` + Button("+ Create API Key") + `)[1]`)
	var modal bool
	b.Eval(`document.getElementById("create-key-dialog").matches(":modal")`, &modal)
	if !modal {
		t.Fatal("the create form did not open as a modal dialog")
	}
	b.Fill("Name", "Browser key")
	b.Run(chromedp.Click(Label("Write"), chromedp.BySearch))
	b.Click(`//dialog[@id="create-key-dialog"]//button[normalize-space()="Create API Key"]`)

	b.WaitVisible(`//dialog[@id="key-created"]//h2[normalize-space()="API Key Created"]`)
	b.Eval(`document.getElementById("key-created").matches(":modal")`, &modal)
	if !modal {
		t.Fatal("API Key Created is not a modal dialog")
	}
	var inModal bool
	b.Eval(`document.getElementById("key-created").contains(document.activeElement)`, &inModal)
	if !inModal {
		t.Fatal("focus is not in the modal")
	}
	var secret string
	b.Run(chromedp.Value(Label("Browser key"), &secret, chromedp.BySearch))
	if _, err := apikey.Parse(secret); err != nil {
		t.Fatalf("modal shows %q: %v", secret, err)
	}
	if !strings.Contains(b.Text(`//dialog[@id="key-created"]//*[@role="alert"]`), "This is the only time you'll see this key.") {
		t.Fatal("no warning")
	}

	b.Click(`//dialog[@id="key-created"]//button[normalize-space()="Copy"]`)
	b.WaitVisible(`//dialog[@id="key-created"]//button[normalize-space()="Copied"]`)
	var clip string
	b.Run(chromedp.Evaluate(`navigator.clipboard.readText()`, &clip, func(p *runtimeEvaluateParams) *runtimeEvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if clip != secret {
		t.Fatalf("clipboard = %q, want the key", clip)
	}

	b.Run(chromedp.KeyEvent(kb.Escape))
	b.Run(chromedp.WaitNotPresent(`#key-created`, chromedp.ByQuery))
	if strings.Contains(b.HTML(), secret) {
		t.Fatal("the key is still in the page after the modal closed")
	}
	countRows := func() int {
		var n int
		b.Eval(`document.querySelectorAll("[data-testid=api-key-row]").length`, &n)
		return n
	}
	if n := countRows(); n != 1 {
		t.Fatalf("rows = %d, want 1", n)
	}

	b.Run(chromedp.Reload())
	b.WaitVisible(`//h1[normalize-space()="API Keys"]`)
	if strings.Contains(b.HTML(), secret) || countRows() != 1 {
		t.Fatal("after reload the key is shown or a second key was created")
	}
	b.Run(chromedp.NavigateBack())
	b.WaitVisible(`//h1`)
	if strings.Contains(b.HTML(), secret) {
		t.Fatal("after Back the key is on the page")
	}
	b.Visit("/")
	b.Click(`//nav[@aria-label="Main"]` + Link("API Keys"))
	b.WaitVisible(`//h1[normalize-space()="API Keys"]`)
	if strings.Contains(b.HTML(), secret) || countRows() != 1 {
		t.Fatal("on a fresh visit the key is shown or the count grew")
	}
	if n := app.Count(t, "api_keys"); n != 1 {
		t.Fatalf("keys in the database = %d, want 1", n)
	}
}
