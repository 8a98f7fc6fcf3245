package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// Texts of the Idempotency-Key answers. API clients match on the codes.
const (
	msgIdempotencyKeyLong   = "The Idempotency-Key header must be at most 255 characters."
	msgIdempotencyKeyReused = "This Idempotency-Key was already used with a different request body."
	msgIdempotencyKeyInUse  = "A request with this Idempotency-Key is still being processed. Retry once it has finished."
)

var idempotentReplayed = []string{"true"}

// idempotencyClaimTTL bounds how long a request's claim on its
// Idempotency-Key holds when the replica serving it stops mid-request:
// longer than any request runs (the HTTPS server's write timeout is a
// minute), short enough that a retry is not refused for long.
const idempotencyClaimTTL = 2 * time.Minute

// idempotencyReleaseTimeout bounds the release of a claim once its
// request has been answered.
const idempotencyReleaseTimeout = 5 * time.Second

// IdempotencyClaims marks API requests with an Idempotency-Key in flight
// where every replica sees them (sqlstore.IdempotencyService).
type IdempotencyClaims interface {
	// ClaimIdempotencyKey claims key for ttl unless it is claimed already
	// (ok false), and returns the token that releases the claim.
	ClaimIdempotencyKey(ctx context.Context, orgID int64, method, path, key string, ttl time.Duration) (token string, ok bool, err error)
	// ReleaseIdempotencyKey ends the claim with token.
	ReleaseIdempotencyKey(ctx context.Context, orgID int64, method, path, key, token string) error
}

// idempotency makes POST requests that carry an Idempotency-Key safe to
// retry, with Stripe's semantics: a retry within keygate.IdempotencyTTL
// with the same body gets the first answer again (Idempotent-Replayed:
// true) and runs nothing; with another body it is a 422; while the first
// is still running, a 409. Only successful answers are kept, so a request
// refused for its input can be corrected and sent again with the same key.
type idempotency struct {
	svc keygate.IdempotencyService // nil: the header is ignored
	// claims holds the keys whose first request is being served, for
	// several replicas; nil means running does, for one process.
	claims IdempotencyClaims

	mu sync.Mutex
	// running holds the keys whose first request this process serves:
	// a request cut short by a restart leaves nothing behind that would
	// block its retry.
	running map[idempotencySlot]struct{}
}

// idempotencySlot is what a key is scoped to: an organization, a method
// and a path.
type idempotencySlot struct {
	orgID             int64
	method, path, key string
}

func newIdempotency(svc keygate.IdempotencyService, claims IdempotencyClaims) *idempotency {
	return &idempotency{svc: svc, claims: claims, running: map[idempotencySlot]struct{}{}}
}

// claim marks slot's request in flight. It returns ok false if another
// request with the key is, and otherwise the func that ends the claim.
func (i *idempotency) claim(ctx context.Context, slot idempotencySlot) (release func(), ok bool, err error) {
	if i.claims != nil {
		token, ok, err := i.claims.ClaimIdempotencyKey(ctx, slot.orgID, slot.method, slot.path, slot.key, idempotencyClaimTTL)
		if !ok || err != nil {
			return nil, false, err
		}
		return func() {
			// A claim not released (the database failed, or the client
			// left and the release took too long) lapses after
			// idempotencyClaimTTL.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), idempotencyReleaseTimeout)
			defer cancel()
			i.claims.ReleaseIdempotencyKey(ctx, slot.orgID, slot.method, slot.path, slot.key, token)
		}, true, nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, busy := i.running[slot]; busy {
		return nil, false, nil
	}
	i.running[slot] = struct{}{}
	return func() {
		i.mu.Lock()
		defer i.mu.Unlock()
		delete(i.running, slot)
	}, true, nil
}

// idempotent wraps an API handler of a POST route.
func (s *Server) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || s.idem.svc == nil {
			h(w, r)
			return
		}
		if len(key) > keygate.IdempotencyKeyMax {
			apiError(w, http.StatusBadRequest, "invalid_request", msgIdempotencyKeyLong)
			return
		}
		body, ok := bufferBody(r)
		if !ok {
			h(w, r) // too large: the handler refuses it, and nothing is kept
			return
		}
		slot := idempotencySlot{orgID: apiKeyFrom(r.Context()).OrganizationID, method: r.Method, path: r.URL.Path, key: key}
		// Claimed before the lookup, so that a retry cannot miss an answer
		// being kept between its lookup and its run.
		release, ok, err := s.idem.claim(r.Context(), slot)
		if err != nil {
			s.apiErr(w, r, err)
			return
		} else if !ok {
			apiError(w, http.StatusConflict, "idempotency_key_in_use", msgIdempotencyKeyInUse)
			return
		}
		defer release()
		hash := requestHash(body)
		kept, err := s.idem.svc.FindIdempotentResponse(r.Context(), slot.orgID, slot.method, slot.path, key, s.now().Add(-keygate.IdempotencyTTL))
		switch {
		case err == nil && !bytes.Equal(kept.RequestHash, hash):
			apiError(w, http.StatusUnprocessableEntity, "idempotency_key_reused", msgIdempotencyKeyReused)
		case err == nil:
			w.Header()["Idempotent-Replayed"] = idempotentReplayed
			writeJSONHeader(w, kept.Status)
			w.Write(kept.Body)
		case keygate.ErrorCode(err) != keygate.ENOTFOUND:
			s.apiErr(w, r, err)
		default:
			s.runAndKeep(w, r, h, &keygate.IdempotentResponse{OrganizationID: slot.orgID, Method: slot.method, Path: slot.path, Key: key, RequestHash: hash})
		}
	}
}

