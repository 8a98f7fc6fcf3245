package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/tlsconf"
)

// loopbackTLS is the server TLS configuration of `keygate serve` without a
// certificate of its own (a self-signed ECDSA P-256 certificate for
// localhost, 127.0.0.1 and ::1) and the pool that trusts it.
type loopbackTLS struct {
	server *tls.Config
	roots  *x509.CertPool
	leaf   []byte // the certificate, DER
}

// newLoopbackTLS creates the self-signed certificate under dir, the way
// serve does on first start.
func newLoopbackTLS(dir string) (*loopbackTLS, error) {
	res, err := tlsconf.Load(tlsconf.Options{DataDir: dir})
	if err != nil {
		return nil, fmt.Errorf("load tls: %w", err)
	}
	if len(res.Config.Certificates) == 0 || len(res.Config.Certificates[0].Certificate) == 0 {
		return nil, errors.New("load tls: no certificate")
	}
	leaf, err := x509.ParseCertificate(res.Config.Certificates[0].Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return &loopbackTLS{server: res.Config, roots: roots, leaf: leaf.Raw}, nil
}

// tlsServer is an HTTPS server on an ephemeral loopback port.
type tlsServer struct {
	srv  *http.Server
	URL  string
	done chan struct{}
}

// startTLS serves h on 127.0.0.1 with the timeouts of `keygate serve`.
func startTLS(h http.Handler, cfg *tls.Config) (*tlsServer, error) {
	// Each server gets its own copy: net/http configures HTTP/2 on it.
	cfg = cfg.Clone()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &tlsServer{
		srv: &http.Server{
			Handler: h, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0),
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
			MaxHeaderBytes: 64 << 10,
		},
		URL:  "https://" + ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(tls.NewListener(ln, cfg))
	}()
	return s, nil
}

// Close stops the server, waiting briefly for requests in flight.
func (s *tlsServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}
