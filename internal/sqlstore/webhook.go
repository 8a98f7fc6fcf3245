package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
)

// Ensure the service implements its interface.
var _ keygate.WebhookService = (*WebhookService)(nil)

// WebhookService manages organizations' webhook endpoints, their signing
// secrets sealed with box, and the deliveries internal/webhook makes.
type WebhookService struct {
	db  *DB
	box *secretbox.Box
}

// NewWebhookService returns a WebhookService on db that seals secrets
// with box.
func NewWebhookService(db *DB, box *secretbox.Box) *WebhookService {
	return &WebhookService{db: db, box: box}
}

var (
	errWebhookNotFound  = keygate.Errorf(keygate.ENOTFOUND, "Webhook endpoint not found.")
	errDeliveryNotFound = keygate.Errorf(keygate.ENOTFOUND, "Delivery not found.")
)

// webhookAdmin loads the organization and checks that the acting user (or
// key) may manage its webhooks.
func webhookAdmin(ctx context.Context, q queryer, orgID string) (*keygate.Organization, error) {
	org, err := findOrganizationForUser(ctx, q, orgID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to manage webhooks")
	}
	return org, nil
}

// webhookSecretAAD binds a sealed secret to its endpoint.
func webhookSecretAAD(endpointID string) []byte { return []byte("keygate|webhook|" + endpointID) }

// newWebhookSecret returns "whsec_" and the base64 of 24 random bytes.
func newWebhookSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

const webhookEndpointColumns = `id, public_id, organization_id, url, description, events, created_at, updated_at,
	disabled_at, failing_since, previous_secret_expires_at`

func scanWebhookEndpoint(row scanner) (*keygate.WebhookEndpoint, error) {
	var e keygate.WebhookEndpoint
	var events string
	var created, updated int64
	var disabled, failing, prevUntil sql.NullInt64
	if err := row.Scan(&e.ID, &e.PublicID, &e.OrganizationID, &e.URL, &e.Description, &events, &created, &updated,
		&disabled, &failing, &prevUntil); err != nil {
		return nil, err
	}
	e.Events = strings.Split(events, ",")
	e.CreatedAt, e.UpdatedAt = fromMS(created), fromMS(updated)
	e.DisabledAt, e.FailingSince, e.PreviousSecretUntil = fromNullMS(disabled), fromNullMS(failing), fromNullMS(prevUntil)
	return &e, nil
}

func findWebhookEndpoint(ctx context.Context, q queryer, orgID int64, endpointID string) (*keygate.WebhookEndpoint, error) {
	e, err := scanWebhookEndpoint(q.QueryRowContext(ctx, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints
		WHERE organization_id = $1 AND public_id = $2`, orgID, endpointID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errWebhookNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find webhook endpoint: %w", err)
	}
	return e, nil
}

// endpointToChange returns the organization, as webhookAdmin does
// (locked, in a transaction), and its endpoint endpointID.
func endpointToChange(ctx context.Context, q queryer, orgID, endpointID string) (*keygate.Organization, *keygate.WebhookEndpoint, error) {
	org, err := webhookAdmin(ctx, q, orgID)
	if err != nil {
		return nil, nil, err
	}
	e, err := findWebhookEndpoint(ctx, q, org.ID, endpointID)
	if err != nil {
		return nil, nil, err
	}
	return org, e, nil
}

// CreateWebhookEndpoint creates an endpoint and returns its secret once.
func (s *WebhookService) CreateWebhookEndpoint(ctx context.Context, orgID string, in *keygate.WebhookEndpointInput) (*keygate.WebhookEndpoint, string, error) {
	if err := in.Validate(true).Err(); err != nil {
		return nil, "", err
	}
	var e *keygate.WebhookEndpoint
	secret := newWebhookSecret()
	err := s.db.inTx(ctx, func(tx *Tx) error {
		org, err := webhookAdmin(ctx, tx, orgID)
		if err != nil {
			return err
		}
		// Counted under the organization's lock (webhookAdmin).
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints WHERE organization_id = $1`, org.ID).Scan(&n); err != nil {
			return fmt.Errorf("count webhook endpoints: %w", err)
		}
		if n >= keygate.MaxWebhookEndpoints {
			return keygate.FieldError("url", fmt.Sprintf("An organization can have at most %d webhook endpoints. Delete one first.", keygate.MaxWebhookEndpoints))
		}
		if err := verifyKeyCheck(ctx, tx, s.box); err != nil {
			return err
		}
		e = &keygate.WebhookEndpoint{PublicID: newPublicID("whk"), OrganizationID: org.ID, URL: strings.TrimSpace(*in.URL),
			Events: *in.Events, CreatedAt: tx.now, UpdatedAt: tx.now}
		if in.Description != nil {
			e.Description = strings.TrimSpace(*in.Description)
		}
		sealed, err := s.box.Seal([]byte(secret), webhookSecretAAD(e.PublicID))
		if err != nil {
			return fmt.Errorf("seal webhook secret: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO webhook_endpoints
			(public_id, organization_id, url, description, events, secret, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
			e.PublicID, org.ID, e.URL, e.Description, strings.Join(e.Events, ","), sealed, ms(tx.now)).Scan(&e.ID); err != nil {
			return fmt.Errorf("insert webhook endpoint: %w", err)
		}
		return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditWebhookCreate,
			TargetType: "webhook", TargetID: e.PublicID, TargetName: e.URL})
	})
	if err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// FindWebhookEndpoints lists the organization's endpoints, oldest first.
