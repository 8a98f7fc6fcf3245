package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// Step-up ("sudo mode"): dangerous actions need an authentication within
// the last stepUpWindow. A staler session gets the "Confirm it's you"
// dialog instead, which carries the submitted form sealed, so that the
// action proceeds with the same data once the person has confirmed.
const (
	stepUpWindow = 10 * time.Minute
	// stepUpFormTTL is how long a dialog may stay open.
	stepUpFormTTL = 10 * time.Minute
)

// Session values of step-up: when the session last authenticated (Unix
// seconds on the server's clock) and the dialog it may still confirm.
const (
	sessionAuthAt = "auth_at"
	sessionStepUp = "stepup"
)

// Fields of the dialog's form. Names start with "_stepup" so that they
// cannot clash with the fields of the form they carry.
const (
	stepUpFormField     = "_stepup_form"
	stepUpCodeField     = "_stepup_code"
	stepUpPasswordField = "_stepup_password"
)

// stepUpForm is the sealed content of the dialog's hidden field: the form
// being confirmed, for one path, one session and one use.
type stepUpForm struct {
	Path    string     `json:"p"`
	Values  url.Values `json:"v"`
	Nonce   string     `json:"n"`
	Session string     `json:"s"`
	// Expires is when the dialog stops working, Unix seconds on the
	// server's clock.
	Expires int64 `json:"e"`
}

// newStepUpCodec returns the codec that encrypts and signs carried forms,
// with keys of its own derived from the session key.
func newStepUpCodec(sessionKey []byte) *securecookie.SecureCookie {
	derive := func(label string) []byte {
		mac := hmac.New(sha256.New, sessionKey)
		mac.Write([]byte(label))
		return mac.Sum(nil)
	}
	codec := securecookie.New(derive("step-up-mac"), derive("step-up-aes"))
	codec.MaxAge(int(stepUpFormTTL / time.Second))
	codec.MaxLength(1 << 20)
	codec.SetSerializer(securecookie.JSONEncoder{})
	return codec
}

// authenticatedAt returns when the request's session last authenticated.
func (s *Server) authenticatedAt(r *http.Request) (time.Time, bool) {
	sess := pageFrom(r).session
	if sess == nil {
		return time.Time{}, false
	}
	at, ok := sess.Values[sessionAuthAt].(int64)
	return time.Unix(at, 0), ok && at > 0
}

// recentlyAuthenticated reports whether the session authenticated within
// stepUpWindow on the server's clock.
func (s *Server) recentlyAuthenticated(r *http.Request) bool {
	at, ok := s.authenticatedAt(r)
	if !ok {
		return false
	}
	age := s.now().Sub(at)
	return age >= 0 && age <= stepUpWindow
}

// requireStepUp runs next once the session has authenticated recently,
// else answers with the "Confirm it's you" dialog.
func (s *Server) requireStepUp(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.stepUp(w, r, nil) {
			return
		}
		next(w, r)
	}
}

// stepUp lets an action proceed, or answers the request itself and
// returns true: with the dialog, or with the refusal of a wrong, replayed
// or foreign confirmation. needed, when given, says from the form whether
// this submission is a dangerous one (an Admin key, a new email); it is
// asked only of forms not yet confirmed. A confirmation is checked even
// when the session is recent, so that a dialog submitted twice acts once.
func (s *Server) stepUp(w http.ResponseWriter, r *http.Request, needed func() bool) bool {
	if err := r.ParseForm(); err != nil {
		s.Error(w, r, keygate.Errorf(keygate.EINVALID, "The form could not be read. Reload the page and try again."))
		return true
	}
	if sealed := r.PostFormValue(stepUpFormField); sealed != "" {
		return s.confirmStepUp(w, r, sealed)
	}
	if s.recentlyAuthenticated(r) || (needed != nil && !needed()) {
		return false
	}
	s.renderStepUp(w, r, http.StatusOK, r.PostForm, views.Form{})
	return true
}

