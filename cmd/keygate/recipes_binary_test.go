package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testenv"
)

// The README's recipes name Keygate, the protected service and the
// certificate by these; the tests put in the running ones.
const (
	recipeKeygateAddr = "127.0.0.1:8443"
	recipeAppAddr     = "127.0.0.1:3000"
	recipeCertPath    = "/var/lib/keygate/tls/selfsigned-cert.pem"
)

// readmeBlock returns the n-th (from 0) fenced code block in language lang
// of the README section whose heading line is heading, up to the next
// heading of the same or a higher level.
func readmeBlock(t *testing.T, heading, lang string, n int) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	level := strings.IndexByte(heading, ' ')
	var in, inBlock bool
	var block []string
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inBlock && line == "```":
			if found == n {
				return strings.Join(block, "\n") + "\n"
			}
			found++
			inBlock, block = false, nil
		case inBlock:
			block = append(block, line)
		case line == heading:
			in = true
		case in && strings.HasPrefix(line, "#") && strings.IndexByte(line, ' ') <= level:
			in = false
		case in && line == "```"+lang:
			inBlock = true
		}
	}
	t.Fatalf("README has no %s block number %d under %q", lang, n, heading)
	return ""
}

// recipeFixture is a running Keygate with what the recipes' checks need:
// an admin key to manage keys through the API, and its certificate.
type recipeFixture struct {
	s     *server
	cert  string
	org   string // the organization's id
	admin string // an admin key
	api   *http.Client
}

// mustRecipeFixture starts the binary and signs up an owner whose
// organization has an admin key.
func mustRecipeFixture(t *testing.T) *recipeFixture {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	f := &recipeFixture{s: mustStart(t, mustBuild(t), dataDir)}
	t.Cleanup(func() { f.s.mustStop(t) })
	f.cert = filepath.Join(dataDir, "tls", "selfsigned-cert.pem")
	browser, _ := newClient(t, f.cert, nil)
	f.api, _ = newClient(t, f.cert, nil)
	p := mustPostForm(t, browser, f.s.url("/signup"), url.Values{
		"name": {testName}, "email": {testEmail}, "password": {testPassword}, "organization": {testOrg},
	})
	m := orgPathRE.FindStringSubmatch(p.Request.URL.Path)
	if m == nil {
		t.Fatalf("signup ended on %s", p.Request.URL.Path)
	}
	f.org = m[1]
	f.admin = mustNewKey(t, mustPostForm(t, browser, f.s.url("/orgs/"+f.org+"/api-keys"), url.Values{
		"name": {"recipes admin"}, "environment": {"production"}, "scopes": {"admin"}, "expiration": {"none"},
		"form_token": {"recipes-admin"}, "from": {"page"},
	}))
	return f
}

// call sends an API request with the admin key and decodes its JSON answer
// into v (when not nil), failing unless the status is want.
func (f *recipeFixture) call(t *testing.T, method, path, body string, want int, v any) {
	t.Helper()
	req, err := http.NewRequest(method, f.s.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+f.admin)
	req.Header.Set("Content-Type", "application/json")
	p := mustDo(t, f.api, req)
	if p.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, p.StatusCode, want, p.body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(p.body), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, p.body)
		}
	}
}

// newKey creates a key with scope (and rate limit, when not "", and IP
// allowlist, when given) and returns its id and secret.
func (f *recipeFixture) newKey(t *testing.T, name, scope, rateLimit string, allowedIPs ...string) (id, secret string) {
	t.Helper()
	var k struct{ ID, Key string }
	in := map[string]any{"name": name, "environment": "production", "scopes": []string{scope}}
	if allowedIPs != nil {
		in["allowed_ips"] = allowedIPs
	}
	body, _ := json.Marshal(in)
	f.call(t, http.MethodPost, "/api/v1/keys", string(body), http.StatusCreated, &k)
	if rateLimit != "" {
		f.call(t, http.MethodPatch, "/api/v1/keys/"+k.ID, `{"rate_limit": "`+rateLimit+`"}`, http.StatusOK, nil)
	}
	return k.ID, k.Key
}

// revoke revokes the key id.
func (f *recipeFixture) revoke(t *testing.T, id string) {
	t.Helper()
	f.call(t, http.MethodDelete, "/api/v1/keys/"+id, "", http.StatusNoContent, nil)
}

// upstream is the protected service: it answers 200 and keeps the headers
// of every request it got.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		w.Write([]byte("upstream"))
	}))
	t.Cleanup(u.Close)
	return u
}

// last returns the headers of the last request the service got, nil if none.
func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startProcess starts cmd with its output in a buffer, kills it when the
// test ends, and waits until addr accepts connections.
func startProcess(t *testing.T, cmd *exec.Cmd, addr string) *logBuffer {
	t.Helper()
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// A group of its own, so that its workers (nginx's) end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = stopDeadline
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	for deadline := time.Now().Add(startDeadline); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return out
		}
		select {
		case <-done:
			t.Fatalf("%s exited before it listened on %s:\n%s", cmd.Path, addr, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after %v:\n%s", cmd.Path, addr, startDeadline, out)
		}
	}
}

// lookProxy returns the path of a proxy's binary, or skips the test.
func lookProxy(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return filepath.Join(dir, name)
			}
		}
		testenv.SkipUnlessCI(t, name+" is not installed (scripts/test installs it from Debian): its recipe is not checked")
	}
	return p
}
