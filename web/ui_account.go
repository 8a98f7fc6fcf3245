package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// formOf returns the submitted values of the named fields, trimmed, and
// never a password.
func formOf(r *http.Request, names ...string) views.Form {
	f := views.Form{Values: map[string]string{}}
	for _, n := range names {
		f.Values[n] = strings.TrimSpace(r.PostFormValue(n))
	}
	return f
}

// formWithError fills f's errors from a service error. Field errors go
// beside their fields; anything else is shown above the form.
func formWithError(f views.Form, err error) views.Form {
	f.Errors = keygate.ErrorFields(err)
	if len(f.Errors) == 0 {
		f.Error = keygate.ErrorMessage(err)
	}
	return f
}

// isFormError reports whether err is one a form shows to its user rather
// than an error page.
func isFormError(err error) bool {
	switch keygate.ErrorCode(err) {
	case keygate.EINVALID, keygate.ECONFLICT, keygate.EUNAUTHORIZED:
		return true
	}
	return false
}

// signupClosedMessage says why signup is refused, in the mode in force: a
// superuser's instance setting, else the --signup flag.
func (s *Server) signupClosedMessage(r *http.Request) string {
	if mode, err := s.users.CurrentSignupMode(r.Context()); err == nil && mode == keygate.SignupInvite {
		return "Signup on this instance is by invitation only. Ask an administrator of your organization for an invitation link."
	}
	return "Signup is closed on this instance. Ask its administrator for an account."
}

func (s *Server) handleSignupPage(w http.ResponseWriter, r *http.Request) {
	if token := r.URL.Query().Get("invite"); token != "" && s.memberships != nil {
		s.renderInvitedSignup(w, r, http.StatusOK, token, views.Form{})
		return
	}
	if pageFrom(r).user != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	allowed, err := s.users.SignupAllowed(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderSignup(w, r, http.StatusOK, views.Form{}, allowed, s.signupClosedMessage(r))
}

// renderSignup shows the signup form, or why signup is refused. On an empty
// instance it says that this first account becomes the superuser.
func (s *Server) renderSignup(w http.ResponseWriter, r *http.Request, status int, f views.Form, allowed bool, closedMessage string) {
	has, err := s.users.HasUsers(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, status, views.SignupPage(s.layout(r, "Sign up", ""), f, allowed, closedMessage, !has))
}

// signupFirst sends a logged-out visitor of an instance without accounts to
// the signup form: there is no account to log in to yet.
func (s *Server) signupFirst(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if pageFrom(r).user == nil {
			has, err := s.users.HasUsers(r.Context())
			if err != nil {
				s.Error(w, r, err)
				return
			}
			if !has {
				http.Redirect(w, r, "/signup", http.StatusSeeOther)
				return
			}
		}
		next(w, r)
	}
}

// renderInvitedSignup shows the signup form of an invitation, or why the
// invitation cannot be used.
func (s *Server) renderInvitedSignup(w http.ResponseWriter, r *http.Request, status int, token string, f views.Form) {
	v, _ := s.invitationView(r, token)
	if v.Problem != "" || pageFrom(r).user != nil {
		s.render(w, r, max(status, http.StatusOK), views.InvitationPage(s.layout(r, "Invitation", ""), v))
		return
	}
	s.render(w, r, status, views.InvitedSignupPage(s.layout(r, "Sign up", ""), f, v, token))
}

