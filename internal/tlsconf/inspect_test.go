package tlsconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/tlsconf"
)

// opensslFingerprint returns what `openssl x509 -fingerprint -sha256`
// prints for the certificate in path, or "" without openssl.
func opensslFingerprint(t *testing.T, path string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		return ""
	}
	out, err := exec.Command("openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path).Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	_, fp, ok := strings.Cut(strings.TrimSpace(string(out)), "=")
	if !ok {
		t.Fatalf("openssl printed %q", out)
	}
	return fp
}

var fingerprintRE = regexp.MustCompile(`^[0-9A-F]{2}(:[0-9A-F]{2}){31}$`)

func TestInspect(t *testing.T) {
	t.Run("OKSelfSigned", func(t *testing.T) {
		dir := t.TempDir()
		res := mustLoad(t, tlsconf.Options{DataDir: dir})
		mode, certs, err := tlsconf.Inspect(tlsconf.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if mode != tlsconf.ModeSelfSigned || len(certs) != 1 {
			t.Fatalf("mode %q, %d certificates", mode, len(certs))
		}
		c, leaf := certs[0], readCert(t, res.CertFile)
		if c.Path != res.CertFile || !filepath.IsAbs(c.Path) {
			t.Errorf("Path = %q, want %q", c.Path, res.CertFile)
		}
		if !fingerprintRE.MatchString(c.Fingerprint) {
			t.Errorf("Fingerprint = %q, want colon-separated upper-case hex", c.Fingerprint)
		}
		if want := opensslFingerprint(t, c.Path); want != "" && c.Fingerprint != want {
			t.Errorf("Fingerprint = %q, openssl says %q", c.Fingerprint, want)
		}
		if got, want := c.Names, []string{"localhost", "127.0.0.1", "::1"}; !slices.Equal(got, want) {
			t.Errorf("Names = %q, want %q", got, want)
		}
		if !c.NotAfter.Equal(leaf.NotAfter) {
			t.Errorf("NotAfter = %v, want %v", c.NotAfter, leaf.NotAfter)
		}
	})

	t.Run("OKRelativeDataDirShownAbsolute", func(t *testing.T) {
		t.Chdir(t.TempDir())
		res := mustLoad(t, tlsconf.Options{DataDir: "data"})
		wd, _ := os.Getwd()
		want := filepath.Join(wd, "data", "tls", tlsconf.SelfSignedCertName)
		if res.CertFile != want {
			t.Fatalf("Load: CertFile = %q, want %q", res.CertFile, want)
		}
		if _, certs, err := tlsconf.Inspect(tlsconf.Options{DataDir: "data"}); err != nil || certs[0].Path != want {
			t.Fatalf("Inspect: %v, %v; want %q", certs, err, want)
		}
	})

	t.Run("ErrNoSelfSignedYet", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		_, _, err := tlsconf.Inspect(tlsconf.Options{DataDir: dir})
		want := "no self-signed certificate yet: keygate serve creates " + filepath.Join(dir, "tls", tlsconf.SelfSignedCertName) + " at its first start"
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v, want %q", err, want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal("Inspect created the data directory")
		}
	})

	t.Run("OKFiles", func(t *testing.T) {
		dir := t.TempDir()
		certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		leaf := writePair(t, certPath, keyPath, time.Now().Add(48*time.Hour))
		mode, certs, err := tlsconf.Inspect(tlsconf.Options{DataDir: dir, CertFile: certPath, KeyFile: keyPath})
		if err != nil {
			t.Fatal(err)
		}
		if mode != tlsconf.ModeFiles || len(certs) != 1 || certs[0].Path != certPath {
			t.Fatalf("mode %q, certificates %+v", mode, certs)
		}
		if got, want := certs[0].Fingerprint, tlsconf.Fingerprint(leaf.Raw); got != want {
			t.Errorf("Fingerprint = %q, want %q", got, want)
		}
		if !certs[0].NotAfter.Equal(leaf.NotAfter) {
			t.Errorf("NotAfter = %v, want %v", certs[0].NotAfter, leaf.NotAfter)
		}
	})

	t.Run("OKACME", func(t *testing.T) {
		dir := t.TempDir()
		mustLoad(t, tlsconf.Options{DataDir: dir, ACMEDomains: []string{"keys.example.com,new.example.com"}})
		// autocert caches a domain's key, then its chain, in one file.
		certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		leaf := writePair(t, certPath, keyPath, time.Now().Add(60*24*time.Hour))
		keyPEM, _ := os.ReadFile(keyPath)
		certPEM, _ := os.ReadFile(certPath)
		cached := filepath.Join(dir, "acme", "keys.example.com")
		if err := os.WriteFile(cached, append(keyPEM, certPEM...), 0o600); err != nil {
			t.Fatal(err)
		}
		mode, certs, err := tlsconf.Inspect(tlsconf.Options{DataDir: dir, ACMEDomains: []string{"keys.example.com, new.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if mode != tlsconf.ModeACME || len(certs) != 2 {
			t.Fatalf("mode %q, certificates %+v", mode, certs)
		}
		got := certs[0]
		if got.Domain != "keys.example.com" || got.Missing || got.Path != cached || got.Fingerprint != tlsconf.Fingerprint(leaf.Raw) {
			t.Errorf("cached certificate = %+v", got)
		}
		if got := certs[1]; got.Domain != "new.example.com" || !got.Missing || got.Fingerprint != "" {
			t.Errorf("certificate not obtained yet = %+v", got)
		}
	})

	t.Run("ErrNoCertificateInFile", func(t *testing.T) {
		dir := t.TempDir()
		keyPath := filepath.Join(dir, "k.pem")
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := tlsconf.Inspect(tlsconf.Options{CertFile: keyPath, KeyFile: keyPath})
		if err == nil || !strings.Contains(err.Error(), "no certificate in "+keyPath) {
			t.Fatalf("error = %v", err)
		}
	})
}
