package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/views"
)

// issuerCheckTimeout bounds the resolution of an issuer's host while its
// settings are saved.
const issuerCheckTimeout = 3 * time.Second

// orgSSOForm is what Settings > Single sign-on shows beside the saved
// settings: the form, and a message beside one domain's row.
type orgSSOForm struct {
	form                     *views.Form
	domainError, errorDomain string
}

// renderOrgSSOSettings shows Settings > Single sign-on; a nil form is
// filled from the saved settings.
func (s *Server) renderOrgSSOSettings(w http.ResponseWriter, r *http.Request, status int, in orgSSOForm) {
	l := s.layout(r, "Single sign-on", "settings")
	saved, err := s.orgSSO.FindOrgSSO(r.Context(), l.Org.ID)
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		s.Error(w, r, err)
		return
	}
	p := views.OrgSSOSettings{
		Nav: views.SettingsNav{SettingsURL: l.Org.URL("settings"), APIKeysURL: l.Org.URL("api-keys"), AuditURL: l.Org.URL("audit-log"),
			SSOURL: l.Org.URL("settings/sso"), PermissionsURL: s.permissionsURL(*l.Org), Active: "sso"},
		Action: l.Org.URL("settings/sso"), CallbackURL: s.publicBaseURL(r) + orgSSOCallbackPath,
	}
	if s.integrations != nil {
		p.Nav.IntegrationsURL = l.Org.URL("settings/integrations")
	}
	if saved != nil {
		now := s.now()
		p.Saved = &views.SavedOrgSSO{Issuer: saved.Issuer, ClientID: saved.ClientID, Masked: saved.MaskedSecret(),
			RequireSSO: saved.RequireSSO, Updated: views.Time{At: saved.UpdatedAt, Now: now}, UpdatedBy: saved.UpdatedByName,
			DeleteURL: l.Org.URL("settings/sso/delete")}
		for _, d := range saved.Domains {
			row := domainRow(d, now)
			row.VerifyAction = l.Org.URL("settings/sso/domains/" + url.PathEscape(d.Domain) + "/verify")
			if d.Domain == in.errorDomain {
				row.Error = in.domainError
			}
			p.Saved.Domains = append(p.Saved.Domains, row)
		}
	}
	switch {
	case in.form != nil:
		p.Form = *in.form
	case saved != nil:
		p.Form.Values = map[string]string{"issuer": saved.Issuer, "client_id": saved.ClientID, "domains": strings.Join(saved.DomainNames(), "\n")}
		if saved.RequireSSO {
			p.Form.Values["require_sso"] = "1"
		}
	}
	s.render(w, r, status, views.OrgSSOSettingsPage(l, p))
}

// domainRow is a domain claim as the settings page and the Admin area
// show it.
func domainRow(d *keygate.SSODomain, now time.Time) views.SSODomainRow {
	row := views.SSODomainRow{Domain: d.Domain, Record: d.RecordName(), Token: d.Token, Verified: d.Verified(),
		Claimed: views.Time{At: d.CreatedAt, Now: now}, OrgID: d.OrgPublicID, OrgName: d.OrgName}
	switch {
	case d.Verified() && d.VerifiedMethod == keygate.DomainVerifiedAdmin:
		row.Status, row.How = "Verified", "approved by an instance administrator"
		if d.VerifiedByName != "" {
			row.How = "approved by " + d.VerifiedByName
		}
	case d.Verified():
		row.Status, row.How = "Verified", "DNS record"
	case d.TakenElsewhere:
		row.Status = "Verified by another organization"
	default:
		row.Status = "Pending verification"
	}
	if d.VerifiedAt != nil {
		row.VerifiedAt = &views.Time{At: *d.VerifiedAt, Now: now}
	}
	return row
}

func (s *Server) handleOrgSSOSettings(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	s.renderOrgSSOSettings(w, r, http.StatusOK, orgSSOForm{})
}

