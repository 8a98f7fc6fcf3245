package main_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryReplicaKeys starts serve on PostgreSQL without a secret key,
// from which replicas derive their session key: it refuses, says why, and
// writes no key file. (TestBinaryReplicas uses a session on two replicas.)
func TestBinaryReplicaKeys(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dbURL := mustCreatePGDatabase(t)

	t.Run("ErrNoSecretKey", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		out, code := runBinary(t, bin, []string{"KEYGATE_DATABASE=" + dbURL},
			"serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--http-addr", "")
		want := "keygate: --database is PostgreSQL, so --secret-key (or KEYGATE_SECRET_KEY) is required"
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, output %q; want 1 and %q", code, out, want)
		}
		for _, name := range []string{"secret.key", "session.key"} {
			if _, err := os.Stat(filepath.Join(dataDir, name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused start left %s (%v)", name, err)
			}
		}
	})
}
