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

	"github.com/keygate/keygate/internal/testenv"
)

// startApp starts the README's example app, run by cmd, on a free port,
// with Keygate's address and the runtimes' ways to trust its certificate,
// and returns its URL.
func startApp(t *testing.T, f *recipeFixture, cmd *exec.Cmd, env ...string) string {
	t.Helper()
	addr := "127.0.0.1:" + freePort(t)
	cmd.Env = append(childEnv(), append(env,
		"PORT="+strings.TrimPrefix(addr, "127.0.0.1:"),
		"KEYGATE_URL=https://"+f.s.httpsAddr,
		"SSL_CERT_FILE="+f.cert,
		"NODE_EXTRA_CA_CERTS="+f.cert,
	)...)
	startProcess(t, cmd, addr)
	return "http://" + addr
}

// writeBlock writes a README block to name in a new directory.
func writeBlock(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGoMiddlewareRecipe builds the README's Go middleware, a program of
// the standard library only, and checks it against the real binary.
func TestGoMiddlewareRecipe(t *testing.T) {
	t.Parallel()
	main := writeBlock(t, "main.go", readmeBlock(t, "### Go (net/http)", "go", 0))
	dir := filepath.Dir(main)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", "app", ".")
	build.Dir, build.Env = dir, append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the README's middleware: %v\n%s", err, out)
	}
	f := mustRecipeFixture(t)
	checkApp(t, f, startApp(t, f, exec.Command(filepath.Join(dir, "app"))))
}

// TestPythonDependencyRecipe runs the README's FastAPI dependency with
// python3, FastAPI itself played by a test double (testdata/fastapi).
func TestPythonDependencyRecipe(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		testenv.SkipUnlessCI(t, "python3 is not installed: the README's FastAPI dependency is not checked")
	}
	app := writeBlock(t, "app.py", readmeBlock(t, "### Python (FastAPI)", "python", 0))
	double, err := filepath.Abs(filepath.Join("testdata", "fastapi"))
	if err != nil {
		t.Fatal(err)
	}
	f := mustRecipeFixture(t)
	cmd := exec.Command(python, filepath.Join(double, "serve.py"), app)
	checkApp(t, f, startApp(t, f, cmd, "PYTHONPATH="+double, "PYTHONDONTWRITEBYTECODE=1"))
}

// TestExpressMiddlewareRecipe runs the README's Express middleware with
// node and the Express that scripts/test installs (testdata/express).
func TestExpressMiddlewareRecipe(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.SkipUnlessCI(t, "node is not installed: the README's Express middleware is not checked")
	}
	modules, err := filepath.Abs(filepath.Join("testdata", "express", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "express")); err != nil {
		testenv.SkipUnlessCI(t, "Express is not installed: ./scripts/test runs npm ci --prefix cmd/keygate/testdata/express")
	}
	app := writeBlock(t, "app.js", readmeBlock(t, "### Node.js (Express)", "js", 0))
	f := mustRecipeFixture(t)
	checkApp(t, f, startApp(t, f, exec.Command(node, app), "NODE_PATH="+modules))
}

// checkApp calls the example app at base, whose GET /reports needs the
// read scope and POST /reports write, with keys Keygate accepts or not.
func checkApp(t *testing.T, f *recipeFixture, base string) {
	c := &http.Client{Timeout: 20 * time.Second}
	send := func(t *testing.T, method, key string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, base+"/reports", nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		p := mustDo(t, c, req)
		var v map[string]any
		if err := json.Unmarshal([]byte(p.body), &v); err != nil {
			t.Fatalf("%s /reports = %d, not JSON: %q", method, p.StatusCode, p.body)
		}
		// FastAPI puts an HTTPException's detail under "detail".
		if d, ok := v["detail"].(map[string]any); ok {
			v = d
		}
		return p.StatusCode, v
	}
	refused := func(t *testing.T, method, key string, status int, code string) {
		t.Helper()
		if got, v := send(t, method, key); got != status || v["code"] != code {
			t.Fatalf("%s = %d %v, want %d %q", method, got, v, status, code)
		}
	}
	ok := func(t *testing.T, method, key string) {
		t.Helper()
		if got, v := send(t, method, key); got != http.StatusOK || v["organization"] != f.org {
			t.Fatalf("%s = %d %v, want 200 with organization %s", method, got, v, f.org)
		}
	}
	_, read := f.newKey(t, "reader", "read", "")
	_, write := f.newKey(t, "writer", "write", "")
	t.Run("ErrNoKey", func(t *testing.T) { refused(t, http.MethodGet, "", http.StatusUnauthorized, "not_authenticated") })
	t.Run("ErrInvalidKey", func(t *testing.T) {
		refused(t, http.MethodGet, "kg_"+strings.Repeat("x", 38), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("OK", func(t *testing.T) {
		ok(t, http.MethodGet, read)
		ok(t, http.MethodPost, write)
	})
	t.Run("ErrInsufficientScope", func(t *testing.T) {
		refused(t, http.MethodPost, read, http.StatusForbidden, "insufficient_scope")
	})
	t.Run("ErrRevoked", func(t *testing.T) {
		id, key := f.newKey(t, "soon revoked", "read", "")
		ok(t, http.MethodGet, key)
		f.revoke(t, id)
		refused(t, http.MethodGet, key, http.StatusUnauthorized, "token_revoked")
	})
	t.Run("ErrIPNotAllowed", func(t *testing.T) {
		// The address Keygate checks is the service's, which asks it.
		_, key := f.newKey(t, "office only", "read", "", "192.0.2.0/24")
		refused(t, http.MethodGet, key, http.StatusForbidden, "ip_not_allowed")
	})
	t.Run("ErrThrottled", func(t *testing.T) {
		_, key := f.newKey(t, "limited", "read", "2/m")
		ok(t, http.MethodGet, key)
		ok(t, http.MethodGet, key)
		refused(t, http.MethodGet, key, http.StatusTooManyRequests, "rate_limited")
	})
}
