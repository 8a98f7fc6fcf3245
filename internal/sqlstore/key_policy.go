package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// KeyPolicyService keeps each organization's key policy and runs its
// unused-keys sweep.
type KeyPolicyService struct {
	db *DB
}

// NewKeyPolicyService returns a KeyPolicyService on db.
func NewKeyPolicyService(db *DB) *KeyPolicyService { return &KeyPolicyService{db: db} }

var _ keygate.KeyPolicyService = (*KeyPolicyService)(nil)

// loadKeyPolicy reads the policy of the organization with id orgID.
func loadKeyPolicy(ctx context.Context, q queryer, orgID int64) (keygate.KeyPolicy, error) {
	var p keygate.KeyPolicy
	var note int64
	err := q.QueryRowContext(ctx, `SELECT key_max_lifetime_days, key_note_required, key_revoke_unused_days, leak_policy
		FROM organizations WHERE id = $1`, orgID).Scan(&p.MaxLifetimeDays, &note, &p.RevokeUnusedDays, &p.Leak)
	if err != nil {
		return p, fmt.Errorf("load key policy: %w", err)
	}
	p.NoteRequired = note != 0
	return p, nil
}

// policyAdmin loads the organization and checks that the acting user may
// change its policy.
func policyAdmin(ctx context.Context, q queryer, orgPublicID string) (*keygate.Organization, error) {
	org, err := findOrganizationForUser(ctx, q, orgPublicID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to change the key policy.")
	}
	return org, nil
}

// KeyPolicy returns the organization's key policy.
func (s *KeyPolicyService) KeyPolicy(ctx context.Context, orgPublicID string) (*keygate.KeyPolicy, error) {
	org, err := policyAdmin(ctx, s.db.reader(), orgPublicID)
	if err != nil {
		return nil, err
	}
	p, err := loadKeyPolicy(ctx, s.db.reader(), org.ID)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// SetKeyPolicy changes the organization's key policy. Keys stay as they
// are: the Overview lists those that break it.
func (s *KeyPolicyService) SetKeyPolicy(ctx context.Context, orgPublicID string, p keygate.KeyPolicy) (*keygate.KeyPolicy, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.KeyPolicy, error) {
		org, err := policyAdmin(ctx, tx, orgPublicID)
		if err != nil {
			return nil, err
		}
		if err := p.Validate().Err(); err != nil {
			return nil, err
		}
		old, err := loadKeyPolicy(ctx, tx, org.ID)
		if err != nil {
			return nil, err
		}
		if p == old {
			return &p, nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE organizations SET key_max_lifetime_days = $1, key_note_required = $2,
			key_revoke_unused_days = $3, leak_policy = $4, updated_at = $5 WHERE id = $6`,
			p.MaxLifetimeDays, p.NoteRequired, p.RevokeUnusedDays, string(p.Leak), ms(tx.now), org.ID); err != nil {
			return nil, fmt.Errorf("set key policy: %w", err)
		}
		return &p, insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditOrganizationKeyPolicy,
			TargetType: "organization", TargetID: org.PublicID, TargetName: p.Changes(old)})
	})
}

// keyPolicyCreate applies the organization's policy to a key about to be
// created: a default lifetime no longer than its maximum, and in v what
// breaks it.
func keyPolicyCreate(ctx context.Context, tx *Tx, orgID int64, in *keygate.APIKeyCreate, v *keygate.ValidationErrors) error {
	p, err := loadKeyPolicy(ctx, tx, orgID)
	if err != nil {
		return err
	}
	if in.ExpiresAt == nil && in.DefaultExpiry && p.MaxLifetimeDays > 0 {
		t := tx.now.Add(min(keygate.DefaultKeyLifetime, p.MaxLifetime()))
		in.ExpiresAt = &t
	}
	p.CheckCreate(in, tx.now, v)
	return nil
}

// keyPolicyRollExpiry is when the key rolled from old expires: old's
// expiry, or the policy's maximum lifetime from now if that is sooner.
func keyPolicyRollExpiry(ctx context.Context, tx *Tx, old *keygate.APIKey) (*time.Time, error) {
	p, err := loadKeyPolicy(ctx, tx, old.OrganizationID)
	if err != nil {
		return nil, err
	}
	if p.ExpiryAllowed(old.ExpiresAt, tx.now) {
		return old.ExpiresAt, nil
	}
	t := tx.now.Add(p.MaxLifetime())
	return &t, nil
}

// keyPolicyUpdate refuses an edit that empties the note of a key whose
// organization requires one.
func keyPolicyUpdate(ctx context.Context, tx *Tx, orgID int64, upd keygate.APIKeyUpdate) error {
	if upd.Note == nil || *upd.Note != "" {
		return nil
	}
	p, err := loadKeyPolicy(ctx, tx, orgID)
	if err != nil {
		return err
	}
	if p.NoteRequired {
		return keygate.FieldError("note", keygate.MsgKeyNoteRequired)
	}
	return nil
}

// FindKeysBreakingPolicy lists the active keys that break the policy.
func (s *KeyPolicyService) FindKeysBreakingPolicy(ctx context.Context, orgPublicID string) ([]*keygate.APIKey, *keygate.KeyPolicy, error) {
	org, err := policyAdmin(ctx, s.db.reader(), orgPublicID)
	if err != nil {
		return nil, nil, err
	}
	p, err := loadKeyPolicy(ctx, s.db.reader(), org.ID)
	if err != nil {
		return nil, nil, err
	}
	if p.MaxLifetimeDays == 0 && !p.NoteRequired {
		return nil, &p, nil
	}
	now := s.db.Now()
	// The same tests as keygate.KeyPolicy.Breaches, in SQL; a limit of 0
	// or a note not required never matches.
	keys, err := findHygieneKeys(ctx, s.db.reader(), `(($3 > 0 AND (k.expires_at IS NULL OR k.expires_at > $4))
		OR ($5 = 1 AND TRIM(k.note) = ''))`,
		org.ID, ms(now), p.MaxLifetimeDays, ms(now.Add(p.MaxLifetime())), boolInt(p.NoteRequired))
	if err != nil {
		return nil, nil, err
	}
	return keys, &p, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SetPolicyExpiry brings an active key's expiry within the policy.
func (s *KeyPolicyService) SetPolicyExpiry(ctx context.Context, orgPublicID, keyID string) (*keygate.APIKey, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.APIKey, error) {
		org, key, err := keyToChange(ctx, tx, orgPublicID, keyID)
		if err != nil {
			return nil, err
		}
		p, err := loadKeyPolicy(ctx, tx, org.ID)
		if err != nil {
			return nil, err
		}
		if p.MaxLifetimeDays == 0 {
			return nil, keygate.Errorf(keygate.EINVALID, "Your organization's key policy sets no maximum lifetime.")
		}
		if key.State(tx.now) != keygate.KeyActive {
			return nil, keygate.Errorf(keygate.EINVALID, "Only an active key's expiry can be set.")
		}
		if p.ExpiryAllowed(key.ExpiresAt, tx.now) {
			return key, nil // already within the policy: nothing to do
		}
		t := tx.now.Add(p.MaxLifetime())
		key.ExpiresAt, key.UpdatedAt = &t, tx.now
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires_at = $1, updated_at = $2 WHERE id = $3`,
			ms(t), ms(tx.now), key.ID); err != nil {
			return nil, fmt.Errorf("set key expiry: %w", err)
		}
		if err := tx.keysChanged(ctx, "key:"+key.PublicID); err != nil {
			return nil, err
		}
		if err := enqueueKeyEvent(ctx, tx, keygate.WebhookKeyUpdated, key); err != nil {
			return nil, err
		}
		return key, insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditAPIKeyUpdate,
			TargetType: "api_key", TargetID: key.PublicID,
			TargetName: key.Name + " (expires " + t.UTC().Format("2006-01-02") + ", key policy)"})
	})
}

