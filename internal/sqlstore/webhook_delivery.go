package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
)

// DueDelivery is a delivery claimed for one attempt, with what the
// attempt needs.
type DueDelivery struct {
	ID          int64
	EndpointID  int64
	OrderingKey string
	URL         string
	// EventID is the event's public id, the webhook-id header.
	EventID string
	Payload []byte
	// Attempts counts the attempts made before this one.
	Attempts int
	// Secrets sign the attempt: the current secret, then a rolled one
	// still in its grace period.
	Secrets []string
}

// DeliveryResult is the outcome of one attempt.
type DeliveryResult struct {
	OK           bool
	ResponseCode int
	Duration     time.Duration
	ResponseBody string // at most 2 KB
	Error        string
}

// DisabledEndpoint names an endpoint an attempt disabled, and whom to
// tell.
type DisabledEndpoint struct {
	PublicID     string
	URL          string
	OrgPublicID  string
	OrgName      string
	FailingSince time.Time
	OwnerEmails  []string
}

// ClaimDueDeliveries claims up to limit deliveries due at now, each for
// one attempt, and returns them oldest first. A delivery waits while an
// earlier one of its endpoint with its ordering key is pending (it is
// blocked, and only the first of each key is looked at), and while its
// endpoint is disabled. Each claim moves the delivery's next attempt
// to now + lease in one conditional statement: of two replicas that
// selected it, one claims it; a process that dies mid-attempt leaves it
// to be tried again after lease.
//
// At most perEndpoint deliveries of one endpoint are claimed at a time, so
// that a slow endpoint's share of a batch ends within the lease.
//
// The deliveries are found on a reader: with a backlog the search takes
// milliseconds (about 3 ms for 1,000 waiting behind one key, 33 ms for
// 26,000), which the writer, and every API write behind it, must not wait
// for. Only the claims are writes.
func (s *WebhookService) ClaimDueDeliveries(ctx context.Context, now time.Time, limit, perEndpoint int, lease time.Duration) ([]*DueDelivery, error) {
	rows, err := s.db.reader().QueryContext(ctx, `
		SELECT d.id, d.next_attempt_at, d.endpoint_id, d.ordering_key, e.public_id, e.url, ev.public_id, ev.payload, d.attempts,
			e.secret, e.previous_secret, e.previous_secret_expires_at
		FROM webhook_deliveries d
		JOIN webhook_endpoints e ON e.id = d.endpoint_id
		JOIN webhook_events ev ON ev.id = d.event_id
		WHERE d.state = 'pending' AND d.blocked = 0 AND d.next_attempt_at <= $1 AND e.disabled_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id
			AND p.ordering_key = d.ordering_key AND p.state = 'pending' AND p.id < d.id)
		ORDER BY d.next_attempt_at, d.id LIMIT $2`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("find due deliveries: %w", err)
	}
	type row struct {
		d        DueDelivery
		due      int64
		endpoint string
		sealed   []byte
		prev     []byte
		prevTill sql.NullInt64
	}
	var found []row
	for rows.Next() {
		var r row
		var payload string
		if err := rows.Scan(&r.d.ID, &r.due, &r.d.EndpointID, &r.d.OrderingKey, &r.endpoint, &r.d.URL, &r.d.EventID, &payload, &r.d.Attempts,
			&r.sealed, &r.prev, &r.prevTill); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find due deliveries: %w", err)
		}
		r.d.Payload = []byte(payload)
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find due deliveries: %w", err)
	}
	// One transaction claims the whole batch: one commit, not one a
	// delivery (BenchmarkWebhookDelivery, interleaved runs on 2 cores:
	// 1,076-1,177 events/s, against 805-886 with a commit per claim).
	var claimed []row
	err = s.db.inTx(ctx, func(tx *Tx) error {
		claimed = claimed[:0]
		perEndpointClaimed := map[int64]int{}
		for _, r := range found {
			if perEndpointClaimed[r.d.EndpointID] >= perEndpoint {
				continue
			}
			res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $1, claimed_until = $1
				WHERE id = $2 AND state = 'pending' AND next_attempt_at = $3`, ms(now.Add(lease)), r.d.ID, r.due)
			if err != nil {
				return fmt.Errorf("claim delivery: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				continue // another replica claimed it
			}
			perEndpointClaimed[r.d.EndpointID]++
			claimed = append(claimed, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*DueDelivery
	for _, r := range claimed {
		d := r.d
		aad := webhookSecretAAD(r.endpoint)
		if d.Secrets, err = openSecrets(s.box, aad, r.sealed, r.prev, r.prevTill, now); err != nil {
			return out, err
		}
		out = append(out, &d)
	}
	return out, nil
}

// openSecrets opens the current secret and, within its grace period, the
// previous one.
func openSecrets(box *secretbox.Box, aad, sealed, prev []byte, prevTill sql.NullInt64, now time.Time) ([]string, error) {
	plain, err := box.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open webhook secret: %w: %w", ErrSecretKeyMismatch, err)
	}
	out := []string{string(plain)}
	if prev != nil && prevTill.Valid && prevTill.Int64 > ms(now) {
		old, err := box.Open(prev, aad)
		if err != nil {
			return nil, fmt.Errorf("open webhook secret: %w: %w", ErrSecretKeyMismatch, err)
		}
		out = append(out, string(old))
	}
	return out, nil
}

// ReleaseClaims makes every claimed delivery due at now again, and returns
// how many there were. Only for a process that knows no other sends (one
// on SQLite), as it starts: what it had claimed when it was killed is
// sent again at once rather than after the lease.
func (s *WebhookService) ReleaseClaims(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $1, claimed_until = NULL
		WHERE state = 'pending' AND claimed_until IS NOT NULL`, ms(now))
	if err != nil {
		return 0, fmt.Errorf("release webhook claims: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// UnblockDeliveries unblocks the deliveries left blocked with no pending
// delivery before them, and returns how many. On PostgreSQL a delivery
// written while the one before it was recorded can miss being unblocked;
// workers on a shared database run this every minute.
func (s *WebhookService) UnblockDeliveries(ctx context.Context) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `UPDATE webhook_deliveries SET blocked = 0 WHERE state = 'pending' AND blocked = 1
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = webhook_deliveries.endpoint_id
			AND p.ordering_key = webhook_deliveries.ordering_key AND p.state = 'pending' AND p.id < webhook_deliveries.id)`)
	if err != nil {
		return 0, fmt.Errorf("unblock webhook deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// RecordDeliveryAttempt records the outcome of an attempt at now: a
// success delivers; a failure schedules the next attempt by
// keygate.WebhookRetryDelays, or fails the delivery after the last. An
// endpoint whose deliveries have failed without a success for
// keygate.WebhookDisableAfter is disabled, once: the DisabledEndpoint
// returned says so, with the Owners to tell.
func (s *WebhookService) RecordDeliveryAttempt(ctx context.Context, d *DueDelivery, res DeliveryResult, now time.Time) (*DisabledEndpoint, error) {
	var disabled *DisabledEndpoint
	err := s.db.inTx(ctx, func(tx *Tx) error {
		disabled = nil
		attempts := d.Attempts + 1
		state, next := keygate.DeliveryPending, now
		var delivered sql.NullInt64
		switch {
		case res.OK:
			state, delivered = keygate.DeliveryDelivered, sql.NullInt64{Int64: ms(now), Valid: true}
		case attempts >= keygate.WebhookMaxAttempts:
			state = keygate.DeliveryFailed
		default:
			next = now.Add(keygate.WebhookRetryDelays[attempts-1])
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, claimed_until = NULL,
			last_attempt_at = $4, delivered_at = $5, response_code = $6, duration_ms = $7, response_body = $8, error = $9, updated_at = $4
			WHERE id = $10`, state, attempts, ms(next), ms(now), delivered, res.ResponseCode, res.Duration.Milliseconds(),
			res.ResponseBody, truncate(res.Error, 500), d.ID); err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
		if state != keygate.DeliveryPending {
			// The next delivery of its key goes now.
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET blocked = 0 WHERE blocked = 1 AND id = (SELECT MIN(p.id)
				FROM webhook_deliveries p WHERE p.endpoint_id = $1 AND p.ordering_key = $2 AND p.state = 'pending')`,
				d.EndpointID, d.OrderingKey); err != nil {
				return fmt.Errorf("record delivery: %w", err)
			}
		}
		if res.OK {
			_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, d.EndpointID)
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL`,
			ms(now), d.EndpointID); err != nil {
			return fmt.Errorf("record delivery: %w", err)
		}
		var err error
		disabled, err = disableFailingEndpoint(ctx, tx, d.EndpointID, now)
		return err
	})
	return disabled, err
}

// disableFailingEndpoint disables the endpoint if it has been failing for
// keygate.WebhookDisableAfter, in one conditional statement, and returns
// what the Owners are told; nil if it did not.
func disableFailingEndpoint(ctx context.Context, tx *Tx, endpointID int64, now time.Time) (*DisabledEndpoint, error) {
	var e DisabledEndpoint
	var orgID, since int64
	err := tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET disabled_at = $1, updated_at = $1
		WHERE id = $2 AND disabled_at IS NULL AND failing_since <= $3
		RETURNING public_id, url, organization_id, failing_since`, ms(now), endpointID, ms(now.Add(-keygate.WebhookDisableAfter))).
		Scan(&e.PublicID, &e.URL, &orgID, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("disable webhook endpoint: %w", err)
	}
	e.FailingSince = fromMS(since)
	if err := tx.QueryRowContext(ctx, `SELECT public_id, name FROM organizations WHERE id = $1`, orgID).Scan(&e.OrgPublicID, &e.OrgName); err != nil {
		return nil, fmt.Errorf("disable webhook endpoint: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 AND m.role = 'owner' AND u.disabled_at IS NULL ORDER BY u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("find owners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var email string
		if err := rows.Scan(&email); err != nil {
			return nil, fmt.Errorf("find owners: %w", err)
		}
		e.OwnerEmails = append(e.OwnerEmails, email)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find owners: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: orgID, ActorName: "Keygate", Action: keygate.AuditWebhookUpdate,
		TargetType: "webhook", TargetID: e.PublicID, TargetName: e.URL + " (disabled: failing for 3 days)"}); err != nil {
		return nil, err
	}
	return &e, nil
}

// rotateWebhookSecrets re-seals every endpoint's secrets from one key to
// another in tx (RotateSecretKey), and returns how many it re-sealed.
func rotateWebhookSecrets(ctx context.Context, tx *Tx, from, to *secretbox.Box) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, public_id, secret, previous_secret FROM webhook_endpoints ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("webhook secrets: %w", err)
	}
	type sealedRow struct {
		id              int64
		publicID        string
		cur, prev, aad  []byte
		newCur, newPrev []byte
	}
	var all []*sealedRow
	for rows.Next() {
		r := &sealedRow{}
		if err := rows.Scan(&r.id, &r.publicID, &r.cur, &r.prev); err != nil {
			rows.Close()
			return 0, fmt.Errorf("webhook secrets: %w", err)
		}
		r.aad = webhookSecretAAD(r.publicID)
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("webhook secrets: %w", err)
	}
	n := 0
	reseal := func(v, aad []byte) ([]byte, error) {
		plain, err := from.Open(v, aad)
		if err != nil {
			return nil, ErrSecretKeyMismatch
		}
		defer clear(plain)
		n++
		return to.Seal(plain, aad)
	}
	for _, r := range all {
		if r.newCur, err = reseal(r.cur, r.aad); err != nil {
			return 0, fmt.Errorf("webhook %s: %w", r.publicID, err)
		}
		if r.prev != nil {
			if r.newPrev, err = reseal(r.prev, r.aad); err != nil {
				return 0, fmt.Errorf("webhook %s: %w", r.publicID, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET secret = $1, previous_secret = $2 WHERE id = $3`,
			r.newCur, r.newPrev, r.id); err != nil {
			return 0, fmt.Errorf("webhook secrets: %w", err)
		}
	}
	return n, nil
}

// OwnerNotice returns the subject and body of the email that tells the
// Owners their endpoint was disabled.
func (e *DisabledEndpoint) OwnerNotice() (subject, body string) {
	subject = "Keygate disabled a webhook endpoint of " + e.OrgName
	body = strings.Join([]string{
		"Keygate disabled the webhook endpoint " + e.URL + " (" + e.PublicID + ") of " + e.OrgName + ":",
		"its deliveries have failed since " + e.FailingSince.Format(time.RFC1123) + ", for three days without a success.",
		"",
		"Events are no longer sent to it. Fix the endpoint, then enable it again in Settings > Webhooks:",
		"the deliveries waiting for it are sent then.",
	}, "\n")
	return subject, body
}

// DeleteWebhookHistoryBefore deletes up to limit deliveries made before
// t that are no longer pending, then up to limit events before t that no
// delivery needs, and returns how many rows it deleted.
func (s *WebhookService) DeleteWebhookHistoryBefore(ctx context.Context, t time.Time, limit int) (int, error) {
	n := 0
	for _, q := range []string{
		`DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
			WHERE created_at < $1 AND state <> 'pending' ORDER BY created_at LIMIT $2)`,
		`DELETE FROM webhook_events WHERE id IN (SELECT ev.id FROM webhook_events ev WHERE ev.created_at < $1
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id) ORDER BY ev.created_at LIMIT $2)`,
	} {
		res, err := s.db.write.ExecContext(ctx, q, ms(t), limit)
		if err != nil {
			return n, fmt.Errorf("delete webhook history: %w", err)
		}
		m, _ := res.RowsAffected()
		n += int(m)
	}
	return n, nil
}
