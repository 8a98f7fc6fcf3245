package web

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// failedIntegration is a credential form that failed validation, to show
// again with its messages and its input (never the secret).
type failedIntegration struct {
	kind keygate.IntegrationKind
	form views.Form
	// replace names the Other credential whose Replace form was used.
	replace string
}

// integrationsOff answers 404 when the server has no IntegrationService.
func (s *Server) integrationsOff(w http.ResponseWriter, r *http.Request) bool {
	if s.integrations == nil {
		s.notFound(w, r)
		return true
	}
	return false
}

// integrationTitle is how messages name a saved credential.
func integrationTitle(in *keygate.Integration) string {
	if in.Kind == keygate.IntegrationOther {
		return "Credential “" + in.Name + "”"
	}
	return in.Title()
}

// viewTitle names a saved credential inside a sentence: "Zoom OAuth app",
// or an Other credential's name in quotes.
func viewTitle(in *keygate.Integration) string {
	if in.Kind == keygate.IntegrationOther {
		return "“" + in.Name + "”"
	}
	return in.Title()
}

// savedIntegration builds the view of a stored credential; i makes the
// element ids of an Other credential's forms unique on the page.
func savedIntegration(org views.Org, in *keygate.Integration, now time.Time, i int) views.SavedIntegration {
	action := org.URL("settings/integrations/" + string(in.Kind))
	v := views.SavedIntegration{
		Title: viewTitle(in), Name: in.Name, ClientID: in.ClientID, Masked: in.MaskedSecret(),
		Updated: views.Time{At: in.UpdatedAt, Now: now}, UpdatedBy: in.UpdatedByName,
		DeleteURL: action + "/delete", DeleteAction: action + "/delete", DialogID: "delete-" + string(in.Kind),
		Replace: views.IntegrationForm{Action: action},
	}
	switch in.Kind {
	case keygate.IntegrationZoom:
		// The client ID is not secret: the Replace form starts with it.
		v.Replace.Form.Values = map[string]string{"client_id": in.ClientID}
	case keygate.IntegrationOther:
		v.DeleteURL += "?name=" + url.QueryEscape(in.Name)
		v.DialogID = fmt.Sprintf("delete-other-%d", i)
		v.Replace.Prefix = fmt.Sprintf("other-%d-", i)
	}
	return v
}

// integrationsPage builds Settings > Integrations with failed, if any, in
// the form it came from.
func (s *Server) integrationsPage(r *http.Request, org views.Org, failed *failedIntegration) (views.IntegrationsPage, error) {
	list, err := s.integrations.FindIntegrations(r.Context(), org.ID)
	if err != nil {
		return views.IntegrationsPage{}, err
	}
	now := s.now()
	base := org.URL("settings/integrations/")
	p := views.IntegrationsPage{
		Nav: views.SettingsNav{
			SettingsURL: org.URL("settings"), APIKeysURL: org.URL("api-keys"), AuditURL: org.URL("audit-log"),
			IntegrationsURL: org.URL("settings/integrations"), SSOURL: s.orgSSOSettingsURL(org), Active: "integrations",
			PermissionsURL: s.permissionsURL(org),
		},
		ZoomForm:     views.IntegrationForm{Action: base + string(keygate.IntegrationZoom)},
		DeepgramForm: views.IntegrationForm{Action: base + string(keygate.IntegrationDeepgram)},
		OtherForm:    views.IntegrationForm{Action: base + string(keygate.IntegrationOther)},
	}
	for i, in := range list {
		v := savedIntegration(org, in, now, i)
		switch in.Kind {
		case keygate.IntegrationZoom:
			p.Zoom = &v
		case keygate.IntegrationDeepgram:
			p.Deepgram = &v
		default:
			p.Others = append(p.Others, v)
		}
	}
	if failed == nil {
		return p, nil
	}
	switch failed.kind {
	case keygate.IntegrationZoom:
		placeFailed(p.Zoom, &p.ZoomForm, failed.form)
	case keygate.IntegrationDeepgram:
		placeFailed(p.Deepgram, &p.DeepgramForm, failed.form)
	default:
		var row *views.SavedIntegration
		for i := range p.Others {
			if failed.replace != "" && p.Others[i].Name == failed.replace {
				row = &p.Others[i]
			}
		}
		placeFailed(row, &p.OtherForm, failed.form)
	}
	return p, nil
}

