package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/usage"
)

// wwwAuthenticate names the API in WWW-Authenticate challenges.
const wwwAuthenticate = `Token realm="Keygate API", Bearer realm="Keygate API"`

// apiMethod is one method of an API route, with the scope it needs ("" for
// any valid key).
type apiMethod struct {
	method string
	scope  keygate.Scope
	h      http.HandlerFunc
}

func apiGet(scope keygate.Scope, h http.HandlerFunc) apiMethod   { return apiMethod{"GET", scope, h} }
func apiPost(scope keygate.Scope, h http.HandlerFunc) apiMethod  { return apiMethod{"POST", scope, h} }
func apiPatch(scope keygate.Scope, h http.HandlerFunc) apiMethod { return apiMethod{"PATCH", scope, h} }
func apiDelete(scope keygate.Scope, h http.HandlerFunc) apiMethod {
	return apiMethod{"DELETE", scope, h}
}

// apiKeyFrom returns the request's verified key record.
func apiKeyFrom(ctx context.Context) *apikey.Record {
	return stateFrom(ctx).apiKey
}

// keyInfo is what API requests derive from a key's record, worked out once
// per cached record (apikey.Record.Memo) rather than on every request:
// BenchmarkAPIMe takes 17.1 µs a request with it and 22.8 µs deriving it
// each time (median of 4 interleaved runs on one core, in process). The
// memo sits on the record because it lives exactly as long as the cached
// record does; a map here would need weak keys not to leak.
type keyInfo struct {
	actor *keygate.KeyActor // shared by the key's requests: read only
	// scopes as the API lists them, closed under implication.
	scopes []string
	limit  ratelimit.Limit
	// policy is the RateLimit-Policy header, the same for every response.
	policy, count []string
	// me is the body of GET /api/v1/me, which says only what the record
	// says.
	me []byte
	// allowed are the networks the key may be used from; none means
	// anywhere.
	allowed []netip.Prefix
	// header are the X-Keygate-* headers of a forward-auth answer.
	header forwardHeaders
}

func (s *Server) keyInfo(rec *apikey.Record) *keyInfo {
	return rec.Memo(func(rec *apikey.Record) any {
		scopes := keygate.ParseScopes(rec.Scopes)
		info := &keyInfo{
			actor: &keygate.KeyActor{KeyID: rec.KeyID, PublicID: rec.PublicID, Name: rec.Name,
				OrganizationID: rec.OrganizationID, OrgPublicID: rec.OrgPublicID, Scopes: scopes},
			scopes: make([]string, len(scopes)),
			limit:  s.cfg.RateLimit,
		}
		for i, sc := range scopes {
			info.scopes[i] = string(sc)
		}
		if rec.RateLimit != "" {
			if l, err := ratelimit.ParseLimit(rec.RateLimit); err == nil {
				info.limit = l
			}
		}
		for _, c := range keygate.SplitAllowedIPs(rec.AllowedIPs) {
			if p, err := keygate.ParseAllowedIP(c); err == nil {
				info.allowed = append(info.allowed, p)
			} else {
				// Stored lists are canonical; an entry that cannot be read
				// matches nothing rather than opening the key to anywhere.
				info.allowed = append(info.allowed, netip.Prefix{})
			}
		}
		info.me = meBody(rec, info.scopes)
		info.header = newForwardHeaders(rec, info.scopes)
		count := strconv.Itoa(info.limit.Count)
		info.count = []string{count}
		info.policy = []string{`"default";q=` + count + `;w=` + strconv.Itoa(int(info.limit.Period.Seconds()))}
		return info
	}).(*keyInfo)
}

// msgIPNotAllowed is the detail of a call from outside a key's allowlist.
const msgIPNotAllowed = "This API key cannot be used from this IP address."

