package web

import (
	"net"
	"net/http"
	"strings"
)

// PlainHandler is the handler of the plain-HTTP listener. It serves nothing
// in clear: pages are redirected to HTTPS (308, which keeps the method) and
// API calls fail with a JSON error rather than a redirect, which would teach
// clients to send keys in clear. Requests from a trusted proxy that
// terminated TLS (X-Forwarded-Proto: https) reach the application.
func (s *Server) PlainHandler() http.Handler {
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isHTTPS(r) {
			s.handler.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			s.noteExposedKey(r)
			apiError(w, http.StatusForbidden, "https_required", "HTTPS is required.")
			return
		}
		http.Redirect(w, r, s.httpsURL(r), http.StatusPermanentRedirect)
	})
	return s.securityHeaders(plain)
}

// httpsURL is where a plain-HTTP request is sent: the base URL if there is
// one, else the same host on the HTTPS port.
func (s *Server) httpsURL(r *http.Request) string {
	if s.baseURL != nil {
		return strings.TrimSuffix(s.baseURL.String(), "/") + r.URL.RequestURI()
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if s.cfg.HTTPSPort != "" && s.cfg.HTTPSPort != "443" {
		host = net.JoinHostPort(host, s.cfg.HTTPSPort)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "https://" + host + r.URL.RequestURI()
}
