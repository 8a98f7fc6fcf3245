package web

import (
	"net/http"

	"github.com/keygate/keygate/views"
)

// handleHome sends people to their first organization, or to log in.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	if pageFrom(r).user == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	orgs, err := s.orgs.FindOrganizations(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if len(orgs) == 0 {
		http.Redirect(w, r, "/orgs/new", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/orgs/"+orgs[0].PublicID, http.StatusSeeOther)
}

func (s *Server) handleNewOrgPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, views.NewOrganizationPage(s.layout(r, "Create organization", ""), views.Form{}))
}

func (s *Server) handleCreateOrg(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "name")
	org, err := s.orgs.CreateOrganization(r.Context(), f.Value("name"))
	if isFormError(err) {
		s.render(w, r, ErrorStatus(err), views.NewOrganizationPage(s.layout(r, "Create organization", ""), formWithError(f, err)))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Organization created. You are its Owner.")
	http.Redirect(w, r, "/orgs/"+org.PublicID, http.StatusSeeOther)
}
