package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// LookupKeyByHash returns what the API needs to know about the key whose
// secret hashes to hash, for apikey.Verifier. It acts for nobody: the
// caller holds the secret.
//
// With the key come its organization's plan and rule for keys of disabled
// users, and whether its creator is disabled. A key created through the API
// has no user as creator but the key that created it: the chain is walked
// (at most 16 keys) to the person at its root, so a disabled user's keys
// cannot live on through keys they made with them.
func (s *APIKeyService) LookupKeyByHash(ctx context.Context, hash [32]byte) (*apikey.Record, error) {
	var r apikey.Record
	var expires, revoked, creatorDisabled sql.NullInt64
	err := s.db.reader().QueryRowContext(ctx, `
		WITH RECURSIVE creators (user_id, key_id, depth) AS (
			SELECT created_by, created_by_key_id, 0 FROM api_keys WHERE secret_hash = $1
			UNION ALL
			SELECT p.created_by, p.created_by_key_id, c.depth + 1
			FROM creators c JOIN api_keys p ON p.id = c.key_id
			WHERE c.user_id IS NULL AND c.depth < 16
		)
		SELECT k.id, k.public_id, k.name, k.hint, k.environment, k.scopes, k.organization_id, o.public_id, o.name,
		       COALESCE(k.created_by, 0), k.expires_at, k.revoked_at, k.rate_limit, o.plan, o.disabled_user_keys, k.allowed_ips,
		       (SELECT u.disabled_at FROM creators c JOIN users u ON u.id = c.user_id ORDER BY c.depth LIMIT 1)
		FROM api_keys k JOIN organizations o ON o.id = k.organization_id
		WHERE k.secret_hash = $1`, hash[:],
	).Scan(&r.KeyID, &r.PublicID, &r.Name, &r.Hint, &r.Environment, &r.Scopes, &r.OrganizationID, &r.OrgPublicID, &r.OrgName,
		&r.CreatedByID, &expires, &revoked, &r.RateLimit, &r.Plan, &r.DisabledUserKeys, &r.AllowedIPs, &creatorDisabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apikey.ErrUnknown
	} else if err != nil {
		return nil, fmt.Errorf("lookup api key: %w", err)
	}
	r.ExpiresAt, r.RevokedAt, r.CreatorDisabledAt = fromNullMS(expires), fromNullMS(revoked), fromNullMS(creatorDisabled)
	if r.Permissions, err = keyPermissionNames(ctx, s.db.reader(), r.KeyID); err != nil {
		return nil, fmt.Errorf("lookup api key: %w", err)
	}
	return &r, nil
}

// keyPermissionNames lists the organization permissions key keyID holds,
// by name.
func keyPermissionNames(ctx context.Context, q queryer, keyID int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT p.name FROM api_key_permissions kp JOIN org_permissions p ON p.id = kp.permission_id
		WHERE kp.api_key_id = $1 ORDER BY p.name`, keyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// MarkExposed records that a key arrived over plain HTTP, once, with an
// audit event. It is not on the hot path: plain HTTP is refused anyway.
func (s *APIKeyService) MarkExposed(ctx context.Context, keyID int64) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var orgID int64
	var publicID, name string
	err = tx.QueryRowContext(ctx, `UPDATE api_keys SET exposed_at = $1 WHERE id = $2 AND exposed_at IS NULL
		RETURNING organization_id, public_id, name`, ms(tx.now), keyID).Scan(&orgID, &publicID, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // already marked
	} else if err != nil {
		return fmt.Errorf("mark exposed: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: orgID, Action: keygate.AuditAPIKeyExposed, TargetType: "api_key", TargetID: publicID, TargetName: name,
	}); err != nil {
		return err
	}
	if _, err := enqueueKeyEventByID(ctx, tx, keyID, keygate.WebhookKeyExposed); err != nil {
		return err
	}
	// A key sent in clear is exposed as surely as one reported leaked:
	// the organization's policy for exposed keys applies.
	if err := applyExposurePolicy(ctx, tx, &keygate.APIKey{ID: keyID, OrganizationID: orgID, PublicID: publicID, Name: name}); err != nil {
		return err
	}
	return tx.Commit()
}
