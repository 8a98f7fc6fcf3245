package outbound

import (
	"crypto/tls"
	"net/http"
)

// WithTLSConfig returns the guarded transport rt trusting what cfg
// trusts, for tests against httptest's certificate.
func WithTLSConfig(rt http.RoundTripper, cfg *tls.Config) http.RoundTripper {
	g := rt.(schemeGuard)
	t := g.next.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	g.next = t
	return g
}
