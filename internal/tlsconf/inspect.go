package tlsconf

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Certificate describes one certificate Keygate serves, as read from its
// file.
type Certificate struct {
	// Path is the absolute path of the file that holds it.
	Path string
	// Domain is the name an ACME certificate was obtained for; "" in the
	// other modes.
	Domain string
	// Missing is set for an ACME domain whose certificate has not been
	// obtained yet; nothing else is then set but Path and Domain.
	Missing bool
	// Fingerprint is the SHA-256 of the certificate's DER encoding in
	// colon-separated upper-case hex, as `openssl x509 -fingerprint
	// -sha256` prints it.
	Fingerprint string
	// Names are the DNS names and IP addresses the certificate covers.
	Names []string
	// NotAfter is when it expires.
	NotAfter time.Time
}

// Inspect reads the certificates that Load would serve with o, and returns
// the mode with them. Unlike Load, it creates and changes nothing: with no
// self-signed certificate yet, it returns an error that says so.
func Inspect(o Options) (mode string, certs []Certificate, err error) {
	hasFiles := o.CertFile != "" || o.KeyFile != ""
	domains := splitDomains(o.ACMEDomains)
	switch {
	case hasFiles && len(domains) > 0:
		return "", nil, errors.New("tlsconf: --tls-cert/--tls-key and --acme-domain are mutually exclusive")
	case hasFiles:
		if o.CertFile == "" {
			return "", nil, errors.New("tlsconf: both --tls-cert and --tls-key are required")
		}
		c, err := readCertificate(o.CertFile)
		return ModeFiles, []Certificate{c}, err
	case len(domains) > 0:
		certs, err := inspectACME(o.DataDir, domains)
		return ModeACME, certs, err
	}
	path := filepath.Join(o.DataDir, "tls", SelfSignedCertName)
	c, err := readCertificate(path)
	if errors.Is(err, os.ErrNotExist) {
		return ModeSelfSigned, nil, fmt.Errorf("no self-signed certificate yet: keygate serve creates %s at its first start", c.Path)
	}
	return ModeSelfSigned, []Certificate{c}, err
}

// inspectACME reads each domain's certificate from the ACME cache, where
// autocert keeps it under the domain's name (ECDSA) or the name and "+rsa".
func inspectACME(dataDir string, domains []string) ([]Certificate, error) {
	var out []Certificate
	for _, d := range domains {
		found := false
		for _, name := range []string{d, d + "+rsa"} {
			c, err := readCertificate(filepath.Join(dataDir, "acme", name))
			if errors.Is(err, os.ErrNotExist) {
				continue
			} else if err != nil {
				return nil, err
			}
			c.Domain, found = d, true
			out = append(out, c)
		}
		if !found {
			path, _ := filepath.Abs(filepath.Join(dataDir, "acme", d))
			out = append(out, Certificate{Path: path, Domain: d, Missing: true})
		}
	}
	return out, nil
}

// readCertificate reads the first certificate of a PEM file (the leaf of a
// chain; an ACME cache file starts with its private key, which is skipped
// and never kept).
func readCertificate(path string) (Certificate, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Certificate{Path: path}, fmt.Errorf("tlsconf: %w", err)
	}
	c := Certificate{Path: abs}
	rest, err := os.ReadFile(abs)
	if err != nil {
		return c, fmt.Errorf("tlsconf: read certificate: %w", err)
	}
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return c, fmt.Errorf("tlsconf: no certificate in %s", abs)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return c, fmt.Errorf("tlsconf: parse certificate %s: %w", abs, err)
		}
		c.Fingerprint = Fingerprint(leaf.Raw)
		c.Names = append(c.Names, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			c.Names = append(c.Names, ip.String())
		}
		c.NotAfter = leaf.NotAfter
		return c, nil
	}
}

// Fingerprint returns the SHA-256 of der in colon-separated upper-case hex:
// "AB:CD:…", as `openssl x509 -fingerprint -sha256` prints it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
