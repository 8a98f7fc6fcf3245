package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// permissionsURL links Settings > Permissions, "" when the server has no
// PermissionService.
func (s *Server) permissionsURL(org views.Org) string {
	if s.permissions == nil {
		return ""
	}
	return org.URL("settings/permissions")
}

// permissionsOff answers 404 when the server has no PermissionService.
func (s *Server) permissionsOff(w http.ResponseWriter, r *http.Request) bool {
	if s.permissions == nil {
		s.notFound(w, r)
		return true
	}
	return false
}

// renderPermissions shows Settings > Permissions with form, the add form
// as submitted (with its errors) or empty.
func (s *Server) renderPermissions(w http.ResponseWriter, r *http.Request, status int, form views.Form) {
	l := s.layout(r, "Permissions", "settings")
	org := *l.Org
	list, err := s.permissions.FindPermissions(r.Context(), org.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p := views.PermissionsPage{
		Nav: views.SettingsNav{
			SettingsURL: org.URL("settings"), APIKeysURL: org.URL("api-keys"), AuditURL: org.URL("audit-log"),
			SSOURL: s.orgSSOSettingsURL(org), PermissionsURL: s.permissionsURL(org), Active: "permissions",
		},
		Form: form, Action: org.URL("settings/permissions"),
	}
	if s.integrations != nil {
		p.Nav.IntegrationsURL = org.URL("settings/integrations")
	}
	now := s.now()
	for _, perm := range list {
		p.Permissions = append(p.Permissions, views.PermissionRow{
			Name: perm.Name, Description: perm.Description, KeyCount: perm.KeyCount, Created: views.Time{At: perm.CreatedAt, Now: now},
			DeleteURL: org.URL("settings/permissions/" + url.PathEscape(perm.Name) + "/delete"),
		})
	}
	s.render(w, r, status, views.PermissionsSettingsPage(l, p))
}

func (s *Server) handlePermissions(w http.ResponseWriter, r *http.Request) {
	if s.permissionsOff(w, r) {
		return
	}
	s.renderPermissions(w, r, http.StatusOK, views.Form{})
}

func (s *Server) handleCreatePermission(w http.ResponseWriter, r *http.Request) {
	if s.permissionsOff(w, r) {
		return
	}
	org := pageFrom(r).org
	f := formOf(r, "name", "description")
	p, err := s.permissions.CreatePermission(r.Context(), org.PublicID, &keygate.PermissionCreate{Name: f.Value("name"), Description: f.Value("description")})
	if keygate.ErrorCode(err) == keygate.EINVALID {
		s.renderPermissions(w, r, http.StatusBadRequest, formWithError(f, err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Permission "+p.Name+" added.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/permissions", http.StatusSeeOther)
}

// permissionHolders says how many keys hold a permission, for its
// confirmation page.
func permissionHolders(p *keygate.Permission) string {
	switch p.KeyCount {
	case 0:
		return "No API key holds " + p.Name + "."
	case 1:
		return "1 API key holds " + p.Name + ". Deleting it removes it from that key."
	}
	return fmt.Sprintf("%d API keys hold %s. Deleting it removes it from them.", p.KeyCount, p.Name)
}

// handleDeletePermissionPage asks for confirmation, naming how many keys
// lose the permission.
func (s *Server) handleDeletePermissionPage(w http.ResponseWriter, r *http.Request) {
	if s.permissionsOff(w, r) {
		return
	}
	l := s.layout(r, "Delete permission", "settings")
	list, err := s.permissions.FindPermissions(r.Context(), l.Org.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	name := r.PathValue("name")
	for _, p := range list {
		if p.Name == name {
			action := l.Org.URL("settings/permissions/" + url.PathEscape(p.Name) + "/delete")
			s.render(w, r, http.StatusOK, views.ConfirmDeletePage(l, views.ConfirmDelete{Title: "Delete permission " + p.Name, Button: "Delete permission",
				Question: permissionHolders(p) + " This cannot be undone.", Action: action, CancelURL: l.Org.URL("settings/permissions"),
			}))
			return
		}
	}
	s.Error(w, r, keygate.Errorf(keygate.ENOTFOUND, "Permission not found."))
}

func (s *Server) handleDeletePermission(w http.ResponseWriter, r *http.Request) {
	if s.permissionsOff(w, r) {
		return
	}
	org := pageFrom(r).org
	back := "/orgs/" + org.PublicID + "/settings/permissions"
	p, err := s.permissions.DeletePermission(r.Context(), org.PublicID, r.PathValue("name"))
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		s.addFlash(w, r, "info", "That permission was already deleted.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", fmt.Sprintf("Permission %s deleted and removed from %d API keys.", p.Name, p.KeyCount))
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// splitIPLines reads the allowlist textarea: one entry a line (commas
// and spaces separate entries too).
func splitIPLines(text string) []string {
	return strings.FieldsFunc(text, func(c rune) bool { return c == '\n' || c == '\r' || c == ',' || c == ' ' || c == '\t' })
}

// addPermissionChoices lists the organization's permissions in the create
// form f, those in checked ticked.
func (s *Server) addPermissionChoices(ctx context.Context, org views.Org, f *views.KeyForm, checked []string) error {
	if s.permissions == nil {
		return nil
	}
	list, err := s.permissions.FindPermissions(ctx, org.ID)
	if err != nil {
		return err
	}
	f.Permissions = f.Permissions[:0]
	for _, p := range list {
		f.Permissions = append(f.Permissions, views.PermissionChoice{Name: p.Name, Description: p.Description, Checked: slices.Contains(checked, p.Name)})
	}
	return nil
}
