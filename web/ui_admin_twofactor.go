package web

import (
	"net/http"
	"net/url"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// adminTwoFactorUsers returns who has two-step verification on, or none
// where it is not wired.
func (s *Server) adminTwoFactorUsers(r *http.Request) (map[int64]bool, error) {
	if s.twoFactor == nil {
		return nil, nil
	}
	return s.twoFactor.TwoFactorUsers(r.Context())
}

// resetTwoFactorConfirmURL opens the confirmation of a reset of u's two-step
// verification.
func resetTwoFactorConfirmURL(u *keygate.User) string {
	return "/admin/users?" + url.Values{"confirm": {"reset-2fa"}, "user": {u.PublicID}}.Encode()
}

// resetTwoFactorConfirm asks before a superuser turns off u's two-step
// verification.
func resetTwoFactorConfirm(u *keygate.User) *views.AdminConfirm {
	return &views.AdminConfirm{
		Title: "Reset two-step verification", Button: "Reset two-step verification", Danger: true,
		Action: "/admin/users/" + u.PublicID + "/reset-2fa", CancelURL: "/admin/users",
		Question: "Turn off two-step verification for " + u.Name + " (" + u.Email + ")? Their authenticator app, passkeys and recovery codes stop working, " +
			"they are logged out everywhere, and they are told by email.",
	}
}

// handleAdminResetTwoFactor turns off a person's two-step verification, for
// someone who lost their phone and their recovery codes, and tells them.
func (s *Server) handleAdminResetTwoFactor(w http.ResponseWriter, r *http.Request) {
	if s.twoFactor == nil {
		s.notFound(w, r)
		return
	}
	u, err := s.twoFactor.ResetTwoFactor(r.Context(), r.PathValue("user"))
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	msg := "Two-step verification is off for " + u.Name + ". Their sessions have ended."
	if s.mailer != nil {
		body := "Hello " + u.Name + ",\n\nTwo-step verification was turned off for your account by an administrator of Keygate" +
			" at " + s.now().UTC().Format("2 January 2006 15:04 MST") + ", and your sessions were ended.\n\n" +
			"Log in with your password and turn it on again in Settings > Security.\n" +
			"If you did not ask for this, tell your administrator at once.\n"
		if err := s.mailer.Send(r.Context(), u.Email, "Two-step verification was turned off for your account by an administrator", body); err != nil {
			s.logger.Warn("send two-step reset email", "error", err.Error())
			msg += " The email telling them could not be sent."
		}
	}
	s.addFlash(w, r, "success", msg)
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}
