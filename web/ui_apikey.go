package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/views"
)

// loadKey finds the key named in the path in the organization in view.
func (s *Server) loadKey(r *http.Request) (*keygate.APIKey, error) {
	return s.apiKeys.FindAPIKeyByID(r.Context(), pageFrom(r).org.PublicID, r.PathValue("key"))
}

func (s *Server) keyDetail(r *http.Request, l views.Layout, k *keygate.APIKey, f views.Form) views.APIKeyDetail {
	if f.Values == nil {
		f.Values = map[string]string{"name": k.Name, "environment": string(k.Environment), "note": k.Note, "rate_limit": k.RateLimit,
			"allowed_ips": strings.Join(k.AllowedIPs, "\n")}
	}
	d := views.APIKeyDetail{
		Key: s.keyRow(*l.Org, k, s.now()), Note: k.Note, Form: f, Envs: environmentOptions(),
		Editable: k.RevokedAt == nil, ListURL: l.Org.URL("api-keys"),
		RolledFrom: k.RolledFrom, RolledTo: k.RolledTo,
		DefaultRateLimit: s.cfg.RateLimit.String(), LastUsedAgent: describeUserAgent(k.LastUsedUserAgent),
		NoteRequired: s.keyPolicyOrNone(r.Context(), *l.Org).NoteRequired,
	}
	if k.LastUsedUserAgent == "" {
		d.LastUsedAgent = ""
	}
	rows := []views.APIKeyRow{d.Key}
	s.linkRolledKeys(r.Context(), *l.Org, rows, []*keygate.APIKey{k})
	if from := rows[0].RolledFrom; from != nil {
		d.RolledFrom, d.RolledFromURL = from.Name, from.URL
	}
	if to := rows[0].ReplacedBy; to != nil {
		d.RolledTo, d.RolledToURL = to.Name, to.URL
	}
	return d
}

func (s *Server) handleAPIKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.loadKey(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	l := s.layout(r, k.Name, "api-keys")
	d := s.keyDetail(r, l, k, views.Form{})
	if d.Usage, err = s.keyUsage(r, *l.Org, k); err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.APIKeyDetailPage(l, d))
}

func (s *Server) handleUpdateAPIKey(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "name", "environment", "note", "rate_limit", "allowed_ips")
	ips := splitIPLines(f.Value("allowed_ips"))
	name, env, note, limit := f.Value("name"), keygate.Environment(f.Value("environment")), f.Value("note"), f.Value("rate_limit")
	org := pageFrom(r).org
	var err error
	var k *keygate.APIKey
	if limit != "" {
		if l, perr := ratelimit.ParseLimit(limit); perr != nil {
			err = keygate.FieldError("rate_limit", "Enter a limit like 1000/h, 60/m or 10/s.")
		} else {
			limit = l.String()
		}
	}
	if err == nil {
		k, err = s.apiKeys.UpdateAPIKey(r.Context(), org.PublicID, r.PathValue("key"), keygate.APIKeyUpdate{Name: &name, Environment: &env, Note: &note, RateLimit: &limit, AllowedIPs: &ips})
	}
	if keygate.ErrorCode(err) == keygate.EINVALID {
		cur, lerr := s.loadKey(r)
		if lerr != nil {
			s.Error(w, r, lerr)
			return
		}
		// The page again, whole (usage included), the errors beside
		// their fields and what was typed kept.
		l := s.layout(r, cur.Name, "api-keys")
		d := s.keyDetail(r, l, cur, formWithError(f, err))
		if d.Usage, err = s.keyUsage(r, *l.Org, cur); err != nil {
			s.Error(w, r, err)
			return
		}
		s.render(w, r, http.StatusBadRequest, views.APIKeyDetailPage(l, d))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Key “"+k.Name+"” saved.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/api-keys/"+k.PublicID, http.StatusSeeOther)
}

