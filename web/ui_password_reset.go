package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/views"
)

// Requests for a password reset link are limited per client address (over
// it: the 429 page) and per account (over it: the same answer as always,
// and no email), so that nobody can flood an inbox or probe at speed.
var (
	resetAddressLimit = ratelimit.Limit{Count: 5, Period: 15 * time.Minute}
	resetAccountLimit = ratelimit.Limit{Count: 3, Period: time.Hour}
)

// recovery holds what password recovery keeps between requests.
type recovery struct {
	limiter ratelimit.Limiter
	// mail counts the emails being sent in the background.
	mail sync.WaitGroup
}

// newRecovery returns recovery's state: its limits in store, shared by
// every replica, or in this process's memory when store is nil.
func newRecovery(now func() time.Time, store ThrottleStore, logger *slog.Logger) *recovery {
	if store == nil {
		return &recovery{limiter: &ratelimit.GCRA{Now: now}}
	}
	l := ratelimit.NewShared(store)
	l.Now, l.MaxBatch = now, 1
	l.OnError = func(err error) { logger.Warn("password reset limit", "error", err.Error()) }
	return &recovery{limiter: l}
}

// WaitBackground waits for the emails the server is sending in the
// background, as a shutdown should.
func (s *Server) WaitBackground() { s.recovery.mail.Wait() }

// ifWired is h when the service it needs is wired, and the 404 page of an
// unknown address otherwise.
func (s *Server) ifWired(wired bool, h http.HandlerFunc) http.HandlerFunc {
	if !wired {
		return s.notFound
	}
	return h
}

func (s *Server) handleForgotPasswordPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, views.ForgotPasswordPage(s.layout(r, "Reset your password", ""), views.Form{}, false, s.mailer == nil))
}

func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "Reset your password", "")
	if s.mailer == nil {
		s.render(w, r, http.StatusOK, views.ForgotPasswordPage(l, views.Form{}, false, true))
		return
	}
	ip := keygate.RequestInfoFromContext(r.Context()).IP
	if d := s.recovery.limiter.Allow("reset-ip:"+ip, resetAddressLimit); !d.Allowed {
		retry := max(d.RetryAfter, time.Second)
		s.tooManyRequests(w, r, retry, "Too many password reset requests from your network. Try again in "+minutesText(retry)+".")
		return
	}
	f := formOf(r, "email")
	email := keygate.NormalizeEmail(f.Value("email"))
	if msg := keygate.ValidateEmail(email); msg != "" {
		f.Errors = map[string]string{"email": msg}
		s.render(w, r, http.StatusBadRequest, views.ForgotPasswordPage(l, f, false, false))
		return
	}
	// Over the account's limit the answer is the same, without an email.
	// The account is looked up, and the email sent, after the answer's
	// work is done, so that its timing says nothing of the account.
	if s.recovery.limiter.Allow("reset-acct:"+email, resetAccountLimit).Allowed {
		ctx := context.WithoutCancel(r.Context())
		s.recovery.mail.Add(1)
		go func() {
			defer s.recovery.mail.Done()
			s.mailPasswordReset(ctx, email)
		}()
	}
	s.render(w, r, http.StatusOK, views.ForgotPasswordPage(l, views.Form{}, true, false))
}

