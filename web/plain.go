package web

import (
	"net"
	"net/http"
	"path"
	"strings"
)

// PlainHandler is the handler of the plain-HTTP listener. It serves nothing
// in clear: pages are redirected to HTTPS (308, which keeps the method),
// while API calls, and any request that carries an Authorization header,
// fail with a JSON error rather than a redirect, which would teach clients
// to send keys in clear; a real key that came that way is marked exposed.
// Requests from a trusted proxy that terminated TLS (X-Forwarded-Proto:
// https) reach the application.
func (s *Server) PlainHandler() http.Handler {
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isHTTPS(r) {
			s.handler.ServeHTTP(w, r)
			return
		}
		if _, creds := r.Header["Authorization"]; creds || isAPIPath(r.URL.Path) {
			s.noteExposedKey(r)
			apiError(w, http.StatusForbidden, "https_required", "HTTPS is required.")
			return
		}
		http.Redirect(w, r, s.httpsURL(r), http.StatusPermanentRedirect)
	})
	return s.securityHeaders(plain)
}

// isAPIPath reports whether a (percent-decoded) path is the API's once
// cleaned: "//api/v1/me", "/./api/v1/me", "/x/../api/v1/me" and
// "/API/v1/me" all are, since a redirect would take them, key and all, to
// an HTTPS listener that cleans them the same way.
func isAPIPath(p string) bool {
	p = strings.ToLower(path.Clean("/" + p))
	return p == "/api" || strings.HasPrefix(p, "/api/")
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
