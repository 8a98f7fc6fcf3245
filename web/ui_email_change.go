package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// emailChangeable reports whether people may change their email: the new
// address confirms it through a link, so email must be configured.
func (s *Server) emailChangeable() bool { return s.emailChanges != nil && s.mailer != nil }

// emailChanging reports whether the profile form asks for a new email.
func (s *Server) emailChanging(r *http.Request) bool {
	email := strings.TrimSpace(r.PostFormValue("email"))
	return s.emailChangeable() && email != "" && keygate.NormalizeEmail(email) != pageFrom(r).user.Email
}

// requestEmailChange asks the new address to confirm a change of the
// acting user's email, and tells the old one. It returns the sentence the
// flash adds, or "" when email is unchanged. The current password is
// checked under the account's login throttle, as a password change is.
func (s *Server) requestEmailChange(w http.ResponseWriter, r *http.Request, email string) (string, error) {
	user := pageFrom(r).user
	if !s.emailChanging(r) {
		return "", nil
	}
	attempt, retry := s.reservePasswordCheck(user)
	if retry > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(retry.Seconds()))))
		return "", keygate.Errorf(keygate.ERATELIMIT, "%s", retryText(retry))
	}
	change, err := s.emailChanges.RequestEmailChange(r.Context(), r.PostFormValue("profile_password"), email)
	switch _, wrong := keygate.ErrorFields(err)["current_password"]; {
	case wrong:
		attempt.failed()
	case err == nil || isFormError(err):
		attempt.succeeded()
	default:
		attempt.cancel()
	}
	if err != nil {
		return "", err
	}
	ctx := context.WithoutCancel(r.Context())
	s.recovery.mail.Add(1)
	go func() {
		defer s.recovery.mail.Done()
		s.mailEmailChange(ctx, change)
	}()
	return " We sent a link to " + change.NewEmail + " to confirm it; your email stays " + user.Email + " until then.", nil
}

// emailChangeForm puts the errors of an email change beside the profile
// form's fields: its password field is "profile_password", apart from the
// password form's "current_password" on the same page.
func emailChangeForm(f views.Form, err error) views.Form {
	f = formWithError(f, err)
	if msg, ok := f.Errors["current_password"]; ok {
		delete(f.Errors, "current_password")
		f.Errors["profile_password"] = msg
	}
	return f
}

// mailEmailChange sends the confirmation link to the new address and a
// notice to the old one.
func (s *Server) mailEmailChange(ctx context.Context, c *keygate.EmailChange) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	link := s.linkBaseURL() + "/email/confirm/" + c.Token
	body := "Someone, hopefully you, asked to use this address for the Keygate account " + c.User.Email + ".\n\n" +
		"Open this link to confirm it. It works once, for 24 hours:\n\n" + link + "\n\n" +
		"If you did not ask, ignore this email: nothing changes.\n"
	if err := s.mailer.Send(ctx, c.NewEmail, "Confirm your new Keygate email", body); err != nil {
		s.logger.Error("mail email change", "error", err.Error())
	}
	notice := "Your Keygate email is being changed to " + c.NewEmail + ".\n\n" +
		"The change takes effect once the new address confirms it. If you did not ask for it, " +
		"change your password and end your other sessions in Settings.\n"
	if err := s.mailer.Send(ctx, c.User.Email, "Your Keygate email is being changed", notice); err != nil {
		s.logger.Error("mail email change notice", "error", err.Error())
	}
}

func (s *Server) handleConfirmEmailPage(w http.ResponseWriter, r *http.Request) {
	resetHeaders(w)
	c, err := s.emailChanges.FindEmailChange(r.Context(), r.PathValue("token"))
	if err != nil {
		s.emailLinkGone(w, r, err)
		return
	}
	action := "/email/confirm/" + r.PathValue("token")
	s.render(w, r, http.StatusOK, views.ConfirmEmailPage(s.layout(r, "Confirm your new email", ""), action, c.User.Email, c.NewEmail))
}

func (s *Server) handleConfirmEmail(w http.ResponseWriter, r *http.Request) {
	resetHeaders(w)
	u, err := s.emailChanges.ConfirmEmailChange(r.Context(), r.PathValue("token"))
	if err != nil {
		s.emailLinkGone(w, r, err)
		return
	}
	msg := "Your email is now " + u.Email + "."
	if pc := pageFrom(r); pc.user != nil && pc.user.ID == u.ID {
		s.addFlash(w, r, "success", msg)
		http.Redirect(w, r, "/settings", http.StatusSeeOther)
		return
	}
	s.addFlash(w, r, "success", msg+" Log in with it.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// emailLinkGone answers a confirmation link that no longer works, or an
// error.
func (s *Server) emailLinkGone(w http.ResponseWriter, r *http.Request, err error) {
	switch keygate.ErrorCode(err) {
	case keygate.ENOTFOUND, keygate.ECONFLICT:
		s.render(w, r, emailGoneStatus(err), views.EmailLinkGonePage(s.layout(r, "Link expired", ""), keygate.ErrorMessage(err)))
	default:
		s.Error(w, r, err)
	}
}

// emailGoneStatus is 410 for a link that no longer works, 409 for an
// address another account took meanwhile.
func emailGoneStatus(err error) int {
	if keygate.ErrorCode(err) == keygate.ECONFLICT {
		return http.StatusConflict
	}
	return http.StatusGone
}
