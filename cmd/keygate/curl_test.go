package main_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCurlAgainstBinary runs the two documented curl commands, unchanged but
// for the host and the key, against the real binary over HTTPS.
func TestCurlAgainstBinary(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		// curl is optional here (the test command does not install it).
		t.Skip("curl is not installed: the same requests are sent from Go in web/api_input_test.go")
	}
	bin := mustBuild(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := mustStart(t, bin, dataDir)
	defer s.mustStop(t)
	cert := filepath.Join(dataDir, "tls", "selfsigned-cert.pem")
	c, _ := newClient(t, cert, nil)

	p := mustPostForm(t, c, s.url("/signup"), url.Values{
		"name": {"Ada"}, "email": {"ada@example.com"}, "password": {"correct horse battery staple"}, "organization": {"Curl Org"},
	})
	orgPath := p.Request.URL.Path
	if !regexp.MustCompile(`^/orgs/org_\w+$`).MatchString(orgPath) {
		t.Fatalf("signup ended on %s", orgPath)
	}
	p = mustPostForm(t, c, s.url(orgPath+"/api-keys"), url.Values{
		"name": {"curl"}, "environment": {"development"}, "scopes": {"read", "write"}, "expiration": {"30"},
		"form_token": {"curl-test"}, "from": {"page"},
	})
	key := mustNewKey(t, p)

	run := func(args ...string) (int, map[string]any) {
		t.Helper()
		args = append([]string{"-sS", "--cacert", cert, "--max-time", "20", "-w", "\n%{http_code}"}, args...)
		out, err := exec.Command(curl, args...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		// -w appends the status code on a line of its own.
		i := strings.LastIndexByte(string(out), '\n')
		body, code := string(out[:max(i, 0)]), string(out[i+1:])
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("curl answer is not JSON: %q", body)
		}
		status, err := strconv.Atoi(strings.TrimSpace(code))
		if err != nil {
			t.Fatalf("curl status %q", code)
		}
		return status, v
	}
	// The seeds' two commands, with this host and this key.
	status, bot := run("-X", "POST", s.url("/api/v1/bots"), "-H", "Authorization: Token "+key, "-H", "Content-Type: application/json",
		"-d", `{"meeting_url": "https://zoom.us/j/123456789", "bot_name": "My Bot"}`)
	if status != http.StatusCreated || bot["bot_name"] != "My Bot" || !strings.HasPrefix(bot["id"].(string), "bot_") {
		t.Fatalf("POST /api/v1/bots = %d %v", status, bot)
	}
	status, list := run(s.url("/api/v1/conversations"), "-H", "Authorization: Bearer "+key)
	if status != http.StatusOK || list["results"] == nil {
		t.Fatalf("GET /api/v1/conversations = %d %v", status, list)
	}
	// The example the "API Key Created" modal shows.
	status, me := run("-H", "Authorization: Token "+key, s.url("/api/v1/me"))
	if status != http.StatusOK || me["organization"].(map[string]any)["name"] != "Curl Org" {
		t.Fatalf("GET /api/v1/me = %d %v", status, me)
	}
	// Over plain HTTP the key is refused, not redirected.
	status, refused := run(s.httpURL+"/api/v1/me", "-H", "Authorization: Token "+key)
	if status != http.StatusForbidden || refused["code"] != "https_required" {
		t.Fatalf("plain HTTP = %d %v", status, refused)
	}
	// The usage of those calls is flushed to the database about once a
	// second: the logs page shows it within a few.
	for deadline := time.Now().Add(10 * time.Second); ; {
		p = mustGet(t, c, s.url(orgPath+"/logs"))
		if strings.Contains(p.text(t), "POST /api/v1/bots") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API logs page does not show the curl request after 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
