package web_test

import (
	"cmp"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/web"
)

// WithTLS tells the server how its certificate is set up, as serve does.
func WithTLS(mode, certFile string) Option {
	return func(c *web.Config, _ *App) { c.TLSMode, c.TLSCertFile = mode, certFile }
}

// selfSignedNote is the sentence that explains the examples' certificate.
func selfSignedNote(path string) string {
	return "This instance uses a self-signed certificate: the examples trust it by its file, " + path + "."
}

func TestExamplesTrustSelfSignedCertificate(t *testing.T) {
	t.Parallel()
	cert := filepath.Join(t.TempDir(), "data", "tls", "selfsigned-cert.pem")

	t.Run("OKAPIReferenceSelfSigned", func(t *testing.T) {
		app := MustOpenApp(t, WithTLS("self-signed", cert))
		c := app.NewClient(t)
		orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
		p := c.Get("/orgs/" + orgID + "/api-reference")
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("[data-testid=self-signed-note]"), selfSignedNote(cert); got != want {
			t.Fatalf("note = %q, want %q", got, want)
		}
		ops := p.Doc.Find("[data-testid=api-operation]")
		if ops.Length() == 0 {
			t.Fatal("no operations")
		}
		ops.Each(func(_ int, op *goquerySelection) {
			name := op.AttrOr("data-method", "") + " " + op.AttrOr("data-path", "")
			if got := op.Find("[data-testid=example-curl]").Text(); !strings.HasPrefix(got, "curl --cacert "+cert+" ") {
				t.Errorf("%s: curl example = %q", name, got)
			}
			if got := op.Find("[data-testid=example-python]").Text(); !strings.Contains(got, "    verify=\""+cert+"\",\n") {
				t.Errorf("%s: python example = %q", name, got)
			}
			if got := op.Find("[data-testid=example-javascript]").Text(); !strings.Contains(got, "NODE_EXTRA_CA_CERTS="+cert+" node app.js") {
				t.Errorf("%s: javascript example = %q", name, got)
			}
		})
		me := p.Doc.Find(`[data-testid=api-operation][data-method="GET"][data-path="/api/v1/me"]`)
		want := "curl --cacert " + cert + " " + app.URL + "/api/v1/me \\\n  -H 'Authorization: Token YOUR_API_KEY'"
		if got := me.Find("[data-testid=example-curl]").Text(); got != want {
			t.Fatalf("GET /api/v1/me curl = %q, want %q", got, want)
		}
		wantPy := "import requests\n\nresponse = requests.get(\n    \"" + app.URL + "/api/v1/me\",\n" +
			"    headers={\"Authorization\": \"Token YOUR_API_KEY\"},\n    verify=\"" + cert + "\",\n    timeout=30,\n)\n" +
			"response.raise_for_status()\nprint(response.json())"
		if got := me.Find("[data-testid=example-python]").Text(); got != wantPy {
			t.Fatalf("GET /api/v1/me python = %q, want %q", got, wantPy)
		}
	})

	t.Run("OKPathQuotedForTheShell", func(t *testing.T) {
		spaced := filepath.Join(t.TempDir(), "my data", "selfsigned-cert.pem")
		app := MustOpenApp(t, WithTLS("self-signed", spaced))
		c := app.NewClient(t)
		orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
		p := c.Get("/orgs/" + orgID + "/api-reference")
		me := p.Doc.Find(`[data-testid=api-operation][data-method="GET"][data-path="/api/v1/me"]`)
		if got := me.Find("[data-testid=example-curl]").Text(); !strings.HasPrefix(got, "curl --cacert '"+spaced+"' ") {
			t.Fatalf("curl = %q", got)
		}
		if got := me.Find("[data-testid=example-javascript]").Text(); !strings.Contains(got, "NODE_EXTRA_CA_CERTS='"+spaced+"' node app.js") {
			t.Fatalf("javascript = %q", got)
		}
	})

	for _, mode := range []string{"files", "acme", ""} {
		t.Run("OKUnchanged_"+cmp.Or(mode, "unset"), func(t *testing.T) {
			file := cert
			if mode == "acme" {
				file = ""
			}
			app := MustOpenApp(t, WithTLS(mode, file))
			c := app.NewClient(t)
			orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
			p := c.Get("/orgs/" + orgID + "/api-reference")
			assertStatus(t, p, http.StatusOK)
			if n := p.Doc.Find("[data-testid=self-signed-note]").Length(); n != 0 {
				t.Fatal("self-signed note shown")
			}
			me := p.Doc.Find(`[data-testid=api-operation][data-method="GET"][data-path="/api/v1/me"]`)
			if got, want := me.Find("[data-testid=example-curl]").Text(), "curl "+app.URL+"/api/v1/me \\\n  -H 'Authorization: Token YOUR_API_KEY'"; got != want {
				t.Fatalf("curl = %q, want %q", got, want)
			}
			for _, lang := range []string{"python", "javascript"} {
				if got := me.Find("[data-testid=example-" + lang + "]").Text(); strings.Contains(got, "verify=") || strings.Contains(got, "NODE_EXTRA_CA_CERTS") {
					t.Fatalf("%s = %q", lang, got)
				}
			}
			secret, curl, note := createKeyFromModal(t, c, orgID)
			if got, want := curl, `curl -H "Authorization: Token `+secret+`" `+app.URL+`/api/v1/me`; got != want {
				t.Fatalf("Try it = %q, want %q", got, want)
			}
			if note != "" {
				t.Fatalf("modal note = %q", note)
			}
		})
	}

	t.Run("OKTryItSelfSigned", func(t *testing.T) {
		app := MustOpenApp(t, WithTLS("self-signed", cert))
		c := app.NewClient(t)
		orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
		secret, curl, note := createKeyFromModal(t, c, orgID)
		if got, want := curl, `curl --cacert `+cert+` -H "Authorization: Token `+secret+`" `+app.URL+`/api/v1/me`; got != want {
			t.Fatalf("Try it = %q, want %q", got, want)
		}
		if got, want := note, selfSignedNote(cert); got != want {
			t.Fatalf("modal note = %q, want %q", got, want)
		}
	})
}

// createKeyFromModal creates a key through the form and returns the secret,
// the modal's "Try it" command and the note beside it.
func createKeyFromModal(t *testing.T, c *Client, orgID string) (secret, curl, note string) {
	t.Helper()
	p := c.Post("/orgs/"+orgID+"/api-keys", url.Values{
		"name": {"Try"}, "environment": {"development"}, "scopes": {"read"}, "expiration": {"30"}, "form_token": {"try-" + orgID},
	})
	assertStatus(t, p, http.StatusOK)
	modal := p.Doc.Find("#key-created")
	secret = modal.Find("#new-api-key").AttrOr("value", "")
	if !strings.HasPrefix(secret, "kg_") {
		t.Fatalf("no key in the modal; body: %.400s", p.Body)
	}
	return secret, strings.TrimSpace(modal.Find("[data-testid=try-it] code").Text()), p.Text("#key-created [data-testid=self-signed-note]")
}
