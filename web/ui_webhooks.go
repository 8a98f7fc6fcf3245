package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// msgWebhooksAdmin is the 403 of Settings > Webhooks for a Member.
const msgWebhooksAdmin = "You need the Admin role to manage webhooks"

// webhooksOff answers 404 when the server has no WebhookService.
func (s *Server) webhooksOff(w http.ResponseWriter, r *http.Request) bool {
	if s.webhooks == nil {
		s.notFound(w, r)
		return true
	}
	return false
}

// webhooksNav is the settings subnav with Webhooks current.
func (s *Server) webhooksNav(org views.Org) views.SettingsNav {
	n := views.SettingsNav{SettingsURL: org.URL("settings"), APIKeysURL: org.URL("api-keys"), AuditURL: org.URL("audit-log"),
		SSOURL: s.orgSSOSettingsURL(org), PermissionsURL: s.permissionsURL(org), Active: "webhooks"}
	if s.integrations != nil {
		n.IntegrationsURL = org.URL("settings/integrations")
	}
	return n
}

// webhookRow is an endpoint as the dashboard shows it.
func webhookRow(org views.Org, e *keygate.WebhookEndpoint) views.WebhookRow {
	row := views.WebhookRow{ID: e.PublicID, URL: e.URL, Description: e.Description, Events: e.Events,
		StateKind: e.State(), State: "Active", PageURL: org.URL("settings/webhooks/" + e.PublicID)}
	switch row.StateKind {
	case "disabled":
		row.State = "Disabled"
	case "failing":
		row.State = "Failing since " + e.FailingSince.UTC().Format("Jan 2, 15:04 UTC")
	}
	return row
}

// renderWebhooks shows Settings > Webhooks with the add form as submitted
// (with its errors) or empty, and a new endpoint's secret if created.
func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, form views.Form, checked []string, created *views.WebhookSecret) {
	l := s.layout(r, "Webhooks", "settings")
	org := *l.Org
	list, err := s.webhooks.FindWebhookEndpoints(r.Context(), org.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p := views.WebhooksPage{Nav: s.webhooksNav(org), Form: form, Events: eventChoices(checked), Action: org.URL("settings/webhooks"),
		Created: created, Full: len(list) >= keygate.MaxWebhookEndpoints}
	for _, e := range list {
		p.Endpoints = append(p.Endpoints, webhookRow(org, e))
	}
	s.render(w, r, status, views.WebhooksSettingsPage(l, p))
}

// eventChoices is a checkbox per event type, those in checked ticked.
func eventChoices(checked []string) []views.EventChoice {
	out := make([]views.EventChoice, 0, len(keygate.WebhookEventTypes))
	for _, ev := range keygate.WebhookEventTypes {
		out = append(out, views.EventChoice{Value: ev, Checked: slices.Contains(checked, ev)})
	}
	return out
}

// webhookForm reads the add or edit form: its input, with the errors of
// its fields (the URL's destination checked too), the events ticked, and
// the endpoint as the service takes it.
func (s *Server) webhookForm(r *http.Request) (views.Form, []string, *keygate.WebhookEndpointInput) {
	f := formOf(r, "url", "description")
	events := r.PostForm["events"]
	in := &keygate.WebhookEndpointInput{URL: new(f.Value("url")), Description: new(f.Value("description")), Events: &events}
	f.Errors = in.Validate(true).Fields
	if f.Err("url") == "" {
		if msg := s.checkWebhookDestination(r.Context(), f.Value("url")); msg != "" {
			f.Errors = mergeField(f.Errors, "url", msg)
		}
	}
	return f, events, in
}

func (s *Server) handleWebhooks(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	s.renderWebhooks(w, r, http.StatusOK, views.Form{}, nil, nil)
}

// handleCreateWebhook adds an endpoint and answers with its secret, the
// only time it is shown; a form with errors comes back with its input.
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	f, events, in := s.webhookForm(r)
	if len(f.Errors) > 0 {
		s.renderWebhooks(w, r, http.StatusBadRequest, f, events, nil)
		return
	}
	e, secret, err := s.webhooks.CreateWebhookEndpoint(r.Context(), pageFrom(r).org.PublicID, in)
	if isFormError(err) {
		s.renderWebhooks(w, r, http.StatusBadRequest, formWithError(f, err), events, nil)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderWebhooks(w, r, http.StatusCreated, views.Form{}, nil, &views.WebhookSecret{Title: "Endpoint added: " + e.URL, Secret: secret,
		Note: "Check every delivery's webhook-signature header with it (see the README, section Webhooks)."})
}

// mergeField adds msg for field to errs, making the map if need be.
func mergeField(errs map[string]string, field, msg string) map[string]string {
	if errs == nil {
		errs = map[string]string{}
	}
	errs[field] = msg
	return errs
}

// handleWebhook shows one endpoint and its deliveries, newest first.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	s.renderWebhook(w, r, http.StatusOK, nil, views.Form{}, nil)
}