// handleInvitedSignup creates the account of an invitee, who joins the
// inviting organization instead of getting one of their own.
func (s *Server) handleInvitedSignup(w http.ResponseWriter, r *http.Request, token string) {
	f := formOf(r, "name", "email")
	user, inv, err := s.users.SignupWithInvitation(r.Context(), &keygate.Signup{
		Name: f.Value("name"), Email: f.Value("email"), Password: r.PostFormValue("password"),
	}, token)
	if isFormError(err) || keygate.ErrorCode(err) == keygate.EFORBIDDEN || keygate.ErrorCode(err) == keygate.ENOTFOUND {
		s.renderInvitedSignup(w, r, ErrorStatus(err), token, formWithError(f, err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.logIn(w, r, user); err != nil {
		s.Error(w, r, err)
		return
	}
	// The browser that chose the password is known to the account from now on.
	if err := s.setDeviceCookie(w, user.Email); err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Welcome to "+inv.OrganizationName+". You joined as "+inv.Role.Label()+".")
	http.Redirect(w, r, "/orgs/"+inv.OrgPublicID, http.StatusSeeOther)
}

func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	if token := r.PostFormValue("invite"); token != "" && s.memberships != nil {
		s.handleInvitedSignup(w, r, token)
		return
	}
	if retry := s.signupAllowed(r); retry > 0 {
		s.signupThrottled(w, r, retry)
		return
	}
	f := formOf(r, "name", "email", "organization")
	user, org, err := s.users.Signup(r.Context(), &keygate.Signup{
		Name: f.Value("name"), Email: f.Value("email"), Password: r.PostFormValue("password"), OrganizationName: f.Value("organization"),
	})
	if keygate.ErrorCode(err) == keygate.EFORBIDDEN {
		s.renderSignup(w, r, http.StatusForbidden, f, false, s.signupClosedMessage(r))
		return
	} else if isFormError(err) {
		s.renderSignup(w, r, ErrorStatus(err), formWithError(f, err), true, "")
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.logIn(w, r, user); err != nil {
		s.Error(w, r, err)
		return
	}
	// The browser that chose the password is known to the account from now on.
	if err := s.setDeviceCookie(w, user.Email); err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", fmt.Sprintf("Welcome to Keygate! You are the Owner of %s.", org.Name))
	http.Redirect(w, r, "/orgs/"+org.PublicID, http.StatusSeeOther)
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if pageFrom(r).user != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	l := s.layout(r, "Log in", "")
	if r.URL.Query().Get("logged_out") == "1" {
		l.Flashes = append(l.Flashes, views.Flash{Kind: "success", Message: "You have been logged out."})
	}
	s.renderLogin(w, r, http.StatusOK, l, views.Form{}, safeNext(r.URL.Query().Get("next")))
}

// renderLogin shows the login form, with the signup link whenever signup
// is allowed, also after a failed attempt.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, l views.Layout, f views.Form, next string) {
	allowed, err := s.users.SignupAllowed(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, status, views.LoginPage(l, f, next, allowed, s.passkeysOn()))
}

// loginFormErrors asks for what is missing. An empty form is a slip, not a
// guess: it is answered before the throttle and never counts against it.
func loginFormErrors(email, password string) error {
	var v keygate.ValidationErrors
	if email == "" {
		v.Add("email", "Enter your email.")
	}
	if password == "" {
		v.Add("password", "Enter your password.")
	}
	return v.Err()
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "email")
	next := safeNext(r.PostFormValue("next"))
	if err := loginFormErrors(f.Value("email"), r.PostFormValue("password")); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, s.layout(r, "Log in", ""), formWithError(f, err), next)
		return
	}
	// Reserved before the password is checked, so that concurrent guesses
	// cannot all pass the throttle before any of them has failed.
	attempt, retry := s.reserveLogin(r, f.Value("email"))
	if retry > 0 {
		s.throttled(w, r, retry)
		return
	}
	user, err := s.users.Authenticate(r.Context(), f.Value("email"), r.PostFormValue("password"))
	if keygate.ErrorCode(err) == keygate.EUNAUTHORIZED {
		if retry := attempt.failed(); retry > 0 {
			s.throttled(w, r, retry)
			return
		}
		s.renderLogin(w, r, http.StatusUnauthorized, s.layout(r, "Log in", ""), formWithError(f, err), next)
		return
	} else if err != nil {
		attempt.cancel()
		s.Error(w, r, err)
		return
	}
	// With two-step verification on, the right password gives no session
	// yet, and the account's failures are forgotten only once the second
	// step passes too (ui_login_verify.go).
	if s.startSecondStep(w, r, user, next) {
		attempt.cancel()
		return
	}
	attempt.succeeded()
	s.completeLogin(w, r, user, next, "")
}

// completeLogin gives user a fresh session, makes this browser known to
// the account, queues flash (if any) and goes on to next.
func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, user *keygate.User, next, flash string) {
	if err := s.logIn(w, r, user); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.setDeviceCookie(w, user.Email); err != nil {
		s.Error(w, r, err)
		return
	}
	if flash != "" {
		s.addFlash(w, r, "warning", flash)
	}
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	pc := pageFrom(r)
	if pc.user != nil {
		if err := s.users.RecordLogout(r.Context()); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	if pc.session != nil {
		if err := s.endSession(w, r, pc.session); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	http.Redirect(w, r, "/login?logged_out=1", http.StatusSeeOther)
}