// runAndKeep serves the request, keeps a successful answer, and only then
// sends it: a retry that arrives once the client has it finds it kept.
func (s *Server) runAndKeep(w http.ResponseWriter, r *http.Request, h http.HandlerFunc, keep *keygate.IdempotentResponse) {
	rec := &answerRecorder{header: w.Header()}
	h(rec, r)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if status >= 200 && status < 300 {
		keep.Status, keep.Body = status, rec.body.Bytes()
		if rec.replay != nil {
			keep.Body = rec.replay
		}
		if carriesKey(keep.Body) {
			// Defence in depth: a handler that shows a secret must say what a
			// retry gets instead (keepInstead); this one did not.
			s.logger.Error("answer not kept for retries: it carries an API key", "route", r.Pattern)
		} else if err := s.idem.svc.SaveIdempotentResponse(context.WithoutCancel(r.Context()), keep); err != nil {
			s.logger.Error("keep answer for retries", "route", r.Pattern, "error", err.Error())
		}
	}
	w.WriteHeader(status)
	w.Write(rec.body.Bytes())
}

// answerRecorder holds a handler's answer until it is kept. Headers go
// straight to the response.
type answerRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	// replay is what a retry gets in place of the body, which carries a
	// secret; nil means the body itself.
	replay []byte
}

func (a *answerRecorder) Header() http.Header { return a.header }

func (a *answerRecorder) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(b)
}

// keepInstead says what a retry with the same Idempotency-Key gets in place
// of the answer being written, which shows a secret (a key, an invitation
// link) that is sent once and kept nowhere. Without an Idempotency-Key it
// does nothing.
func keepInstead(w http.ResponseWriter, v any) {
	if a, ok := w.(*answerRecorder); ok {
		a.replay = encodeJSON(v)
	}
}

// encodeJSON is v as writeJSON writes it.
func encodeJSON(v any) []byte {
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(v)
	return b.Bytes()
}

// bufferBody reads the request's body so that it can be hashed, and puts
// it back for the handler. It reports false for a body over maxBodyBytes,
// which the handler then reads (and refuses) as it is.
func bufferBody(r *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	rest := r.Body
	if err != nil || len(body) > maxBodyBytes {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), rest))
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true
}

// requestHash is the SHA-256 of a body in canonical JSON (keys sorted,
// numbers as written, no spaces), so that a retry that encodes the same
// object another way is the same request; a body that is not JSON is
// hashed as it is.
func requestHash(body []byte) []byte {
	canonical := body
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) == nil && !dec.More() {
		if b, err := json.Marshal(v); err == nil {
			canonical = b
		}
	}
	sum := sha256.Sum256(canonical)
	return sum[:]
}

// carriesKey reports whether b holds a well-formed API key.
func carriesKey(b []byte) bool {
	s := string(b)
	for {
		i := strings.Index(s, apikey.Prefix)
		if i < 0 {
			return false
		}
		if len(s)-i >= apikey.Len {
			if _, err := apikey.Parse(s[i : i+apikey.Len]); err == nil {
				return true
			}
		}
		s = s[i+len(apikey.Prefix):]
	}
}
