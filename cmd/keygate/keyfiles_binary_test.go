package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeBinaryKeyFiles starts the real binary on key files that an
// interrupted first start left behind: empty ones are replaced and the
// server runs; a session.key of the wrong length stops the start with a
// message naming it.
func TestServeBinaryKeyFiles(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)

	t.Run("OKEmptyFilesReplaced", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		if err := os.MkdirAll(filepath.Join(dataDir, "tls"), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"session.key", "secret.key", "tls/selfsigned-cert.pem", "tls/selfsigned-key.pem"} {
			if err := os.WriteFile(filepath.Join(dataDir, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		srv := mustStart(t, bin, dataDir)
		srv.mustStop(t)
		if _, ok := srv.log.find("session.key was empty, so a new key was generated"); !ok {
			t.Errorf("log does not report the empty session.key:\n%s", srv.log)
		}
		if _, ok := srv.log.find("generated the secret key of stored credentials"); !ok {
			t.Errorf("log does not report the new secret key:\n%s", srv.log)
		}
		for name, min := range map[string]int64{"session.key": 64, "secret.key": 44, "tls/selfsigned-cert.pem": 100, "tls/selfsigned-key.pem": 100} {
			path := filepath.Join(dataDir, name)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() < min {
				t.Errorf("%s is %d bytes, want at least %d", name, fi.Size(), min)
			}
			mustBeOwnerOnly(t, path)
		}
		for _, dir := range []string{dataDir, filepath.Join(dataDir, "tls")} {
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left in %s", e.Name(), dir)
				}
			}
		}
	})

	t.Run("ErrTruncatedSessionKey", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		srv := mustStart(t, bin, dataDir)
		srv.mustStop(t)
		path := filepath.Join(dataDir, "session.key")
		if err := os.Truncate(path, 10); err != nil {
			t.Fatal(err)
		}
		mustRefuseStart(t, bin, dataDir, nil, "keygate: key file "+path+" is 10 bytes, want 64: it is damaged; delete it to generate a new one (everyone will have to sign in again)")
		if fi, _ := os.Stat(path); fi == nil || fi.Size() != 10 {
			t.Fatal("the damaged session.key was changed")
		}
	})
}

// mustRefuseStart runs serve on dataDir with env (KEY=VALUE) added and
// expects it to exit with code 1, saying want and never running. It
// returns the output.
func mustRefuseStart(t *testing.T, bin, dataDir string, env []string, want string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--http-addr", "")
	cmd.Env = append(childEnv(), env...)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("exit code %d (err %v), want 1\n%s", code, err, out)
	}
	if !strings.Contains(string(out), want) {
		t.Fatalf("output %q lacks %q", out, want)
	}
	if strings.Contains(string(out), "Keygate is running") {
		t.Fatalf("it started: %s", out)
	}
	return string(out)
}
