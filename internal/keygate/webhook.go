package keygate

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhook event types an endpoint subscribes to.
const (
	WebhookKeyCreated         = "key.created"
	WebhookKeyUpdated         = "key.updated"
	WebhookKeyRolled          = "key.rolled"
	WebhookKeyRevoked         = "key.revoked"
	WebhookKeyExposed         = "key.exposed"
	WebhookKeyExpiring        = "key.expiring"
	WebhookKeyExpired         = "key.expired"
	WebhookKeyRateLimited     = "key.rate_limited"
	WebhookMemberAdded        = "member.added"
	WebhookMemberRemoved      = "member.removed"
	WebhookMemberRoleChanged  = "member.role_changed"
	WebhookInvitationCreated  = "invitation.created"
	WebhookInvitationAccepted = "invitation.accepted"
	// WebhookTest is sent to one endpoint on request ("Send test event"),
	// whatever it subscribes to.
	WebhookTest = "webhook.test"
)

// WebhookEventTypes lists the event types an endpoint can subscribe to, in
// the order they are shown.
var WebhookEventTypes = []string{
	WebhookKeyCreated, WebhookKeyUpdated, WebhookKeyRolled, WebhookKeyRevoked, WebhookKeyExpiring, WebhookKeyExpired,
	WebhookKeyExposed, WebhookKeyRateLimited,
	WebhookMemberAdded, WebhookMemberRemoved, WebhookMemberRoleChanged, WebhookInvitationCreated, WebhookInvitationAccepted,
}

// Limits and timings of webhooks.
const (
	// MaxWebhookEndpoints caps an organization's endpoints.
	MaxWebhookEndpoints = 20
	// WebhookSecretGrace is how long a rolled secret keeps signing.
	WebhookSecretGrace = 24 * time.Hour
	// WebhookDisableAfter is how long an endpoint's deliveries fail
	// without a success before it is disabled.
	WebhookDisableAfter = 72 * time.Hour
	// WebhookRateLimitedEvery spaces the key.rate_limited events of a key.
	WebhookRateLimitedEvery = time.Hour
	// WebhookTimeout bounds one delivery attempt.
	WebhookTimeout = 10 * time.Second
	// WebhookHistoryRetention is how long delivered and failed
	// deliveries stay in an endpoint's log.
	WebhookHistoryRetention = 30 * 24 * time.Hour
)

// WebhookRetryDelays are the waits after each failed attempt: attempt 1
// is immediate, and after the last delay's attempt fails the delivery is
// failed (8 attempts over about a day).
var WebhookRetryDelays = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// WebhookMaxAttempts is how many times a delivery is attempted.
var WebhookMaxAttempts = len(WebhookRetryDelays) + 1

// Webhook delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Audit actions on webhook endpoints. They name the endpoint's URL, never
// its secret.
const (
	AuditWebhookCreate     = "webhook.create"
	AuditWebhookUpdate     = "webhook.update"
	AuditWebhookDelete     = "webhook.delete"
	AuditWebhookSecretRoll = "webhook.secret_rolled"
)

// WebhookEndpoint is a URL an organization's events are posted to.
type WebhookEndpoint struct {
	ID             int64
	PublicID       string // whk_...
	OrganizationID int64
	URL            string
	Description    string
	Events         []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DisabledAt     *time.Time
	// FailingSince is when its deliveries began to fail, nil while they
	// succeed.
	FailingSince *time.Time
	// PreviousSecretUntil is when a rolled secret stops signing, nil
	// without one.
	PreviousSecretUntil *time.Time
}

// State names the endpoint's state as the dashboard shows it: "disabled",
// "failing" or "active".
func (e *WebhookEndpoint) State() string {
	switch {
	case e.DisabledAt != nil:
		return "disabled"
	case e.FailingSince != nil:
		return "failing"
	}
	return "active"
}

// WebhookDelivery is one event sent, or to be sent, to one endpoint.
type WebhookDelivery struct {
	ID            int64
	PublicID      string // dlv_...
	EventID       string // msg_...
	EventType     string
	State         string
	Attempts      int
	NextAttemptAt *time.Time // pending only
	LastAttemptAt *time.Time
	DeliveredAt   *time.Time
	ResponseCode  int
	DurationMS    int64
	// ResponseBody is the first 2 KB of the last response's body.
	ResponseBody string
	Error        string
	CreatedAt    time.Time
}

