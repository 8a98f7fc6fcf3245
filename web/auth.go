package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// lastSeenEvery bounds how often a session's last-seen time is written.
const lastSeenEvery = time.Minute

// authenticate loads the session and, if it names a live, enabled user,
// puts the user in the request context. It never refuses a request.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc := &pageContext{}
		ctx := context.WithValue(r.Context(), pageContextKey{}, pc)
		r = r.WithContext(ctx)
		sess, err := s.store.Get(r, SessionCookieName)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		pc.session = sess
		if uid, ok := sess.Values[sessionUserID].(int64); ok && uid != 0 {
			user, err := s.users.FindUserByID(ctx, uid)
			switch {
			case err == nil && user.DisabledAt == nil:
				pc.user = user
				stateFrom(ctx).user = user
				r = r.WithContext(keygate.NewContextWithUser(ctx, user))
				s.touchSession(r)
			case err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND:
				s.Error(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// touchSession records that the session was used, at most once a minute, so
// the idle timeout counts from the last use.
func (s *Server) touchSession(r *http.Request) {
	row := currentSessionRow(r)
	if row == nil || s.now().Sub(row.LastSeenAt) < lastSeenEvery {
		return
	}
	info := keygate.RequestInfoFromContext(r.Context())
	row.IP, row.UserAgent = info.IP, info.UserAgent
	if err := s.sessions.UpdateSession(r.Context(), row); err != nil {
		s.logger.Warn("touch session", "error", err.Error())
	}
}

// requireUser sends people who are not logged in to the login page.
func (s *Server) requireUser(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if pageFrom(r).user == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.Error(w, r, keygate.Errorf(keygate.EUNAUTHORIZED, "Your session has ended. Log in again."))
			return
		}
		next(w, r)
	}
}

// requireOrg loads the organization named in the path for the logged-in
// user. Not being a member is a 404, like a missing organization. An
// organization that requires single sign-on answers a session that did not
// come through its provider with the page that starts one; one that
// requires two-factor authentication sends a person without a factor to
// set one up (ui_org_security.go).
func (s *Server) requireOrg(next http.HandlerFunc) http.HandlerFunc {
	return s.loadOrg(true, next)
}

// requireOrgMember is requireOrg for what a member may do from any
// session, such as leaving the organization.
func (s *Server) requireOrgMember(next http.HandlerFunc) http.HandlerFunc {
	return s.loadOrg(false, next)
}

func (s *Server) loadOrg(ssoGate bool, next http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		org, err := s.orgs.FindOrganizationByID(r.Context(), r.PathValue("org"))
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if ssoGate && s.orgSSORequired(r, org) {
			s.renderOrgSSORequired(w, r, org)
			return
		}
		if ssoGate && orgTwoFactorRequired(r, org) {
			s.refuseWithoutTwoFactor(w, r, org)
			return
		}
		pageFrom(r).org = org
		next(w, r)
	})
}

// requireOrgAdmin is requireOrg for pages that need Admin or Owner.
func (s *Server) requireOrgAdmin(message string, next http.HandlerFunc) http.HandlerFunc {
	return s.requireOrg(func(w http.ResponseWriter, r *http.Request) {
		if !pageFrom(r).org.Role.AtLeast(keygate.RoleAdmin) {
			s.Error(w, r, keygate.Errorf(keygate.EFORBIDDEN, "%s", message))
			return
		}
		next(w, r)
	})
}

// logIn starts a fresh session for user, who has just authenticated: a
// new id and token, so a session id planted before login is worthless
// after it.
func (s *Server) logIn(w http.ResponseWriter, r *http.Request, user *keygate.User) error {
	return s.logInWith(w, r, user, nil)
}

// renewSession gives the session of the logged-in user a new id and token
// after a privilege change, keeping when they last authenticated.
func (s *Server) renewSession(w http.ResponseWriter, r *http.Request) error {
	pc := pageFrom(r)
	// A session that never authenticated (or not since this was kept)
	// stays so: 0 is never recent.
	at, _ := pc.session.Values[sessionAuthAt].(int64)
	return s.logInWith(w, r, pc.user, map[any]any{sessionAuthAt: at})
}

// logInWith is logIn with more values for the new session. A session of
// the same person keeps the organizations it came through by single
// sign-on (a role change renews the id, and must not undo them).
func (s *Server) logInWith(w http.ResponseWriter, r *http.Request, user *keygate.User, values map[any]any) error {
	pc := pageFrom(r)
	sess := pc.session
	ssoOrgs, _ := sess.Values[sessionSSOOrgs].(string)
	if pc.user == nil || pc.user.ID != user.ID {
		ssoOrgs = ""
	}
	if err := s.store.Regenerate(r.Context(), sess); err != nil {
		return err
	}
	sess.Values = map[any]any{sessionUserID: user.ID, sessionAuthAt: s.now().Unix()}
	if ssoOrgs != "" {
		sess.Values[sessionSSOOrgs] = ssoOrgs
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	r = r.WithContext(keygate.NewContextWithUser(r.Context(), user))
	return sess.Save(r, w)
}

// addFlash queues a message for the next page the session sees.
func (s *Server) addFlash(w http.ResponseWriter, r *http.Request, kind, message string) {
	sess := pageFrom(r).session
	if sess == nil {
		return
	}
	sess.AddFlash(map[string]string{"kind": kind, "message": message})
	if err := sess.Save(r, w); err != nil {
		s.logger.Error("save flash", "error", err.Error())
	}
}

// takeFlashes returns and clears the session's flashes.
func (s *Server) takeFlashes(r *http.Request) []views.Flash {
	pc := pageFrom(r)
	if pc.session == nil {
		return nil
	}
	var out []views.Flash
	for _, f := range pc.session.Flashes() {
		if m, ok := f.(map[string]string); ok {
			out = append(out, views.Flash{Kind: m["kind"], Message: m["message"]})
		}
	}
	if len(out) > 0 {
		pc.dirty = true
	}
	return out
}

// safeNext returns next if it is a local path, else "".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return next
}

// endSession deletes the request's session and its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
	sess.Options.MaxAge = -1
	return sess.Save(r, w)
}
