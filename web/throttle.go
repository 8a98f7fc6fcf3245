package web

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// Password attempts are throttled per account and per client address for
// browsers unknown to the account, and per device for browsers that hold
// the account's device cookie (device.go).
const (
	loginWindow          = 15 * time.Minute
	loginAccountFailures = 5
	loginIPFailures      = 50
	loginDeviceFailures  = 5
)

// defaultSignupRateLimit applies when Config.SignupRateLimit is zero.
var defaultSignupRateLimit = ratelimit.Limit{Count: 10, Period: time.Hour}

// ThrottleStore keeps the login and signup throttles where every replica
// sees them (sqlstore.RateLimitStore).
type ThrottleStore interface {
	ratelimit.FailureStore
	ratelimit.BucketStore
}

// newLoginThrottle returns a throttle of password attempts that blocks a
// key after limit failures in loginWindow, on the server's clock (nil means
// time.Now) so that tests can advance it: in store, shared by every
// replica, or in this process's memory when store is nil.
func newLoginThrottle(limit int, now func() time.Time, store ThrottleStore, logger *slog.Logger) ratelimit.Throttler {
	if store == nil {
		return &ratelimit.FailureWindow{Limit: limit, Window: loginWindow, Now: now}
	}
	return &ratelimit.SharedFailureWindow{Limit: limit, Window: loginWindow, Now: now, Store: store,
		OnError: func(err error) { logger.Warn("login throttle", "error", err.Error()) }}
}

// newSignupLimiter returns the limiter of signups per client address: in
// store, where each signup is one exact trip, or in memory when store is
// nil.
func newSignupLimiter(now func() time.Time, store ThrottleStore, logger *slog.Logger) ratelimit.Limiter {
	if store == nil {
		return &ratelimit.GCRA{Now: now}
	}
	l := ratelimit.NewShared(store)
	l.Now, l.MaxBatch = now, 1
	l.OnError = func(err error) { logger.Warn("signup limit", "error", err.Error()) }
	return l
}

// throttleKey is one key of one throttle.
type throttleKey struct {
	t   ratelimit.Throttler
	key string
}

// passwordAttempt is one password check, reserved in advance against every
// throttle key it counts against. The reservation counts as a failure until
// the attempt turns out otherwise, so that concurrent guesses cannot all
// pass the throttle before any of them has failed.
//
// A nil *passwordAttempt counts nothing.
type passwordAttempt struct {
	// keys[0] is the account's or the device's key, reset by a success;
	// any others are released by a success.
	keys []throttleKey
}

// reserve reserves an attempt against keys, all or none. It returns the
// longest wait if any key is blocked.
func reserve(keys ...throttleKey) (*passwordAttempt, time.Duration) {
	for i, k := range keys {
		if retry := k.t.Reserve(k.key); retry > 0 {
			for _, held := range keys[:i] {
				held.t.Release(held.key)
			}
			return nil, retry
		}
	}
	return &passwordAttempt{keys: keys}, 0
}

// reserveLogin reserves a login attempt for email: per device for a
// browser that holds the account's device cookie, else per account and
// per client address.
func (s *Server) reserveLogin(r *http.Request, email string) (*passwordAttempt, time.Duration) {
	if nonce, ok := s.knownDevice(r, email); ok {
		return reserve(throttleKey{s.loginDevices, "device:" + nonce})
	}
	ip := keygate.RequestInfoFromContext(r.Context()).IP
	return reserve(
		throttleKey{s.loginAccounts, "acct:" + keygate.NormalizeEmail(email)},
		throttleKey{s.loginIPs, "ip:" + ip},
	)
}

// reservePasswordCheck reserves a check of the acting user's password, as
// when they change it: under their account's login throttle. A user without
// a password has none to guess: the attempt is nil, which counts nothing.
func (s *Server) reservePasswordCheck(user *keygate.User) (*passwordAttempt, time.Duration) {
	if !user.HasPassword {
		return nil, 0
	}
	return reserve(throttleKey{s.loginAccounts, "acct:" + keygate.NormalizeEmail(user.Email)})
}

// failed keeps the attempt as a failure and returns how long its keys are
// blocked now, or 0.
func (a *passwordAttempt) failed() time.Duration {
	if a == nil {
		return 0
	}
	var retry time.Duration
	for _, k := range a.keys {
		retry = max(retry, k.t.Check(k.key))
	}
	return retry
}

// succeeded forgets the failures of the account (or device) whose password
// was right, and gives back the reservation of the client address.
func (a *passwordAttempt) succeeded() {
	if a == nil {
		return
	}
	a.keys[0].t.Reset(a.keys[0].key)
	for _, k := range a.keys[1:] {
		k.t.Release(k.key)
	}
}

// cancel gives back the reservation of an attempt that was not a failure,
// such as one that could not be completed.
func (a *passwordAttempt) cancel() {
	if a == nil {
		return
	}
	for _, k := range a.keys {
		k.t.Release(k.key)
	}
}

// retryText says in words when to try again.
func retryText(d time.Duration) string {
	return "Too many failed login attempts. Try again in " + minutesText(d) + "."
}

// minutesText is d rounded up to whole minutes, in words: "1 minute",
// "15 minutes".
func minutesText(d time.Duration) string {
	minutes := int(math.Ceil(d.Minutes()))
	if minutes <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", minutes)
}

// throttled answers a password attempt made while its throttle is blocked.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	s.tooManyRequests(w, r, retry, retryText(retry))
}

// tooManyRequests answers 429 with Retry-After and msg.
func (s *Server) tooManyRequests(w http.ResponseWriter, r *http.Request, retry time.Duration, msg string) {
	w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(retry.Seconds()))))
	s.errorPage(w, r, http.StatusTooManyRequests, msg)
}

// signupAllowed counts a signup against the client's address and reports
// how long to wait if it is over SignupRateLimit. Every attempt counts,
// whatever its outcome, so that probing for existing emails is behind the
// limit too.
func (s *Server) signupAllowed(r *http.Request) (retryAfter time.Duration) {
	ip := keygate.RequestInfoFromContext(r.Context()).IP
	d := s.signups.Allow("signup:"+ip, s.cfg.SignupRateLimit)
	if d.Allowed {
		return 0
	}
	return max(d.RetryAfter, time.Second)
}

// signupThrottled answers a signup over the limit of its address.
func (s *Server) signupThrottled(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	s.tooManyRequests(w, r, retry, "Too many signups from your network. Try again in "+minutesText(retry)+".")
}
