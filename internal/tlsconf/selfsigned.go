package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/atomicfile"
)

// Self-signed certificate parameters.
const (
	// SelfSignedCommonName is the subject CN of generated certificates.
	SelfSignedCommonName = "Keygate self-signed"
	// SelfSignedCertName is the certificate file name under <DataDir>/tls.
	SelfSignedCertName = "selfsigned-cert.pem"
	// SelfSignedKeyName is the PKCS#8 key file name under <DataDir>/tls.
	SelfSignedKeyName = "selfsigned-key.pem"

	selfSignedValidity = 365 * 24 * time.Hour
	renewBefore        = 30 * 24 * time.Hour
)

// sanSet is the set of subject alternative names a certificate must cover.
type sanSet struct {
	dns []string
	ips []net.IP
}

// requiredSANs returns localhost, 127.0.0.1, ::1 and the host of baseURL.
func requiredSANs(baseURL string) (sanSet, error) {
	s := sanSet{dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}}
	baseURL = strings.TrimSpace(baseURL)
	if baseURL == "" {
		return s, nil
	}
	if !strings.Contains(baseURL, "://") {
		baseURL = "https://" + baseURL
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return s, fmt.Errorf("tlsconf: parse base URL: %w", err)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return s, nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		ip := net.IP(addr.WithZone("").Unmap().AsSlice())
		if !slices.ContainsFunc(s.ips, ip.Equal) {
			s.ips = append(s.ips, ip)
		}
	} else if !slices.Contains(s.dns, host) {
		s.dns = append(s.dns, host)
	}
	return s, nil
}

// covers reports whether leaf lists every name in s.
func (s sanSet) covers(leaf *x509.Certificate) bool {
	for _, name := range s.dns {
		if !slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return strings.EqualFold(n, name) }) {
			return false
		}
	}
	for _, ip := range s.ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func loadSelfSigned(dataDir, baseURL string) (*Result, error) {
	if dataDir == "" {
		return nil, errors.New("tlsconf: data directory is required for a self-signed certificate")
	}
	sans, err := requiredSANs(baseURL)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(dataDir, "tls")
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	certPath := filepath.Join(dir, SelfSignedCertName)
	keyPath := filepath.Join(dir, SelfSignedKeyName)

	cert, ok := reusable(certPath, keyPath, sans, time.Now())
	if !ok {
		cert, err = generate(certPath, keyPath, sans, time.Now())
		if err != nil {
			return nil, err
		}
	}
	return &Result{
		Config:      serverConfig(cert),
		Mode:        ModeSelfSigned,
		HTTPHandler: identity,
		CertFile:    absPath(certPath),
	}, nil
}

// reusable loads an existing pair and reports whether it is still usable:
// it parses, is valid now, does not expire within renewBefore and covers sans.
func reusable(certPath, keyPath string, sans sanSet, now time.Time) (tls.Certificate, bool) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil || cert.Leaf == nil {
		return tls.Certificate{}, false
	}
	leaf := cert.Leaf
	if now.Before(leaf.NotBefore) || now.Add(renewBefore).After(leaf.NotAfter) || !sans.covers(leaf) {
		return tls.Certificate{}, false
	}
	return cert, true
}

// generate creates a new self-signed certificate for sans, writes it and its
// key atomically with mode 0600, and returns the loaded pair.
func generate(certPath, keyPath string, sans sanSet, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: generate serial: %w", err)
	}
	serial.Add(serial, big.NewInt(1)) // serials must be positive
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: SelfSignedCommonName},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              sans.dns,
		IPAddresses:           sans.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: marshal key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: load generated certificate: %w", err)
	}
	return cert, nil
}

// writeFileAtomic writes data to path with mode 0600 so that a crash
// leaves the old file or the new one, never a partial one.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	return nil
}
