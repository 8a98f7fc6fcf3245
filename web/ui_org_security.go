package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// sessionTwoFactorNext is the organization page a session was sent away
// from to set up two-step verification, for the Security page's
// "Continue to ..." link once it has.
const sessionTwoFactorNext = "two_factor_next"

// hasTwoFactor reports whether the acting user has a second factor, as
// the store read it with the organization.
func hasTwoFactor(org *keygate.Organization) bool { return org.ActorHasTwoFactor }

// orgTwoFactorRequired reports whether org's pages must refuse this
// session: the organization requires two-factor authentication, the person
// has no factor, and the session did not come through the organization's
// own single sign-on (whose provider checks factors itself).
func orgTwoFactorRequired(r *http.Request, org *keygate.Organization) bool {
	return org.RequireTwoFactor && !hasTwoFactor(org) && !slices.Contains(sessionSSOOrgList(r), org.PublicID)
}

// refuseWithoutTwoFactor sends a page view to the personal Security page,
// to come back once a factor is set up; any other request is refused.
func (s *Server) refuseWithoutTwoFactor(w http.ResponseWriter, r *http.Request, org *keygate.Organization) {
	msg := org.Name + " requires two-factor authentication. Set up an authenticator app or a passkey to continue."
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.Error(w, r, keygate.Errorf(keygate.EFORBIDDEN, "%s", msg))
		return
	}
	next := r.URL.RequestURI()
	if sess := pageFrom(r).session; sess != nil {
		sess.Values[sessionTwoFactorNext] = next
	}
	s.addFlash(w, r, "info", msg) // saves the session
	http.Redirect(w, r, "/settings/security?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// securityContinue is the personal Security page's way back to the
// organization page that asked for a factor (the next parameter, else
// the session's), once the person has one. Shown, it is forgotten.
func (s *Server) securityContinue(r *http.Request) *views.ContinueLink {
	pc := pageFrom(r)
	if pc.session == nil {
		return nil
	}
	next := safeNext(r.URL.Query().Get("next"))
	saved, _ := pc.session.Values[sessionTwoFactorNext].(string)
	if next == "" {
		next = safeNext(saved)
	}
	rest, ok := strings.CutPrefix(next, "/orgs/")
	if !ok {
		return nil
	}
	orgID, _, _ := strings.Cut(rest, "/")
	orgID, _, _ = strings.Cut(orgID, "?")
	org, err := s.orgs.FindOrganizationByID(r.Context(), orgID)
	if err != nil || !hasTwoFactor(org) {
		return nil
	}
	if saved != "" {
		delete(pc.session.Values, sessionTwoFactorNext)
		pc.dirty = true
	}
	return &views.ContinueLink{Label: "Continue to " + org.Name, URL: next}
}

// renderOrgSecurity shows the organization's Settings > Security, with
// form as submitted or, if empty, the saved state.
func (s *Server) renderOrgSecurity(w http.ResponseWriter, r *http.Request, status int, form views.Form) {
	org := pageFrom(r).org
	l := s.layout(r, "Security", "settings")
	p := views.OrgSecurity{Nav: views.SettingsNav{SettingsURL: l.Org.URL("settings"), Active: "security"},
		CanEdit: l.Org.IsOwner, Required: org.RequireTwoFactor, Form: form, Action: l.Org.URL("settings/security")}
	if l.Org.IsAdmin {
		p.Nav.APIKeysURL, p.Nav.AuditURL = l.Org.URL("api-keys"), l.Org.URL("audit-log")
		p.Nav.SSOURL, p.Nav.PermissionsURL = s.orgSSOSettingsURL(*l.Org), s.permissionsURL(*l.Org)
		if s.integrations != nil {
			p.Nav.IntegrationsURL = l.Org.URL("settings/integrations")
		}
	}
	if p.Form.Values == nil {
		p.Form.Values = map[string]string{}
		if org.RequireTwoFactor {
			p.Form.Values["require_two_factor"] = "1"
		}
	}
	s.render(w, r, status, views.OrgSecurityPage(l, p))
}

func (s *Server) handleOrgSecurity(w http.ResponseWriter, r *http.Request) {
	s.renderOrgSecurity(w, r, http.StatusOK, views.Form{})
}

func (s *Server) handleSaveOrgSecurity(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "require_two_factor")
	require := f.Value("require_two_factor") == "1"
	_, err := s.orgs.SetRequireTwoFactor(r.Context(), pageFrom(r).org.PublicID, require)
	if isFormError(err) {
		s.renderOrgSecurity(w, r, ErrorStatus(err), formWithError(f, err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	msg := "Two-factor authentication is no longer required."
	if require {
		msg = "Two-factor authentication is now required."
	}
	s.addFlash(w, r, "success", msg)
	http.Redirect(w, r, "/orgs/"+pageFrom(r).org.PublicID+"/settings/security", http.StatusSeeOther)
}