// allowsIP reports whether the key may be used from the client address ip.
func (info *keyInfo) allowsIP(ip string) bool {
	if len(info.allowed) == 0 {
		return true
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range info.allowed {
		if p.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}

// hasPermission reports whether the key holds the organization permission
// name.
func hasPermission(rec *apikey.Record, name string) bool {
	_, ok := slices.BinarySearch(rec.Permissions, name)
	return ok
}

// admit applies to an authenticated key what every use of it goes
// through, in order: the organization's plan, the key's IP allowlist and
// its rate limit (whose headers it sets). It writes the refusal and
// returns false. The allowlist comes before the limit, so calls from
// elsewhere spend none of the key's quota.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, rec *apikey.Record, info *keyInfo) bool {
	// Plans: API access needs Professional or higher. Checked before the
	// rate limit, so a Free organization's calls spend none of it.
	if !keygate.Plan(rec.Plan).IncludesAPI() {
		apiError(w, http.StatusForbidden, "plan_required", msgPlanRequired)
		return false
	}
	if !info.allowsIP(keygate.RequestInfoFromContext(r.Context()).IP) {
		apiError(w, http.StatusForbidden, "ip_not_allowed", msgIPNotAllowed)
		return false
	}
	return s.rateLimit(w, rec, info)
}

// msgPlanRequired is the detail of a call by a key of an organization
// whose plan has no API access.
const msgPlanRequired = "Your organization's plan does not include API access."

// apiError writes the API's error body: {"detail": ..., "code": ...,
// "request_id": ...}.
func apiError(w http.ResponseWriter, status int, code, detail string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", wwwAuthenticate)
	}
	writeJSON(w, status, errorBody(w, code, detail))
}

// errorBody is the body of an error answer. Its request_id is the
// response's X-Request-Id, which every response of the HTTPS listener
// carries (the plain-HTTP listener's refusals have none).
func errorBody(w http.ResponseWriter, code, detail string) map[string]any {
	body := map[string]any{"detail": detail, "code": code}
	if id := w.Header()["X-Request-Id"]; len(id) > 0 {
		body["request_id"] = id[0]
	}
	return body
}

// apiErr maps a domain error to the API's error body. Field errors become
// a field map: {"meeting_url": ["This field is required."]}.
func (s *Server) apiErr(w http.ResponseWriter, r *http.Request, err error) {
	if fields := keygate.ErrorFields(err); len(fields) > 0 {
		fe := fieldErrors{}
		fe.merge(fields)
		fe.write(w)
		return
	}
	if errors.Is(err, keygate.ErrKeyLimit) {
		apiError(w, http.StatusBadRequest, "key_limit_reached", keygate.ErrorMessage(err))
		return
	}
	code := keygate.ErrorCode(err)
	switch code {
	case keygate.ENOTFOUND:
		apiError(w, http.StatusNotFound, "not_found", "Not found.")
	case keygate.EINTERNAL:
		s.Error(w, r, err)
	default:
		apiError(w, ErrorStatus(err), code, keygate.ErrorMessage(err))
	}
}

// writeList answers with one page of rows (newest first, as toJSON shows
// them) and the links to the pages around it, by the rows' ids.
func writeList[T, J any](s *Server, w http.ResponseWriter, r *http.Request, page keygate.Page, rows []T, more bool, rowID func(T) int64, toJSON func(T) J) {
	next, prev, out := listPage(s, r, page, rows, more, rowID, toJSON)
	writeJSON(w, http.StatusOK, listBody{Next: next, Previous: prev, Results: out})
}

// writeAppendedList is writeList for rows that write their own JSON.
func writeAppendedList[T any, J jsonAppender](s *Server, w http.ResponseWriter, r *http.Request, page keygate.Page, rows []T, more bool, rowID func(T) int64, toJSON func(T) J) {
	next, prev, out := listPage(s, r, page, rows, more, rowID, toJSON)
	writeJSONHeader(w, http.StatusOK)
	w.Write(append(appendListJSON(make([]byte, 0, 512*len(out)+256), next, prev, out), '\n'))
}

// listPage is a list's rows as toJSON shows them and the links to the
// pages around them.
func listPage[T, J any](s *Server, r *http.Request, page keygate.Page, rows []T, more bool, rowID func(T) int64, toJSON func(T) J) (next, prev *string, out []J) {
	out = make([]J, 0, len(rows))
	for _, row := range rows {
		out = append(out, toJSON(row))
	}
	var first, last int64
	if len(rows) > 0 {
		first, last = rowID(rows[0]), rowID(rows[len(rows)-1])
	}
	next, prev = s.pageLinks(r, page, len(rows), first, last, more)
	return next, prev, out
}