// WebhookEndpointInput is an endpoint as created or updated: nil fields
// of an update stay as they are.
type WebhookEndpointInput struct {
	URL         *string
	Description *string
	Events      *[]string
	// Disabled false re-enables an endpoint; true disables it.
	Disabled *bool
}

// maxWebhookDescription bounds an endpoint's description, in characters.
const maxWebhookDescription = 200

// Validate checks the input's fields as given; create requires url and
// events.
func (in *WebhookEndpointInput) Validate(create bool) *ValidationErrors {
	v := &ValidationErrors{}
	if in.URL != nil || create {
		if msg := checkWebhookURL(deref(in.URL)); msg != "" {
			v.Add("url", msg)
		}
	}
	if in.Description != nil && utf8.RuneCountInString(*in.Description) > maxWebhookDescription {
		v.Add("description", "Ensure this field has no more than 200 characters.")
	}
	if in.Events != nil || create {
		if msg := checkWebhookEvents(derefSlice(in.Events)); msg != "" {
			v.Add("events", msg)
		}
	}
	return v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefSlice(s *[]string) []string {
	if s == nil {
		return nil
	}
	return *s
}

// checkWebhookURL says what is wrong with an endpoint URL's form, or "".
// Which hosts it may reach is the outbound policy's to say.
func checkWebhookURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "This field is required."
	}
	if len(raw) > 2000 {
		return "Ensure this URL has no more than 2000 characters."
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "Enter a valid URL, like https://example.com/webhooks."
	}
	if u.User != nil {
		return "Leave user names and passwords out of the URL."
	}
	if u.Fragment != "" {
		return "Leave the #fragment out of the URL."
	}
	return ""
}

// checkWebhookEvents says what is wrong with a list of event types, or "".
func checkWebhookEvents(events []string) string {
	if len(events) == 0 {
		return "Choose at least one event type."
	}
	for _, e := range events {
		if !slices.Contains(WebhookEventTypes, e) {
			return "Unknown event type \"" + e + "\". Valid types: " + strings.Join(WebhookEventTypes, ", ") + "."
		}
	}
	return ""
}

// WebhookService manages an organization's webhook endpoints and shows
// their deliveries. Every method needs the Admin or Owner role and returns
// ENOTFOUND for an unknown organization, endpoint or delivery, EFORBIDDEN
// for a Member.
type WebhookService interface {
	// CreateWebhookEndpoint creates an endpoint and returns its signing
	// secret, shown this once. Returns EINVALID (fields, or the cap of
	// MaxWebhookEndpoints).
	CreateWebhookEndpoint(ctx context.Context, orgID string, in *WebhookEndpointInput) (*WebhookEndpoint, string, error)
	// FindWebhookEndpoints lists the organization's endpoints, oldest
	// first.
	FindWebhookEndpoints(ctx context.Context, orgID string) ([]*WebhookEndpoint, error)
	// FindWebhookEndpoint returns one endpoint.
	FindWebhookEndpoint(ctx context.Context, orgID, endpointID string) (*WebhookEndpoint, error)
	// UpdateWebhookEndpoint changes an endpoint. Returns EINVALID.
	UpdateWebhookEndpoint(ctx context.Context, orgID, endpointID string, in *WebhookEndpointInput) (*WebhookEndpoint, error)
	// DeleteWebhookEndpoint deletes an endpoint and its deliveries.
	DeleteWebhookEndpoint(ctx context.Context, orgID, endpointID string) error
	// RollWebhookSecret gives an endpoint a new secret, returned this
	// once; the old one keeps signing for WebhookSecretGrace.
	RollWebhookSecret(ctx context.Context, orgID, endpointID string) (*WebhookEndpoint, string, error)
	// SendWebhookTest queues a webhook.test event to the endpoint.
	SendWebhookTest(ctx context.Context, orgID, endpointID string) (*WebhookDelivery, error)
	// FindWebhookDeliveries lists one page of an endpoint's deliveries,
	// newest first, and whether there are more.
	FindWebhookDeliveries(ctx context.Context, orgID, endpointID string, page Page) ([]*WebhookDelivery, bool, error)
	// ResendWebhookDelivery queues a delivery again, now, with a fresh
	// count of attempts.
	ResendWebhookDelivery(ctx context.Context, orgID, endpointID, deliveryID string) (*WebhookDelivery, error)
}
