package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// The outbox. An event is written by the transaction of the change it
// tells of, with one delivery per endpoint that subscribes to it: a change
// that rolls back sends nothing, and a committed one is delivered even if
// the process dies the moment after (internal/webhook sends it).

// webhookEventJSON is an event's payload, its request body.
type webhookEventJSON struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	CreatedAt    time.Time `json:"created_at"`
	Organization string    `json:"organization"`
	Data         any       `json:"data"`
}

// webhookMemberJSON is the data of member and invitation events.
type webhookMemberJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

// enqueueKeyEvent writes a key event about k in tx.
func enqueueKeyEvent(ctx context.Context, tx *Tx, typ string, k *keygate.APIKey) error {
	return enqueueWebhookEvent(ctx, tx, k.OrganizationID, typ, k.PublicID, keygate.NewAPIKeyJSON(k, tx.now))
}

// enqueueMemberEvent writes a member or invitation event in tx.
func enqueueMemberEvent(ctx context.Context, tx *Tx, orgID int64, typ, id, email string, role keygate.Role) error {
	return enqueueWebhookEvent(ctx, tx, orgID, typ, "", webhookMemberJSON{ID: id, Email: email, Role: string(role)})
}

// enqueueWebhookEvent writes, in tx, an event of type typ with data for
// every enabled endpoint of the organization that subscribes to typ, and
// returns nil having written nothing when none does. orderingKey orders
// the deliveries of one endpoint ("" orders the event by itself).
func enqueueWebhookEvent(ctx context.Context, tx *Tx, orgID int64, typ, orderingKey string, data any) error {
	endpoints, err := subscribedEndpoints(ctx, tx, orgID, typ)
	if err != nil || len(endpoints) == 0 {
		return err
	}
	_, err = insertWebhookEvent(ctx, tx, orgID, typ, orderingKey, data, endpoints)
	return err
}

// subscribedEndpoints returns the ids of the organization's enabled
// endpoints that subscribe to typ.
func subscribedEndpoints(ctx context.Context, tx *Tx, orgID int64, typ string) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, events FROM webhook_endpoints
		WHERE organization_id = $1 AND disabled_at IS NULL ORDER BY id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		var events string
		if err := rows.Scan(&id, &events); err != nil {
			return nil, fmt.Errorf("find webhook endpoints: %w", err)
		}
		if slices.Contains(strings.Split(events, ","), typ) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// insertWebhookEvent writes the event and a delivery, due now, to each
// endpoint, and returns the deliveries' public ids.
func insertWebhookEvent(ctx context.Context, tx *Tx, orgID int64, typ, orderingKey string, data any, endpoints []int64) ([]string, error) {
	var org string
	if err := tx.QueryRowContext(ctx, `SELECT public_id FROM organizations WHERE id = $1`, orgID).Scan(&org); err != nil {
		return nil, fmt.Errorf("webhook event: %w", err)
	}
	ev := webhookEventJSON{ID: newPublicID("msg"), Type: typ, CreatedAt: tx.now.UTC(), Organization: org, Data: data}
	if orderingKey == "" {
		orderingKey = ev.ID
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("webhook event: %w", err)
	}
	var eventID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO webhook_events (public_id, organization_id, type, ordering_key, payload, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, ev.ID, orgID, typ, orderingKey, string(payload), ms(tx.now)).Scan(&eventID); err != nil {
		return nil, fmt.Errorf("insert webhook event: %w", err)
	}
	ids := make([]string, 0, len(endpoints))
	for _, ep := range endpoints {
		id := newPublicID("dlv")
		// It waits behind a pending delivery of its key to the endpoint.
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries
			(public_id, endpoint_id, event_id, ordering_key, state, next_attempt_at, created_at, updated_at, blocked)
			VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5, CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries p
				WHERE p.endpoint_id = $2 AND p.ordering_key = $4 AND p.state = 'pending') THEN 1 ELSE 0 END)`,
			id, ep, eventID, orderingKey, ms(tx.now)); err != nil {
			return nil, fmt.Errorf("insert webhook delivery: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// EnqueueKeyEvent writes an event of type typ about the key with row id
// keyID, in a transaction of its own: for what happens to a key outside
// any change (key.rate_limited, and later key.expiring). A
// key.rate_limited event is written at most once per
// keygate.WebhookRateLimitedEvery per key; written reports whether one
// was.
func (s *WebhookService) EnqueueKeyEvent(ctx context.Context, keyID int64, typ string) (written bool, err error) {
	err = s.db.inTx(ctx, func(tx *Tx) (err error) {
		written, err = enqueueKeyEventByID(ctx, tx, keyID, typ)
		return err
	})
	return written, err
}

// enqueueKeyEventByID is EnqueueKeyEvent in tx.
func enqueueKeyEventByID(ctx context.Context, tx *Tx, keyID int64, typ string) (bool, error) {
	k, err := scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+apiKeyFrom+` WHERE k.id = $1`, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return false, errKeyNotFound
	} else if err != nil {
		return false, fmt.Errorf("find api key: %w", err)
	}
	if typ == keygate.WebhookKeyRateLimited {
		// Two requests refused at once must not both pass the check.
		if err := tx.lockKey(ctx, lockID("webhook rate_limited", k.PublicID)); err != nil {
			return false, err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_events
			WHERE organization_id = $1 AND type = $2 AND ordering_key = $3 AND created_at > $4`,
			k.OrganizationID, typ, k.PublicID, ms(tx.now.Add(-keygate.WebhookRateLimitedEvery))).Scan(&n); err != nil {
			return false, fmt.Errorf("webhook event: %w", err)
		}
		if n > 0 {
			return false, nil
		}
	}
	if err := loadPermissions(ctx, tx, k); err != nil {
		return false, err
	}
	endpoints, err := subscribedEndpoints(ctx, tx, k.OrganizationID, typ)
	if err != nil || len(endpoints) == 0 {
		return false, err
	}
	_, err = insertWebhookEvent(ctx, tx, k.OrganizationID, typ, k.PublicID, keygate.NewAPIKeyJSON(k, tx.now), endpoints)
	return err == nil, err
}

// enqueueKeyRolled writes the key.rolled event of old rolled to next: its
// data is the new key, naming the one it replaced; it is ordered with the
// old key's events.
func enqueueKeyRolled(ctx context.Context, tx *Tx, next, old *keygate.APIKey) error {
	data := struct {
		keygate.APIKeyJSON
		RolledFrom string `json:"rolled_from"`
	}{keygate.NewAPIKeyJSON(next, tx.now), old.PublicID}
	return enqueueWebhookEvent(ctx, tx, old.OrganizationID, keygate.WebhookKeyRolled, old.PublicID, data)
}

// enqueueJoined writes the events of user accepting inv: the invitation
// accepted, and the member added.
func enqueueJoined(ctx context.Context, tx *Tx, inv *keygate.Invitation, user *keygate.User) error {
	if err := enqueueMemberEvent(ctx, tx, inv.OrganizationID, keygate.WebhookInvitationAccepted, inv.PublicID, inv.Email, inv.Role); err != nil {
		return err
	}
	return enqueueMemberEvent(ctx, tx, inv.OrganizationID, keygate.WebhookMemberAdded, user.PublicID, user.Email, inv.Role)
}
