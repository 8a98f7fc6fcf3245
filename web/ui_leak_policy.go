package web

import (
	"context"
	"net/http"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// leakFormKey carries a leak policy form that failed, for the settings
// page that shows it again.
type leakFormKey struct{}

// leakPolicySettings is the settings page's Leak policy section: for
// Owners and Admins of an instance that takes leak reports, else nil.
func (s *Server) leakPolicySettings(r *http.Request, l views.Org, org *keygate.Organization) *views.LeakPolicySettings {
	if s.leaks == nil || !l.IsAdmin {
		return nil
	}
	f, ok := r.Context().Value(leakFormKey{}).(views.Form)
	if !ok {
		f = views.Form{Values: map[string]string{"leak_policy": string(org.LeakPolicy)}}
	}
	return &views.LeakPolicySettings{Action: l.URL("settings/leak-policy"), Form: f}
}

// handleSaveLeakPolicy changes what happens to keys reported leaked.
func (s *Server) handleSaveLeakPolicy(w http.ResponseWriter, r *http.Request) {
	if s.leaks == nil {
		s.notFound(w, r)
		return
	}
	f := formOf(r, "leak_policy")
	org, err := s.leaks.SetLeakPolicy(r.Context(), r.PathValue("org"), keygate.LeakPolicy(f.Value("leak_policy")))
	if isFormError(err) {
		r = r.WithContext(context.WithValue(r.Context(), leakFormKey{}, formWithError(f, err)))
		s.renderOrgSettings(w, r, ErrorStatus(err), views.Form{}, views.Form{})
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Leak policy saved: "+org.LeakPolicy.Label()+".")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings#leak-policy-title", http.StatusSeeOther)
}
