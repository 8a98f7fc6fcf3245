package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// sessionSSOOrgs lists, comma-separated, the organizations whose own
// provider this session came through. A Require SSO organization's pages
// ask for it; a password session has none.
const sessionSSOOrgs = "sso_orgs"

// sessionSSOOrgList returns the organizations the session came through.
func sessionSSOOrgList(r *http.Request) []string {
	sess := pageFrom(r).session
	if sess == nil {
		return nil
	}
	v, _ := sess.Values[sessionSSOOrgs].(string)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// logInThroughOrg starts a fresh session for user, noting that it came
// through the organization's provider. When the same person was already
// logged in, the organizations their session came through before are
// kept, so that signing in to a second Require SSO organization does not
// lock them out of the first.
func (s *Server) logInThroughOrg(w http.ResponseWriter, r *http.Request, user *keygate.User, orgPublicID string) error {
	var orgs []string
	if cur := pageFrom(r).user; cur != nil && cur.ID == user.ID {
		orgs = sessionSSOOrgList(r)
	}
	if !slices.Contains(orgs, orgPublicID) {
		orgs = append(orgs, orgPublicID)
	}
	return s.logInWith(w, r, user, map[any]any{sessionSSOOrgs: strings.Join(orgs, ",")})
}

// orgSSORequired reports whether org's pages must refuse this session: the
// organization requires single sign-on, the person is not an Owner (whose
// password stays a way in, so a broken provider never locks the
// organization out), and the session did not come through its provider.
// Require SSO governs this organization only: the person's other
// organizations, and their password login, are unaffected.
func (s *Server) orgSSORequired(r *http.Request, org *keygate.Organization) bool {
	return s.orgSSO != nil && org.RequireSSO && org.Role != keygate.RoleOwner && !slices.Contains(sessionSSOOrgList(r), org.PublicID)
}

// renderOrgSSORequired answers any page of a Require SSO organization to a
// session that did not come through its provider, with a way to get one.
func (s *Server) renderOrgSSORequired(w http.ResponseWriter, r *http.Request, org *keygate.Organization) {
	next := ""
	if r.Method == http.MethodGet {
		next = safeNext(r.URL.RequestURI())
	}
	s.render(w, r, http.StatusForbidden, views.OrgSSORequiredPage(s.layout(r, org.Name+" requires single sign-on", ""),
		views.OrgSSORequired{OrgName: org.Name, Action: "/orgs/" + org.PublicID + "/sso", Next: next}))
}

// handleOrgSSOContinue sends a logged-in member to their organization's
// provider, from the page that asked for single sign-on.
func (s *Server) handleOrgSSOContinue(w http.ResponseWriter, r *http.Request) {
	conf, ok := s.memberOrgSSO(w, r)
	if !ok {
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = "/orgs/" + conf.OrgPublicID
	}
	s.beginOrgSSO(w, r, conf, &ssoFlow{Intent: ssoIntentLogin, Next: next})
}

// handleOrgSSOLinkBegin sends a member to their organization's provider to
// link their account there, from Settings > Sign-in methods.
func (s *Server) handleOrgSSOLinkBegin(w http.ResponseWriter, r *http.Request) {
	conf, ok := s.memberOrgSSO(w, r)
	if !ok {
		return
	}
	s.beginOrgSSO(w, r, conf, &ssoFlow{Intent: ssoIntentLink, UserID: pageFrom(r).user.ID})
}

// memberOrgSSO loads the provider of the organization in the path, which
// the user must belong to (anything else is the 404 of an unknown page).
func (s *Server) memberOrgSSO(w http.ResponseWriter, r *http.Request) (*keygate.OrgSSO, bool) {
	if s.orgSSO == nil || s.identities == nil {
		s.notFound(w, r)
		return nil, false
	}
	org, err := s.orgs.FindOrganizationByID(r.Context(), r.PathValue("org"))
	if err != nil {
		s.Error(w, r, err)
		return nil, false
	}
	conf, err := s.orgSSO.FindOrgSSOForLogin(r.Context(), org.PublicID)
	if err != nil {
		s.Error(w, r, err)
		return nil, false
	}
	return conf, true
}