// handleSaveOrgSSO saves the organization's provider. The client secret is
// read once and handed to the service; it never goes back into a page.
func (s *Server) handleSaveOrgSSO(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	org := pageFrom(r).org
	f := formOf(r, "issuer", "client_id", "domains", "require_sso")
	err := s.checkIssuerDestination(r.Context(), f.Value("issuer"))
	if err == nil {
		_, err = s.orgSSO.SaveOrgSSO(r.Context(), org.PublicID, &keygate.OrgSSOSave{
			Issuer: f.Value("issuer"), ClientID: f.Value("client_id"), ClientSecret: r.PostFormValue("client_secret"),
			Domains: f.Value("domains"), RequireSSO: f.Value("require_sso") == "1",
		})
	}
	if keygate.ErrorCode(err) == keygate.EINVALID {
		failed := formWithError(f, err)
		s.renderOrgSSOSettings(w, r, http.StatusBadRequest, orgSSOForm{form: &failed})
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.orgProviders.forget(org.PublicID)
	s.addFlash(w, r, "success", "Single sign-on saved.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/sso", http.StatusSeeOther)
}

// checkIssuerDestination refuses, beside the issuer field, an issuer the
// outbound guard would never reach: an internal address, or plain http://.
// It is the early word; the guard checks every connection again.
func (s *Server) checkIssuerDestination(ctx context.Context, issuer string) error {
	if keygate.ValidateIssuerURL(issuer) != "" {
		return nil // the service says what is wrong with it
	}
	u, _ := url.Parse(issuer)
	ctx, cancel := context.WithTimeout(ctx, issuerCheckTimeout)
	defer cancel()
	if msg := outbound.Message(s.outbound.CheckHost(ctx, s.dns, u)); msg != "" {
		return keygate.FieldError("issuer", msg)
	}
	return nil
}

// forget drops an organization's cached provider.
func (c *orgProviderCache) forget(orgPublicID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, orgPublicID)
}

// handleVerifyOrgSSODomain checks a domain's TXT record. What is wrong is
// said beside the domain's row.
func (s *Server) handleVerifyOrgSSODomain(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	org, domain := pageFrom(r).org, r.PathValue("domain")
	_, err := s.orgSSO.VerifyOrgSSODomain(r.Context(), org.PublicID, domain, s.dns)
	switch keygate.ErrorCode(err) {
	case "":
		s.addFlash(w, r, "success", domain+" is verified: people with an email address there can now sign in with SSO.")
		http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/sso", http.StatusSeeOther)
	case keygate.EINVALID, keygate.ECONFLICT:
		s.renderOrgSSOSettings(w, r, ErrorStatus(err), orgSSOForm{domainError: keygate.ErrorMessage(err), errorDomain: domain})
	default:
		s.Error(w, r, err)
	}
}

// handleDeleteOrgSSOPage asks for confirmation without JavaScript.
func (s *Server) handleDeleteOrgSSOPage(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	l := s.layout(r, "Delete single sign-on", "settings")
	if _, err := s.orgSSO.FindOrgSSO(r.Context(), l.Org.ID); err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.ConfirmDeletePage(l, views.ConfirmDelete{Title: "Delete single sign-on", Button: "Delete single sign-on",
		Question: "Delete " + l.Org.Name + "'s single sign-on? Its domains are released, and every sign-in its provider created is removed: people who have no password or other sign-in method cannot log in until single sign-on is set up again. This cannot be undone.",
		Action:   l.Org.URL("settings/sso/delete"), CancelURL: l.Org.URL("settings/sso"),
	}))
}

func (s *Server) handleDeleteOrgSSO(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	org := pageFrom(r).org
	if err := s.orgSSO.DeleteOrgSSO(r.Context(), org.PublicID); err != nil {
		s.Error(w, r, err)
		return
	}
	s.orgProviders.forget(org.PublicID)
	s.addFlash(w, r, "success", "Single sign-on deleted.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/sso", http.StatusSeeOther)
}
