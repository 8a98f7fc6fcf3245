package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/usage"
)

// verifyRoute is the route of key verification by services.
const verifyRoute = "/api/v1/keys/verify"

// verifyKeyJSON is the key of a valid verification.
type verifyKeyJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Organization string     `json:"organization"`
	Environment  string     `json:"environment"`
	Scopes       []string   `json:"scopes"`
	Permissions  []string   `json:"permissions"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

// verifyRateJSON is the key's rate limit after a verification counted
// against it.
type verifyRateJSON struct {
	Limit     int   `json:"limit"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"` // Unix seconds when the quota is full again
	// RetryAfter is, over the limit, the seconds until the next call may
	// pass: what a 429's Retry-After says.
	RetryAfter int `json:"retry_after,omitempty"`
}

type verifyJSON struct {
	Valid     bool            `json:"valid"`
	Code      string          `json:"code,omitempty"`
	Detail    string          `json:"detail,omitempty"`
	Key       *verifyKeyJSON  `json:"key,omitempty"`
	RateLimit *verifyRateJSON `json:"ratelimit,omitempty"`
}

// apiVerifyKey answers POST /api/v1/keys/verify, for services that check
// keys from their own code: {"key", "scope", "permission", "service"}. The
// key in the body is the credential, so no Authorization header is
// needed. The answer is 200 either way: {"valid": true, "key": …,
// "ratelimit": …}, or {"valid": false, "code": …} with the code the API
// itself would refuse the key with. A verification counts against the
// key's rate limit like a call, and shows in its organization's API logs
// under its service.
func (s *Server) apiVerifyKey(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	token, _ := obj.str("key", fe)
	scope, _ := obj.str("scope", fe)
	permission, _ := obj.str("permission", fe)
	service, _ := obj.str("service", fe)
	clientIP, _ := obj.str("ip", fe)
	if _, bad := fe["key"]; !bad && token == "" {
		fe.add("key", "This field is required.")
	}
	if scope != "" && !keygate.Scope(scope).Valid() {
		fe.add("scope", "Unknown scope: use read, write or admin.")
	}
	if service == "" {
		service = defaultService
	} else if !validService(service) {
		fe.add("service", msgInvalidService)
	}
	if clientIP == "" {
		// Without the end client's address, the allowlist judges the
		// caller's.
		clientIP = keygate.RequestInfoFromContext(r.Context()).IP
	} else if _, err := netip.ParseAddr(clientIP); err != nil {
		fe.add("ip", "Not a valid IP address.")
	}
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	stateFrom(r.Context()).service = service

	invalid := func(code, detail string) { writeJSON(w, http.StatusOK, verifyJSON{Code: code, Detail: detail}) }
	var limited *verifyRateJSON // the limit's state once applied
	key, err := apikey.Parse(token)
	if err != nil {
		invalid(failInvalidToken.code, failInvalidToken.detail)
		return
	}
	rec, err := s.verifier.Verify(r.Context(), key)
	if errors.Is(err, apikey.ErrUnknown) {
		invalid(failInvalidToken.code, failInvalidToken.detail)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	st := stateFrom(r.Context())
	st.keyID = rec.PublicID
	if fail := s.unusable(rec); fail != nil {
		logged := *r
		logged.Pattern = verifyRoute
		s.recordRefused(&logged, rec, fail, start)
		invalid(fail.code, fail.detail)
		return
	}
	// The verification is logged as the call it stands for: with the
	// status and code the API would have answered.
	status, code := http.StatusOK, ""
	defer func() { s.recordVerify(r, rec, status, code, start) }()
	refuse := func(st int, c, detail string) {
		status, code = st, c
		writeJSON(w, http.StatusOK, verifyJSON{Code: c, Detail: detail, RateLimit: limited})
	}
	info := s.keyInfo(rec)
	if !keygate.Plan(rec.Plan).IncludesAPI() {
		refuse(http.StatusForbidden, "plan_required", msgPlanRequired)
		return
	}
	if !info.allowsIP(clientIP) {
		refuse(http.StatusForbidden, "ip_not_allowed", msgIPNotAllowed)
		return
	}
	d := s.limiter.Allow(rec.PublicID, info.limit)
	limited = &verifyRateJSON{Limit: d.Limit, Remaining: d.Remaining, Reset: s.now().Add(d.Reset).Unix()}
	if !d.Allowed {
		s.metrics.throttled()
		limited.RetryAfter = max(int(math.Ceil(d.RetryAfter.Seconds())), 1)
		refuse(http.StatusTooManyRequests, "rate_limited", "The key is over its rate limit.")
		return
	}
	if scope != "" || permission != "" {
		if c, detail := missingGrant(info, rec, keygate.Scope(scope), permission, ""); c != "" {
			refuse(http.StatusForbidden, c, detail)
			return
		}
	}
	perms := rec.Permissions
	if perms == nil {
		perms = []string{}
	}
	writeJSON(w, http.StatusOK, verifyJSON{
		Valid: true,
		Key: &verifyKeyJSON{ID: rec.PublicID, Name: rec.Name, Organization: rec.OrgPublicID, Environment: rec.Environment,
			Scopes: info.scopes, Permissions: perms, ExpiresAt: rec.ExpiresAt},
		RateLimit: limited,
	})
}

// recordVerify hands the usage buffer a verification of rec, as the call
// it stands for.
func (s *Server) recordVerify(r *http.Request, rec *apikey.Record, status int, code string, start time.Time) {
	if s.usage == nil {
		return
	}
	info := keygate.RequestInfoFromContext(r.Context())
	rid, _ := usage.ParseRequestID(info.RequestID)
	s.usage.Record(usage.Event{
		OrganizationID: rec.OrganizationID, KeyID: rec.KeyID, Method: r.Method, Route: verifyRoute, Path: verifyRoute,
		Status: status, Code: code, Latency: time.Since(start), IP: info.IP, UserAgent: info.UserAgent, At: s.now(),
		RequestID: rid, Service: stateFrom(r.Context()).service,
	})
}

// postPreflight answers a browser's CORS preflight of a POST-only path.
var postPreflight = corsPreflight([]string{http.MethodPost, http.MethodOptions})

// postOnly serves the POST of a path that takes no API key (leak reports,
// verification), answering its CORS preflight and refusing other
// methods with the API's 405. Registered for every method, such a path
// keeps other methods from falling through to /api/v1/keys/{id}.
func postOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			h(w, r)
		case http.MethodOptions:
			postPreflight(w, r)
		default:
			w.Header().Set("Allow", http.MethodPost)
			apiError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("Method %q not allowed.", r.Method))
		}
	}
}