// renderStepUp shows the dialog carrying values, with a new nonce that the
// session keeps: only the latest dialog of a session can be confirmed.
func (s *Server) renderStepUp(w http.ResponseWriter, r *http.Request, status int, values url.Values, f views.Form) {
	pc := pageFrom(r)
	carried := url.Values{}
	for k, vs := range values {
		if !strings.HasPrefix(k, "_stepup") {
			carried[k] = vs
		}
	}
	nonce := rand.Text()
	sum := sha256.Sum256([]byte(nonce))
	pc.session.Values[sessionStepUp] = hex.EncodeToString(sum[:])
	if err := pc.session.Save(r, w); err != nil {
		s.Error(w, r, err)
		return
	}
	sealed, err := s.stepUpCodec.Encode(stepUpFormField, stepUpForm{Path: r.URL.Path, Values: carried, Nonce: nonce,
		Session: pc.session.ID, Expires: s.now().Add(stepUpFormTTL).Unix()})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	factors, err := s.stepUpFactors(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	v := views.StepUp{Action: r.URL.RequestURI(), Sealed: sealed, Form: f, Code: factors.code,
		Passkey: factors.passkey, Password: factors.password, SSO: factors.sso, Cancel: stepUpCancel(r)}
	// The dialog may carry what the person typed: never cached.
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.StepUpPage(s.layout(r, "Confirm it's you", ""), v))
}

// stepUpFactorSet is how a person can confirm.
type stepUpFactorSet struct {
	code, passkey, password bool
	// sso lists the providers of a person with neither.
	sso []views.SSOButton
}

// stepUpFactors says how the acting person can confirm: with their second
// factors (a code from their authenticator app, a passkey) when they have
// one, else their password, else their identity provider.
func (s *Server) stepUpFactors(r *http.Request) (stepUpFactorSet, error) {
	user := pageFrom(r).user
	var f stepUpFactorSet
	if s.twoFactor != nil {
		_, err := s.twoFactor.FindTOTP(r.Context(), user.ID)
		switch keygate.ErrorCode(err) {
		case "":
			f.code = true
		case keygate.ENOTFOUND:
		default:
			return f, err
		}
	}
	if s.passkeysOn() {
		keys, err := s.passkeys.UserPasskeys(r.Context(), user.ID)
		if err != nil {
			return f, err
		}
		f.passkey = len(keys) > 0
	}
	f.password = !f.code && !f.passkey && user.HasPassword
	if !f.code && !f.passkey && !f.password {
		var err error
		if f.sso, err = s.stepUpProviders(r); err != nil {
			return f, err
		}
	}
	return f, nil
}

// stepUpCancel is where "Cancel" leads: the page the form was on, when it
// is one of ours.
func stepUpCancel(r *http.Request) string {
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
		if next := safeNext(ref.RequestURI()); next != "" {
			return next
		}
	}
	return "/"
}

// confirmStepUp checks a submitted dialog: the sealed form must be for
// this path and session and carry the session's current nonce, and the
// factor must be right. Then the session counts as recently authenticated
// and the carried form replaces the request's, and it returns false.
func (s *Server) confirmStepUp(w http.ResponseWriter, r *http.Request, sealed string) bool {
	pc := pageFrom(r)
	var form stepUpForm
	if err := s.stepUpCodec.Decode(stepUpFormField, sealed, &form); err != nil || form.Path != r.URL.Path || form.Session != pc.session.ID ||
		s.now().Unix() > form.Expires {
		s.errorPage(w, r, http.StatusBadRequest, "This confirmation has expired. Go back and try again.")
		return true
	}
	want, _ := pc.session.Values[sessionStepUp].(string)
	sum := sha256.Sum256([]byte(form.Nonce))
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(hex.EncodeToString(sum[:]))) != 1 {
		s.errorPage(w, r, http.StatusConflict, "This confirmation was used already. Go back and try again.")
		return true
	}
	// A session that authenticated meanwhile (through its identity
	// provider) needs no factor: the nonce alone makes this the one use.
	if !s.recentlyAuthenticated(r) {
		factors, err := s.stepUpFactors(r)
		if err != nil {
			s.Error(w, r, err)
			return true
		}
		f, ok := s.checkStepUpFactor(w, r, factors)
		if f == nil {
			return true // answered: throttled or failed
		}
		if !ok {
			s.renderStepUp(w, r, http.StatusUnauthorized, form.Values, *f)
			return true
		}
	}
	delete(pc.session.Values, sessionStepUp)
	pc.session.Values[sessionAuthAt] = s.now().Unix()
	if err := pc.session.Save(r, w); err != nil {
		s.Error(w, r, err)
		return true
	}
	r.PostForm, r.Form = form.Values, form.Values
	return false
}

