package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/keygate/keygate/internal/apikey"
	kgapp "github.com/keygate/keygate/internal/app"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
	"github.com/keygate/keygate/web"
)

// testPassword passes the password rules.
const testPassword = "correct horse battery staple"

// App is a Keygate instance behind a real TLS test server.
type App struct {
	*httptest.Server
	DB       *sqlstore.DB
	Users    *sqlstore.UserService
	Orgs     *sqlstore.OrganizationService
	Sessions *sqlstore.SessionService
	Keys     *sqlstore.APIKeyService
	Verifier *apikey.Verifier
	Usage    *usage.Buffer
	Web      *web.Server
	Logs     *syncBuffer
	// LogLevel is the logger's level, Debug unless a test changes it.
	LogLevel *slog.LevelVar
	Clock    *Clock
	// Integrations seals secrets with SecretBox, a random key per app.
	Integrations *sqlstore.IntegrationService
	SecretBox    *secretbox.Box
}

// Clock is the test's clock: real time plus an offset the test advances.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WithRateLimit sets the default API rate limit.
func WithRateLimit(l ratelimit.Limit) Option {
	return func(c *web.Config, _ *App) { c.RateLimit = l }
}

// WithSignupRateLimit sets the signup limit per client address; the zero
// Limit is the server's default (10/h).
func WithSignupRateLimit(l ratelimit.Limit) Option {
	return func(c *web.Config, _ *App) { c.SignupRateLimit = l }
}

// WithMaxKeysPerOrg caps each organization's active API keys
// (--max-keys-per-org).
func WithMaxKeysPerOrg(n int) Option {
	return func(_ *web.Config, a *App) { a.Keys.MaxKeysPerOrg = n }
}

// WithMetricsToken serves /metrics behind a bearer token.
func WithMetricsToken(token string) Option {
	return func(c *web.Config, _ *App) { c.MetricsToken = token }
}

// Option changes an App's configuration before it starts.
type Option func(*web.Config, *App)

// WithSignupMode sets the signup mode.
func WithSignupMode(mode string) Option {
	return func(c *web.Config, a *App) { c.SignupMode, a.Users.SignupMode = mode, mode }
}

// MustOpenApp starts Keygate on a fresh database.
func MustOpenApp(tb testing.TB, opts ...Option) *App {
	tb.Helper()
	return openApp(tb, nil, opts...)
}

// MustOpenAppWithMailer starts Keygate sending email through cfgMailer.
func MustOpenAppWithMailer(tb testing.TB, cfgMailer web.Mailer, opts ...Option) *App {
	tb.Helper()
	return openApp(tb, cfgMailer, opts...)
}

func openApp(tb testing.TB, cfgMailer web.Mailer, opts ...Option) *App {
	tb.Helper()
	clock := &Clock{}
	db := sqlstore.NewDB(filepath.Join(tb.TempDir(), "keygate.db"))
	db.Now = clock.Now
	if err := db.OpenAndMigrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	// Cheap hashing keeps the suite fast; the production parameters are
	// tested in internal/password.
	hasher := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	// Wired as serve wires it, by internal/app.
	wired := kgapp.New(db, kgapp.Options{Hasher: hasher, SecretBox: box, Mailer: cfgMailer})
	app := &App{DB: db, Users: wired.Users, Orgs: wired.Orgs, Sessions: wired.Sessions, Keys: wired.Keys,
		Verifier: wired.Verifier, Usage: wired.Usage, Integrations: wired.Integrations, SecretBox: box,
		Logs: &syncBuffer{}, Clock: clock}
	// Many tests sign up several users from 127.0.0.1: a generous signup
	// limit unless a test sets its own (WithSignupRateLimit).
	cfg := web.Config{SessionKey: bytes.Repeat([]byte("k"), 64), SignupMode: "open", Now: clock.Now,
		SignupRateLimit: ratelimit.Limit{Count: 10000, Period: time.Hour}}
	// The listener comes first so that links can name it (ListenURL), as
	// serve.go names its own; the server starts once its handler exists.
	srv := httptest.NewUnstartedServer(nil)
	tb.Cleanup(srv.Close)
	cfg.ListenURL = "https://" + srv.Listener.Addr().String()
	for _, o := range opts {
		o(&cfg, app)
	}

	app.LogLevel = new(slog.LevelVar)
	app.LogLevel.Set(slog.LevelDebug)
	logger := slog.New(slog.NewTextHandler(app.Logs, &slog.HandlerOptions{Level: app.LogLevel}))
	app.Web, err = web.NewServer(cfg, wired.Services, logger)
	if err != nil {
		tb.Fatal(err)
	}
	srv.Config.Handler = app.Web.Handler()
	srv.StartTLS()
	app.Server = srv
	return app
}

