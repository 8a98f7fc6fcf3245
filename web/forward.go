package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// forwardRoute is the route forward-auth calls are logged under.
const forwardRoute = "/auth/forward"

// defaultService is the service of a forward-auth or verify call that
// names none.
const defaultService = "default"

// maxServiceName bounds a service's name.
const maxServiceName = 64

// validService reports whether name can name a service: 1 to 64 of
// a-z, 0-9 and . _ -, starting with a letter or digit, as the logs and
// filters show it.
func validService(name string) bool {
	if name == "" || len(name) > maxServiceName || name[0] == '.' || name[0] == '_' || name[0] == '-' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// msgInvalidService is the detail of a service name that cannot be one.
const msgInvalidService = "A service name is 1 to 64 lowercase letters, digits, dots, underscores or hyphens, starting with a letter or digit."

// forwardHeaders are the X-Keygate-* headers of an allowed forward-auth
// call, the same for every call of a key: worked out once per cached
// record (keyInfo).
type forwardHeaders struct {
	keyID, name, org, env, scopes, permissions []string
}

func newForwardHeaders(rec *apikey.Record, scopes []string) forwardHeaders {
	return forwardHeaders{
		keyID: []string{rec.PublicID}, name: []string{headerSafe(rec.Name)}, org: []string{rec.OrgPublicID},
		env: []string{rec.Environment}, scopes: []string{strings.Join(scopes, ",")},
		permissions: []string{strings.Join(rec.Permissions, ",")},
	}
}

// headerSafe is s as a header value: a name may hold any printable text,
// and a header only ASCII. Anything else is percent-encoded, as a URL
// would be, so an upstream can decode it.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '%' {
			return url.PathEscape(s)
		}
	}
	return s
}

// forwardRequest is the request a proxy asks about, as its headers
// describe it.
type forwardRequest struct {
	method string
	path   string
}

// forwardedRequest reads the original request from what proxies send:
// X-Forwarded-Method and X-Forwarded-Uri (Caddy, Traefik) or
// X-Original-Method and X-Original-URI (the nginx recipe). Without them it
// is the request itself. The path is kept without its query, which may
// carry anything.
func forwardedRequest(r *http.Request) forwardRequest {
	method := firstHeader(r, "X-Forwarded-Method", "X-Original-Method")
	if method == "" {
		method = r.Method
	}
	method = strings.ToUpper(method)
	uri := firstHeader(r, "X-Forwarded-Uri", "X-Original-Uri")
	path := "/"
	if uri != "" {
		if u, err := url.ParseRequestURI(uri); err == nil && u.EscapedPath() != "" {
			path = u.EscapedPath()
		} else if p, _, _ := strings.Cut(uri, "?"); strings.HasPrefix(p, "/") {
			path = p
		}
	}
	return forwardRequest{method: method, path: path}
}

func firstHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(r.Header.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// scopeForMethod is the scope a request with method needs by default:
// reading methods need read, every other one write.
func scopeForMethod(method string) keygate.Scope {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return keygate.ScopeRead
	}
	return keygate.ScopeWrite
}

// forwardRule is what one proxy location asks of a key, from the query of
// its auth URL.
type forwardRule struct {
	scope      keygate.Scope // "" means by method
	permission string
	service    string
	org        string
}

// parseForwardRule reads the auth URL's query: scope, permission, service
// and org. It returns the problem with it, "" when there is none: a
// misconfigured location is the operator's to fix, and says so.
func parseForwardRule(q url.Values) (forwardRule, string) {
	rule := forwardRule{
		scope: keygate.Scope(q.Get("scope")), permission: q.Get("permission"),
		service: q.Get("service"), org: q.Get("org"),
	}
	if rule.scope != "" && !rule.scope.Valid() {
		return rule, fmt.Sprintf("Unknown scope %q in the auth URL: use read, write or admin.", rule.scope)
	}
	if rule.service == "" {
		rule.service = defaultService
	} else if !validService(rule.service) {
		return rule, msgInvalidService
	}
	return rule, ""
}

// handleForwardAuth answers a proxy's question: may the request it holds
// go on? It verifies the key exactly as the API does (the same refusals,
// codes and HTTPS rule), checks the scope the original method needs or
// the location asks for, applies the key's IP allowlist and rate limit,
// and logs the call under its service with the original method and path.
// Allowed, it answers 200 with the key's X-Keygate-* headers for the proxy
// to pass upstream.
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rule, problem := parseForwardRule(r.URL.Query())
	if problem != "" {
		apiError(w, http.StatusBadRequest, "invalid_request", problem)
		return
	}
	fwd := forwardedRequest(r)
	// The call is logged as the original request: its method and path,
	// under the forward-auth route and the location's service.
	orig := new(http.Request)
	*orig = *r
	orig.Method, orig.URL, orig.Pattern = fwd.method, &url.URL{Path: fwd.path, RawPath: fwd.path}, forwardRoute
	if p, err := url.PathUnescape(fwd.path); err == nil {
		orig.URL.Path = p
	}
	stateFrom(r.Context()).service = rule.service

	rec, ok := s.authenticateKey(w, orig)
	if !ok {
		return
	}
	info := s.keyInfo(rec)
	rw := newUsageRecorder(w)
	defer s.recordUsage(orig, rec, forwardRoute, rw, start)
	if rule.org != "" && rule.org != rec.OrgPublicID {
		// A key of another organization is no key at this location.
		s.metrics.authFailure("wrong_organization")
		apiError(rw, http.StatusUnauthorized, failInvalidToken.code, failInvalidToken.detail)
		return
	}
	if !s.admit(rw, orig, rec, info) {
		return
	}
	if code, detail := missingGrant(info, rec, rule.scope, rule.permission, fwd.method); code != "" {
		apiError(rw, http.StatusForbidden, code, detail)
		return
	}
	h := rw.Header()
	h["X-Keygate-Key-Id"] = info.header.keyID
	h["X-Keygate-Key-Name"] = info.header.name
	h["X-Keygate-Organization"] = info.header.org
	h["X-Keygate-Environment"] = info.header.env
	h["X-Keygate-Scopes"] = info.header.scopes
	h["X-Keygate-Permissions"] = info.header.permissions
	rw.WriteHeader(http.StatusOK)
}

// missingGrant checks a key against what a call needs: the scope and the
// organization permission named, or, when neither is, the scope the
// method needs. It returns the refusal's code and detail, "" when the key
// holds what is needed.
func missingGrant(info *keyInfo, rec *apikey.Record, scope keygate.Scope, permission, method string) (code, detail string) {
	if scope == "" && permission == "" {
		scope = scopeForMethod(method)
	}
	if scope != "" && !info.actor.Scopes.Has(scope) {
		return "insufficient_scope", fmt.Sprintf("Insufficient permissions: this API key lacks the '%s' scope.", scope)
	}
	if permission != "" && !hasPermission(rec, permission) {
		return "insufficient_scope", fmt.Sprintf("Insufficient permissions: this API key lacks the '%s' permission.", permission)
	}
	return "", ""
}
