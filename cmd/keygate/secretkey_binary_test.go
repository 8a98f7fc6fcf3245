package main_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeBinarySecretKey starts the real binary: the first start creates
// an owner-only secret.key, a second start keeps it, and a wrong key stops
// the start with the clear error and leaves the key file alone.
func TestServeBinarySecretKey(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	keyFile := filepath.Join(dataDir, "secret.key")

	srv := mustStart(t, bin, dataDir)
	srv.mustStop(t)
	mustBeOwnerOnly(t, keyFile)
	first, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.log.find("generated the secret key of stored credentials"); !ok {
		t.Errorf("first start did not say it generated the key:\n%s", srv.log)
	}
	if strings.Contains(srv.log.String(), strings.TrimSpace(string(first))) {
		t.Fatal("the key was logged")
	}

	srv = mustStart(t, bin, dataDir)
	srv.mustStop(t)
	if again, _ := os.ReadFile(keyFile); !bytes.Equal(again, first) {
		t.Fatal("second start replaced secret.key")
	}
	if _, ok := srv.log.find("generated the secret key"); ok {
		t.Fatal("second start generated a key")
	}

	t.Run("ErrWrongKey", func(t *testing.T) {
		wrong := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		out := mustRefuseStart(t, bin, dataDir, []string{"KEYGATE_SECRET_KEY=" + wrong},
			"keygate: the secret key does not match the one this database's credentials were encrypted with: restore "+keyFile+" or pass the right --secret-key")
		if strings.Contains(out, wrong) {
			t.Fatalf("output %q shows the key", out)
		}
		if after, _ := os.ReadFile(keyFile); !bytes.Equal(after, first) {
			t.Fatal("a refused start changed secret.key")
		}
	})
}