// checkStepUpFactor checks the dialog's code or password under the
// account's login throttle. It returns the form to show again when the
// factor is wrong, ok when it is right, and a nil form when it answered
// the request itself.
func (s *Server) checkStepUpFactor(w http.ResponseWriter, r *http.Request, factors stepUpFactorSet) (*views.Form, bool) {
	user := pageFrom(r).user
	code, password := strings.TrimSpace(r.PostFormValue(stepUpCodeField)), r.PostFormValue(stepUpPasswordField)
	passkey := factors.passkey && r.PostFormValue("credential") != ""
	switch {
	case passkey:
	case factors.passkey && !factors.code:
		return &views.Form{Errors: map[string]string{"passkey": "Use your passkey to confirm."}}, false
	case factors.code && code == "":
		return &views.Form{Errors: map[string]string{"code": "Enter the 6-digit code from your app."}}, false
	case factors.password && password == "":
		return &views.Form{Errors: map[string]string{"password": "Enter your password."}}, false
	case !factors.code && !factors.passkey && !factors.password && len(factors.sso) > 0:
		return &views.Form{Error: "Confirm with your identity provider below."}, false
	case !factors.code && !factors.passkey && !factors.password:
		return &views.Form{Error: "Your account has no password or second factor to confirm with. Log out and log in again, then retry within 10 minutes."}, false
	}
	attempt, retry := reserve(throttleKey{s.loginAccounts, "acct:" + keygate.NormalizeEmail(user.Email)})
	if retry > 0 {
		s.throttled(w, r, retry)
		return nil, false
	}
	var ok bool
	var err error
	if passkey {
		// The challenge is spent whatever the outcome; a wrong passkey
		// counts as a wrong code.
		switch err = s.CheckPasskeyConfirmation(w, r); keygate.ErrorCode(err) {
		case "":
			ok = true
		case keygate.EUNAUTHORIZED, keygate.EINVALID:
			if retry := attempt.failed(); retry > 0 {
				s.throttled(w, r, retry)
				return nil, false
			}
			return &views.Form{Errors: map[string]string{"passkey": keygate.ErrorMessage(err)}}, false
		}
	} else {
		ok, err = s.stepUpFactorRight(r, user, factors, code, password)
	}
	if err != nil {
		attempt.cancel()
		s.Error(w, r, err)
		return nil, false
	}
	if !ok {
		if retry := attempt.failed(); retry > 0 {
			s.throttled(w, r, retry)
			return nil, false
		}
		if factors.code {
			return &views.Form{Errors: map[string]string{"code": codeMessage(code)}}, false
		}
		return &views.Form{Errors: map[string]string{"password": "Password is incorrect."}}, false
	}
	attempt.succeeded()
	return &views.Form{}, true
}

// stepUpFactorRight checks a code (good once) or a password.
func (s *Server) stepUpFactorRight(r *http.Request, user *keygate.User, factors stepUpFactorSet, code, password string) (bool, error) {
	ctx := r.Context()
	if factors.code {
		t, err := s.twoFactor.FindTOTP(ctx, user.ID)
		if err != nil {
			return false, err
		}
		step, ok := s.matchTOTP(t.Secret, code)
		if !ok {
			return false, nil
		}
		if err := s.twoFactor.UseTOTPStep(ctx, user.ID, step); keygate.ErrorCode(err) == keygate.ECONFLICT {
			return false, nil
		} else if err != nil {
			return false, err
		}
		return true, nil
	}
	if s.twoFactor != nil {
		return s.twoFactor.CheckPassword(ctx, password)
	}
	_, err := s.users.Authenticate(ctx, user.Email, password)
	if keygate.ErrorCode(err) == keygate.EUNAUTHORIZED {
		return false, nil
	}
	return err == nil, err
}

// sessionStepUpSSO keeps, while a person confirms through their identity
// provider, the sealed form they are confirming.
const sessionStepUpSSO = "stepup_sso"

