package web

import (
	"net/http"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

func (s *Server) renderOrgSettings(w http.ResponseWriter, r *http.Request, status int, form, del views.Form) {
	org := pageFrom(r).org
	if form.Values == nil {
		form.Values = map[string]string{"name": org.Name, "disabled_user_keys": string(org.DisabledUserKeys)}
	}
	l := s.layout(r, "Organization settings", "settings")
	vm := views.OrgSettings{
		Form: form, Delete: del, OrgName: org.Name,
		CanEdit: l.Org.IsAdmin, CanDelete: l.Org.IsOwner,
		SaveURL: l.Org.URL("settings"), DeleteURL: l.Org.URL("delete"), APIKeysURL: l.Org.URL("api-keys"), AuditURL: l.Org.URL("audit-log"),
		LeaveURL: l.Org.URL("leave"), TransferURL: l.Org.URL("transfer"), IsOwner: l.Org.IsOwner,
		Plan: org.Plan.Label(), CanSetKeyRule: l.Org.IsOwner, KeyRule: org.DisabledUserKeys.Label(),
	}
	if s.integrations != nil {
		vm.IntegrationsURL = l.Org.URL("settings/integrations")
	}
	vm.SSOURL = s.orgSSOSettingsURL(*l.Org)
	vm.PermissionsURL = s.permissionsURL(*l.Org)
	if me := pageFrom(r).user; me != nil && me.IsSuperuser && s.admin != nil {
		vm.PlanForm = &views.PlanForm{Action: "/admin/organizations/" + org.PublicID + "/plan", Next: l.Org.URL("settings"),
			Value: string(org.Plan), Plans: planOptions()}
	}
	if l.Org.IsOwner && s.memberships != nil {
		members, err := s.memberships.FindMemberDetails(r.Context(), org.PublicID)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		owners := 0
		for _, m := range members {
			if m.Role == keygate.RoleOwner {
				owners++
			}
			if me := pageFrom(r).user; me != nil && m.User.ID != me.ID {
				vm.Transfer = append(vm.Transfer, views.Option{Value: m.User.PublicID, Label: m.User.Name + " (" + m.User.Email + ")"})
			}
		}
		// The last Owner cannot leave: no button that can only fail.
		vm.SoleOwner = owners == 1
	}
	s.render(w, r, status, views.OrgSettingsPage(l, vm))
}

func (s *Server) handleOrgSettings(w http.ResponseWriter, r *http.Request) {
	s.renderOrgSettings(w, r, http.StatusOK, views.Form{}, views.Form{})
}

func (s *Server) handleUpdateOrg(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "name", "disabled_user_keys")
	name := f.Value("name")
	upd := keygate.OrganizationUpdate{Name: &name}
	if _, ok := r.PostForm["disabled_user_keys"]; ok { // only Owners get the field
		rule := keygate.DisabledUserKeys(f.Value("disabled_user_keys"))
		upd.DisabledUserKeys = &rule
	}
	org, err := s.orgs.UpdateOrganization(r.Context(), r.PathValue("org"), upd)
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
