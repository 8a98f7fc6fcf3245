package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// keyPolicyForm is the policy as the settings form shows it.
func keyPolicyForm(p *keygate.KeyPolicy) views.Form {
	note := ""
	if p.NoteRequired {
		note = "on"
	}
	return views.Form{Values: map[string]string{
		"max_lifetime_days": strconv.Itoa(p.MaxLifetimeDays), "note_required": note,
		"revoke_unused_days": strconv.Itoa(p.RevokeUnusedDays), "leak_policy": string(p.Leak),
	}}
}

func (s *Server) renderKeyPolicy(w http.ResponseWriter, r *http.Request, status int, f views.Form) {
	l := s.layout(r, "Key policy", "settings")
	org := *l.Org
	nav := views.SettingsNav{SettingsURL: org.URL("settings"), APIKeysURL: org.URL("api-keys"), AuditURL: org.URL("audit-log"),
		SSOURL: s.orgSSOSettingsURL(org), PermissionsURL: s.permissionsURL(org), Active: "key-policy"}
	if s.integrations != nil {
		nav.IntegrationsURL = org.URL("settings/integrations")
	}
	s.render(w, r, status, views.KeyPolicySettingsPage(l, views.KeyPolicyPage{Nav: nav, Action: org.URL("settings/key-policy"), Form: f}))
}

// renderKeyPolicyError shows the page again with what was sent, each
// message beside its field.
func (s *Server) renderKeyPolicyError(w http.ResponseWriter, r *http.Request, f views.Form, err error) {
	cur, lerr := s.keyPolicies.KeyPolicy(r.Context(), r.PathValue("org"))
	if lerr != nil {
		s.Error(w, r, lerr)
		return
	}
	// Fields the form did not send (the older leak policy route) show
	// what is saved.
	for k, v := range keyPolicyForm(cur).Values {
		if _, ok := f.Values[k]; !ok {
			f.Values[k] = v
		}
	}
	s.renderKeyPolicy(w, r, ErrorStatus(err), formWithError(f, err))
}