// unusedSince is when a key was last used, or created if never used.
const unusedSince = `COALESCE(k.last_used_at, k.created_at)`

// SweepUnusedKeys revokes the keys whose notice ran out, then warns of
// those the policy will revoke within keygate.UnusedKeyNotice. A key is
// warned once per stretch of disuse (a use after the warning starts a new
// one) and never revoked without a warning at least UnusedKeyNotice old.
func (s *KeyPolicyService) SweepUnusedKeys(ctx context.Context) (*keygate.KeyPolicySweep, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.KeyPolicySweep, error) {
		out := &keygate.KeyPolicySweep{}
		now, notice := ms(tx.now), int64(keygate.UnusedKeyNotice/time.Millisecond)
		// warnedNow: the warning belongs to the current stretch of disuse.
		const active = ` FROM api_keys k JOIN organizations o ON o.id = k.organization_id
			WHERE o.key_revoke_unused_days > 0 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $1)`
		const warnedNow = `k.unused_warned_at IS NOT NULL AND k.unused_warned_at >= ` + unusedSince + ` + o.key_revoke_unused_days * $2 - $3`
		revoke, err := sweepKeyIDs(ctx, tx, `SELECT k.id, o.key_revoke_unused_days`+active+` AND `+warnedNow+`
			AND k.unused_warned_at <= $1 - $3 AND `+unusedSince+` <= $1 - o.key_revoke_unused_days * $2`, now, dayMS, notice)
		if err != nil {
			return nil, err
		}
		for _, id := range revoke {
			if err := revokeUnusedKey(ctx, tx, id[0], int(id[1])); err != nil {
				return nil, err
			}
		}
		out.Revoked = len(revoke)
		warn, err := sweepKeyIDs(ctx, tx, `SELECT k.id, o.key_revoke_unused_days`+active+` AND NOT (`+warnedNow+`)
			AND `+unusedSince+` <= $1 - o.key_revoke_unused_days * $2 + $3`, now, dayMS, notice)
		if err != nil {
			return nil, err
		}
		for _, id := range warn {
			w, err := warnUnusedKey(ctx, tx, id[0], id[1])
			if err != nil {
				return nil, err
			}
			out.Warned = append(out.Warned, *w)
		}
		return out, nil
	})
}