// mailPasswordReset emails email's account a link, or, for an account
// without a password, how it signs in; an unknown address gets nothing.
func (s *Server) mailPasswordReset(ctx context.Context, email string) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	reset, err := s.resets.RequestPasswordReset(ctx, email)
	var subject, body string
	switch keygate.ErrorCode(err) {
	case "":
		subject = "Reset your Keygate password"
		body = "Someone, hopefully you, asked to reset the password of your Keygate account (" + email + ").\n\n" +
			"Open this link to choose a new password. It works once, for 1 hour:\n\n" + s.resetLink(reset.Token) + "\n\n" +
			"If you did not ask, ignore this email: your password stays as it is.\n"
	case keygate.EFORBIDDEN:
		subject = "Signing in to Keygate"
		body = "Someone, hopefully you, asked to reset the password of your Keygate account (" + email + ").\n\n" +
			"Your account has no password: you sign in with a single sign-on provider, on the login page:\n\n" +
			s.linkBaseURL() + "/login\n\nIf you did not ask, ignore this email.\n"
	case keygate.ENOTFOUND:
		return
	default:
		s.logger.Error("password reset", "error", err.Error())
		return
	}
	if err := s.mailer.Send(ctx, email, subject, body); err != nil {
		s.logger.Error("mail password reset", "error", err.Error())
	}
}

// resetLink is the address of a reset link, named by the configured
// addresses, never the request's Host header.
func (s *Server) resetLink(token string) string {
	return s.linkBaseURL() + "/password/reset/" + token
}

// resetHeaders keep a reset link out of caches and out of the Referer of
// anything the page loads or links to.
func resetHeaders(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

func (s *Server) handleResetPasswordPage(w http.ResponseWriter, r *http.Request) {
	resetHeaders(w)
	user, err := s.resets.FindPasswordReset(r.Context(), r.PathValue("token"))
	if err != nil {
		s.resetGone(w, r, err)
		return
	}
	s.renderResetPassword(w, r, http.StatusOK, views.Form{}, user)
}

func (s *Server) renderResetPassword(w http.ResponseWriter, r *http.Request, status int, f views.Form, user *keygate.User) {
	action := "/password/reset/" + r.PathValue("token")
	s.render(w, r, status, views.ResetPasswordPage(s.layout(r, "Choose a new password", ""), f, action, user.Email))
}

// resetGone answers a link that no longer works, or an error.
func (s *Server) resetGone(w http.ResponseWriter, r *http.Request, err error) {
	if keygate.ErrorCode(err) != keygate.ENOTFOUND {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusGone, views.ResetLinkGonePage(s.layout(r, "Link expired", "")))
}

func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) {
	resetHeaders(w)
	token, next := r.PathValue("token"), r.PostFormValue("new_password")
	user, err := s.resets.FindPasswordReset(r.Context(), token)
	if err != nil {
		s.resetGone(w, r, err)
		return
	}
	if next != r.PostFormValue("confirm_password") {
		f := views.Form{Errors: map[string]string{"confirm_password": "The passwords do not match."}}
		s.renderResetPassword(w, r, http.StatusBadRequest, f, user)
		return
	}
	changed, err := s.resets.ResetPassword(r.Context(), token, next)
	if keygate.ErrorCode(err) == keygate.EINVALID {
		s.renderResetPassword(w, r, http.StatusBadRequest, formWithError(views.Form{}, err), user)
		return
	} else if err != nil {
		s.resetGone(w, r, err)
		return
	}
	// Failed guesses of the old password no longer hold the account back.
	s.loginAccounts.Reset("acct:" + keygate.NormalizeEmail(changed.Email))
	// The store ended every session of the user, this browser's too: it
	// starts afresh, logged out, to carry the message.
	if sess := pageFrom(r).session; sess != nil {
		if err := s.store.Regenerate(r.Context(), sess); err != nil {
			s.Error(w, r, err)
			return
		}
		sess.Values = map[any]any{}
	}
	s.addFlash(w, r, "success", "Your password has been changed. Log in with your new password.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) handleAdminResetLink(w http.ResponseWriter, r *http.Request) {
	reset, err := s.resets.MakePasswordResetLink(r.Context(), r.PathValue("user"))
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	resetHeaders(w)
	// Shown on this answer only: never in a redirect, a flash or a log.
	l := s.layout(r, "Password reset link · Admin", "")
	s.render(w, r, http.StatusOK, views.AdminResetLinkPage(l, reset.User.Name, reset.User.Email, s.resetLink(reset.Token)))
}