// apiHandle registers an API path whose methods each declare their scope.
// Every request goes through authentication, the rate limit, the method
// check and the scope check, in that order, and is recorded for usage.
func (s *Server) apiHandle(mux *http.ServeMux, pattern string, methods ...apiMethod) {
	allow := make([]string, len(methods))
	for i, m := range methods {
		allow[i] = m.method
	}
	preflight := corsPreflight(append(allow, http.MethodOptions))
	for i := range methods {
		if methods[i].method == http.MethodPost {
			methods[i].h = s.idempotent(methods[i].h)
		}
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			preflight(w, r)
			return
		}
		start := time.Now()
		rec, ok := s.authenticateKey(w, r)
		if !ok {
			return
		}
		info := s.keyInfo(rec)
		rw := newUsageRecorder(w)
		defer s.recordUsage(r, rec, pattern, rw, start)
		if !s.admit(rw, r, rec, info) {
			return
		}
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet // the server sends HEAD's headers only
		}
		var m *apiMethod
		for i := range methods {
			if methods[i].method == method {
				m = &methods[i]
			}
		}
		if m == nil {
			rw.Header().Set("Allow", strings.Join(allow, ", "))
			apiError(rw, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("Method %q not allowed.", r.Method))
			return
		}
		if m.scope != "" && !info.actor.Scopes.Has(m.scope) {
			apiError(rw, http.StatusForbidden, "insufficient_scope",
				fmt.Sprintf("Insufficient permissions: this API key lacks the '%s' scope.", m.scope))
			return
		}
		m.h(rw, r.WithContext(keygate.NewContextWithKey(r.Context(), info.actor)))
	}
	mux.HandleFunc(pattern, h)
	if !strings.Contains(pattern, "{") {
		if s.apiExact == nil {
			s.apiExact = map[string]http.HandlerFunc{}
		}
		s.apiExact[pattern] = h
	}
}

