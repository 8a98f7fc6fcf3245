package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.PermissionService = (*PermissionService)(nil)

// PermissionService manages organizations' own permissions.
type PermissionService struct {
	db *DB
}

// NewPermissionService returns a PermissionService on db.
func NewPermissionService(db *DB) *PermissionService { return &PermissionService{db: db} }

var errPermissionNotFound = keygate.Errorf(keygate.ENOTFOUND, "Permission not found.")

// permissionAdmin loads the organization and checks that the actor may
// manage its permissions.
func permissionAdmin(ctx context.Context, q queryer, orgID string) (*keygate.Organization, error) {
	org, err := findOrganizationForUser(ctx, q, orgID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to manage permissions")
	}
	return org, nil
}

const permissionSelect = `SELECT p.id, p.name, p.description, p.created_at,
	(SELECT COUNT(*) FROM api_key_permissions kp WHERE kp.permission_id = p.id)
	FROM org_permissions p`

func scanPermission(row scanner) (*keygate.Permission, error) {
	var p keygate.Permission
	var created int64
	if err := row.Scan(&p.ID, &p.Name, &p.Description, &created, &p.KeyCount); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMS(created)
	return &p, nil
}

// FindPermissions lists an organization's permissions by name.
func (s *PermissionService) FindPermissions(ctx context.Context, orgID string) ([]*keygate.Permission, error) {
	org, err := permissionAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.reader().QueryContext(ctx, permissionSelect+` WHERE p.organization_id = $1 ORDER BY p.name`, org.ID)
	if err != nil {
		return nil, fmt.Errorf("find permissions: %w", err)
	}
	out, err := collect(rows, scanPermission)
	if err != nil {
		return nil, fmt.Errorf("find permissions: %w", err)
	}
	return out, nil
}

// CreatePermission defines a permission.
func (s *PermissionService) CreatePermission(ctx context.Context, orgID string, in *keygate.PermissionCreate) (*keygate.Permission, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.Permission, error) {
		org, err := permissionAdmin(ctx, tx, orgID)
		if err != nil {
			return nil, err
		}
		if err := in.Validate().Err(); err != nil {
			return nil, err
		}
		// Counted and checked under the organization's lock
		// (permissionAdmin), so concurrent creates cannot pass the limit
		// or take one name twice.
		var n, same int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = $2 THEN 1 ELSE 0 END), 0)
			FROM org_permissions WHERE organization_id = $1`, org.ID, in.Name).Scan(&n, &same); err != nil {
			return nil, fmt.Errorf("count permissions: %w", err)
		}
		if same > 0 {
			return nil, keygate.PermissionExistsError(in.Name)
		}
		if n >= keygate.MaxPermissionsPerOrg {
			return nil, keygate.FieldError("name", fmt.Sprintf("An organization may define at most %d permissions. Delete one you no longer use first.", keygate.MaxPermissionsPerOrg))
		}
		p := &keygate.Permission{Name: in.Name, Description: in.Description, CreatedAt: tx.now}
		if err := tx.QueryRowContext(ctx, `INSERT INTO org_permissions (organization_id, name, description, created_at)
			VALUES ($1, $2, $3, $4) RETURNING id`, org.ID, p.Name, p.Description, ms(tx.now)).Scan(&p.ID); err != nil {
			return nil, fmt.Errorf("create permission: %w", err)
		}
		if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
			OrganizationID: org.ID, Action: keygate.AuditPermissionCreated, TargetType: "permission", TargetID: p.Name, TargetName: p.Name,
		}); err != nil {
			return nil, err
		}
		return p, nil
	})
}

// DeletePermission deletes a permission; the foreign key's cascade removes
// it from the keys holding it.
func (s *PermissionService) DeletePermission(ctx context.Context, orgID, name string) (*keygate.Permission, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.Permission, error) {
		org, err := permissionAdmin(ctx, tx, orgID)
		if err != nil {
			return nil, err
		}
		p, err := scanPermission(tx.QueryRowContext(ctx, permissionSelect+` WHERE p.organization_id = $1 AND p.name = $2`, org.ID, name))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errPermissionNotFound
		} else if err != nil {
			return nil, fmt.Errorf("find permission: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM org_permissions WHERE id = $1`, p.ID); err != nil {
			return nil, fmt.Errorf("delete permission: %w", err)
		}
		// Cached key records carry their permissions: they must drop it.
		if err := tx.keysChanged(ctx, "org:"+org.PublicID); err != nil {
			return nil, err
		}
		if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
			OrganizationID: org.ID, Action: keygate.AuditPermissionDeleted, TargetType: "permission", TargetID: p.Name,
			TargetName: fmt.Sprintf("%s (removed from %d keys)", p.Name, p.KeyCount),
		}); err != nil {
			return nil, err
		}
		return p, nil
	})
}

// grantPermissions gives key the organization's permissions named.
func grantPermissions(ctx context.Context, tx *Tx, key *keygate.APIKey, names []string) error {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	for _, name := range names {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM org_permissions WHERE organization_id = $1 AND name = $2`,
			key.OrganizationID, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return keygate.UnknownPermissionError(name)
		} else if err != nil {
			return fmt.Errorf("find permission: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_key_permissions (api_key_id, permission_id) VALUES ($1, $2)`, key.ID, id); err != nil {
			return fmt.Errorf("grant permission: %w", err)
		}
	}
	key.Permissions = names
	return nil
}

// copyPermissions gives key the permissions of the key from.
func copyPermissions(ctx context.Context, tx *Tx, key *keygate.APIKey, from *keygate.APIKey) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_key_permissions (api_key_id, permission_id)
		SELECT $1, permission_id FROM api_key_permissions WHERE api_key_id = $2`, key.ID, from.ID); err != nil {
		return fmt.Errorf("copy permissions: %w", err)
	}
	key.Permissions = slices.Clone(from.Permissions)
	return nil
}

// loadPermissions fills the permissions of keys, in one query.
func loadPermissions(ctx context.Context, q queryer, keys ...*keygate.APIKey) error {
	if len(keys) == 0 {
		return nil
	}
	byID := make(map[int64]*keygate.APIKey, len(keys))
	args := make([]any, 0, len(keys))
	marks := make([]string, 0, len(keys))
	for _, k := range keys {
		byID[k.ID] = k
		args = append(args, k.ID)
		marks = append(marks, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := q.QueryContext(ctx, `SELECT kp.api_key_id, p.name FROM api_key_permissions kp
		JOIN org_permissions p ON p.id = kp.permission_id
		WHERE kp.api_key_id IN (`+strings.Join(marks, ", ")+`) ORDER BY p.name`, args...)
	if err != nil {
		return fmt.Errorf("load key permissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("load key permissions: %w", err)
		}
		if k := byID[id]; k != nil {
			k.Permissions = append(k.Permissions, name)
		}
	}
	return rows.Err()
}

// allowedIPsDetail says, for an audit event, where a key may now be used
// from.
func allowedIPsDetail(ips []string) string {
	if len(ips) == 0 {
		return "allowed IPs: any"
	}
	return "allowed IPs: " + strings.Join(ips, ", ")
}
