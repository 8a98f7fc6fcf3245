package web_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sso"
	"github.com/keygate/keygate/web"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// WithSSO offers the providers of reg on the login page.
func WithSSO(reg *sso.Registry) Option {
	return func(c *web.Config, _ *App) { c.SSO = reg }
}

// TestOP is a real OpenID provider (zitadel's example OP, an
// OpenID-certified library) on a loopback port.
type TestOP struct {
	Issuer   string
	ClientID string
	Secret   string
	Host     string
	// Username logs in at the OP's form; its password is "verysecure".
	Username string
}

// MustStartOP starts an OP that knows one web client whose only redirect
// URI is redirectURI.
func MustStartOP(tb testing.TB, redirectURI string) *TestOP {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	op := &TestOP{Issuer: "http://" + ln.Addr().String() + "/", ClientID: "keygate-" + rand.Text()[:10], Secret: rand.Text(), Host: ln.Addr().String()}
	op.Username = "test-user@127.0.0.1"
	// RegisterClients writes a package-level map: these tests do not run in
	// parallel with each other.
	storage.RegisterClients(storage.WebClient(op.ClientID, op.Secret, redirectURI))
	st := storage.NewStorage(storage.NewUserStore(op.Issuer))
	srv := &http.Server{Handler: exampleop.SetupServer(op.Issuer, st, nil, false), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return op
}

// MustOpenAppWithOP starts Keygate with the OP as its "oidc" provider,
// named name, discovered before the test goes on.
func MustOpenAppWithOP(tb testing.TB, name string, opts ...Option) (*App, *TestOP) {
	tb.Helper()
	reg := sso.NewRegistry()
	app := MustOpenApp(tb, append(opts, WithSSO(reg))...)
	op := MustStartOP(tb, app.URL+"/auth/oidc/callback")
	p, err := sso.NewOIDC(sso.OIDCConfig{Key: "oidc", Name: name, Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.Secret,
		CallbackURL: app.URL + "/auth/oidc/callback"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Discover(context.Background()); err != nil {
		tb.Fatal(err)
	}
	reg.Add(p.Provider())
	return app, op
}

// GetURL fetches an absolute URL, at Keygate or elsewhere, with the
// client's cookies.
func (c *Client) GetURL(u string) *Page {
	c.tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return c.Do(req)
}

// location returns a redirect's absolute target.
func location(tb testing.TB, p *Page) *url.URL {
	tb.Helper()
	if p.StatusCode < 300 || p.StatusCode > 399 {
		tb.Fatalf("status = %d, want a redirect; body: %.500s", p.StatusCode, p.Body)
	}
	loc, err := p.Location()
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

// MustAuthorizeAtOP follows authURL at the OP, logs in with its form as
// username, and returns the callback URL the OP sends the browser back to,
// without fetching it.
func (c *Client) MustAuthorizeAtOP(op *TestOP, authURL *url.URL, username string) *url.URL {
	c.tb.Helper()
	p := c.GetURL(authURL.String())
	for i := 0; p.StatusCode >= 300 && p.StatusCode < 400; i++ {
		next := location(c.tb, p)
		if next.Host != op.Host || i > 10 {
			return next
		}
		p = c.GetURL(next.String())
	}
	form := p.Doc.Find("form").First()
	if form.Length() == 0 {
		c.tb.Fatalf("no login form at the OP: %.500s", p.Body)
	}
	values := url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, s *goquerySelection) {
		values.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	inputFor := func(label string) string {
		var name string
		form.Find("label").Each(func(_ int, l *goquerySelection) {
			if strings.TrimSpace(l.Text()) == label {
				name = form.Find("#"+l.AttrOr("for", "")).AttrOr("name", "")
			}
		})
		if name == "" {
			c.tb.Fatalf("no input labelled %q at the OP", label)
		}
		return name
	}
	values.Set(inputFor("Username:"), username)
	values.Set(inputFor("Password:"), "verysecure")
	action, _ := url.Parse(form.AttrOr("action", ""))
	req, _ := http.NewRequest(http.MethodPost, p.Request.URL.ResolveReference(action).String(), strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p = c.Do(req)
	for i := 0; i < 10; i++ {
		next := location(c.tb, p)
		if next.Host != op.Host {
			return next
		}
		p = c.GetURL(next.String())
	}
	c.tb.Fatal("too many redirects at the OP")
	return nil
}

// MustBeginSSO starts a flow at Keygate and returns the provider's
// authorization URL.
func (c *Client) MustBeginSSO(provider string) *url.URL {
	c.tb.Helper()
	p := c.Get("/auth/" + provider)
	assertStatus(c.tb, p, http.StatusSeeOther)
	return location(c.tb, p)
}

// MustSSOCallback runs the whole flow up to the OP's redirect back to
// Keygate, and returns that callback URL.
func (c *Client) MustSSOCallback(op *TestOP) *url.URL {
	c.tb.Helper()
	return c.MustAuthorizeAtOP(op, c.MustBeginSSO("oidc"), op.Username)
}

// LoggedInAs returns the email shown as the logged-in user, or "" if the
// home page asks to log in.
func (c *Client) LoggedInAs() string {
	c.tb.Helper()
	p := c.Get("/settings")
	if p.StatusCode != http.StatusOK {
		return ""
	}
	return p.Doc.Find("#f-email").AttrOr("value", "")
}
