package web

import (
	"net/http"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// userSettings builds the user settings page with the given forms.
func (s *Server) userSettings(r *http.Request, profile, password views.Form) (views.UserSettings, error) {
	user := pageFrom(r).user
	if profile.Values == nil {
		profile.Values = map[string]string{"name": user.Name}
	}
	if profile.Values["email"] == "" {
		profile.Values["email"] = user.Email
	}
	rows, err := s.sessions.FindUserSessions(r.Context())
	if err != nil {
		return views.UserSettings{}, err
	}
	current := currentSessionRow(r)
	now := s.now()
	out := views.UserSettings{Profile: profile, Password: password, HasPassword: user.HasPassword, EmailChangeable: s.emailChangeable()}
	if s.twoFactor != nil {
		out.SecurityURL = "/settings/security"
	}
	if s.notifications != nil {
		out.NotificationsURL = "/settings/notifications"
	}
	for _, row := range rows {
		out.Sessions = append(out.Sessions, views.Session{
			ID: row.PublicID, Browser: describeUserAgent(row.UserAgent), IP: row.IP,
			Created: views.Time{At: row.CreatedAt, Now: now}, LastSeen: views.Time{At: row.LastSeenAt, Now: now},
			IsCurrent: current != nil && current.ID == row.ID,
		})
	}
	return out, nil
}

func (s *Server) renderUserSettings(w http.ResponseWriter, r *http.Request, status int, profile, password views.Form) {
	vm, err := s.userSettings(r, profile, password)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, status, views.UserSettingsPage(s.layout(r, "Settings", ""), vm))
}

func (s *Server) handleUserSettings(w http.ResponseWriter, r *http.Request) {
	s.renderUserSettings(w, r, http.StatusOK, views.Form{}, views.Form{})
}

func (s *Server) handleUpdateProfile(w http.ResponseWriter, r *http.Request) {
	// A new email needs a recent sign-in (ui_stepup.go).
	if s.stepUp(w, r, func() bool { return s.emailChanging(r) }) {
		return
	}
	f := formOf(r, "name", "email")
	if _, err := s.users.UpdateProfile(r.Context(), f.Value("name")); isFormError(err) {
		s.renderUserSettings(w, r, ErrorStatus(err), formWithError(f, err), views.Form{})
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	// A new email waits for its confirmation (ui_email_change.go).
	sent, err := s.requestEmailChange(w, r, f.Value("email"))
	if isFormError(err) {
		s.renderUserSettings(w, r, ErrorStatus(err), emailChangeForm(f, err), views.Form{})
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Profile saved."+sent)
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// handleChangePassword changes the password and ends every other session in
// one step, then gives this one a new id: a password change is a privilege
// change.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	// The current password is checked under the account's login throttle,
	// reserved in advance, so that a stolen session cannot guess it faster
	// than a login could.
	attempt, retry := s.reservePasswordCheck(pageFrom(r).user)
	if retry > 0 {
		s.throttled(w, r, retry)
		return
	}
	var keep int64
	if row := currentSessionRow(r); row != nil {
		keep = row.ID
	}
	err := s.users.ChangePassword(r.Context(), r.PostFormValue("current_password"), r.PostFormValue("new_password"), keep)
	switch _, wrong := keygate.ErrorFields(err)["current_password"]; {
	case wrong:
		attempt.failed()
	case err == nil || keygate.ErrorCode(err) == keygate.EINVALID:
		attempt.succeeded() // the current password was right
	default:
		attempt.cancel()
	}
	if isFormError(err) {
		s.renderUserSettings(w, r, ErrorStatus(err), views.Form{}, formWithError(views.Form{}, err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.logIn(w, r, pageFrom(r).user); err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Password changed. Your other sessions have been ended.")
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.DeleteUserSession(r.Context(), r.PathValue("id")); err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Session ended.")
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

func (s *Server) handleEndOtherSessions(w http.ResponseWriter, r *http.Request) {
	row := currentSessionRow(r)
	if row == nil {
		s.Error(w, r, keygate.Errorf(keygate.EUNAUTHORIZED, "Your session has ended. Log in again."))
		return
	}
	n, err := s.sessions.DeleteOtherUserSessions(r.Context(), row.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	msg := "No other sessions to end."
	if n == 1 {
		msg = "Ended 1 other session."
	} else if n > 1 {
		msg = "Ended " + itoa(n) + " other sessions."
	}
	s.addFlash(w, r, "success", msg)
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}
