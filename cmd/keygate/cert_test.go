package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/tlsconf"
)

// certFields reads cert's output, one "Label: value" a line, blocks
// separated by blank lines.
func certFields(out string) []map[string]string {
	var blocks []map[string]string
	for _, block := range strings.Split(strings.TrimSpace(out), "\n\n") {
		m := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				m[k] = strings.TrimSpace(v)
			}
		}
		blocks = append(blocks, m)
	}
	return blocks
}

func TestRunCert(t *testing.T) {
	t.Run("OKSelfSigned", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		res, err := tlsconf.Load(tlsconf.Options{DataDir: dataDir})
		if err != nil {
			t.Fatal(err)
		}
		r := runCmd(t, "", "cert", "--data-dir", dataDir).mustCode(t, 0)
		blocks := certFields(r.stdout)
		if len(blocks) != 1 {
			t.Fatalf("cert printed %d blocks:\n%s", len(blocks), r.stdout)
		}
		got := blocks[0]
		leaf := res.Config.Certificates[0].Leaf
		want := map[string]string{
			"TLS":                 "self-signed",
			"Path":                filepath.Join(dataDir, "tls", "selfsigned-cert.pem"),
			"SHA-256 fingerprint": tlsconf.Fingerprint(leaf.Raw),
			"Names":               "localhost, 127.0.0.1, ::1",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		if openssl, err := exec.LookPath("openssl"); err == nil {
			out, err := exec.Command(openssl, "x509", "-noout", "-fingerprint", "-sha256", "-in", got["Path"]).Output()
			if err != nil {
				t.Fatal(err)
			}
			if _, fp, _ := strings.Cut(strings.TrimSpace(string(out)), "="); fp != got["SHA-256 fingerprint"] {
				t.Errorf("fingerprint %q, openssl says %q", got["SHA-256 fingerprint"], fp)
			}
		}
		expires := leaf.NotAfter.UTC().Format(time.RFC3339)
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(expires) + ` \(in 36[45] days\)$`).MatchString(got["Expires"]) {
			t.Errorf("Expires = %q, want %s (in 365 days)", got["Expires"], expires)
		}
	})

	t.Run("OKEnvironment", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		if _, err := tlsconf.Load(tlsconf.Options{DataDir: dataDir}); err != nil {
			t.Fatal(err)
		}
		t.Setenv("KEYGATE_DATA_DIR", dataDir)
		r := runCmd(t, "", "cert").mustCode(t, 0)
		if got, want := certFields(r.stdout)[0]["Path"], filepath.Join(dataDir, "tls", "selfsigned-cert.pem"); got != want {
			t.Fatalf("Path = %q, want %q", got, want)
		}
	})

	t.Run("ErrNoCertificateYet", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		r := runCmd(t, "", "cert", "--data-dir", dataDir).mustCode(t, 1)
		want := "keygate: no self-signed certificate yet: keygate serve creates " + filepath.Join(dataDir, "tls", "selfsigned-cert.pem") + " at its first start\n"
		if r.stderr != want {
			t.Fatalf("stderr = %q, want %q", r.stderr, want)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Fatal("cert created the data directory")
		}
	})

	t.Run("OKFiles", func(t *testing.T) {
		// Any PEM pair will do: the self-signed one, copied elsewhere.
		src, err := tlsconf.Load(tlsconf.Options{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		r := runCmd(t, "", "cert", "--data-dir", t.TempDir(), "--tls-cert", src.CertFile, "--tls-key", filepath.Join(filepath.Dir(src.CertFile), tlsconf.SelfSignedKeyName)).mustCode(t, 0)
		got := certFields(r.stdout)[0]
		if got["TLS"] != "files" || got["Path"] != src.CertFile || got["SHA-256 fingerprint"] != tlsconf.Fingerprint(src.Config.Certificates[0].Leaf.Raw) {
			t.Fatalf("cert printed:\n%s", r.stdout)
		}
	})

	t.Run("OKACMENotObtainedYet", func(t *testing.T) {
		dataDir := t.TempDir()
		r := runCmd(t, "", "cert", "--data-dir", dataDir, "--acme-domain", "keys.example.com").mustCode(t, 0)
		got := certFields(r.stdout)[0]
		if got["TLS"] != "acme" || got["Domain"] != "keys.example.com" || got["Path"] != filepath.Join(dataDir, "acme", "keys.example.com") ||
			!strings.HasPrefix(got["Certificate"], "not obtained yet") {
			t.Fatalf("cert printed:\n%s", r.stdout)
		}
	})

	t.Run("OKHelp", func(t *testing.T) {
		r := runCmd(t, "", "cert", "--help").mustCode(t, 0)
		for _, want := range []string{"keygate cert", "-data-dir", "-tls-cert", "-acme-domain"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("help lacks %q:\n%s", want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "-signup") {
			t.Errorf("help lists the server's flags:\n%s", r.stderr)
		}
	})

	t.Run("ErrArguments", func(t *testing.T) {
		runCmd(t, "", "cert", "--data-dir", t.TempDir(), "extra").mustCode(t, 1)
	})
}

func TestPrintCertsExpiry(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		notAfter time.Time
		want     string
	}{
		{"OKDays", now.Add(364*24*time.Hour + time.Hour), "2027-12-02T11:00:00Z (in 364 days)"},
		{"OKOneDay", now.Add(30 * time.Hour), "2026-12-04T16:00:00Z (in 1 day)"},
		{"OKExpired", now.Add(-49 * time.Hour), "2026-12-01T09:00:00Z (expired 2 days ago)"},
		{"OKExpiredToday", now.Add(-time.Hour), "2026-12-03T09:00:00Z (expired today)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printCerts(&b, "files", []tlsconf.Certificate{{Path: "/c.pem", NotAfter: tt.notAfter}}, now)
			if got := certFields(b.String())[0]["Expires"]; got != tt.want {
				t.Fatalf("Expires = %q, want %q", got, tt.want)
			}
		})
	}
}
