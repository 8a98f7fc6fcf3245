package sqlstore

import (
	"context"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
)

// hasTwoFactorSQL is the one test of whether a person has a second factor,
// as an SQL boolean for the users id in userIDColumn (a column name written
// here, never input). Every query that asks (an organization's
// requirement, the Members page, the API) embeds it, so that a new kind of
// factor is added here once: an authenticator app whose first code was
// confirmed (a pending one does not count), or a passkey.
func hasTwoFactorSQL(userIDColumn string) string {
	return `(EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = ` + userIDColumn + ` AND t.enabled_at IS NOT NULL)` +
		` OR EXISTS (SELECT 1 FROM user_passkeys pk WHERE pk.user_id = ` + userIDColumn + `))`
}

// SetRequireTwoFactor turns the organization's two-factor requirement on
// or off; Owner only.
func (s *OrganizationService) SetRequireTwoFactor(ctx context.Context, publicID string, require bool) (*keygate.Organization, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	org, err := findOrganizationForUser(ctx, tx, publicID)
	if err != nil {
		return nil, err
	}
	if org.Role != keygate.RoleOwner {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "Only an Owner can require two-factor authentication.")
	}
	// An Owner who does not meet the rule would lock themselves out of
	// their own organization's pages.
	if require && !org.ActorHasTwoFactor {
		return nil, keygate.FieldError("require_two_factor", keygate.MsgOwnerNeedsTwoFactor)
	}
	if org.RequireTwoFactor == require {
		return org, tx.Commit()
	}
	org.RequireTwoFactor = require
	if _, err := tx.ExecContext(ctx, `UPDATE organizations SET require_two_factor = $1 WHERE id = $2`, require, org.ID); err != nil {
		return nil, fmt.Errorf("require two-factor: %w", err)
	}
	action := keygate.AuditOrgTwoFactorNotRequired
	if require {
		action = keygate.AuditOrgTwoFactorRequired
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: action, TargetType: "organization", TargetID: org.PublicID, TargetName: org.Name,
	}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("require two-factor: %w", err)
	}
	return org, nil
}