func (s *Server) handleRevokePage(w http.ResponseWriter, r *http.Request) {
	k, err := s.loadKey(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	l := s.layout(r, "Revoke "+k.Name, "api-keys")
	row := s.keyRow(*l.Org, k, s.now())
	s.render(w, r, http.StatusOK, views.RevokePage(l, row.RevokeQuestion, row.RevokeURL, l.Org.URL("api-keys")))
}

func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	k, err := s.apiKeys.RevokeAPIKey(r.Context(), org.PublicID, r.PathValue("key"))
	if keygate.ErrorCode(err) == keygate.EINVALID {
		// Already revoked: say so on the list rather than on an error page.
		s.addFlash(w, r, "info", keygate.ErrorMessage(err))
		http.Redirect(w, r, "/orgs/"+org.PublicID+"/api-keys?state=revoked", http.StatusSeeOther)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Key “"+k.Name+"” revoked. Requests using it now fail.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/api-keys", http.StatusSeeOther)
}

// graceOf maps the roll form's choice to a duration.
var graceOf = map[string]time.Duration{"0": 0, "1h": time.Hour, "24h": 24 * time.Hour, "168h": 7 * 24 * time.Hour}

func (s *Server) rollForm(l views.Layout, k *keygate.APIKey) views.RollForm {
	return views.RollForm{
		KeyName: k.Name, Action: l.Org.URL("api-keys/" + k.PublicID + "/roll"), Token: newFormToken(),
		Grace: "1h", CancelURL: l.Org.URL("api-keys"),
	}
}

func (s *Server) handleRollPage(w http.ResponseWriter, r *http.Request) {
	k, err := s.loadKey(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	l := s.layout(r, "Roll "+k.Name, "api-keys")
	s.render(w, r, http.StatusOK, views.RollPage(l, s.rollForm(l, k)))
}

func (s *Server) handleRollAPIKey(w http.ResponseWriter, r *http.Request) {
	// Rolling an Admin key needs a recent sign-in (ui_stepup.go).
	if s.stepUp(w, r, func() bool {
		k, err := s.loadKey(r)
		return err == nil && k.Scopes.Has(keygate.ScopeAdmin)
	}) {
		return
	}
	l := s.layout(r, "API Keys", "api-keys")
	choice := r.PostFormValue("grace")
	grace, ok := graceOf[choice]
	if !ok {
		s.renderRollError(w, r, l, choice, "Choose how long the old key keeps working.")
		return
	}
	next, secret, old, err := s.apiKeys.RollAPIKey(r.Context(), l.Org.ID, r.PathValue("key"), grace, r.PostFormValue("form_token"))
	if errors.Is(err, keygate.ErrKeyLimit) {
		// The form again, the limit beside the grace period: rolling
		// with "Now" still works.
		s.renderRollError(w, r, l, choice, keygate.ErrorMessage(err))
		return
	}
	switch keygate.ErrorCode(err) {
	case "":
	case keygate.ECONFLICT, keygate.EINVALID:
		s.addFlash(w, r, "info", keygate.ErrorMessage(err))
		http.Redirect(w, r, l.Org.URL("api-keys"), http.StatusSeeOther)
		return
	default:
		s.Error(w, r, err)
		return
	}
	s.renderCreatedKey(w, r, l, "Key rolled", next, secret, oldKeyNote(old, s.now()))
}

// oldKeyNote says how long the key a roll replaced keeps working: its
// grace period, or less if it was about to expire anyway.
func oldKeyNote(old *keygate.APIKey, now time.Time) string {
	if old.RevokedAt != nil || old.ExpiresAt == nil || !old.ExpiresAt.After(now) {
		return "The old key stopped working now."
	}
	return "The old key keeps working for " + views.DurationText(old.ExpiresAt.Sub(now)) + ", until " + old.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + "."
}

// renderRollError answers a refused roll with the roll form, msg beside
// the grace period.
func (s *Server) renderRollError(w http.ResponseWriter, r *http.Request, l views.Layout, choice, msg string) {
	k, err := s.loadKey(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f := s.rollForm(l, k)
	f.Grace, f.Error = choice, msg
	s.render(w, r, http.StatusBadRequest, views.RollPage(l, f))
}

// auditVerbs says in words what an action did to its target.
var auditVerbs = map[string]string{
	keygate.AuditAPIKeyCreate: "created", keygate.AuditAPIKeyRoll: "rolled", keygate.AuditAPIKeyRevoke: "revoked",
	keygate.AuditAPIKeyUpdate: "edited", keygate.AuditOrganizationKeyPolicy: "key policy changed", keygate.AuditInvite: "invited", keygate.AuditInviteRevoke: "invitation revoked",
	keygate.AuditRoleChange: "role changed", keygate.AuditMemberRemove: "removed",
	keygate.AuditIntegrationSave: "saved", keygate.AuditIntegrationDelete: "deleted",
	keygate.AuditPermissionCreated: "permission defined", keygate.AuditPermissionDeleted: "permission deleted",
	keygate.AuditOrganizationUpdate: "updated", keygate.AuditOwnershipTransfer: "ownership transferred",
	keygate.AuditOrgSSOSave: "single sign-on saved", keygate.AuditOrgSSODelete: "single sign-on deleted",
	keygate.AuditOrgTwoFactorRequired: "two-factor requirement enabled", keygate.AuditOrgTwoFactorNotRequired: "two-factor requirement disabled",
	keygate.AuditSSODomainVerify: "domain verified", keygate.AuditLoginSSORefused: "sign-in refused",
	keygate.AuditBotLeave: "removed from the meeting", keygate.AuditBotDelete: "deleted", keygate.AuditConversationDelete: "deleted",
	keygate.AuditWebhookCreate: "webhook endpoint added", keygate.AuditWebhookUpdate: "webhook endpoint changed",
	keygate.AuditWebhookDelete: "webhook endpoint deleted", keygate.AuditWebhookSecretRoll: "webhook signing secret rolled",
}