func (s *WebhookService) FindWebhookEndpoints(ctx context.Context, orgID string) ([]*keygate.WebhookEndpoint, error) {
	org, err := webhookAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+webhookEndpointColumns+` FROM webhook_endpoints
		WHERE organization_id = $1 ORDER BY id`, org.ID)
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoints: %w", err)
	}
	out, err := collect(rows, scanWebhookEndpoint)
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoints: %w", err)
	}
	return out, nil
}

// FindWebhookEndpoint returns one endpoint.
func (s *WebhookService) FindWebhookEndpoint(ctx context.Context, orgID, endpointID string) (*keygate.WebhookEndpoint, error) {
	_, e, err := endpointToChange(ctx, s.db.reader(), orgID, endpointID)
	return e, err
}

// UpdateWebhookEndpoint changes an endpoint's URL, description, events or
// state.
func (s *WebhookService) UpdateWebhookEndpoint(ctx context.Context, orgID, endpointID string, in *keygate.WebhookEndpointInput) (*keygate.WebhookEndpoint, error) {
	if err := in.Validate(false).Err(); err != nil {
		return nil, err
	}
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.WebhookEndpoint, error) {
		org, e, err := endpointToChange(ctx, tx, orgID, endpointID)
		if err != nil {
			return nil, err
		}
		if in.URL != nil {
			e.URL = strings.TrimSpace(*in.URL)
		}
		if in.Description != nil {
			e.Description = strings.TrimSpace(*in.Description)
		}
		if in.Events != nil {
			e.Events = *in.Events
		}
		if in.Disabled != nil {
			switch {
			case *in.Disabled && e.DisabledAt == nil:
				now := tx.now
				e.DisabledAt = &now
			case !*in.Disabled && e.DisabledAt != nil:
				// Enabled again, it starts with a clean record: three more
				// days of failures before it is disabled again.
				e.DisabledAt, e.FailingSince = nil, nil
			}
		}
		e.UpdatedAt = tx.now
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = $1, description = $2, events = $3,
			disabled_at = $4, failing_since = $5, updated_at = $6 WHERE id = $7`,
			e.URL, e.Description, strings.Join(e.Events, ","), nullTime(e.DisabledAt), nullTime(e.FailingSince), ms(tx.now), e.ID); err != nil {
			return nil, fmt.Errorf("update webhook endpoint: %w", err)
		}
		return e, insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditWebhookUpdate,
			TargetType: "webhook", TargetID: e.PublicID, TargetName: e.URL})
	})
}

// DeleteWebhookEndpoint deletes an endpoint; its deliveries go with it.
func (s *WebhookService) DeleteWebhookEndpoint(ctx context.Context, orgID, endpointID string) error {
	return s.db.inTx(ctx, func(tx *Tx) error {
		org, e, err := endpointToChange(ctx, tx, orgID, endpointID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, e.ID); err != nil {
			return fmt.Errorf("delete webhook endpoint: %w", err)
		}
		return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditWebhookDelete,
			TargetType: "webhook", TargetID: e.PublicID, TargetName: e.URL})
	})
}

// RollWebhookSecret gives the endpoint a new secret; the current one
// keeps signing, beside it, for keygate.WebhookSecretGrace.
func (s *WebhookService) RollWebhookSecret(ctx context.Context, orgID, endpointID string) (*keygate.WebhookEndpoint, string, error) {
	secret := newWebhookSecret()
	e, err := inTxValue(ctx, s.db, func(tx *Tx) (*keygate.WebhookEndpoint, error) {
		org, e, err := endpointToChange(ctx, tx, orgID, endpointID)
		if err != nil {
			return nil, err
		}
		if err := verifyKeyCheck(ctx, tx, s.box); err != nil {
			return nil, err
		}
		sealed, err := s.box.Seal([]byte(secret), webhookSecretAAD(e.PublicID))
		if err != nil {
			return nil, fmt.Errorf("seal webhook secret: %w", err)
		}
		until := tx.now.Add(keygate.WebhookSecretGrace)
		e.PreviousSecretUntil, e.UpdatedAt = &until, tx.now
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $1,
			secret = $2, updated_at = $3 WHERE id = $4`, ms(until), sealed, ms(tx.now), e.ID); err != nil {
			return nil, fmt.Errorf("roll webhook secret: %w", err)
		}
		return e, insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditWebhookSecretRoll,
			TargetType: "webhook", TargetID: e.PublicID, TargetName: e.URL})
	})
	if err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// SendWebhookTest queues a webhook.test event to the endpoint alone.
