package web

import (
	"net/http"

	"github.com/keygate/keygate/internal/keygate"
)

// handleSaveLeakPolicy changes what happens to exposed keys alone. The
// choice now lives on Settings > Key policy; this route keeps older forms
// and scripts working and answers with that page.
func (s *Server) handleSaveLeakPolicy(w http.ResponseWriter, r *http.Request) {
	if s.leaks == nil {
		s.notFound(w, r)
		return
	}
	f := formOf(r, "leak_policy")
	org, err := s.leaks.SetLeakPolicy(r.Context(), r.PathValue("org"), keygate.LeakPolicy(f.Value("leak_policy")))
	if isFormError(err) && s.keyPolicies != nil {
		s.renderKeyPolicyError(w, r, f, err)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Leak policy saved: "+org.LeakPolicy.Label()+".")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/key-policy", http.StatusSeeOther)
}
