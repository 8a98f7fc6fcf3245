package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
)

// apiWebhookJSON is a webhook endpoint as the API shows it: never its
// secret, but in the answer that creates or rolls it.
type apiWebhookJSON struct {
	ID                  string     `json:"id"`
	URL                 string     `json:"url"`
	Description         string     `json:"description"`
	Events              []string   `json:"events"`
	State               string     `json:"state"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	DisabledAt          *time.Time `json:"disabled_at"`
	FailingSince        *time.Time `json:"failing_since"`
	PreviousSecretUntil *time.Time `json:"previous_secret_expires_at"`
}

// apiWebhookWithSecretJSON answers a create or a roll. Secret is in the
// first answer only: a retry with the same Idempotency-Key gets null.
type apiWebhookWithSecretJSON struct {
	apiWebhookJSON
	Secret *string `json:"secret"`
	Detail string  `json:"detail,omitempty"`
}

// apiDeliveryJSON is one delivery of an event to an endpoint.
type apiDeliveryJSON struct {
	ID            string     `json:"id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	ResponseCode  int        `json:"response_code"`
	DurationMS    int64      `json:"duration_ms"`
	ResponseBody  string     `json:"response_body"`
	Error         string     `json:"error"`
	CreatedAt     time.Time  `json:"created_at"`
}

func webhookJSON(e *keygate.WebhookEndpoint) apiWebhookJSON {
	return apiWebhookJSON{ID: e.PublicID, URL: e.URL, Description: e.Description, Events: append([]string{}, e.Events...),
		State: e.State(), CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, DisabledAt: e.DisabledAt, FailingSince: e.FailingSince,
		PreviousSecretUntil: e.PreviousSecretUntil}
}

func deliveryJSON(d *keygate.WebhookDelivery) apiDeliveryJSON {
	return apiDeliveryJSON{ID: d.PublicID, EventID: d.EventID, EventType: d.EventType, State: d.State, Attempts: d.Attempts,
		NextAttemptAt: d.NextAttemptAt, LastAttemptAt: d.LastAttemptAt, DeliveredAt: d.DeliveredAt, ResponseCode: d.ResponseCode,
		DurationMS: d.DurationMS, ResponseBody: d.ResponseBody, Error: d.Error, CreatedAt: d.CreatedAt}
}

// writeWebhookSecret answers with the endpoint and its secret, and leaves
// for a retry the same answer without it.
func writeWebhookSecret(w http.ResponseWriter, status int, e *keygate.WebhookEndpoint, secret string) {
	keepInstead(w, apiWebhookWithSecretJSON{apiWebhookJSON: webhookJSON(e),
		Detail: "The signing secret was sent in the first response only and is not kept. If that response was lost, roll the secret (POST /api/v1/webhooks/" + e.PublicID + "/roll-secret)."})
	writeJSON(w, status, apiWebhookWithSecretJSON{apiWebhookJSON: webhookJSON(e), Secret: &secret})
}

// checkWebhookDestination says why the outbound guard refuses an
// endpoint's URL, or "": the early check of a form, before the one at
// every delivery's connect time.
func (s *Server) checkWebhookDestination(ctx context.Context, raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	return outbound.Message(s.outbound.CheckHost(ctx, s.dns, u))
}

// webhookInput reads an endpoint's fields from obj, and checks the URL's
// destination.
func (s *Server) webhookInput(ctx context.Context, obj jsonObject, create bool, fe fieldErrors) *keygate.WebhookEndpointInput {
	in := &keygate.WebhookEndpointInput{}
	if v, ok := obj.str("url", fe); ok {
		in.URL = &v
	}
	if v, ok := obj.str("description", fe); ok {
		in.Description = &v
	}
	var events []string
	if obj.decodeField("events", &events, "Expected a list of event types.", fe) {
		in.Events = &events
	}
	var disabled bool
	if obj.decodeField("disabled", &disabled, "Must be a boolean.", fe) {
		in.Disabled = &disabled
	}
	fe.merge(in.Validate(create).Fields)
	if in.URL != nil && len(fe["url"]) == 0 {
		if msg := s.checkWebhookDestination(ctx, *in.URL); msg != "" {
			fe.add("url", msg)
		}
	}
	return in
}

func (s *Server) apiListWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.webhooks.FindWebhookEndpoints(r.Context(), apiKeyFrom(r.Context()).OrgPublicID)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := make([]apiWebhookJSON, 0, len(list))
	for _, e := range list {
		out = append(out, webhookJSON(e))
	}
	writeJSON(w, http.StatusOK, listBody{Results: out})
}

func (s *Server) apiCreateWebhook(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	in := s.webhookInput(r.Context(), obj, true, fe)
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	e, secret, err := s.webhooks.CreateWebhookEndpoint(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, in)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeWebhookSecret(w, http.StatusCreated, e, secret)
}

func (s *Server) apiGetWebhook(w http.ResponseWriter, r *http.Request) {
	e, err := s.webhooks.FindWebhookEndpoint(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookJSON(e))
}

func (s *Server) apiUpdateWebhook(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	in := s.webhookInput(r.Context(), obj, false, fe)
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	e, err := s.webhooks.UpdateWebhookEndpoint(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"), in)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookJSON(e))
}

func (s *Server) apiDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.webhooks.DeleteWebhookEndpoint(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id")); err != nil {
		s.apiErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRollWebhookSecret(w http.ResponseWriter, r *http.Request) {
	e, secret, err := s.webhooks.RollWebhookSecret(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeWebhookSecret(w, http.StatusOK, e, secret)
}

func (s *Server) apiTestWebhook(w http.ResponseWriter, r *http.Request) {
	d, err := s.webhooks.SendWebhookTest(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, deliveryJSON(d))
}

func (s *Server) apiListDeliveries(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	list, more, err := s.webhooks.FindWebhookDeliveries(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"), page)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeList(s, w, r, page, list, more, func(d *keygate.WebhookDelivery) int64 { return d.ID }, deliveryJSON)
}

func (s *Server) apiResendDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := s.webhooks.ResendWebhookDelivery(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"), r.PathValue("delivery"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, deliveryJSON(d))
}

// KeyEventQueue queues webhook events about a key outside any change of
// it; *sqlstore.WebhookService is one.
type KeyEventQueue interface {
	EnqueueKeyEvent(ctx context.Context, keyID int64, typ string) (bool, error)
}

// noteRateLimited queues a key.rate_limited event for the key, in the
// background so that the 429 is not held up. The store writes one an hour
// per key at most; this process asks it at most as often, so a key hammered
// past its limit costs no write per refused request.
func (s *Server) noteRateLimited(keyID int64) {
	if s.keyEvents == nil {
		return
	}
	now := s.now()
	if last, ok := s.rateLimited.Load(keyID); ok && now.Sub(last.(time.Time)) < keygate.WebhookRateLimitedEvery {
		return
	}
	s.rateLimited.Store(keyID, now)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.keyEvents.EnqueueKeyEvent(ctx, keyID, keygate.WebhookKeyRateLimited); err != nil {
			s.logger.Warn("queue key.rate_limited webhook event", "key_id", keyID, "error", err.Error())
		}
	}()
}
