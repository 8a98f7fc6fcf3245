package main_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/keygate/keygate/internal/testpg"
	_ "modernc.org/sqlite"
)

// Limits of the binary test. Start-up is well under a second; the limits
// are generous so that a slow machine does not fail, while a hung start
// or shutdown still does.
const (
	startDeadline = 20 * time.Second
	maxStartup    = 5 * time.Second
	stopDeadline  = 10 * time.Second
)

const (
	testName     = "Ada Lovelace"
	testEmail    = "ada@example.com"
	testPassword = "correct horse battery staple"
	testOrg      = "Analytical Engines"
)

// raceEnabled is set by race_test.go when the tests run with -race.
var raceEnabled bool

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	testpg.StopShared()
	os.Exit(code)
}

// mustBuild builds the keygate binary once per test run (with the race
// detector when the tests have it) and returns its path.
func mustBuild(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "keygate-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "keygate")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// childEnv is the test's environment without KEYGATE_ variables, so that
// nothing but the given flags configures the child.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// logLine is one line a child process wrote, with when it arrived.
type logLine struct {
	at   time.Time
	text string
}

// logBuffer collects a child's output by line; safe for concurrent use.
type logBuffer struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   []logLine
}

func (b *logBuffer) Write(p []byte) (int, error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all.Write(p)
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, logLine{at: now, text: string(b.partial[:i])})
		b.partial = b.partial[i+1:]
	}
	return len(p), nil
}

// find returns the first line containing substr.
func (b *logBuffer) find(substr string) (logLine, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l.text, substr) {
			return l, true
		}
	}
	return logLine{}, false
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.String()
}

// logAttr returns the value of key in a slog text line, unquoted.
func logAttr(line, key string) string {
	re := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`)
	m := re.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	if v, err := strconv.Unquote(m[1]); err == nil {
		return v
	}
	return m[1]
}

// server is a running `keygate serve`.
type server struct {
	cmd       *exec.Cmd
	log       *logBuffer
	done      chan struct{}
	waitErr   error
	httpsAddr string // host:port
	httpURL   string // http://host:port
	started   time.Time
	startup   time.Duration
}

// mustStart starts the binary on dataDir with both listeners on free
// ports and waits until it says it is running.
func mustStart(t *testing.T, bin, dataDir string) *server {
	t.Helper()
	return mustStartWith(t, bin, dataDir, nil)
}

// mustStartWith is mustStart with more environment variables (KEY=VALUE)
// for the child: its database, its secret key.
func mustStartWith(t *testing.T, bin, dataDir string, env []string) *server {
	t.Helper()
	s := startServe(t, bin, dataDir, env)
	s.mustBeRunning(t)
	return s
}

// startServe starts the binary on dataDir with both listeners on free
// ports, without waiting: mustBeRunning waits.
func startServe(t *testing.T, bin, dataDir string, env []string) *server {
	t.Helper()
	s := &server{log: &logBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	s.cmd.Env = append(childEnv(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// mustBeRunning waits until the server says it is running and reads its
// addresses from that line.
func (s *server) mustBeRunning(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(startDeadline)
	for {
		if l, ok := s.log.find(`msg="Keygate is running"`); ok {
			s.startup = l.at.Sub(s.started)
			s.httpsAddr = logAttr(l.text, "https_addr")
			s.httpURL = logAttr(l.text, "http_redirect")
			if got, want := logAttr(l.text, "tls"), "self-signed"; got != want {
				t.Errorf("tls = %q, want %q", got, want)
			}
			break
		}
		select {
		case <-s.done:
			t.Fatalf("keygate exited before it was running (%v); log:\n%s", s.waitErr, s.log)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("keygate not running after %v; log:\n%s", startDeadline, s.log)
		}
	}
	if !strings.HasPrefix(s.httpsAddr, "127.0.0.1:") || strings.HasSuffix(s.httpsAddr, ":0") {
		t.Fatalf("https_addr = %q; log:\n%s", s.httpsAddr, s.log)
	}
	if !strings.HasPrefix(s.httpURL, "http://127.0.0.1:") || strings.HasSuffix(s.httpURL, ":0") {
		t.Fatalf("http_redirect = %q; log:\n%s", s.httpURL, s.log)
	}
}

// url returns the HTTPS URL of path.
func (s *server) url(path string) string { return "https://" + s.httpsAddr + path }

// mustStop sends SIGTERM and expects a clean exit within stopDeadline.
func (s *server) mustStop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(stopDeadline):
		t.Fatalf("keygate still running %v after SIGTERM; log:\n%s", stopDeadline, s.log)
	}
	if s.waitErr != nil {
		t.Fatalf("keygate exited with %v (code %d); log:\n%s", s.waitErr, s.cmd.ProcessState.ExitCode(), s.log)
	}
	if _, ok := s.log.find("msg=stopped"); !ok {
		t.Fatalf("log does not say stopped:\n%s", s.log)
	}
}

// newClient returns a client that trusts only the certificate in certFile,
// keeps cookies in jar, and records every redirect response it follows.
func newClient(t *testing.T, certFile string, jar http.CookieJar) (*http.Client, *[]*http.Response) {
	t.Helper()
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in %s", certFile)
	}
	if jar == nil {
		if jar, err = cookiejar.New(nil); err != nil {
			t.Fatal(err)
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	var redirects []*http.Response
	return &http.Client{
		Jar: jar, Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			redirects = append(redirects, req.Response)
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}, &redirects
}

// page is a fetched page, its body read.
type page struct {
	*http.Response
	body string
}

func mustDo(t *testing.T, c *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return page{resp, b.String()}
}

func mustGet(t *testing.T, c *http.Client, u string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mustDo(t, c, req)
}

func mustPostForm(t *testing.T, c *http.Client, u string, form url.Values) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return mustDo(t, c, req)
}

// text returns the visible text of an HTML page, whitespace collapsed.
func (p page) text(t *testing.T) string {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(doc.Find("body").Text()), " ")
}

var orgPathRE = regexp.MustCompile(`^/orgs/(org_\w+)$`)

// mustBeOverview checks that p is the overview page of testOrg and returns
// the organization's id.
func mustBeOverview(t *testing.T, p page) string {
	t.Helper()
	if p.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d; body: %.500s", p.Request.URL, p.StatusCode, p.body)
	}
	m := orgPathRE.FindStringSubmatch(p.Request.URL.Path)
	if m == nil {
		t.Fatalf("ended on %s, want /orgs/org_...", p.Request.URL)
	}
	if !strings.Contains(p.text(t), "Welcome to "+testOrg) {
		t.Fatalf("overview does not welcome to %q: %.500s", testOrg, p.text(t))
	}
	return m[1]
}

// mustBeOwnerOnly fails unless path has mode 0600.
func mustBeOwnerOnly(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

// mustHaveUser fails unless the database at path has a user with email.
func mustHaveUser(t *testing.T, path, email string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM users WHERE email = ?`, email).Scan(&n); err != nil {
		t.Fatalf("query %s: %v", path, err)
	}
	if n != 1 {
		t.Fatalf("%s has %d users %s, want 1", path, n, email)
	}
}

func TestServeBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	certFile := filepath.Join(dataDir, "tls", "selfsigned-cert.pem")

	srv := mustStart(t, bin, dataDir)
	t.Logf("start-up took %v", srv.startup)
	if srv.startup > maxStartup {
		t.Errorf("start-up took %v, want under %v", srv.startup, maxStartup)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client, redirects := newClient(t, certFile, jar)
	var orgID string

	t.Run("OKNotTrustedByDefault", func(t *testing.T) {
		// The certificate is self-signed: only a client told to trust it may
		// connect, which is what makes the next checks meaningful.
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		_, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.url("/login"))
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("GET without trusting the certificate: %v, want an unknown authority error", err)
		}
	})

	t.Run("OKSignup", func(t *testing.T) {
		p := mustGet(t, client, srv.url("/signup"))
		if p.StatusCode != http.StatusOK {
			t.Fatalf("GET /signup: status %d", p.StatusCode)
		}
		if !strings.HasPrefix(p.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("HTTPS response without HSTS: %q", p.Header.Get("Strict-Transport-Security"))
		}

		*redirects = nil
		p = mustPostForm(t, client, srv.url("/signup"), url.Values{
			"name": {testName}, "email": {testEmail}, "password": {testPassword}, "organization": {testOrg},
		})
		orgID = mustBeOverview(t, p)
		if len(*redirects) == 0 || (*redirects)[0].StatusCode != http.StatusSeeOther {
			t.Fatalf("signup did not redirect with 303: %v", *redirects)
		}

		var session *http.Cookie
		for _, raw := range (*redirects)[0].Header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(raw)
			if err != nil {
				t.Fatalf("bad Set-Cookie %q: %v", raw, err)
			}
			if c.Name == "__Host-keygate_session" && c.Value != "" {
				session = c
				if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
					t.Errorf("session cookie %q: want Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain", raw)
				}
			}
		}
		if session == nil {
			t.Fatalf("signup set no session cookie: %q", (*redirects)[0].Header.Values("Set-Cookie"))
		}
	})
	if orgID == "" {
		t.FailNow()
	}

	t.Run("OKSessionWorks", func(t *testing.T) {
		mustBeOverview(t, mustGet(t, client, srv.url("/")))
		// A client without the cookie is sent to the login page.
		other, _ := newClient(t, certFile, nil)
		if p := mustGet(t, other, srv.url("/orgs/"+orgID)); p.Request.URL.Path != "/login" {
			t.Fatalf("anonymous GET /orgs/%s ended on %s (status %d), want /login", orgID, p.Request.URL, p.StatusCode)
		}
	})

	t.Run("OKPlainHTTP", func(t *testing.T) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		plain := &http.Client{Transport: tr, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

		p := mustGet(t, plain, srv.httpURL+"/login?next=%2Fsettings")
		if got, want := p.StatusCode, http.StatusPermanentRedirect; got != want {
			t.Fatalf("GET http /login: status %d, want %d", got, want)
		}
		if got, want := p.Header.Get("Location"), srv.url("/login?next=%2Fsettings"); got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		if hsts := p.Header.Get("Strict-Transport-Security"); hsts != "" {
			t.Errorf("plain HTTP response carries HSTS %q", hsts)
		}

		p = mustGet(t, plain, srv.httpURL+"/api/v1/me")
		if got, want := p.StatusCode, http.StatusForbidden; got != want {
			t.Fatalf("GET http /api/v1/me: status %d, want %d", got, want)
		}
		if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q, want JSON", ct)
		}
		var body struct{ Code string }
		if err := json.Unmarshal([]byte(p.body), &body); err != nil {
			t.Fatalf("body %q: %v", p.body, err)
		}
		if got, want := body.Code, "https_required"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
	})

	t.Run("OKFiles", func(t *testing.T) {
		mustBeOwnerOnly(t, filepath.Join(dataDir, "keygate.db"))
		mustBeOwnerOnly(t, filepath.Join(dataDir, "session.key"))
		mustBeOwnerOnly(t, filepath.Join(dataDir, "tls", "selfsigned-key.pem"))
		fi, err := os.Stat(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("data directory has mode %v, want no access for group and others", perm)
		}
	})

	t.Run("OKBackupWhileRunning", func(t *testing.T) {
		dest := filepath.Join(tmp, "backup.db")
		cmd := exec.Command(bin, "backup", "--data-dir", dataDir, dest)
		cmd.Env = childEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("backup: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "Backed up") {
			t.Errorf("backup printed %q", out)
		}
		mustBeOwnerOnly(t, dest)
		mustHaveUser(t, dest, testEmail)
		// The server is unharmed.
		mustBeOverview(t, mustGet(t, client, srv.url("/orgs/"+orgID)))
	})

	certBefore, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	keyBefore, err := os.ReadFile(filepath.Join(dataDir, "session.key"))
	if err != nil {
		t.Fatal(err)
	}

	srv.mustStop(t)
	if _, err := os.Stat(filepath.Join(dataDir, "keygate.db")); err != nil {
		t.Fatal(err)
	}

	// A second start on the same data directory keeps the certificate, the
	// session key and the accounts.
	srv = mustStart(t, bin, dataDir)
	if certAfter, err := os.ReadFile(certFile); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(certAfter, certBefore) {
		t.Error("second start replaced the self-signed certificate")
	}
	if keyAfter, err := os.ReadFile(filepath.Join(dataDir, "session.key")); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(keyAfter, keyBefore) {
		t.Error("second start replaced the session key")
	}

	t.Run("OKSessionSurvivesRestart", func(t *testing.T) {
		// The jar sends the cookie to the new port: same host.
		again, _ := newClient(t, certFile, jar)
		if got := mustBeOverview(t, mustGet(t, again, srv.url("/orgs/"+orgID))); got != orgID {
			t.Fatalf("org = %s, want %s", got, orgID)
		}
	})

	t.Run("OKLogin", func(t *testing.T) {
		c, _ := newClient(t, certFile, nil)
		p := mustPostForm(t, c, srv.url("/login"), url.Values{"email": {testEmail}, "password": {testPassword}})
		if got := mustBeOverview(t, p); got != orgID {
			t.Fatalf("logged in to %s, want %s", got, orgID)
		}
	})

	t.Run("ErrLoginWrongPassword", func(t *testing.T) {
		c, _ := newClient(t, certFile, nil)
		p := mustPostForm(t, c, srv.url("/login"), url.Values{"email": {testEmail}, "password": {"not the password at all"}})
		if got, want := p.StatusCode, http.StatusUnauthorized; got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	})

	srv.mustStop(t)
}