// sweepKeyIDs runs a query of SweepUnusedKeys: pairs of key id and days.
func sweepKeyIDs(ctx context.Context, tx *Tx, query string, args ...any) ([][2]int64, error) {
	rows, err := tx.QueryContext(ctx, query+` ORDER BY k.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sweep unused keys: %w", err)
	}
	defer rows.Close()
	var out [][2]int64
	for rows.Next() {
		var p [2]int64
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, fmt.Errorf("sweep unused keys: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func sweepKey(ctx context.Context, tx *Tx, id int64) (*keygate.APIKey, error) {
	k, err := scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+apiKeyFrom+` WHERE k.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("sweep unused keys: %w", err)
	}
	return k, nil
}

// revokeUnusedKey revokes a key as the key policy.
func revokeUnusedKey(ctx context.Context, tx *Tx, id int64, days int) error {
	key, err := sweepKey(ctx, tx, id)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE id = $2 AND revoked_at IS NULL`,
		ms(tx.now), id); err != nil {
		return fmt.Errorf("revoke unused key: %w", err)
	}
	// The verifier's cache must drop the key at once.
	if err := tx.keysChanged(ctx, "key:"+key.PublicID); err != nil {
		return err
	}
	now := tx.now
	key.RevokedAt, key.UpdatedAt = &now, now
	if err := enqueueKeyEvent(ctx, tx, keygate.WebhookKeyRevoked, key); err != nil {
		return err
	}
	return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: key.OrganizationID, ActorName: keygate.KeyPolicyActor,
		Action: keygate.AuditAPIKeyRevoke, TargetType: "api_key", TargetID: key.PublicID,
		TargetName: key.Name + " (unused for " + keygate.DaysLabel(days, "") + ")"})
}

// warnUnusedKey records the warning of a key and says whom to tell.
func warnUnusedKey(ctx context.Context, tx *Tx, id, days int64) (*keygate.UnusedKeyWarning, error) {
	key, err := sweepKey(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET unused_warned_at = $1 WHERE id = $2`, ms(tx.now), id); err != nil {
		return nil, fmt.Errorf("warn of unused key: %w", err)
	}
	since := key.CreatedAt
	if key.LastUsedAt != nil {
		since = *key.LastUsedAt
	}
	w := &keygate.UnusedKeyWarning{KeyPublicID: key.PublicID, KeyName: key.Name, Hint: key.Hint, LastUsedAt: key.LastUsedAt,
		Days: int(days), RevokeAt: since.Add(time.Duration(days) * 24 * time.Hour)}
	// Never sooner than a full notice from now.
	if soonest := tx.now.Add(keygate.UnusedKeyNotice); w.RevokeAt.Before(soonest) {
		w.RevokeAt = soonest
	}
	if err := tx.QueryRowContext(ctx, `SELECT public_id, name FROM organizations WHERE id = $1`, key.OrganizationID).
		Scan(&w.OrgPublicID, &w.OrgName); err != nil {
		return nil, fmt.Errorf("warn of unused key: %w", err)
	}
	if err := loadPermissions(ctx, tx, key); err != nil {
		return nil, err
	}
	if err := enqueueWebhookEvent(ctx, tx, key.OrganizationID, keygate.WebhookKeyExpiring, key.PublicID,
		newKeyExpiring(key, tx.now, w.RevokeAt, "unused")); err != nil {
		return nil, err
	}
	w.Recipients, err = notifyKeyPeople(ctx, tx, key, keygate.NotifyKeyUnused, w.Title(), "/orgs/"+w.OrgPublicID+"/api-keys/"+w.KeyPublicID)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// applyExposurePolicy applies the organization's policy for exposed keys
// (its leak policy) to a key sent over plain HTTP, as the key policy.
func applyExposurePolicy(ctx context.Context, tx *Tx, key *keygate.APIKey) error {
	p, err := loadKeyPolicy(ctx, tx, key.OrganizationID)
	if err != nil {
		return err
	}
	var revoked sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM api_keys WHERE id = $1`, key.ID).Scan(&revoked); err != nil {
		return fmt.Errorf("apply exposure policy: %w", err)
	} else if revoked.Valid {
		return nil
	}
	return applyLeakPolicy(ctx, tx, key, p.Leak, keygate.KeyPolicyActor)
}
