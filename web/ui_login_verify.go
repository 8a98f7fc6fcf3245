package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// PendingLoginCookieName holds a login whose password was right and whose
// second step is still to come. The __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain.
const PendingLoginCookieName = "__Host-keygate_pending_login"

// pendingLoginTTL is how long the second step may take.
const pendingLoginTTL = 5 * time.Minute

// pendingLogin is the sealed content of the pending-login cookie.
type pendingLogin struct {
	UserID int64  `json:"u"`
	At     int64  `json:"t"` // when the password was checked, Unix seconds on the server's clock
	Next   string `json:"n"`
}

// newPendingLoginCodec returns the codec that encrypts and signs pending
// logins, with keys of its own derived from the session key.
func newPendingLoginCodec(sessionKey []byte) *securecookie.SecureCookie {
	derive := func(label string) []byte {
		mac := hmac.New(sha256.New, sessionKey)
		mac.Write([]byte(label))
		return mac.Sum(nil)
	}
	codec := securecookie.New(derive("pending-login-mac"), derive("pending-login-aes"))
	codec.MaxAge(int(pendingLoginTTL / time.Second))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return codec
}

// startSecondStep sends a person with two-step verification on to
// /login/verify instead of logging them in, and reports whether it did
// (or answered with an error).
func (s *Server) startSecondStep(w http.ResponseWriter, r *http.Request, user *keygate.User, next string) bool {
	if s.twoFactor == nil {
		return false
	}
	hasApp, hasPasskey, err := s.secondFactors(r, user)
	if err != nil {
		s.Error(w, r, err)
		return true
	}
	if !hasApp && !hasPasskey {
		return false
	}
	s.setPendingLogin(w, pendingLogin{UserID: user.ID, At: s.now().Unix(), Next: next}, int(pendingLoginTTL/time.Second))
	http.Redirect(w, r, "/login/verify", http.StatusSeeOther)
	return true
}