// placeFailed puts a failed form into the saved credential's Replace form,
// opened, or into the form for a new one.
func placeFailed(saved *views.SavedIntegration, empty *views.IntegrationForm, f views.Form) {
	if saved != nil {
		saved.Replace.Form, saved.Replace.Open = f, true
		return
	}
	empty.Form = f
}

func (s *Server) renderIntegrations(w http.ResponseWriter, r *http.Request, status int, failed *failedIntegration) {
	l := s.layout(r, "Integrations", "settings")
	p, err := s.integrationsPage(r, *l.Org, failed)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, status, views.IntegrationsSettingsPage(l, p))
}

func (s *Server) handleIntegrations(w http.ResponseWriter, r *http.Request) {
	if s.integrationsOff(w, r) {
		return
	}
	s.renderIntegrations(w, r, http.StatusOK, nil)
}

// handleSaveIntegration creates or replaces one kind's credential. The
// secret is read from the form once and handed to the service; it is never
// put back into a page, a flash or a redirect.
func (s *Server) handleSaveIntegration(w http.ResponseWriter, r *http.Request) {
	kind := keygate.IntegrationKind(r.PathValue("kind"))
	if s.integrationsOff(w, r) {
		return
	} else if !kind.Valid() {
		s.notFound(w, r)
		return
	}
	org := pageFrom(r).org
	f := formOf(r, "client_id", "name")
	saved, err := s.integrations.SaveIntegration(r.Context(), org.PublicID, &keygate.IntegrationSave{
		Kind: kind, Name: f.Value("name"), ClientID: f.Value("client_id"), Secret: r.PostFormValue(kind.SecretField()),
	})
	if keygate.ErrorCode(err) == keygate.EINVALID {
		failed := &failedIntegration{kind: kind, form: formWithError(f, err)}
		if kind == keygate.IntegrationOther && r.PostFormValue("replace") == "1" {
			failed.replace = f.Value("name")
		}
		s.renderIntegrations(w, r, http.StatusBadRequest, failed)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", integrationTitle(saved)+" saved.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/integrations#integration-"+string(kind), http.StatusSeeOther)
}

// handleDeleteIntegrationPage asks for confirmation without JavaScript.
func (s *Server) handleDeleteIntegrationPage(w http.ResponseWriter, r *http.Request) {
	if s.integrationsOff(w, r) {
		return
	}
	kind, name := keygate.IntegrationKind(r.PathValue("kind")), r.URL.Query().Get("name")
	l := s.layout(r, "Delete credential", "settings")
	list, err := s.integrations.FindIntegrations(r.Context(), l.Org.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	for _, in := range list {
		if in.Kind == kind && in.Name == name {
			s.render(w, r, http.StatusOK, views.ConfirmDeletePage(l, views.ConfirmDelete{Title: "Delete credential", Button: "Delete",
				Question: "Delete " + viewTitle(in) + "? Anything in Keygate that uses it stops working until you save a new one. This cannot be undone.",
				Action:   l.Org.URL("settings/integrations/" + string(kind) + "/delete"), Name: in.Name,
				CancelURL: l.Org.URL("settings/integrations"),
			}))
			return
		}
	}
	s.Error(w, r, keygate.Errorf(keygate.ENOTFOUND, "Integration not found."))
}

func (s *Server) handleDeleteIntegration(w http.ResponseWriter, r *http.Request) {
	if s.integrationsOff(w, r) {
		return
	}
	org := pageFrom(r).org
	back := "/orgs/" + org.PublicID + "/settings/integrations"
	deleted, err := s.integrations.DeleteIntegration(r.Context(), org.PublicID, keygate.IntegrationKind(r.PathValue("kind")), r.PostFormValue("name"))
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		// Deleted already (a second click, another tab): say so on the page.
		s.addFlash(w, r, "info", "That credential was already deleted.")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", integrationTitle(deleted)+" deleted.")
	http.Redirect(w, r, back, http.StatusSeeOther)
}
