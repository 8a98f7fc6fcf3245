package web

import (
	"net/http"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

func (s *Server) renderOrgSettings(w http.ResponseWriter, r *http.Request, status int, form, del views.Form) {
	org := pageFrom(r).org
	if form.Values == nil {
		form.Values = map[string]string{"name": org.Name}
	}
	l := s.layout(r, "Organization settings", "settings")
	s.render(w, r, status, views.OrgSettingsPage(l, views.OrgSettings{
		Form: form, Delete: del, OrgName: org.Name,
		CanEdit: l.Org.IsAdmin, CanDelete: l.Org.IsOwner,
		SaveURL: l.Org.URL("settings"), DeleteURL: l.Org.URL("delete"), APIKeysURL: l.Org.URL("api-keys"), AuditURL: l.Org.URL("audit-log"),
	}))
}

func (s *Server) handleOrgSettings(w http.ResponseWriter, r *http.Request) {
	s.renderOrgSettings(w, r, http.StatusOK, views.Form{}, views.Form{})
}

func (s *Server) handleUpdateOrg(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "name")
	name := f.Value("name")
	org, err := s.orgs.UpdateOrganization(r.Context(), r.PathValue("org"), keygate.OrganizationUpdate{Name: &name})
	if isFormError(err) {
		s.renderOrgSettings(w, r, ErrorStatus(err), formWithError(f, err), views.Form{})
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Organization saved.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings", http.StatusSeeOther)
}

func (s *Server) handleDeleteOrg(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "confirm")
	org := pageFrom(r).org
	err := s.orgs.DeleteOrganization(r.Context(), org.PublicID, f.Value("confirm"))
	if isFormError(err) {
		s.renderOrgSettings(w, r, ErrorStatus(err), views.Form{}, formWithError(f, err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Organization “"+org.Name+"” deleted.")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
