package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
)

// LeakService takes reports of leaked keys and keeps each organization's
// leak policy.
type LeakService struct {
	db *DB
}

// NewLeakService returns a LeakService on db.
func NewLeakService(db *DB) *LeakService { return &LeakService{db: db} }

var _ keygate.LeakService = (*LeakService)(nil)

var errLeakKeyNotFound = keygate.Errorf(keygate.ENOTFOUND, "API key not found.")

// ReportLeak marks the key exposed and applies its organization's policy.
func (s *LeakService) ReportLeak(ctx context.Context, rep keygate.LeakReport) (*keygate.LeakedKey, error) {
	rep.URL, rep.Source = truncate(rep.URL, keygate.MaxLeakURLLen), truncate(rep.Source, keygate.MaxLeakSourceLen)
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.LeakedKey, error) {
		return reportLeak(ctx, tx, rep)
	})
}

func reportLeak(ctx context.Context, tx *Tx, rep keygate.LeakReport) (*keygate.LeakedKey, error) {
	var key keygate.APIKey
	var revoked sql.NullInt64
	var oldURL string
	out := keygate.LeakedKey{URL: rep.URL, Source: rep.Source}
	err := tx.QueryRowContext(ctx, `SELECT k.id, k.public_id, k.name, k.hint, k.organization_id, k.revoked_at, k.exposed_url,
			o.public_id, o.name, o.leak_policy
		FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.secret_hash = $1`, rep.Hash[:],
	).Scan(&key.ID, &key.PublicID, &key.Name, &key.Hint, &key.OrganizationID, &revoked, &oldURL,
		&out.OrgPublicID, &out.OrgName, &out.Policy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errLeakKeyNotFound
	} else if err != nil {
		return nil, fmt.Errorf("report leak: %w", err)
	}
	out.KeyPublicID, out.KeyName, out.Hint, out.New, out.WasRevoked = key.PublicID, key.Name, key.Hint, oldURL != rep.URL, revoked.Valid
	if !out.New {
		return &out, nil // reported here before: nothing more to do or say
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET exposed_at = COALESCE(exposed_at, $1), exposed_url = $2, exposed_source = $3
		WHERE id = $4`, ms(tx.now), rep.URL, rep.Source, key.ID); err != nil {
		return nil, fmt.Errorf("report leak: %w", err)
	}
	// Nobody signed in reports a leak: the audit log names the source.
	actor := "Leak report"
	if rep.Source != "" {
		actor += " (" + rep.Source + ")"
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: key.OrganizationID, ActorName: actor,
		Action: keygate.AuditAPIKeyLeakReported, TargetType: "api_key", TargetID: key.PublicID, TargetName: key.Name,
	}); err != nil {
		return nil, err
	}
	// Each new place a key is found at is told, before what the policy
	// does to it.
	if _, err := enqueueKeyEventByID(ctx, tx, key.ID, keygate.WebhookKeyExposed); err != nil {
		return nil, err
	}
	if !revoked.Valid {
		if err := applyLeakPolicy(ctx, tx, &key, out.Policy, actor); err != nil {
			return nil, err
		}
	}
	if out.Recipients, err = orgAdminEmails(ctx, tx, key.OrganizationID); err != nil {
		return nil, err
	}
	return &out, nil
}

// applyLeakPolicy does to a reported key what its organization chose.
func applyLeakPolicy(ctx context.Context, tx *Tx, key *keygate.APIKey, p keygate.LeakPolicy, actor string) error {
	switch p {
	case keygate.LeakPolicyRevoke:
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE id = $2 AND revoked_at IS NULL`,
			ms(tx.now), key.ID); err != nil {
			return fmt.Errorf("revoke leaked key: %w", err)
		}
		// The verifier's cache must drop the key at once.
		if err := tx.keysChanged(ctx, "key:"+key.PublicID); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: key.OrganizationID, ActorName: actor,
			Action: keygate.AuditAPIKeyRevoke, TargetType: "api_key", TargetID: key.PublicID, TargetName: key.Name})
	case keygate.LeakPolicyReadOnly:
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET scopes = $1, updated_at = $2 WHERE id = $3`,
			keygate.NewScopes(keygate.ScopeRead).String(), ms(tx.now), key.ID); err != nil {
			return fmt.Errorf("make key read-only: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_key_permissions WHERE api_key_id = $1`, key.ID); err != nil {
			return fmt.Errorf("make key read-only: %w", err)
		}
		// The verifier's cache must not keep the key's old scopes.
		if err := tx.keysChanged(ctx, "key:"+key.PublicID); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: key.OrganizationID, ActorName: actor,
			Action: keygate.AuditAPIKeyMadeReadOnly, TargetType: "api_key", TargetID: key.PublicID, TargetName: key.Name})
	}
	return nil
}

// orgAdminEmails lists the emails of an organization's Owners and Admins
// whose accounts are not disabled.
func orgAdminEmails(ctx context.Context, tx *Tx, orgID int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 AND m.role IN ('owner', 'admin') AND u.disabled_at IS NULL ORDER BY u.email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("find admins: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("find admins: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetLeakPolicy changes an organization's leak policy; Admin or Owner.
func (s *LeakService) SetLeakPolicy(ctx context.Context, orgPublicID string, p keygate.LeakPolicy) (*keygate.Organization, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.Organization, error) {
		org, err := findOrganizationForUser(ctx, tx, orgPublicID)
		if err != nil {
			return nil, err
		}
		if !org.Role.AtLeast(keygate.RoleAdmin) {
			return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to change the leak policy.")
		}
		if !p.Valid() {
			return nil, keygate.FieldError("leak_policy", "Choose what happens to a key reported leaked.")
		}
		if p == org.LeakPolicy {
			return org, nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE organizations SET leak_policy = $1, updated_at = $2 WHERE id = $3`,
			string(p), ms(tx.now), org.ID); err != nil {
			return nil, fmt.Errorf("set leak policy: %w", err)
		}
		org.LeakPolicy, org.UpdatedAt = p, tx.now
		return org, insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditOrganizationLeakPolicy,
			TargetType: "organization", TargetID: org.PublicID, TargetName: p.Label()})
	})
}