// handleUpdateWebhook saves the endpoint's URL, description and events;
// a form with errors comes back on the endpoint's page with its input.
func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	f, events, in := s.webhookForm(r)
	if len(f.Errors) == 0 {
		_, err := s.webhooks.UpdateWebhookEndpoint(r.Context(), pageFrom(r).org.PublicID, r.PathValue("id"), in)
		if isFormError(err) {
			f = formWithError(f, err)
		} else if err != nil {
			s.Error(w, r, err)
			return
		}
	}
	if f.HasErrors() {
		s.renderWebhook(w, r, http.StatusBadRequest, nil, f, events)
		return
	}
	s.webhookBack(w, r, "success", "Endpoint saved.")
}

// renderWebhook shows the endpoint of the path, with secret if it was
// just rolled, and its edit form as submitted (edit, with the events
// checked) or, when edit has no values, as saved.
func (s *Server) renderWebhook(w http.ResponseWriter, r *http.Request, status int, secret *views.WebhookSecret, edit views.Form, checked []string) {
	l := s.layout(r, "Webhook endpoint", "settings")
	org := *l.Org
	e, err := s.webhooks.FindWebhookEndpoint(r.Context(), org.ID, r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	list, more, err := s.webhooks.FindWebhookDeliveries(r.Context(), org.ID, e.PublicID, keygate.Page{After: max(after, 0), Limit: 25})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	base := org.URL("settings/webhooks/" + e.PublicID)
	p := views.WebhookPage{Nav: s.webhooksNav(org), Endpoint: webhookRow(org, e), Secret: secret,
		TestAction: base + "/test", RollAction: base + "/roll-secret", StateAction: base + "/state", Enable: e.DisabledAt != nil,
		DeleteURL: base + "/delete", BackURL: org.URL("settings/webhooks")}
	if edit.Values == nil {
		edit, checked = views.Form{Values: map[string]string{"url": e.URL, "description": e.Description}}, e.Events
	}
	p.Edit = views.WebhookForm{Form: edit, Events: eventChoices(checked), Action: base, Submit: "Save endpoint", TestID: "edit-webhook"}
	if until := e.PreviousSecretUntil; until != nil && until.After(s.now()) {
		p.GraceUntil = until.UTC().Format("Jan 2, 15:04 UTC")
	}
	now := s.now()
	for _, d := range list {
		p.Deliveries = append(p.Deliveries, deliveryRow(d, now, base))
	}
	if more {
		p.OlderURL = base + "?after=" + strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	if after > 0 {
		p.NewerURL = base
	}
	s.render(w, r, status, views.WebhookEndpointPage(l, p))
}

// deliveryRow is a delivery in an endpoint's log.
func deliveryRow(d *keygate.WebhookDelivery, now time.Time, base string) views.DeliveryRow {
	row := views.DeliveryRow{ID: d.PublicID, Created: views.Time{At: d.CreatedAt, Now: now}, EventType: d.EventType,
		StatusKind: d.State, Attempts: strconv.Itoa(d.Attempts), Excerpt: d.ResponseBody, ResponseCode: "—", Duration: "—",
		ResendAction: base + "/deliveries/" + d.PublicID + "/resend"}
	switch d.State {
	case keygate.DeliveryDelivered:
		row.Status = "Delivered"
	case keygate.DeliveryFailed:
		row.Status = "Failed"
	default:
		row.Status = "Pending"
	}
	if d.ResponseCode != 0 {
		row.ResponseCode = strconv.Itoa(d.ResponseCode)
	} else if d.Error != "" {
		row.ResponseCode = d.Error
	}
	if d.LastAttemptAt != nil {
		row.Duration = fmt.Sprintf("%d ms", d.DurationMS)
	}
	return row
}

// webhookBack redirects to the endpoint's page with a flash.
func (s *Server) webhookBack(w http.ResponseWriter, r *http.Request, kind, msg string) {
	s.addFlash(w, r, kind, msg)
	http.Redirect(w, r, "/orgs/"+pageFrom(r).org.PublicID+"/settings/webhooks/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}

func (s *Server) handleTestWebhook(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	if _, err := s.webhooks.SendWebhookTest(r.Context(), pageFrom(r).org.PublicID, r.PathValue("id")); err != nil {
		s.Error(w, r, err)
		return
	}
	s.webhookBack(w, r, "success", "Test event queued: it appears below once sent.")
}

func (s *Server) handleResendDelivery(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	d, err := s.webhooks.ResendWebhookDelivery(r.Context(), pageFrom(r).org.PublicID, r.PathValue("id"), r.PathValue("delivery"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.webhookBack(w, r, "success", "The "+d.EventType+" event will be sent again.")
}

// handleRollWebhookSecret answers with the new secret, shown this once.
func (s *Server) handleRollWebhookSecret(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	_, secret, err := s.webhooks.RollWebhookSecret(r.Context(), pageFrom(r).org.PublicID, r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderWebhook(w, r, http.StatusOK, &views.WebhookSecret{Title: "New signing secret", Secret: secret,
		Note: "For 24 hours deliveries carry two signatures, under this secret and the old one: switch your receiver to this one meanwhile."}, views.Form{}, nil)
}

// handleWebhookState disables or enables the endpoint (enabled=true).
func (s *Server) handleWebhookState(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	disabled := r.PostFormValue("enabled") != "true"
	if _, err := s.webhooks.UpdateWebhookEndpoint(r.Context(), pageFrom(r).org.PublicID, r.PathValue("id"), &keygate.WebhookEndpointInput{Disabled: &disabled}); err != nil {
		s.Error(w, r, err)
		return
	}
	msg := "Endpoint enabled: what waited for it is sent now."
	if disabled {
		msg = "Endpoint disabled: events wait for it until you enable it."
	}
	s.webhookBack(w, r, "success", msg)
}

func (s *Server) handleDeleteWebhookPage(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	l := s.layout(r, "Delete webhook endpoint", "settings")
	e, err := s.webhooks.FindWebhookEndpoint(r.Context(), l.Org.ID, r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	base := l.Org.URL("settings/webhooks/" + e.PublicID)
	s.render(w, r, http.StatusOK, views.ConfirmDeletePage(l, views.ConfirmDelete{Title: "Delete webhook endpoint", Button: "Delete endpoint",
		Question: "Events will no longer be sent to " + e.URL + ", and its delivery log is deleted. This cannot be undone.",
		Action:   base + "/delete", CancelURL: base}))
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	if s.webhooksOff(w, r) {
		return
	}
	org := pageFrom(r).org
	err := s.webhooks.DeleteWebhookEndpoint(r.Context(), org.PublicID, r.PathValue("id"))
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Webhook endpoint deleted.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/webhooks", http.StatusSeeOther)
}