// Client is a browser: a cookie jar, no automatic redirects.
type Client struct {
	*http.Client
	app *App
	tb  testing.TB
}

// NewClient returns a client with an empty cookie jar.
func (a *App) NewClient(tb testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	c := a.Server.Client()
	hc := &http.Client{Transport: c.Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return &Client{Client: hc, app: a, tb: tb}
}

// Page is a response with its parsed HTML.
type Page struct {
	*http.Response
	Body string
	Doc  *goquery.Document
}

// Text returns the trimmed text of the first element matching sel.
func (p *Page) Text(sel string) string { return strings.TrimSpace(p.Doc.Find(sel).First().Text()) }

// Do sends a request and parses the response.
func (c *Client) Do(req *http.Request) *Page {
	c.tb.Helper()
	resp, err := c.Client.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		c.tb.Fatal(err)
	}
	return &Page{Response: resp, Body: string(body), Doc: doc}
}

// Get fetches a path.
func (c *Client) Get(path string) *Page {
	c.tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.app.URL+path, nil)
	return c.Do(req)
}

// Post submits a form as a same-origin browser does.
func (c *Client) Post(path string, form url.Values) *Page {
	c.tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.app.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.app.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.Do(req)
}

// Follow fetches a redirect's target.
func (c *Client) Follow(p *Page) *Page {
	c.tb.Helper()
	if p.StatusCode < 300 || p.StatusCode > 399 {
		c.tb.Fatalf("status = %d, want a redirect; body: %.300s", p.StatusCode, p.Body)
	}
	loc, err := p.Location()
	if err != nil {
		c.tb.Fatal(err)
	}
	return c.Get(loc.RequestURI())
}

// SessionCookie returns the client's session cookie value, or "".
func (c *Client) SessionCookie() string {
	u, _ := url.Parse(c.app.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == web.SessionCookieName {
			return ck.Value
		}
	}
	return ""
}

// SetSessionCookie replaces the client's session cookie.
func (c *Client) SetSessionCookie(value string) {
	u, _ := url.Parse(c.app.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookieName, Value: value, Path: "/", Secure: true}})
}

var orgPath = regexp.MustCompile(`^/orgs/(org_[0-9A-Za-z]+)$`)

// MustSignup signs up through the form and returns the new organization's id.
func (c *Client) MustSignup(name, email, orgName string) string {
	c.tb.Helper()
	p := c.Post("/signup", url.Values{"name": {name}, "email": {email}, "password": {testPassword}, "organization": {orgName}})
	if p.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("signup status = %d; body: %.500s", p.StatusCode, p.Body)
	}
	loc, _ := p.Location()
	m := orgPath.FindStringSubmatch(loc.Path)
	if m == nil {
		c.tb.Fatalf("signup redirected to %s", loc)
	}
	return m[1]
}

// MustLogin logs in through the form.
func (c *Client) MustLogin(email, pw string) {
	c.tb.Helper()
	p := c.Post("/login", url.Values{"email": {email}, "password": {pw}})
	if p.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("login status = %d; body: %.500s", p.StatusCode, p.Body)
	}
}

// MustUser returns a user by email.
func (a *App) MustUser(tb testing.TB, email string) *keygate.User {
	tb.Helper()
	u, err := a.Users.FindUserByEmail(context.Background(), email)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// Count returns the rows of a table.
func (a *App) Count(tb testing.TB, table string) int {
	tb.Helper()
	var n int
	if err := a.DB.WriteConn().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// assertStatus fails the test unless p has status want.
func assertStatus(tb testing.TB, p *Page, want int) {
	tb.Helper()
	if p.StatusCode != want {
		tb.Fatalf("status = %d, want %d; body: %.600s", p.StatusCode, want, p.Body)
	}
}

// fieldError returns the message shown beside a form field.
func fieldError(p *Page, field string) string { return p.Text("#f-" + field + "-error") }

func itoa(n int) string { return strconv.Itoa(n) }

type goquerySelection = goquery.Selection
