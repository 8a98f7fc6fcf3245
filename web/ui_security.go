package web

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// requireTwoFactor answers 404 where two-step verification is not wired
// (an instance without a secret key).
func (s *Server) requireTwoFactor(next http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if s.twoFactor == nil {
			s.notFound(w, r)
			return
		}
		next(w, r)
	})
}

// renderSecurity shows Settings > Security with the status read now and
// what vm already holds (forms, a pending enrollment, new codes).
func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, status int, vm views.Security) {
	st, err := s.twoFactor.TwoFactorStatus(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	vm.Enabled, vm.RecoveryCodesLeft, vm.HasPassword = st.Enabled, st.RecoveryCodesLeft, pageFrom(r).user.HasPassword
	if vm.Enabled {
		vm.Enroll = nil
	}
	vm.Continue = s.securityContinue(r)
	if err := s.securityPasskeys(r, &vm); err != nil {
		s.Error(w, r, err)
		return
	}
	// New recovery codes are on this answer only: never cached, never
	// shown again.
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.SecurityPage(s.layout(r, "Security", ""), vm))
}

func (s *Server) handleSecurity(w http.ResponseWriter, r *http.Request) {
	s.renderSecurity(w, r, http.StatusOK, views.Security{})
}

// enrollView shows the pending secret's QR code and key.
func (s *Server) enrollView(r *http.Request, secret string) (*views.TOTPEnroll, error) {
	email := pageFrom(r).user.Email
	key, err := totpKey(email, secret)
	if err != nil {
		return nil, err
	}
	qr, err := totpQR(key)
	if err != nil {
		return nil, err
	}
	return &views.TOTPEnroll{QR: qr, Secret: groupSecret(key.Secret()), Account: email}, nil
}

func (s *Server) handleTOTPBegin(w http.ResponseWriter, r *http.Request) {
	key, err := totpKey(pageFrom(r).user.Email, "")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.twoFactor.BeginTOTP(r.Context(), key.Secret()); keygate.ErrorCode(err) == keygate.ECONFLICT {
		s.renderSecurity(w, r, http.StatusConflict, views.Security{})
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	enroll, err := s.enrollView(r, key.Secret())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderSecurity(w, r, http.StatusOK, views.Security{Enroll: enroll})
}

func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	secret, err := s.twoFactor.PendingTOTP(r.Context())
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		http.Redirect(w, r, "/settings/security", http.StatusSeeOther)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	step, ok := s.matchTOTP(secret, r.PostFormValue("code"))
	if !ok {
		enroll, err := s.enrollView(r, secret)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		f := views.Form{Errors: map[string]string{"code": codeMessage(r.PostFormValue("code"))}}
		s.renderSecurity(w, r, http.StatusBadRequest, views.Security{Enroll: enroll, Confirm: f})
		return
	}
	// The recovery codes come with the first factor only: a person with
	// a passkey has theirs already (EnableTOTP keeps them).
	hadPasskey, err := s.hasPasskey(r, pageFrom(r).user.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	codes, hashes := newRecoveryCodes(keygate.RecoveryCodeCount)
	if err := s.twoFactor.EnableTOTP(r.Context(), step, hashes); err != nil {
		s.Error(w, r, err)
		return
	}
	if hadPasskey {
		codes = nil
	}
	s.renderSecurity(w, r, http.StatusOK, views.Security{RecoveryCodes: codes})
}

// codeMessage says what is wrong with a code that did not match.
func codeMessage(code string) string {
	if strings.TrimSpace(code) == "" {
		return "Enter the 6-digit code from your app."
	}
	return "That code is not right. Check the time on your phone and enter the code your app shows now."
}

// checkFactor checks the current code from the app, or else the password,
// under the account's login throttle. It answers the request itself and
// returns false when the check failed.
func (s *Server) checkFactor(w http.ResponseWriter, r *http.Request, prefix string, render func(views.Form)) bool {
	user := pageFrom(r).user
	code, password := r.PostFormValue(prefix+"-code"), r.PostFormValue(prefix+"-password")
	if strings.TrimSpace(code) == "" && password == "" {
		// Without an app, the password is the only field.
		if _, err := s.twoFactor.FindTOTP(r.Context(), user.ID); keygate.ErrorCode(err) == keygate.ENOTFOUND {
			render(views.Form{Errors: map[string]string{"password": "Enter your password."}})
		} else {
			render(views.Form{Errors: map[string]string{"code": "Enter a code from your app or your password."}})
		}
		return false
	}
	// Codes and passwords alike count against the account's login
	// throttle, so that a stolen session cannot guess faster than a login.
	attempt, retry := reserve(throttleKey{s.loginAccounts, "acct:" + keygate.NormalizeEmail(user.Email)})
	if retry > 0 {
		s.throttled(w, r, retry)
		return false
	}
	var ok bool
	if strings.TrimSpace(code) != "" {
		t, err := s.twoFactor.FindTOTP(r.Context(), user.ID)
		if err != nil {
			attempt.cancel()
			s.Error(w, r, err)
			return false
		}
		step, match := s.matchTOTP(t.Secret, code)
		ok = match && s.twoFactor.UseTOTPStep(r.Context(), user.ID, step) == nil
	} else {
		var err error
		if ok, err = s.twoFactor.CheckPassword(r.Context(), password); err != nil {
			attempt.cancel()
			s.Error(w, r, err)
			return false
		}
	}
	if !ok {
		if retry := attempt.failed(); retry > 0 {
			s.throttled(w, r, retry)
			return false
		}
		field, msg := "code", codeMessage(code)
		if strings.TrimSpace(code) == "" {
			field, msg = "password", "Password is incorrect."
		}
		render(views.Form{Errors: map[string]string{field: msg}})
		return false
	}
	attempt.succeeded()
	return true
}

func (s *Server) handleTOTPDisable(w http.ResponseWriter, r *http.Request) {
	if !s.checkFactor(w, r, "disable", func(f views.Form) {
		s.renderSecurity(w, r, http.StatusBadRequest, views.Security{Disable: f})
	}) {
		return
	}
	if err := s.twoFactor.DisableTOTP(r.Context()); err != nil {
		s.Error(w, r, err)
		return
	}
	msg := "Two-step verification is off."
	if has, err := s.hasPasskey(r, pageFrom(r).user.ID); err != nil {
		s.Error(w, r, err)
		return
	} else if has {
		msg = "The authenticator app is removed. Your passkeys still protect your account."
	}
	s.addFlash(w, r, "success", msg)
	http.Redirect(w, r, "/settings/security", http.StatusSeeOther)
}

func (s *Server) handleRegenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	if !s.checkFactor(w, r, "regenerate", func(f views.Form) {
		s.renderSecurity(w, r, http.StatusBadRequest, views.Security{Regenerate: f})
	}) {
		return
	}
	codes, hashes := newRecoveryCodes(keygate.RecoveryCodeCount)
	if err := s.twoFactor.ReplaceRecoveryCodes(r.Context(), hashes); err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderSecurity(w, r, http.StatusOK, views.Security{RecoveryCodes: codes})
}
