package web

import (
	"net/http"
	"net/url"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// handleAdminDomains lists every organization's single sign-on domains,
// pending first.
func (s *Server) handleAdminDomains(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	list, err := s.orgSSO.FindSSODomains(r.Context())
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	now := s.now()
	var p views.AdminDomains
	for _, d := range list {
		row := domainRow(d, now)
		if !d.Verified() && !d.TakenElsewhere {
			row.ApproveAction = "/admin/organizations/" + d.OrgPublicID + "/domains/" + url.PathEscape(d.Domain) + "/approve"
		}
		p.Rows = append(p.Rows, row)
	}
	s.render(w, r, http.StatusOK, views.AdminDomainsPage(s.layout(r, "SSO domains · Admin", ""), p))
}

// handleAdminApproveDomain verifies a claim on the superuser's word.
func (s *Server) handleAdminApproveDomain(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	d, err := s.orgSSO.ApproveSSODomain(r.Context(), r.PathValue("org"), r.PathValue("domain"))
	switch keygate.ErrorCode(err) {
	case "":
		s.addFlash(w, r, "success", d.Domain+" is verified for "+d.OrgName+".")
	case keygate.ECONFLICT, keygate.ENOTFOUND:
		s.addFlash(w, r, "error", keygate.ErrorMessage(err))
	default:
		s.adminError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/domains", http.StatusSeeOther)
}

// pendingDomains counts the claims waiting for verification, for the
// Admin overview.
func (s *Server) pendingDomains(r *http.Request) (int, error) {
	list, err := s.orgSSO.FindSSODomains(r.Context())
	n := 0
	for _, d := range list {
		if !d.Verified() {
			n++
		}
	}
	return n, err
}
