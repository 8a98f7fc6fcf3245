package tlsconf_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/tlsconf"
)

// TestTLS12CipherSuites: in every mode, TLS 1.2 offers only suites with
// forward secrecy (ECDHE) and authenticated encryption (AES-GCM or
// ChaCha20-Poly1305): no CBC, no SHA-1, no RSA key exchange.
func TestTLS12CipherSuites(t *testing.T) {
	modes := []struct {
		name string
		opts func(t *testing.T) tlsconf.Options
	}{
		{"SelfSigned", func(t *testing.T) tlsconf.Options { return tlsconf.Options{DataDir: t.TempDir()} }},
		{"FilesECDSA", func(t *testing.T) tlsconf.Options {
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
			writePair(t, certPath, keyPath, time.Now().Add(24*time.Hour))
			return tlsconf.Options{DataDir: dir, CertFile: certPath, KeyFile: keyPath}
		}},
		{"FilesRSA", func(t *testing.T) tlsconf.Options {
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
			writeRSAPair(t, certPath, keyPath)
			return tlsconf.Options{DataDir: dir, CertFile: certPath, KeyFile: keyPath}
		}},
		{"ACME", func(t *testing.T) tlsconf.Options {
			return tlsconf.Options{DataDir: t.TempDir(), ACMEDomains: []string{"keys.example.com"}}
		}},
	}
	for _, m := range modes {
		t.Run(m.name+"/OKOnlyAEADWithForwardSecrecy", func(t *testing.T) {
			res := mustLoad(t, m.opts(t))
			if len(res.Config.CipherSuites) == 0 {
				t.Fatal("CipherSuites unset: Go's defaults include CBC suites")
			}
			for _, id := range res.Config.CipherSuites {
				name := tls.CipherSuiteName(id)
				if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
					t.Errorf("suite %s offered", name)
				}
			}
		})
	}

	handshakes := []struct {
		name    string
		mode    int // index in modes
		suites  []uint16
		max     uint16
		wantErr bool
	}{
		{"SelfSigned/ErrCBC", 0, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, tls.VersionTLS12, true},
		{"SelfSigned/ErrCBC256", 0, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, tls.VersionTLS12, true},
		{"SelfSigned/OKAESGCM", 0, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, tls.VersionTLS12, false},
		{"SelfSigned/OKChaCha20", 0, []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, tls.VersionTLS12, false},
		{"SelfSigned/OKTLS13", 0, nil, tls.VersionTLS13, false},
		{"FilesRSA/ErrCBC", 2, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, tls.VersionTLS12, true},
		{"FilesRSA/ErrRSAKeyExchange", 2, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, tls.VersionTLS12, true},
		{"FilesRSA/OKAESGCM", 2, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}, tls.VersionTLS12, false},
	}
	for _, h := range handshakes {
		t.Run(h.name, func(t *testing.T) {
			res := mustLoad(t, modes[h.mode].opts(t))
			addr := serveTLS(t, res.Config)
			conn, err := tls.Dial("tcp", addr, &tls.Config{
				InsecureSkipVerify: true, // the suite is under test, not the certificate
				MinVersion:         tls.VersionTLS12, MaxVersion: h.max, CipherSuites: h.suites,
			})
			if h.wantErr {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded, want it refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if got, want := conn.ConnectionState().Version, h.max; got != want {
				t.Fatalf("version = %x, want %x", got, want)
			}
		})
	}
}

// serveTLS accepts connections with cfg until the test ends and returns
// the address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
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
	return ln.Addr().String()
}

// writeRSAPair writes a self-signed RSA pair for localhost.
func writeRSAPair(t *testing.T, certPath, keyPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
}
