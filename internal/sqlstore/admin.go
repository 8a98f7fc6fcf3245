package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.AdminService = (*AdminService)(nil)

// AdminService is the instance administration, for superusers only.
type AdminService struct {
	db    *DB
	users *UserService
}

// NewAdminService returns an AdminService on db. users supplies the
// --signup flag's value, which Settings reports beside the override.
func NewAdminService(db *DB, users *UserService) *AdminService {
	return &AdminService{db: db, users: users}
}

var errNotSuperuser = keygate.Errorf(keygate.EFORBIDDEN, "Only a superuser can do this.")

// superuser returns the acting user if the database says they are an
// enabled superuser now. The context's copy of the user was read at the
// start of the request; the row is the authority.
func superuser(ctx context.Context, q queryer) (*keygate.User, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, errNotSuperuser
	}
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT is_superuser = 1 AND disabled_at IS NULL FROM users WHERE id = $1`, user.ID).Scan(&ok)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotSuperuser
	} else if err != nil {
		return nil, fmt.Errorf("check superuser: %w", err)
	}
	if !ok {
		return nil, errNotSuperuser
	}
	return user, nil
}

// Overview counts organizations, users and active keys.
func (s *AdminService) Overview(ctx context.Context) (*keygate.AdminOverview, error) {
	q := s.db.reader()
	if _, err := superuser(ctx, q); err != nil {
		return nil, err
	}
	out := &keygate.AdminOverview{ByPlan: map[keygate.Plan]int{}}
	if err := q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users),
		(SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL),
		(SELECT COUNT(*) FROM users WHERE is_superuser = 1),
		(SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1))`,
		ms(s.db.Now())).Scan(&out.Users, &out.DisabledUsers, &out.Superusers, &out.ActiveKeys); err != nil {
		return nil, fmt.Errorf("admin overview: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT plan, COUNT(*) FROM organizations GROUP BY plan`)
	if err != nil {
		return nil, fmt.Errorf("admin overview: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var plan keygate.Plan
		var n int
		if err := rows.Scan(&plan, &n); err != nil {
			return nil, fmt.Errorf("admin overview: %w", err)
		}
		out.ByPlan[plan] = n
		out.Organizations += n
	}
	return out, rows.Err()
}

// ListOrganizations lists every organization with its member and active
// key counts.
func (s *AdminService) ListOrganizations(ctx context.Context) ([]*keygate.AdminOrganization, error) {
	q := s.db.reader()
	if _, err := superuser(ctx, q); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `
		SELECT o.id, o.public_id, o.name, o.plan, o.disabled_user_keys, o.created_at, o.updated_at,
		       (SELECT COUNT(*) FROM memberships m WHERE m.organization_id = o.id),
		       (SELECT COUNT(*) FROM api_keys k WHERE k.organization_id = o.id AND k.revoked_at IS NULL
		                AND (k.expires_at IS NULL OR k.expires_at > $1))
		FROM organizations o ORDER BY lower(o.name), o.id`, ms(s.db.Now()))
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	var out []*keygate.AdminOrganization
	for rows.Next() {
		var org keygate.Organization
		var a keygate.AdminOrganization
		var created, updated int64
		if err := rows.Scan(&org.ID, &org.PublicID, &org.Name, &org.Plan, &org.DisabledUserKeys, &created, &updated,
			&a.Members, &a.ActiveKeys); err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		org.CreatedAt, org.UpdatedAt = fromMS(created), fromMS(updated)
		a.Organization = &org
		out = append(out, &a)
	}
	return out, rows.Err()
}

// SetPlan changes an organization's plan and makes every cached key see it.
func (s *AdminService) SetPlan(ctx context.Context, orgPublicID string, plan keygate.Plan) (*keygate.Organization, error) {
	if !plan.Valid() {
		return nil, keygate.FieldError("plan", "Choose Free, Professional or Enterprise.")
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := superuser(ctx, tx); err != nil {
		return nil, err
	}
	var org keygate.Organization
	var created, updated int64
	err = tx.QueryRowContext(ctx, `UPDATE organizations SET plan = $1, updated_at = $2 WHERE public_id = $3
		RETURNING id, public_id, name, plan, disabled_user_keys, created_at, updated_at`, plan, ms(tx.now), orgPublicID,
	).Scan(&org.ID, &org.PublicID, &org.Name, &org.Plan, &org.DisabledUserKeys, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound
	} else if err != nil {
		return nil, fmt.Errorf("set plan: %w", err)
	}
	org.CreatedAt, org.UpdatedAt = fromMS(created), fromMS(updated)
	// The plan decides whether the organization's keys reach the API: no
	// cache may answer from before the change.
	if err := tx.keysChanged(ctx, "org:"+org.PublicID); err != nil {
		return nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditOrganizationPlan,
		TargetType: "organization", TargetID: org.PublicID, TargetName: org.Name + " to " + plan.Label(),
	}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set plan: %w", err)
	}
	return &org, nil
}

// ListUsers lists every user with their organizations.
func (s *AdminService) ListUsers(ctx context.Context) ([]*keygate.AdminUser, error) {
	q := s.db.reader()
	if _, err := superuser(ctx, q); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT `+userColumns+` FROM users u ORDER BY lower(u.name), u.id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*keygate.AdminUser
	byID := map[int64]*keygate.AdminUser{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		a := &keygate.AdminUser{User: u}
		out, byID[u.ID] = append(out, a), a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, addUserOrganizations(ctx, q, byID)
}

// addUserOrganizations fills each listed user's organizations, with their
// role, in one query rather than one per user.
func addUserOrganizations(ctx context.Context, q queryer, byID map[int64]*keygate.AdminUser) error {
	rows, err := q.QueryContext(ctx, `
		SELECT m.user_id, o.id, o.public_id, o.name, o.plan, o.disabled_user_keys, o.created_at, o.updated_at, m.role
		FROM memberships m JOIN organizations o ON o.id = m.organization_id
		ORDER BY lower(o.name), o.id`)
	if err != nil {
		return fmt.Errorf("list user organizations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var userID, created, updated int64
		var org keygate.Organization
		if err := rows.Scan(&userID, &org.ID, &org.PublicID, &org.Name, &org.Plan, &org.DisabledUserKeys, &created, &updated, &org.Role); err != nil {
			return fmt.Errorf("scan user organization: %w", err)
		}
		org.CreatedAt, org.UpdatedAt = fromMS(created), fromMS(updated)
		if a := byID[userID]; a != nil {
			a.Organizations = append(a.Organizations, &org)
		}
	}
	return rows.Err()
}

// findUserByPublicID returns a user by public id, or ENOTFOUND.
func findUserByPublicID(ctx context.Context, q queryer, publicID string) (*keygate.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.public_id = $1`, publicID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// DisableUser disables a user, ends every session of theirs in the same
// transaction, and makes cached keys see it.
func (s *AdminService) DisableUser(ctx context.Context, userPublicID string) (*keygate.User, error) {
	return s.setDisabled(ctx, userPublicID, true)
}

// EnableUser lets a disabled user log in again.
func (s *AdminService) EnableUser(ctx context.Context, userPublicID string) (*keygate.User, error) {
	return s.setDisabled(ctx, userPublicID, false)
}

func (s *AdminService) setDisabled(ctx context.Context, userPublicID string, disable bool) (*keygate.User, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Two superusers disabling each other at once would both pass the
	// checks below and lock everyone out of the area: both accounts are
	// locked first, so the second reads the first's change.
	if actor := keygate.UserFromContext(ctx); actor != nil {
		if err := tx.lockUsers(ctx, `id = $1 OR public_id = $2`, actor.ID, userPublicID); err != nil {
			return nil, err
		}
	}
	actor, err := superuser(ctx, tx)
	if err != nil {
		return nil, err
	}
	target, err := findUserByPublicID(ctx, tx, userPublicID)
	if err != nil {
		return nil, err
	}
	if disable && target.ID == actor.ID {
		// Otherwise the last superuser could lock everyone out of the area.
		return nil, keygate.Errorf(keygate.EINVALID, "You cannot disable your own account.")
	}
	if (target.DisabledAt != nil) == disable {
		return target, nil // nothing to change: a repeated click is no error
	}
	action := keygate.AuditUserEnable
	var disabledAt sql.NullInt64
	target.DisabledAt, target.UpdatedAt = nil, tx.now
	if disable {
		action, disabledAt = keygate.AuditUserDisable, sql.NullInt64{Int64: ms(tx.now), Valid: true}
		at := tx.now
		target.DisabledAt = &at
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3`,
		disabledAt, ms(tx.now), target.ID); err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	if disable {
		// Sessions end with the account, not at their next idle timeout.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, target.ID); err != nil {
			return nil, fmt.Errorf("end sessions: %w", err)
		}
	}
	if err := recordAdminUserEvent(ctx, tx, target, action); err != nil {
		return nil, err
	}
	// Keys created by the user may stop or start working.
	if err := tx.keysChanged(ctx, "user:"+target.PublicID); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	return target, nil
}

// recordAdminUserEvent records a superuser's action on a user once outside
// any organization, which outlives them all, and in the audit log of each
// of the user's organizations, where their admins look.
func recordAdminUserEvent(ctx context.Context, tx *Tx, u *keygate.User, action string) error {
	rows, err := tx.QueryContext(ctx, `SELECT organization_id FROM memberships WHERE user_id = $1`, u.ID)
	if err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	orgIDs := []int64{0}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("record %s: %w", action, err)
		}
		orgIDs = append(orgIDs, id)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("record %s: %w", action, err)
	}
	rows.Close()
	for _, orgID := range orgIDs {
		if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
			OrganizationID: orgID, Action: action, TargetType: "user", TargetID: u.PublicID, TargetName: u.Email,
		}); err != nil {
			return err
		}
	}
	return nil
}
