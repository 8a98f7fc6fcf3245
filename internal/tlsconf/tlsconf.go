// Package tlsconf builds the TLS configuration for Keygate's HTTPS listener.
//
// A configuration comes from one of three sources, chosen by Load:
// a certificate/key pair on disk (--tls-cert/--tls-key), certificates
// obtained automatically over ACME (--acme-domain), or, when neither is
// configured, a self-signed certificate generated and kept under the data
// directory.
package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/acme/autocert"
)

// Mode names reported in Result.Mode.
const (
	// ModeFiles means the certificate was loaded from --tls-cert/--tls-key.
	ModeFiles = "files"
	// ModeACME means certificates are obtained and renewed over ACME.
	ModeACME = "acme"
	// ModeSelfSigned means a locally generated self-signed certificate is used.
	ModeSelfSigned = "self-signed"
)

// Options selects and parameterises the TLS source.
type Options struct {
	// DataDir is Keygate's data directory; the ACME cache and the
	// self-signed certificate are stored beneath it.
	DataDir string
	// CertFile and KeyFile are PEM paths (--tls-cert, --tls-key). Both or
	// neither must be set.
	CertFile, KeyFile string
	// ACMEDomains lists the domains to obtain certificates for
	// (--acme-domain). Entries may themselves be comma-separated.
	ACMEDomains []string
	// ACMEEmail is the optional contact address given to the ACME CA.
	ACMEEmail string
	// BaseURL is the public base URL; its host is added to the self-signed
	// certificate. It may be empty.
	BaseURL string
}

// Result is the TLS configuration chosen by Load.
type Result struct {
	// Config is the server TLS configuration (MinVersion TLS 1.2, TLS 1.2
	// limited to ECDHE with AES-GCM or ChaCha20-Poly1305).
	Config *tls.Config
	// Mode is one of ModeFiles, ModeACME or ModeSelfSigned.
	Mode string
	// HTTPHandler wraps the plain-HTTP listener's handler; identity for
	// non-ACME modes. In ACME mode it answers HTTP-01 challenges under
	// /.well-known/acme-challenge/ and passes every other request to the
	// wrapped handler unchanged.
	HTTPHandler func(http.Handler) http.Handler
	// CertFile is the absolute path of the certificate in use when known
	// (self-signed or files), "" for ACME.
	CertFile string
}

// Load builds the TLS configuration described by o.
//
// Files mode is used when CertFile and KeyFile are set, ACME mode when
// ACMEDomains is non-empty, and self-signed mode otherwise. Setting only one
// of CertFile/KeyFile, or combining files with ACME, is an error.
func Load(o Options) (*Result, error) {
	hasFiles := o.CertFile != "" || o.KeyFile != ""
	if hasFiles && (o.CertFile == "" || o.KeyFile == "") {
		return nil, errors.New("tlsconf: both --tls-cert and --tls-key are required")
	}
	domains := splitDomains(o.ACMEDomains)
	if len(o.ACMEDomains) > 0 && len(domains) == 0 {
		return nil, errors.New("tlsconf: --acme-domain contains no domain names")
	}
	if hasFiles && len(domains) > 0 {
		return nil, errors.New("tlsconf: --tls-cert/--tls-key and --acme-domain are mutually exclusive")
	}
	switch {
	case hasFiles:
		return loadFiles(o.CertFile, o.KeyFile)
	case len(domains) > 0:
		return loadACME(o.DataDir, domains, o.ACMEEmail)
	default:
		return loadSelfSigned(o.DataDir, o.BaseURL)
	}
}

// splitDomains splits comma-separated entries, trims and lower-cases them,
// and drops empty and duplicate names.
func splitDomains(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, entry := range in {
		for _, d := range strings.Split(entry, ",") {
			d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
			if d == "" || seen[d] {
				continue
			}
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func identity(h http.Handler) http.Handler { return h }

// absPath makes p absolute, for paths shown to people who run commands
// from other directories.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// cipherSuites are the TLS 1.2 suites offered in every mode: ECDHE key
// exchange (forward secrecy) with an AEAD cipher, as in Mozilla's
// "intermediate" profile. Go's defaults would add CBC suites with SHA-1
// MACs. TLS 1.3 suites are not configurable and all qualify.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverConfig returns the common server configuration for a static certificate.
func serverConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

func loadFiles(certFile, keyFile string) (*Result, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read --tls-cert %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read --tls-key %s: %w", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load key pair (cert %s, key %s): %w", certFile, keyFile, err)
	}
	return &Result{
		Config:      serverConfig(cert),
		Mode:        ModeFiles,
		HTTPHandler: identity,
		CertFile:    absPath(certFile),
	}, nil
}

func loadACME(dataDir string, domains []string, email string) (*Result, error) {
	if dataDir == "" {
		return nil, errors.New("tlsconf: data directory is required for ACME")
	}
	cacheDir := filepath.Join(dataDir, "acme")
	if err := ensureDir(cacheDir); err != nil {
		return nil, err
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(cacheDir),
		HostPolicy: autocert.HostWhitelist(domains...),
		Email:      email,
	}
	cfg := m.TLSConfig() // includes acme-tls/1 for tls-alpn-01 challenges
	cfg.MinVersion = tls.VersionTLS12
	cfg.CipherSuites = cipherSuites
	return &Result{
		Config: cfg,
		Mode:   ModeACME,
		// m.HTTPHandler(fallback) serves only /.well-known/acme-challenge/
		// and hands all other requests to fallback untouched. A nil
		// fallback selects autocert's redirect-to-HTTPS handler.
		HTTPHandler: func(fallback http.Handler) http.Handler {
			return m.HTTPHandler(fallback)
		},
	}, nil
}

// ensureDir creates dir (and parents) and restricts it to mode 0700.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tlsconf: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("tlsconf: chmod %s: %w", dir, err)
	}
	return nil
}
