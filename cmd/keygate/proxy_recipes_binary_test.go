package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recipeAddrs puts the running Keygate, service and certificate into a
// README recipe.
func recipeAddrs(recipe string, f *recipeFixture, up *upstream) string {
	return strings.NewReplacer(
		recipeKeygateAddr, f.s.httpsAddr,
		recipeAppAddr, strings.TrimPrefix(up.URL, "http://"),
		recipeCertPath, f.cert,
	).Replace(recipe)
}

// TestCaddyRecipe runs the README's Caddy recipe, unchanged but for the
// addresses, in front of a service, against the real binary.
func TestCaddyRecipe(t *testing.T) {
	t.Parallel()
	caddy := lookProxy(t, "caddy")
	recipe := readmeBlock(t, "### Caddy", "caddyfile", 0)
	f := mustRecipeFixture(t)
	up := startUpstream(t)
	dir := t.TempDir()
	addr := "127.0.0.1:" + freePort(t)
	config := "{\n\tadmin off\n}\n" +
		strings.Replace(recipeAddrs(recipe, f, up), "app.example.com {", "http://"+addr+" {", 1)
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(childEnv(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startProcess(t, cmd, addr)
	checkProxy(t, f, up, "http://"+addr, true)
}

// TestNginxRecipe runs the README's nginx recipe (its server block and
// keygate_auth.conf), unchanged but for the addresses.
func TestNginxRecipe(t *testing.T) {
	t.Parallel()
	nginx := lookProxy(t, "nginx")
	server := readmeBlock(t, "### nginx", "nginx", 0)
	include := readmeBlock(t, "### nginx", "nginx", 1)
	f := mustRecipeFixture(t)
	up := startUpstream(t)
	dir := t.TempDir()
	port := freePort(t)
	server = strings.Replace(recipeAddrs(server, f, up), "listen 80;", "listen 127.0.0.1:"+port+";", 1)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // its workers use the temporary directories below, which only root may
	}
	config := user + "worker_processes 1;\n" +
		"error_log " + filepath.Join(dir, "error.log") + " info;\n" +
		"pid " + filepath.Join(dir, "nginx.pid") + ";\n" +
		"events { worker_connections 64; }\n" +
		"http {\n" +
		"access_log off;\n" +
		"client_body_temp_path " + filepath.Join(dir, "body") + ";\n" +
		"proxy_temp_path " + filepath.Join(dir, "proxy") + ";\n" +
		"fastcgi_temp_path " + filepath.Join(dir, "fastcgi") + ";\n" +
		"uwsgi_temp_path " + filepath.Join(dir, "uwsgi") + ";\n" +
		"scgi_temp_path " + filepath.Join(dir, "scgi") + ";\n" +
		server + "}\n"
	for name, text := range map[string]string{"nginx.conf": config, "keygate_auth.conf": recipeAddrs(include, f, up)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	cmd.Env = childEnv()
	startProcess(t, cmd, "127.0.0.1:"+port)
	checkProxy(t, f, up, "http://127.0.0.1:"+port, false)
	if t.Failed() {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Logf("nginx error log:\n%s", log)
	}
}

// proxyAnswer is what a client got through the proxy.
type proxyAnswer struct {
	status int
	header http.Header
	body   string
	code   string // the JSON body's "code"
}

// checkProxy sends a client's requests through the proxy at base and
// checks what the client and the service get. stripsAll says the recipe
// removes every X-Keygate-* header the client sent, not only the six
// Keygate sets.
func checkProxy(t *testing.T, f *recipeFixture, up *upstream, base string, stripsAll bool) {
	c := &http.Client{Timeout: 20 * time.Second}
	send := func(t *testing.T, method, key string, header ...string) proxyAnswer {
		t.Helper()
		req, err := http.NewRequest(method, base+"/reports?month=11", nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Token "+key)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		p := mustDo(t, c, req)
		a := proxyAnswer{status: p.StatusCode, header: p.Header, body: p.body}
		if p.body != "upstream" {
			var v struct{ Code string }
			if err := json.Unmarshal([]byte(p.body), &v); err != nil {
				t.Fatalf("%s through the proxy = %d with a body that is not Keygate's JSON: %q", method, p.StatusCode, p.body)
			}
			a.code = v.Code
		}
		return a
	}
	refused := func(t *testing.T, a proxyAnswer, status int, code string) {
		t.Helper()
		if a.status != status || a.code != code {
			t.Fatalf("got %d %q, want %d %q: %s", a.status, a.code, status, code, a.body)
		}
	}
	readID, read := f.newKey(t, "reader", "read", "")
	_, write := f.newKey(t, "writer", "write", "")

	t.Run("NoKey", func(t *testing.T) {
		before := up.count()
		refused(t, send(t, http.MethodGet, ""), http.StatusUnauthorized, "not_authenticated")
		if up.count() != before {
			t.Fatal("the service got a request without a key")
		}
	})
	t.Run("OK", func(t *testing.T) {
		a := send(t, http.MethodGet, read, "X-Keygate-Key-Id", "key_forged", "X-Keygate-Scopes", "admin")
		if a.status != http.StatusOK || a.body != "upstream" {
			t.Fatalf("GET with a read key = %d %q", a.status, a.body)
		}
		h := up.last()
		for name, want := range map[string]string{
			"X-Keygate-Key-Id": readID, "X-Keygate-Key-Name": "reader", "X-Keygate-Organization": f.org,
			"X-Keygate-Environment": "production", "X-Keygate-Scopes": "read",
		} {
			if got := h.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("the service saw %s: %q, want only %q", name, got, want)
			}
		}
	})
	t.Run("ClientHeadersDropped", func(t *testing.T) {
		// A request Keygate refuses never gets through; one it lets through
		// carries Keygate's headers only, never the client's.
		before := up.count()
		send(t, http.MethodGet, "", "X-Keygate-Key-Id", "key_forged")
		if up.count() != before {
			t.Fatal("the service got a refused request")
		}
		send(t, http.MethodGet, write, "X-Keygate-Key-Id", "key_forged", "X-Keygate-Permissions", "billing", "X-Keygate-Plan", "enterprise")
		h := up.last()
		if got := h.Get("X-Keygate-Plan"); stripsAll && got != "" {
			t.Errorf("the service saw the client's X-Keygate-Plan: %q", got)
		}
		if got := h.Values("X-Keygate-Key-Id"); len(got) != 1 || got[0] == "key_forged" {
			t.Fatalf("the service saw X-Keygate-Key-Id: %q", got)
		}
		if got := h.Get("X-Keygate-Permissions"); got == "billing" {
			t.Fatalf("the service saw the client's X-Keygate-Permissions: %q", got)
		}
	})
	t.Run("ErrInsufficientScope", func(t *testing.T) {
		refused(t, send(t, http.MethodPost, read), http.StatusForbidden, "insufficient_scope")
		if a := send(t, http.MethodPost, write); a.status != http.StatusOK {
			t.Fatalf("POST with a write key = %d %s", a.status, a.body)
		}
	})
	t.Run("ErrRevoked", func(t *testing.T) {
		id, key := f.newKey(t, "soon revoked", "read", "")
		if a := send(t, http.MethodGet, key); a.status != http.StatusOK {
			t.Fatalf("GET before the revocation = %d %s", a.status, a.body)
		}
		f.revoke(t, id)
		refused(t, send(t, http.MethodGet, key), http.StatusUnauthorized, "token_revoked")
	})
	t.Run("ErrIPNotAllowed", func(t *testing.T) {
		_, elsewhere := f.newKey(t, "office only", "read", "", "192.0.2.0/24")
		refused(t, send(t, http.MethodGet, elsewhere), http.StatusForbidden, "ip_not_allowed")
		_, here := f.newKey(t, "loopback only", "read", "", "127.0.0.1/32")
		if a := send(t, http.MethodGet, here); a.status != http.StatusOK {
			t.Fatalf("GET from an allowed address = %d %s", a.status, a.body)
		}
	})
	t.Run("ErrThrottled", func(t *testing.T) {
		_, key := f.newKey(t, "limited", "read", "2/m")
		for i := range 2 {
			if a := send(t, http.MethodGet, key); a.status != http.StatusOK {
				t.Fatalf("request %d within the limit = %d %s", i+1, a.status, a.body)
			}
		}
		a := send(t, http.MethodGet, key)
		refused(t, a, http.StatusTooManyRequests, "throttled")
		if a.header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After: %v", a.header)
		}
	})
}
