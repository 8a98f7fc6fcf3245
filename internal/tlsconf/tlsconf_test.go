package tlsconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/tlsconf"
)

func mustLoad(t *testing.T, o tlsconf.Options) *tlsconf.Result {
	t.Helper()
	res, err := tlsconf.Load(o)
	if err != nil {
		t.Fatalf("Load(%+v): %v", o, err)
	}
	if res.Config == nil || res.Config.MinVersion != tls.VersionTLS12 {
		t.Fatalf("Config must be non-nil with MinVersion TLS 1.2, got %+v", res.Config)
	}
	return res
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func hasIP(c *x509.Certificate, s string) bool {
	return slices.ContainsFunc(c.IPAddresses, net.ParseIP(s).Equal)
}

func TestSelfSignedGeneratesFiles(t *testing.T) {
	dir := t.TempDir()
	res := mustLoad(t, tlsconf.Options{DataDir: dir, BaseURL: "https://keygate.example.com:8443"})
	if res.Mode != "self-signed" {
		t.Fatalf("Mode = %q, want self-signed", res.Mode)
	}
	certPath := filepath.Join(dir, "tls", "selfsigned-cert.pem")
	keyPath := filepath.Join(dir, "tls", "selfsigned-key.pem")
	if res.CertFile != certPath {
		t.Fatalf("CertFile = %q, want %q", res.CertFile, certPath)
	}
	for _, p := range []string{certPath, keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %o, want 600", p, perm)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "tls")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("tls dir: %v, mode %v; want 0700", err, fi.Mode())
	}

	c := readCert(t, certPath)
	for _, name := range []string{"localhost", "keygate.example.com"} {
		if !slices.Contains(c.DNSNames, name) {
			t.Errorf("DNSNames %v missing %q", c.DNSNames, name)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if !hasIP(c, ip) {
			t.Errorf("IPAddresses %v missing %s", c.IPAddresses, ip)
		}
	}
	if c.Subject.CommonName != "Keygate self-signed" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("KeyUsage = %v, ExtKeyUsage = %v", c.KeyUsage, c.ExtKeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key is %T, want ECDSA P-256", c.PublicKey)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 129 {
		t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
	}
	if d := time.Until(c.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("NotAfter %v is not about one year away", c.NotAfter)
	}

	keyPEM, _ := os.ReadFile(keyPath)
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("key file is not a PKCS#8 PRIVATE KEY PEM block")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatalf("parse PKCS#8 key: %v", err)
	}
}

func TestSelfSignedIPBaseURL(t *testing.T) {
	for base, ip := range map[string]string{
		"https://192.0.2.10:8443": "192.0.2.10",
		"https://[2001:db8::5]/":  "2001:db8::5",
	} {
		res := mustLoad(t, tlsconf.Options{DataDir: t.TempDir(), BaseURL: base})
		c := readCert(t, res.CertFile)
		if !hasIP(c, ip) {
			t.Errorf("%s: IPAddresses %v missing %s", base, c.IPAddresses, ip)
		}
		if !slices.Equal(c.DNSNames, []string{"localhost"}) {
			t.Errorf("%s: DNSNames = %v, want only localhost", base, c.DNSNames)
		}
	}
}

func TestSelfSignedReuseAndRegenerate(t *testing.T) {
	dir := t.TempDir()
	serial := func(o tlsconf.Options) *big.Int {
		return readCert(t, mustLoad(t, o).CertFile).SerialNumber
	}
	a := tlsconf.Options{DataDir: dir, BaseURL: "https://a.example.com"}
	first := serial(a)
	if again := serial(a); again.Cmp(first) != 0 {
		t.Fatalf("second Load regenerated: serial %v != %v", again, first)
	}
	b := tlsconf.Options{DataDir: dir, BaseURL: "https://b.example.com"}
	third := serial(b)
	if third.Cmp(first) == 0 {
		t.Fatal("certificate not regenerated for new base URL host")
	}
	if c := readCert(t, filepath.Join(dir, "tls", "selfsigned-cert.pem")); !slices.Contains(c.DNSNames, "b.example.com") {
		t.Fatalf("regenerated DNSNames %v missing b.example.com", c.DNSNames)
	}
	// Dropping the base URL leaves the existing cert a superset: reuse it.
	if s := serial(tlsconf.Options{DataDir: dir}); s.Cmp(third) != 0 {
		t.Fatal("certificate covering all required SANs was not reused")
	}
}

func TestSelfSignedRegeneratesExpiringCert(t *testing.T) {
	dir := t.TempDir()
	certPath := filepath.Join(dir, "tls", "selfsigned-cert.pem")
	keyPath := filepath.Join(dir, "tls", "selfsigned-key.pem")
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		t.Fatal(err)
	}
	old := writePair(t, certPath, keyPath, time.Now().Add(10*24*time.Hour))
	c := readCert(t, mustLoad(t, tlsconf.Options{DataDir: dir}).CertFile)
	if c.SerialNumber.Cmp(old.SerialNumber) == 0 || time.Until(c.NotAfter) < 300*24*time.Hour {
		t.Fatal("certificate expiring within 30 days was not regenerated")
	}
}

