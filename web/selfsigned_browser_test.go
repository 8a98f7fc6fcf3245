package web_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBrowser_FirstRunSelfSigned is a newcomer's first minutes on a phone:
// the empty instance opens on signup, which says the first account becomes
// the superuser; the new key's "Try it" command and the API Reference name
// the self-signed certificate's file, and its long path fits the screen.
func TestBrowser_FirstRunSelfSigned(t *testing.T) {
	cert := filepath.Join(t.TempDir(), strings.Repeat("keygate-data-directory-", 3), "tls", "selfsigned-cert.pem")
	app := MustOpenApp(t, WithTLS("self-signed", cert))
	b := NewBrowser(t, app)
	b.Viewport(390)
	note := selfSignedNote(cert)
	// fits fails if the element matching the CSS selector is wider than
	// its box, or the page wider than the phone.
	fits := func(what, selector string) {
		t.Helper()
		var over []int
		b.Eval(`(function(){var e=document.querySelector(`+"`"+selector+"`"+`); return e ? [e.scrollWidth-e.clientWidth, document.documentElement.scrollWidth-innerWidth] : [-1,-1]})()`, &over)
		if over[0] < 0 {
			t.Fatalf("%s: %s not found", what, selector)
		}
		if over[0] > 0 || over[1] > 0 {
			t.Errorf("%s: overflows by %d pixels (page by %d) at 390 pixels", what, over[0], over[1])
		}
	}

	b.Visit("/")
	b.WaitVisible(Heading("Create your account"))
	if got, want := b.Text(`//*[@data-testid="first-account-note"]`), firstAccountNote; got != want {
		t.Fatalf("signup note = %q, want %q", got, want)
	}
	b.CheckA11y("first signup")
	b.Viewport(390)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	org := b.OrgID()

	b.Visit("/orgs/" + org + "/api-keys")
	b.Click(`(` + Button("+ Create API Key") + `)[1]`)
	create := Dialog("Create API Key")
	b.WaitVisible(create)
	b.Fill("Name", "Try it")
	b.Click(create + `//button[normalize-space()="Create API Key"]`)
	created := Dialog("API Key Created")
	b.WaitVisible(created)
	if got := b.Text(created + `//*[@data-testid="self-signed-note"]`); got != note {
		t.Fatalf("modal note = %q, want %q", got, note)
	}
	if got := b.Text(created + `//*[@data-testid="try-it"]`); !strings.HasPrefix(got, "curl --cacert "+cert+" -H ") {
		t.Fatalf("Try it = %q", got)
	}
	fits("key-created modal", "#key-created")
	fits("self-signed note", `#key-created [data-testid="self-signed-note"]`)
	b.CheckA11y("key created, self-signed")

	b.Viewport(390)
	b.Visit("/orgs/" + org + "/api-reference")
	if got := b.Text(`//*[@data-testid="self-signed-note"]`); got != note {
		t.Fatalf("reference note = %q, want %q", got, note)
	}
	fits("API Reference note", `[data-testid="self-signed-note"]`)
}
