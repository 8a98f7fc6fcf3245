package web

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// handleSignInMethods lists the user's linked identities and the providers
// they may link.
func (s *Server) handleSignInMethods(w http.ResponseWriter, r *http.Request) {
	if s.identities == nil {
		s.notFound(w, r)
		return
	}
	ids, err := s.identities.FindIdentities(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	// Organizations' own providers the user may link: those of their
	// organizations, never for a superuser (whom they may not sign in).
	var orgProviders []*keygate.OrgSSO
	user := pageFrom(r).user
	if s.orgSSO != nil {
		if orgProviders, err = s.orgSSO.FindMemberOrgSSO(r.Context()); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	orgNames := map[string]string{}
	for _, o := range orgProviders {
		orgNames[orgProviderPrefix+o.OrgPublicID] = o.OrgName + " single sign-on"
	}
	now := s.now()
	p := views.SignInMethods{HasPassword: user.HasPassword}
	for _, id := range ids {
		name := orgNames[id.Provider]
		if name == "" {
			name = s.ssoDisplayName(id.Provider)
		}
		m := views.SignInMethod{ID: id.PublicID, Provider: name, Email: id.Email, Linked: views.Time{At: id.CreatedAt, Now: now}}
		if id.LastLoginAt != nil {
			m.LastUsed = &views.Time{At: *id.LastLoginAt, Now: now}
		}
		p.Linked = append(p.Linked, m)
	}
	for _, prov := range s.cfg.SSO.All() {
		p.Available = append(p.Available, views.SSOButton{Key: prov.Key, Name: prov.Name, URL: "/settings/sign-in-methods/" + prov.Key + "/link"})
	}
	for _, o := range orgProviders {
		if !user.IsSuperuser {
			p.Available = append(p.Available, views.SSOButton{Key: "org-" + o.OrgPublicID, Name: o.OrgName + " single sign-on",
				URL: "/settings/sign-in-methods/org/" + o.OrgPublicID + "/link"})
		}
	}
	s.render(w, r, http.StatusOK, views.SignInMethodsPage(s.layout(r, "Sign-in methods", "settings"), p))
}

// handleUnlinkIdentity removes a linked identity, unless it is the last
// way in.
func (s *Server) handleUnlinkIdentity(w http.ResponseWriter, r *http.Request) {
	if s.identities == nil {
		s.notFound(w, r)
		return
	}
	err := s.identities.UnlinkIdentity(r.Context(), r.PathValue("id"))
	switch keygate.ErrorCode(err) {
	case "":
		s.addFlash(w, r, "success", "Sign-in method removed.")
	case keygate.EFORBIDDEN, keygate.ENOTFOUND:
		s.addFlash(w, r, "error", keygate.ErrorMessage(err))
	default:
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/sign-in-methods", http.StatusSeeOther)
}

// ssoDisplayName is the display name of a provider key.
func (s *Server) ssoDisplayName(key string) string {
	if p := s.cfg.SSO.Get(key); p != nil {
		return p.Name
	}
	if strings.HasPrefix(key, orgProviderPrefix) {
		return "Organization single sign-on"
	}
	return key
}
