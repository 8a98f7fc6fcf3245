package web_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/web"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"
)

// WithAllowPrivateDestinations lets organizations' providers be on
// loopback, as the in-process test providers are (--allow-private-destinations).
func WithAllowPrivateDestinations() Option {
	return func(c *web.Config, _ *App) { c.AllowPrivateDestinations = true }
}

// WithDNS answers the app's DNS lookups from dns.
func WithDNS(dns *FakeDNS) Option {
	return func(c *web.Config, _ *App) { c.DNS = dns }
}

// FakeDNS is a DNS the test controls: TXT records and addresses by name.
// A name it does not know does not exist.
type FakeDNS struct {
	mu   sync.Mutex
	txt  map[string][]string
	addr map[string][]netip.Addr
}

// NewFakeDNS returns an empty DNS.
func NewFakeDNS() *FakeDNS {
	return &FakeDNS{txt: map[string][]string{}, addr: map[string][]netip.Addr{}}
}

// SetTXT publishes TXT records at name.
func (d *FakeDNS) SetTXT(name string, records ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[name] = records
}

// SetAddr makes name resolve to addrs.
func (d *FakeDNS) SetAddr(name string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range addrs {
		d.addr[name] = append(d.addr[name], netip.MustParseAddr(a))
	}
}

// LookupTXT answers from the published records.
func (d *FakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if recs, ok := d.txt[name]; ok {
		return recs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// LookupNetIP answers from the addresses set.
func (d *FakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.addr[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// mustVerifyDomain publishes the TXT record that the settings page asks
// for in dns, then presses the domain's Verify button.
func (c *Client) mustVerifyDomain(dns *FakeDNS, org, domain string) {
	c.tb.Helper()
	p := c.Get(orgSSOPath(org))
	assertStatus(c.tb, p, http.StatusOK)
	row := p.Doc.Find(`[data-testid="org-sso-domain"][data-domain="` + domain + `"]`)
	record, token := row.Find(`[data-testid="domain-record"]`).Text(), row.Find(`[data-testid="domain-token"]`).Text()
	if record != "_keygate-challenge."+domain || token == "" {
		c.tb.Fatalf("%s: record %q token %q", domain, record, token)
	}
	dns.SetTXT(record, token)
	action := row.Find(`[data-testid="domain-verify"]`).Closest("form").AttrOr("action", "")
	p = c.Post(action, nil)
	assertStatus(c.tb, p, http.StatusSeeOther)
	p = c.Follow(p)
	if got := p.Doc.Find(`[data-testid="org-sso-domain"][data-domain="` + domain + `"] [data-testid="domain-status"]`).Text(); got != "Verified" {
		c.tb.Fatalf("%s status = %q after Verify", domain, got)
	}
}

// OPUser is a person at a test provider.
type OPUser struct {
	Subject, Username, Email string
	EmailVerified            bool
}

// opUsers is a zitadel example OP user store of chosen people, whose
// password is "verysecure".
type opUsers map[string]*storage.User

func (u opUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u opUsers) ExampleClientID() string             { return storage.ServiceUserID }
func (u opUsers) GetUserByUsername(name string) *storage.User {
	for _, user := range u {
		if user.Username == name {
			return user
		}
	}
	return nil
}

// MustStartOPWithUsers starts a real OpenID provider (zitadel's example
// OP) whose users are the given people: the provider an attacker runs,
// which asserts whatever email it likes as verified.
func MustStartOPWithUsers(tb testing.TB, redirectURI string, people ...OPUser) *TestOP {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	op := &TestOP{Issuer: "http://" + ln.Addr().String() + "/", ClientID: "keygate-" + rand.Text()[:10], Secret: rand.Text(), Host: ln.Addr().String()}
	users := opUsers{}
	for _, p := range people {
		users[p.Subject] = &storage.User{ID: p.Subject, Username: p.Username, Password: "verysecure", FirstName: "Test", LastName: "Person",
			Email: p.Email, EmailVerified: p.EmailVerified, PreferredLanguage: language.English}
	}
	storage.RegisterClients(storage.WebClient(op.ClientID, op.Secret, redirectURI))
	srv := &http.Server{Handler: exampleop.SetupServer(op.Issuer, storage.NewStorage(users), nil, false), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return op
}

// orgSSOLogin runs "Sign in with SSO" for email through the provider as
// username, and returns Keygate's answer to the callback.
func (c *Client) orgSSOLogin(op *TestOP, email, username string) *Page {
	c.tb.Helper()
	p := c.Post("/login/sso", url.Values{"email": {email}})
	assertStatus(c.tb, p, http.StatusSeeOther)
	return c.GetURL(c.MustAuthorizeAtOP(op, location(c.tb, p), username).String())
}