// apiFast serves the API's fixed paths (those without a wildcard) straight
// from a map, as the two ServeMux lookups in front of them would route
// them, HTTPS check included; every other request goes to next. Only a
// path the muxes would take as it is (no escapes) is looked up, so
// cleaning and redirects stay the muxes' business. The map is filled from
// routes.go's list (apiHandle), so that list stays the only one.
// BenchmarkAPIMe: 16.4 µs a request through it, 19.7 µs through the two
// muxes (median of 5 interleaved runs on one core, in process; about 4 %
// of /me's CPU over TLS). TestAPIFixedPathsRouteAsTheMuxes holds it to the muxes.
func (s *Server) apiFast(next http.Handler) http.Handler {
	fast := make(map[string]http.Handler, len(s.apiExact))
	for pattern, h := range s.apiExact {
		fast[pattern] = s.requireHTTPS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Pattern = pattern
			stateFrom(r.Context()).route = pattern
			h(w, r)
		}))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawPath == "" {
			if h, ok := fast[r.URL.Path]; ok {
				h.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authenticateKey checks the Authorization header and returns the key's
// record, or writes the 401 and returns false. Keys in the query string or
// a cookie are ignored: they leak into logs and caches.
func (s *Server) authenticateKey(w http.ResponseWriter, r *http.Request) (*apikey.Record, bool) {
	start := time.Now()
	rec, fail, err := s.checkKey(r)
	if err != nil {
		s.Error(w, r, err)
		return nil, false
	}
	if fail != nil {
		s.metrics.authFailure(fail.reason())
		apiError(w, fail.statusCode(), fail.code, fail.detail)
		// Every refusal is logged: a known key's in its organization's
		// API logs, any other in the server's log.
		if rec != nil {
			stateFrom(r.Context()).keyID = rec.PublicID
			s.recordRefused(r, rec, fail, start)
		} else {
			s.logUnattributed(r, fail)
		}
		return nil, false
	}
	st := stateFrom(r.Context())
	st.keyID, st.apiKey = rec.PublicID, rec
	return rec, true
}

// The 401s of a well-formed header whose key can't be used.
var (
	failInvalidToken    = &authHeaderError{code: "invalid_token", detail: msgInvalidToken}
	failTokenRevoked    = &authHeaderError{code: "token_revoked", detail: msgInvalidToken}
	failTokenExpired    = &authHeaderError{code: "token_expired", detail: msgInvalidToken}
	failCreatorDisabled = &authHeaderError{code: "invalid_token", detail: msgInvalidToken, metric: "creator_disabled"}
	// Not a 401: the request is malformed, whichever key it carries.
	failSeveralHeaders = &authHeaderError{code: "invalid_request", detail: msgSeveralAuth, metric: "several_headers", status: http.StatusBadRequest}
)

// checkKey finds the usable key the request's Authorization header names.
// It returns the key's record, or the 401 to send (fail), or an error the
// client did not cause; it writes nothing. A key that is known but may no
// longer be used comes with its fail and its record, for the logs.
func (s *Server) checkKey(r *http.Request) (rec *apikey.Record, fail *authHeaderError, err error) {
	// Two Authorization headers are ambiguous: a proxy in front may judge
	// by another one than this server would. Refused, not resolved. (A
	// map lookup: the one-header path allocates nothing.)
	if len(r.Header["Authorization"]) > 1 {
		return nil, failSeveralHeaders, nil
	}
	if _, other := r.Header["X-Api-Key"]; other && len(r.Header["Authorization"]) == 0 {
		// Another API's header: say where this one wants the key.
		return nil, failMissingScheme, nil
	}
	token, herr := parseAuthorization(r.Header.Get("Authorization"))
	if herr != nil {
		return nil, herr, nil
	}
	key, err := apikey.Parse(token)
	if err != nil {
		return nil, failInvalidToken, nil
	}
	rec, err = s.verifier.Verify(r.Context(), key)
	if errors.Is(err, apikey.ErrUnknown) {
		return nil, failInvalidToken, nil
	} else if err != nil {
		return nil, nil, err
	}
	return rec, s.unusable(rec), nil
}

// unusable says why a known key may no longer be used, nil if it may.
func (s *Server) unusable(rec *apikey.Record) *authHeaderError {
	switch {
	case rec.RevokedAt != nil:
		return failTokenRevoked
	case rec.ExpiresAt != nil && !s.now().Before(*rec.ExpiresAt):
		return failTokenExpired
	case rec.CreatorDisabledAt != nil && rec.DisabledUserKeys != string(keygate.DisabledUserKeysKeep):
		// The key's creator was disabled and the organization did not choose
		// to keep such keys. The client sees a plain invalid token: why a key
		// stopped is for the dashboard, not for whoever holds it.
		return failCreatorDisabled
	}
	return nil
}

// rateLimit applies the key's limit and sets the rate limit headers on the
// response; over the limit it writes the 429 and returns false.
func (s *Server) rateLimit(w http.ResponseWriter, rec *apikey.Record, info *keyInfo) bool {
	d := s.limiter.Allow(rec.PublicID, info.limit)
	reset := int(math.Ceil(d.Reset.Seconds()))
	// This runs on every API request: header names are written in
	// canonical form directly, and the per-response values are cut from
	// one string, their slices from one array. With this, the shared
	// slices of writeJSONHeader and securityHeaders, BenchmarkAPIMe takes
	// 16.4 µs a request; with Header.Set everywhere, 19.8 µs and 20 more
	// allocations (median of 5 interleaved runs on one core, in process).
	buf := make([]byte, 0, 64)
	buf = append(buf, `"default";r=`...)
	remainingAt := len(buf)
	buf = strconv.AppendInt(buf, int64(d.Remaining), 10)
	remainingEnd := len(buf)
	buf = append(buf, ";t="...)
	buf = strconv.AppendInt(buf, int64(reset), 10)
	ratelimitEnd := len(buf)
	buf = strconv.AppendInt(buf, s.now().Add(d.Reset).Unix(), 10)
	all := string(buf)
	vals := new([3]string)
	vals[0], vals[1], vals[2] = all[:ratelimitEnd], all[remainingAt:remainingEnd], all[ratelimitEnd:]
	h := w.Header()
	h["Ratelimit-Policy"] = info.policy
	h["Ratelimit"] = vals[0:1:1]
	h["X-Ratelimit-Limit"] = info.count
	h["X-Ratelimit-Remaining"] = vals[1:2:2]
	h["X-Ratelimit-Reset"] = vals[2:3:3]
	if d.Allowed {
		return true
	}
	s.metrics.throttled()
	s.noteRateLimited(rec.KeyID)
	retry := max(int(math.Ceil(d.RetryAfter.Seconds())), 1)
	h.Set("Retry-After", strconv.Itoa(retry))
	apiError(w, http.StatusTooManyRequests, "throttled", fmt.Sprintf("Request was throttled. Expected available in %d seconds.", retry))
	return false
}

// recordUsage hands the request to the usage buffer; nothing is written to
// the database here. It runs once the handler has returned, and releases
// w.
func (s *Server) recordUsage(r *http.Request, rec *apikey.Record, route string, w *usageRecorder, start time.Time) {
	defer w.release()
	if s.usage == nil {
		return
	}
	info := keygate.RequestInfoFromContext(r.Context())
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	rid, _ := usage.ParseRequestID(info.RequestID)
	s.usage.Record(usage.Event{
		OrganizationID: rec.OrganizationID, KeyID: rec.KeyID, Method: r.Method, Route: route, Path: loggedPath(r), Status: status,
		Code: w.code, Latency: time.Since(start), IP: info.IP, UserAgent: info.UserAgent, At: s.now(), RequestID: rid,
		Service: stateFrom(r.Context()).service,
	})
}

// apiNotFound answers a request for something that is not there.
func apiNotFound(w http.ResponseWriter, r *http.Request) {
	apiError(w, http.StatusNotFound, "not_found", "Not found.")
}

// unknownRoute is the route an API request for an unknown path is logged
// under: the pattern that caught it.
const unknownRoute = "/api/"

// apiUnknownPath answers paths no API route matches with a 404, whatever
// the key. A usable key's request is still an API request: it counts
// against the key's rate limit, carries the rate limit headers and shows
// in the key's usage, so a client calling a mistyped URL sees it there.
// Without a usable key it is a plain 404, with nothing spent or logged.
func (s *Server) apiUnknownPath(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if s.verifier == nil || r.Header.Get("Authorization") == "" {
		apiNotFound(w, r)
		return
	}
	rec, fail, err := s.checkKey(r)
	if err != nil || fail != nil || !keygate.Plan(rec.Plan).IncludesAPI() {
		apiNotFound(w, r)
		return
	}
	st := stateFrom(r.Context())
	st.keyID, st.apiKey = rec.PublicID, rec
	rw := newUsageRecorder(w)
	defer s.recordUsage(r, rec, unknownRoute, rw, start)
	if s.rateLimit(rw, rec, s.keyInfo(rec)) {
		apiNotFound(rw, r)
	}
}

// CORS: the API authenticates by the Authorization header alone, never a
// cookie, so any origin may call it from a browser (as GitHub's API
// allows): a page can only send a key it already holds. Responses to a
// cross-origin request let its script read the rate limit headers too.
var (
	corsAnyOrigin     = []string{"*"}
	corsExposeHeaders = []string{"RateLimit, RateLimit-Policy, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, WWW-Authenticate, X-Request-Id, Idempotent-Replayed"}
	corsAllowHeaders  = []string{"Authorization, Content-Type, Idempotency-Key"}
	corsMaxAge        = []string{"86400"}
)

// corsPreflight answers OPTIONS on a path with the given methods, without
// authentication (browsers send no Authorization header on a preflight).
func corsPreflight(methods []string) http.HandlerFunc {
	allow := []string{strings.Join(methods, ", ")}
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Allow"] = allow
		if r.Header.Get("Origin") != "" {
			h["Access-Control-Allow-Methods"] = allow
			h["Access-Control-Allow-Headers"] = corsAllowHeaders
			h["Access-Control-Max-Age"] = corsMaxAge
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// requireHTTPS refuses API calls that did not arrive over HTTPS. A real key
// that came in clear is marked exposed, so its owners know to roll it.
func (s *Server) requireHTTPS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, cors := r.Header["Origin"]; cors {
			h := w.Header()
			h["Access-Control-Allow-Origin"] = corsAnyOrigin
			h["Access-Control-Expose-Headers"] = corsExposeHeaders
		}
		if s.isHTTPS(r) {
			next.ServeHTTP(w, r)
			return
		}
		s.noteExposedKey(r)
		apiError(w, http.StatusForbidden, "https_required", "HTTPS is required.")
	})
}

// maxExposedHeaders bounds the Authorization headers of one request that
// are looked up to be marked exposed.
const maxExposedHeaders = 4

// noteExposedKey marks the request's keys exposed if they are real ones:
// every Authorization header's, since each was sent in clear.
func (s *Server) noteExposedKey(r *http.Request) {
	if s.verifier == nil || s.exposer == nil {
		return
	}
	values := r.Header["Authorization"]
	for _, v := range values[:min(len(values), maxExposedHeaders)] {
		token, herr := parseAuthorization(v)
		if herr != nil {
			continue
		}
		key, err := apikey.Parse(token)
		if err != nil {
			continue
		}
		rec, err := s.verifier.Verify(r.Context(), key)
		if err != nil {
			continue
		}
		if err := s.exposer.MarkExposed(r.Context(), rec.KeyID); err != nil {
			s.logger.Error("mark key exposed", "key_id", rec.PublicID, "error", err.Error())
		}
	}
}