func TestSelfSignedHandshake(t *testing.T) {
	res := mustLoad(t, tlsconf.Options{DataDir: t.TempDir()})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", res.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()

	pool := x509.NewCertPool()
	pemData, err := os.ReadFile(res.CertFile)
	if err != nil || !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("load %s into pool: %v", res.CertFile, err)
	}
	dial := func(name string) error {
		d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: name}}
		conn, err := d.Dial("tcp", ln.Addr().String())
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial("localhost"); err != nil {
		t.Fatalf("handshake for localhost: %v", err)
	}
	if err := dial("not-in-cert.example"); err == nil {
		t.Fatal("handshake for a name not in the certificate unexpectedly succeeded")
	}
	// Outside ACME mode the plain-HTTP wrapper is the identity.
	rec := httptest.NewRecorder()
	res.HTTPHandler(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/.well-known/acme-challenge/x", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d; non-ACME HTTPHandler must pass requests through", rec.Code)
	}
}

// writePair writes a self-signed ECDSA pair valid until notAfter.
func writePair(t *testing.T, certPath, keyPath string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func TestFilesMode(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	want := writePair(t, certPath, keyPath, time.Now().Add(24*time.Hour))

	res := mustLoad(t, tlsconf.Options{DataDir: dir, CertFile: certPath, KeyFile: keyPath})
	if res.Mode != "files" || res.CertFile != certPath {
		t.Fatalf("Mode = %q, CertFile = %q", res.Mode, res.CertFile)
	}
	if len(res.Config.Certificates) != 1 || res.Config.Certificates[0].Leaf.SerialNumber.Cmp(want.SerialNumber) != 0 {
		t.Fatal("Config does not carry the certificate from --tls-cert")
	}
	if _, err := os.Stat(filepath.Join(dir, "tls")); !os.IsNotExist(err) {
		t.Error("files mode must not generate a self-signed certificate")
	}

	missing := filepath.Join(dir, "missing.pem")
	for _, o := range []tlsconf.Options{
		{CertFile: missing, KeyFile: keyPath},
		{CertFile: certPath, KeyFile: missing},
	} {
		_, err := tlsconf.Load(o)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Load(%+v) error = %v; want not-exist error naming %s", o, err, missing)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []tlsconf.Options{
		{DataDir: dir, CertFile: "cert.pem"},
		{DataDir: dir, KeyFile: "key.pem"},
	} {
		_, err := tlsconf.Load(o)
		if err == nil || !strings.Contains(err.Error(), "both --tls-cert and --tls-key are required") {
			t.Errorf("Load(%+v) error = %v", o, err)
		}
	}
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, certPath, keyPath, time.Now().Add(24*time.Hour))
	o := tlsconf.Options{DataDir: dir, CertFile: certPath, KeyFile: keyPath, ACMEDomains: []string{"x.example"}}
	if _, err := tlsconf.Load(o); err == nil || !strings.Contains(err.Error(), "--acme-domain") {
		t.Errorf("files plus ACME: error = %v, want a mutual-exclusion error", err)
	}
}

func TestACMEMode(t *testing.T) {
	dir := t.TempDir()
	res := mustLoad(t, tlsconf.Options{
		DataDir:     dir,
		ACMEDomains: []string{"keygate.example.com, other.example.com"},
		ACMEEmail:   "ops@example.com",
	})
	if res.Mode != "acme" || res.CertFile != "" {
		t.Fatalf("Mode = %q, CertFile = %q", res.Mode, res.CertFile)
	}
	if !slices.Contains(res.Config.NextProtos, "acme-tls/1") || res.Config.GetCertificate == nil {
		t.Fatalf("NextProtos = %v, GetCertificate set = %v", res.Config.NextProtos, res.Config.GetCertificate != nil)
	}
	if fi, err := os.Stat(filepath.Join(dir, "acme")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("acme cache dir: %v", err)
	}
	// A host outside the whitelist is refused before any CA is contacted.
	if _, err := res.Config.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.example.net"}); err == nil {
		t.Error("GetCertificate accepted a host outside the whitelist")
	}

	h := res.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	cases := []struct {
		method, target string
		want           int
	}{
		{http.MethodPost, "http://keygate.example.com/api/v1/x", http.StatusTeapot},
		{http.MethodGet, "http://keygate.example.com/", http.StatusTeapot},
		{http.MethodGet, "http://other.example.com/.well-known/acme-challenge/tok", http.StatusNotFound},
		{http.MethodGet, "http://evil.example.net/.well-known/acme-challenge/tok", http.StatusForbidden},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.target, strings.NewReader("{}")))
		if rec.Code != c.want {
			t.Errorf("%s %s: status %d, want %d", c.method, c.target, rec.Code, c.want)
		}
	}
}