// setPendingLogin writes the cookie; maxAge < 0 deletes it.
func (s *Server) setPendingLogin(w http.ResponseWriter, p pendingLogin, maxAge int) {
	value := ""
	if maxAge > 0 {
		var err error
		if value, err = s.pendingCodec.Encode(PendingLoginCookieName, p); err != nil {
			maxAge, value = -1, ""
		}
	}
	http.SetCookie(w, &http.Cookie{Name: PendingLoginCookieName, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// pendingUser returns the pending login of the request and its user, if
// the cookie is genuine, younger than pendingLoginTTL on the server's
// clock, and its user can still log in.
func (s *Server) pendingUser(r *http.Request) (*pendingLogin, *keygate.User, bool) {
	c, err := r.Cookie(PendingLoginCookieName)
	if err != nil || s.twoFactor == nil {
		return nil, nil, false
	}
	var p pendingLogin
	if err := s.pendingCodec.Decode(PendingLoginCookieName, c.Value, &p); err != nil {
		return nil, nil, false
	}
	if age := s.now().Sub(time.Unix(p.At, 0)); age < 0 || age > pendingLoginTTL {
		return nil, nil, false
	}
	user, err := s.users.FindUserByID(r.Context(), p.UserID)
	if err != nil || user.DisabledAt != nil {
		return nil, nil, false
	}
	return &p, user, true
}

func (s *Server) renderLoginVerify(w http.ResponseWriter, r *http.Request, status int, v views.LoginVerify) {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.LoginVerifyPage(s.layout(r, "Two-step verification", ""), v))
}

// secondFactors reports whether user has an authenticator app and a
// passkey.
func (s *Server) secondFactors(r *http.Request, user *keygate.User) (hasApp, hasPasskey bool, err error) {
	if _, err := s.twoFactor.FindTOTP(r.Context(), user.ID); err == nil {
		hasApp = true
	} else if keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return false, false, err
	}
	hasPasskey, err = s.hasPasskey(r, user.ID)
	return hasApp, hasPasskey, err
}

// renderVerifyMethod shows the second step with the ways user has: the
// passkey first, then the app, and recovery codes always.
func (s *Server) renderVerifyMethod(w http.ResponseWriter, r *http.Request, user *keygate.User, status int, v views.LoginVerify) {
	var err error
	if v.HasApp, v.HasPasskey, err = s.secondFactors(r, user); err != nil {
		s.Error(w, r, err)
		return
	}
	v.HasPasskey = v.HasPasskey && s.passkeysOn()
	if v.Passkey && !v.HasPasskey {
		v.Passkey = false
	}
	if !v.Passkey && !v.Recovery && !v.HasApp {
		// No app to ask a code of: the passkey, else a recovery code.
		v.Passkey, v.Recovery = v.HasPasskey, !v.HasPasskey
	}
	s.renderLoginVerify(w, r, status, v)
}

func (s *Server) handleLoginVerifyPage(w http.ResponseWriter, r *http.Request) {
	_, user, ok := s.pendingUser(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	method := r.URL.Query().Get("method")
	v := views.LoginVerify{Recovery: method == "recovery", Passkey: method == "passkey" || method == ""}
	s.renderVerifyMethod(w, r, user, http.StatusOK, v)
}

// handleLoginVerify checks the second step, under the same throttle as
// the password, and logs the person in as handleLogin does.
func (s *Server) handleLoginVerify(w http.ResponseWriter, r *http.Request) {
	p, user, ok := s.pendingUser(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	recovery := r.PostFormValue("method") == "recovery"
	field, code := "code", r.PostFormValue("code")
	if recovery {
		field, code = "recovery_code", r.PostFormValue("recovery_code")
	}
	refuse := func(status int, msg string) {
		s.renderVerifyMethod(w, r, user, status, views.LoginVerify{Recovery: recovery, Form: views.Form{Errors: map[string]string{field: msg}}})
	}
	// An empty field is a slip, not a guess: it never counts.
	if strings.TrimSpace(code) == "" {
		msg := "Enter the 6-digit code from your app."
		if recovery {
			msg = "Enter a recovery code."
		}
		refuse(http.StatusBadRequest, msg)
		return
	}
	attempt, retry := s.reserveLogin(r, user.Email)
	if retry > 0 {
		s.throttled(w, r, retry)
		return
	}
	left, msg, err := s.checkSecondStep(r, user, recovery, code)
	if err != nil {
		attempt.cancel()
		s.Error(w, r, err)
		return
	}
	if msg != "" {
		if retry := attempt.failed(); retry > 0 {
			s.throttled(w, r, retry)
			return
		}
		refuse(http.StatusUnauthorized, msg)
		return
	}
	attempt.succeeded()
	s.setPendingLogin(w, pendingLogin{}, -1)
	flash := ""
	if recovery {
		flash = recoveryLeftText(left)
	}
	s.completeLogin(w, r, user, p.Next, flash)
}

// checkSecondStep checks an app's code or a recovery code. A wrong code
// yields the message to show; err is for failures of the service.
func (s *Server) checkSecondStep(r *http.Request, user *keygate.User, recovery bool, code string) (left int, msg string, err error) {
	ctx := r.Context()
	if recovery {
		left, err = s.twoFactor.UseRecoveryCode(ctx, user.ID, hashRecoveryCode(code))
		if keygate.ErrorCode(err) == keygate.EUNAUTHORIZED {
			return 0, "That recovery code is not valid, or was used already.", nil
		}
		return left, "", err
	}
	t, err := s.twoFactor.FindTOTP(ctx, user.ID)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return 0, "You have no authenticator app. Use your passkey or a recovery code.", nil
	} else if err != nil {
		return 0, "", err
	}
	step, ok := s.matchTOTP(t.Secret, code)
	if !ok {
		return 0, "That code is not right. Check the time on your phone and enter the code your app shows now.", nil
	}
	// A code is good once: one seen already in its window is refused.
	if err := s.twoFactor.UseTOTPStep(ctx, user.ID, step); keygate.ErrorCode(err) == keygate.ECONFLICT {
		return 0, "This code was used already. Wait for your app to show the next one.", nil
	} else if err != nil {
		return 0, "", err
	}
	return 0, "", nil
}

// recoveryLeftText tells how many recovery codes remain.
func recoveryLeftText(left int) string {
	switch left {
	case 0:
		return "You used your last recovery code. Make new ones in Settings > Security now."
	case 1:
		return "Recovery code used. 1 recovery code left."
	}
	return "Recovery code used. " + itoa(left) + " recovery codes left."
}