func (s *WebhookService) SendWebhookTest(ctx context.Context, orgID, endpointID string) (*keygate.WebhookDelivery, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.WebhookDelivery, error) {
		org, e, err := endpointToChange(ctx, tx, orgID, endpointID)
		if err != nil {
			return nil, err
		}
		data := map[string]string{"endpoint": e.PublicID, "message": "This is a test event from Keygate."}
		ids, err := insertWebhookEvent(ctx, tx, org.ID, keygate.WebhookTest, "", data, []int64{e.ID})
		if err != nil {
			return nil, err
		}
		return findDelivery(ctx, tx, e.ID, ids[0])
	})
}

const deliveryColumns = `d.id, d.public_id, ev.public_id, ev.type, d.state, d.attempts, d.next_attempt_at, d.last_attempt_at,
	d.delivered_at, d.response_code, d.duration_ms, d.response_body, d.error, d.created_at`

const deliveryFrom = ` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id`

func scanDelivery(row scanner) (*keygate.WebhookDelivery, error) {
	var d keygate.WebhookDelivery
	var next int64
	var last, delivered sql.NullInt64
	var created int64
	if err := row.Scan(&d.ID, &d.PublicID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &next, &last,
		&delivered, &d.ResponseCode, &d.DurationMS, &d.ResponseBody, &d.Error, &created); err != nil {
		return nil, err
	}
	if d.State == keygate.DeliveryPending {
		t := fromMS(next)
		d.NextAttemptAt = &t
	}
	d.LastAttemptAt, d.DeliveredAt, d.CreatedAt = fromNullMS(last), fromNullMS(delivered), fromMS(created)
	return &d, nil
}

func findDelivery(ctx context.Context, q queryer, endpointID int64, deliveryID string) (*keygate.WebhookDelivery, error) {
	d, err := scanDelivery(q.QueryRowContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+`
		WHERE d.endpoint_id = $1 AND d.public_id = $2`, endpointID, deliveryID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errDeliveryNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find delivery: %w", err)
	}
	return d, nil
}

// FindWebhookDeliveries lists one page of the endpoint's deliveries,
// newest first.
func (s *WebhookService) FindWebhookDeliveries(ctx context.Context, orgID, endpointID string, page keygate.Page) ([]*keygate.WebhookDelivery, bool, error) {
	_, e, err := endpointToChange(ctx, s.db.reader(), orgID, endpointID)
	if err != nil {
		return nil, false, err
	}
	cur, err := newIDCursor(page)
	if err != nil {
		return nil, false, err
	}
	args := []any{e.ID}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	where, tail := cur.sql("d.id", []string{"d.endpoint_id = $1"}, arg)
	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+` WHERE `+strings.Join(where, " AND ")+tail, args...)
	if err != nil {
		return nil, false, fmt.Errorf("find deliveries: %w", err)
	}
	list, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, false, fmt.Errorf("find deliveries: %w", err)
	}
	list, more := finishIDPage(list, cur)
	return list, more, nil
}

// ResendWebhookDelivery makes a delivery pending again, due now, with a
// fresh count of attempts.
func (s *WebhookService) ResendWebhookDelivery(ctx context.Context, orgID, endpointID, deliveryID string) (*keygate.WebhookDelivery, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.WebhookDelivery, error) {
		_, e, err := endpointToChange(ctx, tx, orgID, endpointID)
		if err != nil {
			return nil, err
		}
		d, err := findDelivery(ctx, tx, e.ID, deliveryID)
		if err != nil {
			return nil, err
		}
		// Sent again, it waits behind a pending delivery of its key made
		// before it.
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1,
			claimed_until = NULL, updated_at = $1, blocked = CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries p
				WHERE p.endpoint_id = webhook_deliveries.endpoint_id AND p.ordering_key = webhook_deliveries.ordering_key
				AND p.state = 'pending' AND p.id < webhook_deliveries.id) THEN 1 ELSE 0 END
			WHERE id = $2`, ms(tx.now), d.ID); err != nil {
			return nil, fmt.Errorf("resend delivery: %w", err)
		}
		return findDelivery(ctx, tx, e.ID, deliveryID)
	})
}