// stepUpProviders lists the configured providers the acting user signs in
// with, for people whose only credential is single sign-on.
func (s *Server) stepUpProviders(r *http.Request) ([]views.SSOButton, error) {
	if s.identities == nil {
		return nil, nil
	}
	ids, err := s.identities.FindIdentities(r.Context())
	if err != nil {
		return nil, err
	}
	var out []views.SSOButton
	seen := map[string]bool{}
	for _, id := range ids {
		p := s.cfg.SSO.Get(id.Provider)
		if p == nil || seen[p.Key] {
			continue
		}
		seen[p.Key] = true
		out = append(out, views.SSOButton{Key: p.Key, Name: p.Name, URL: "/settings/step-up/" + p.Key})
	}
	return out, nil
}

// handleStepUpSSO sends a person without a password or second factor to
// their identity provider, asked to sign them in again, to confirm the
// dialog's form.
func (s *Server) handleStepUpSSO(w http.ResponseWriter, r *http.Request) {
	p := s.ssoProvider(r)
	if p == nil {
		s.notFound(w, r)
		return
	}
	pc := pageFrom(r)
	sealed := r.PostFormValue(stepUpFormField)
	var form stepUpForm
	if err := s.stepUpCodec.Decode(stepUpFormField, sealed, &form); err != nil || form.Session != pc.session.ID || s.now().Unix() > form.Expires {
		s.errorPage(w, r, http.StatusBadRequest, "This confirmation has expired. Go back and try again.")
		return
	}
	pc.session.Values[sessionStepUpSSO] = sealed
	if err := pc.session.Save(r, w); err != nil {
		s.Error(w, r, err)
		return
	}
	s.beginSSO(w, r, p, &ssoFlow{Intent: ssoIntentStepUp, UserID: pc.user.ID})
}

// finishSSOStepUp counts a fresh sign-in at the provider, by one of the
// logged-in user's own identities, as a recent authentication, and offers
// to finish the form it was for.
func (s *Server) finishSSOStepUp(w http.ResponseWriter, r *http.Request, flow *ssoFlow, ext *keygate.ExternalIdentity) {
	pc := pageFrom(r)
	if pc.user == nil || pc.user.ID != flow.UserID {
		s.ssoProblem(w, r, http.StatusBadRequest, errSSOBadState)
		return
	}
	ids, err := s.identities.FindIdentities(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	mine := false
	for _, id := range ids {
		if id.Provider == ext.Provider && id.Issuer == ext.Issuer && id.Subject == ext.Subject {
			mine = true
		}
	}
	if !mine {
		s.ssoProblem(w, r, http.StatusForbidden, views.SSOProblem{Title: "Not your account",
			Message: "You signed in to a different account at your identity provider. Sign in there as yourself and try again."})
		return
	}
	sealed, _ := pc.session.Values[sessionStepUpSSO].(string)
	delete(pc.session.Values, sessionStepUpSSO)
	pc.session.Values[sessionAuthAt] = s.now().Unix()
	if err := pc.session.Save(r, w); err != nil {
		s.Error(w, r, err)
		return
	}
	var form stepUpForm
	if err := s.stepUpCodec.Decode(stepUpFormField, sealed, &form); err != nil {
		s.addFlash(w, r, "success", "Confirmed. You can go on.")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	v := views.StepUp{Action: form.Path, Sealed: sealed, Confirmed: true, Cancel: "/"}
	s.render(w, r, http.StatusOK, views.StepUpPage(s.layout(r, "Confirm it's you", ""), v))
}

// reauthURL asks the provider to sign the person in again rather than
// reuse its own session: OpenID Connect's prompt=login and max_age=0.
// Google knows only max_age; GitHub neither, and signs in as before.
func reauthURL(authURL, provider string) string {
	u, err := url.Parse(authURL)
	if err != nil {
		return authURL
	}
	q := u.Query()
	switch provider {
	case "github":
		return authURL
	case "google":
	default:
		q.Set("prompt", "login")
	}
	q.Set("max_age", "0")
	u.RawQuery = q.Encode()
	return u.String()
}

// handleStepUpPasskeyBegin answers the dialog's passkey button with the
// options for navigator.credentials.get, restricted to the person's
// passkeys.
func (s *Server) handleStepUpPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	if !s.passkeysOn() {
		writeBeginError(w, http.StatusNotFound, "", "Passkeys are not available here. Use another way to confirm.")
		return
	}
	options, err := s.BeginPasskeyConfirmation(w, r)
	s.answerAssertionBegin(w, r, options, err)
}
