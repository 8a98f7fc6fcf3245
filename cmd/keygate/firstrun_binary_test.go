package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestServeBinaryFirstRun starts the real binary on an empty data
// directory, as a newcomer does: the log says where to sign up, the key's
// "Try it" command and the API Reference's examples work as shown against
// the self-signed certificate, and clients that refuse that certificate are
// not reported as warnings.
func TestServeBinaryFirstRun(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := mustStart(t, bin, dataDir)
	defer srv.mustStop(t)
	cert, err := filepath.Abs(filepath.Join(dataDir, "tls", "selfsigned-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OKLogSaysWhereToSignUp", func(t *testing.T) {
		l, ok := srv.log.find("No accounts yet")
		if !ok {
			t.Fatalf("no first-run line in the log:\n%s", srv.log)
		}
		want := "No accounts yet: open " + srv.url("/signup") + " to create the first account (it becomes the superuser)"
		if got := logAttr(l.text, "msg"); got != want {
			t.Fatalf("msg = %q, want %q", got, want)
		}
		if got := logAttr(l.text, "level"); got != "INFO" {
			t.Fatalf("level = %q, want INFO", got)
		}
	})

	t.Run("OKSecretKeyLineSaysWhere", func(t *testing.T) {
		l, ok := srv.log.find("generated the secret key of stored credentials")
		if !ok {
			t.Fatalf("no secret key line:\n%s", srv.log)
		}
		msg := logAttr(l.text, "msg")
		for _, want := range []string{"password manager or secret store", "apart from the database backups", "README", "Integrations and the secret key"} {
			if !strings.Contains(msg, want) {
				t.Errorf("msg %q lacks %q", msg, want)
			}
		}
		if got, want := logAttr(l.text, "readme"), "README.md#integrations-and-the-secret-key"; got != want {
			t.Errorf("readme = %q, want %q", got, want)
		}
	})

	c, _ := newClient(t, cert, nil)
	t.Run("OKEmptyInstanceOpensOnSignup", func(t *testing.T) {
		p := mustGet(t, c, srv.url("/"))
		if got := p.Request.URL.Path; got != "/signup" || p.StatusCode != http.StatusOK {
			t.Fatalf("GET / ended on %s (status %d), want /signup", got, p.StatusCode)
		}
	})

	p := mustPostForm(t, c, srv.url("/signup"), url.Values{
		"name": {testName}, "email": {testEmail}, "password": {testPassword}, "organization": {testOrg},
	})
	orgID := mustBeOverview(t, p)
	p = mustPostForm(t, c, srv.url("/orgs/"+orgID+"/api-keys"), url.Values{
		"name": {"Try it"}, "environment": {"development"}, "scopes": {"read"}, "expiration": {"30"},
		"form_token": {"try-it"}, "from": {"page"},
	})
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	key := doc.Find("#new-api-key").AttrOr("value", "")
	if !strings.HasPrefix(key, "kg_") {
		t.Fatalf("no key in the modal (status %d)", p.StatusCode)
	}

	t.Run("OKTryItWithCurl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl is not installed")
		}
		cmd := strings.TrimSpace(doc.Find("#key-created pre code").Text())
		if !strings.HasPrefix(cmd, "curl --cacert "+cert+" ") {
			t.Errorf("Try it = %q, want it to trust %s", cmd, cert)
		}
		out := mustRunShown(t, "", cmd, nil)
		mustBeMe(t, "curl", out)
	})

	ref := mustGet(t, c, srv.url("/orgs/"+orgID+"/api-reference"))
	refDoc, err := goquery.NewDocumentFromReader(strings.NewReader(ref.body))
	if err != nil {
		t.Fatal(err)
	}
	me := refDoc.Find(`[data-testid=api-operation][data-method="GET"][data-path="/api/v1/me"]`)
	example := func(lang string) string {
		return strings.ReplaceAll(me.Find("[data-testid=example-"+lang+"]").Text(), "YOUR_API_KEY", key)
	}

	t.Run("OKReferenceCurl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("curl is not installed")
		}
		mustBeMe(t, "curl", mustRunShown(t, "", example("curl"), nil))
	})

	t.Run("OKReferencePython", func(t *testing.T) {
		if err := exec.Command("python3", "-c", "import requests").Run(); err != nil {
			t.Skip("python3 with requests is not installed")
		}
		dir := t.TempDir()
		script := filepath.Join(dir, "app.py")
		if err := os.WriteFile(script, []byte(example("python")), 0o600); err != nil {
			t.Fatal(err)
		}
		// A bundle in the environment overrides a session's verify, but
		// not the per-request verify of the example.
		out := mustRunShown(t, dir, "python3 app.py", []string{"REQUESTS_CA_BUNDLE=/nonexistent"})
		// Python prints the answer as a dict.
		if !strings.Contains(out, "'name': '"+testOrg+"'") {
			t.Fatalf("python printed %q", out)
		}
	})

	t.Run("OKReferenceNode", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			t.Skip("node is not installed")
		}
		js := example("javascript")
		run := regexp.MustCompile(`(?m)^// (NODE_EXTRA_CA_CERTS=\S+ node app\.js)$`).FindStringSubmatch(js)
		if run == nil {
			t.Fatalf("the example does not say how to run it:\n%s", js)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte(js), 0o600); err != nil {
			t.Fatal(err)
		}
		out := mustRunShown(t, dir, run[1], nil)
		if !strings.Contains(out, testOrg) {
			t.Fatalf("node printed %q", out)
		}
	})

	t.Run("OKRejectedCertificateIsNoWarning", func(t *testing.T) {
		// Clients not told to trust the certificate: curl (unknown
		// certificate authority) and Go (bad certificate).
		if curl, err := exec.LookPath("curl"); err == nil {
			for range 3 {
				err := exec.Command(curl, "-sS", "--max-time", "10", srv.url("/api/v1/me")).Run()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 60 {
					t.Fatalf("curl without the certificate: %v, want exit code 60", err)
				}
			}
		}
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		if _, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.url("/")); err == nil {
			t.Fatal("a client that does not trust the certificate connected")
		}
		// A real error: plain HTTP sent to the HTTPS port.
		plain := &http.Transport{}
		defer plain.CloseIdleConnections()
		if resp, err := (&http.Client{Transport: plain, Timeout: 10 * time.Second}).Get("http://" + srv.httpsAddr + "/"); err == nil {
			resp.Body.Close()
		}
		// The server logs each failed handshake once it has seen it fail.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, plainLogged := srv.log.find("client sent an HTTP request to an HTTPS server")
			_, explained := srv.log.find("A client rejected the self-signed certificate")
			if plainLogged && explained {
				break
			}
			if time.Now().After(deadline) {
				break // the checks below say what is missing
			}
			time.Sleep(20 * time.Millisecond)
		}

		if _, ok := srv.log.find("client sent an HTTP request to an HTTPS server"); !ok {
			t.Fatalf("the plain HTTP request was not logged:\n%s", srv.log)
		}
		var explained int
		for _, line := range strings.Split(srv.log.String(), "\n") {
			level, msg := logAttr(line, "level"), logAttr(line, "msg")
			switch {
			case strings.Contains(msg, "client sent an HTTP request to an HTTPS server"):
				if level != "WARN" {
					t.Errorf("a real handshake error is logged at %s: %s", level, line)
				}
			case strings.Contains(msg, "TLS handshake error") && level == "WARN":
				t.Errorf("a rejected certificate is a warning: %s", line)
			case strings.HasPrefix(msg, "A client rejected the self-signed certificate"):
				explained++
				if level != "INFO" || logAttr(line, "cert") != cert {
					t.Errorf("explanation: %s", line)
				}
			}
		}
		if explained != 1 {
			t.Fatalf("the rejection was explained %d times, want once:\n%s", explained, srv.log)
		}
	})
}

// mustRunShown runs a command as a person pastes it into a shell, in dir,
// and returns its standard output. curl is given a configuration that
// prints the HTTP status on a last line of its own.
func mustRunShown(t *testing.T, dir, command string, env []string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".curlrc"), []byte("write-out = \"\\n%{http_code}\"\nsilent\nshow-error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(append(childEnv(), "HOME="+home, "CURL_HOME="+home), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", command, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// mustBeMe checks curl's output: GET /api/v1/me answered 200 with the
// organization.
func mustBeMe(t *testing.T, name, out string) {
	t.Helper()
	i := strings.LastIndexByte(out, '\n')
	if i < 0 {
		t.Fatalf("%s printed %q", name, out)
	}
	if code := out[i+1:]; code != "200" {
		t.Fatalf("%s: status %s, want 200; body %q", name, code, out[:i])
	}
	var me struct {
		Organization struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out[:i]), &me); err != nil || me.Organization.Name != testOrg {
		t.Fatalf("%s: body %q (%v), want the organization %q", name, out[:i], err, testOrg)
	}
}