func (s *Server) handleKeyPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.keyPolicies.KeyPolicy(r.Context(), r.PathValue("org"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderKeyPolicy(w, r, http.StatusOK, keyPolicyForm(p))
}

func (s *Server) handleSaveKeyPolicy(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "max_lifetime_days", "note_required", "revoke_unused_days", "leak_policy")
	if f.Value("note_required") != "" {
		f.Values["note_required"] = "on"
	}
	p := keygate.KeyPolicy{NoteRequired: f.Value("note_required") == "on", Leak: keygate.LeakPolicy(f.Value("leak_policy"))}
	var v keygate.ValidationErrors
	var err error
	if p.MaxLifetimeDays, err = strconv.Atoi(f.Value("max_lifetime_days")); err != nil {
		v.Add("max_lifetime_days", "Choose a maximum lifetime from the list.")
	}
	if p.RevokeUnusedDays, err = strconv.Atoi(f.Value("revoke_unused_days")); err != nil {
		v.Add("revoke_unused_days", "Choose after how long unused keys are revoked from the list.")
	}
	for k, m := range p.Validate().Fields {
		v.Add(k, m)
	}
	err = v.Err()
	if err == nil {
		_, err = s.keyPolicies.SetKeyPolicy(r.Context(), r.PathValue("org"), p)
	}
	if isFormError(err) {
		s.renderKeyPolicyError(w, r, f, err)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Key policy saved.")
	http.Redirect(w, r, "/orgs/"+pageFrom(r).org.PublicID+"/settings/key-policy", http.StatusSeeOther)
}

// handlePolicyExpiryPage asks before the Overview's "Set expiry to N
// days" brings a key within the policy's maximum lifetime.
func (s *Server) handlePolicyExpiryPage(w http.ResponseWriter, r *http.Request) {
	k, err := s.loadKey(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p, err := s.keyPolicies.KeyPolicy(r.Context(), r.PathValue("org"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if p.MaxLifetimeDays == 0 {
		s.notFound(w, r)
		return
	}
	l := s.layout(r, "Set expiry of "+k.Name, "api-keys")
	until := s.now().Add(p.MaxLifetime()).UTC().Format("2006-01-02")
	s.render(w, r, http.StatusOK, views.PolicyExpiryPage(l, views.PolicyExpiryConfirm{
		Question: "The key “" + k.Name + "” will stop working on " + until + ", " + keygate.DaysLabel(p.MaxLifetimeDays, "") +
			" from now, as your organization's key policy asks. Roll it before then.",
		Action: l.Org.URL("api-keys/" + k.PublicID + "/policy-expiry"), CancelURL: l.Org.URL(""),
		Button: "Set expiry to " + keygate.DaysLabel(p.MaxLifetimeDays, ""),
	}))
}

func (s *Server) handleSetPolicyExpiry(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	k, err := s.keyPolicies.SetPolicyExpiry(r.Context(), org.PublicID, r.PathValue("key"))
	if keygate.ErrorCode(err) == keygate.EINVALID {
		s.addFlash(w, r, "info", keygate.ErrorMessage(err))
		http.Redirect(w, r, "/orgs/"+org.PublicID, http.StatusSeeOther)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Key “"+k.Name+"” now expires on "+k.ExpiresAt.UTC().Format("2006-01-02")+".")
	http.Redirect(w, r, "/orgs/"+org.PublicID, http.StatusSeeOther)
}

// applyKeyPolicyToForm shows the key policy in the create form: only the
// expiration choices it allows, its limit beside them, and the note as
// required.
func (s *Server) applyKeyPolicyToForm(ctx context.Context, org views.Org, f *views.KeyForm) {
	p := s.keyPolicyOrNone(ctx, org)
	f.NoteRequired = p.NoteRequired
	if p.MaxLifetimeDays == 0 {
		return
	}
	f.PolicyHint = p.LifetimeMessage()
	// The custom date's last day ends within the limit (parseKeyForm:
	// the key works until the end of the day chosen).
	f.MaxDate = s.now().UTC().AddDate(0, 0, p.MaxLifetimeDays-1).Format(time.DateOnly)
	f.Expirations = nil
	for _, o := range views.ExpirationOptions {
		days, err := strconv.Atoi(o.Value)
		if o.Value == "custom" || (err == nil && days <= p.MaxLifetimeDays) {
			f.Expirations = append(f.Expirations, o)
		}
	}
	if days, _ := strconv.Atoi(f.Expiration); f.Expiration == "none" || days > p.MaxLifetimeDays {
		// Every maximum (30 days or more) is itself a choice, or above 90.
		f.Expiration = strconv.Itoa(min(p.MaxLifetimeDays, keygate.DefaultKeyLifetimeDays))
	}
}

// keyPolicyGroup is the Overview's "Breaks the key policy": active keys
// that live longer than the policy allows or lack a required note, each
// with its fix. Nil without a policy service.
func (s *Server) keyPolicyGroup(ctx context.Context, org views.Org) (*views.HygieneGroup, error) {
	if s.keyPolicies == nil {
		return nil, nil
	}
	keys, p, err := s.keyPolicies.FindKeysBreakingPolicy(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	g := &views.HygieneGroup{ID: "key-policy", Title: "Breaks the key policy",
		Advice: "Keys made before the organization's key policy, or that it no longer allows. Nothing changes them until you do."}
	for _, k := range keys {
		row := s.keyRow(org, k, now)
		it := views.HygieneItem{Name: k.Name, Hint: k.Hint, URL: row.URL}
		breaches := p.Breaches(k, now)
		if len(breaches) == 0 {
			continue // the policy changed between the two reads
		}
		var details []string
		for _, b := range breaches {
			switch b {
			case "no-expiry":
				details = append(details, "No expiry")
			case "expiry":
				text, _ := views.ExpiryText(k.ExpiresAt, now)
				details = append(details, text)
			case "note":
				details = append(details, "no note")
			}
		}
		detail := strings.Join(details, ", ")
		it.Detail = strings.ToUpper(detail[:1]) + detail[1:]
		// The expiry is the fix offered first; a note only the person
		// who knows what the key is for can write.
		if breaches[0] == "note" {
			it.ActionLabel, it.ActionURL = "Add a note", row.URL+"#f-note"
		} else {
			it.ActionLabel = "Set expiry to " + keygate.DaysLabel(p.MaxLifetimeDays, "")
			it.ActionURL = org.URL("api-keys/" + k.PublicID + "/policy-expiry")
		}
		g.Items = append(g.Items, it)
	}
	return g, nil
}

// keyPolicyOrNone is the organization's key policy for the forms, or the
// empty policy if it cannot be read: the service enforces it in any case.
func (s *Server) keyPolicyOrNone(ctx context.Context, org views.Org) keygate.KeyPolicy {
	if s.keyPolicies == nil {
		return keygate.KeyPolicy{}
	}
	p, err := s.keyPolicies.KeyPolicy(ctx, org.ID)
	if err != nil {
		return keygate.KeyPolicy{}
	}
	return *p
}
