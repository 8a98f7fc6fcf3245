package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.OrganizationService = (*OrganizationService)(nil)

// OrganizationService manages organizations and memberships.
type OrganizationService struct {
	db *DB
}

// NewOrganizationService returns an OrganizationService on db.
func NewOrganizationService(db *DB) *OrganizationService { return &OrganizationService{db: db} }

// queryer is what reads need: the reader pool or a transaction.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

var errOrgNotFound = keygate.Errorf(keygate.ENOTFOUND, "Organization not found.")

// findOrganizationForUser returns the organization with the acting user's
// role. Not being a member is indistinguishable from not existing.
//
// In a write transaction it locks the organization first: every rule about
// an organization (its last Owner, its key cap, one pending invitation per
// email) is then checked and acted on under that lock, with the actor's
// role as it is now.
func findOrganizationForUser(ctx context.Context, q queryer, publicID string) (*keygate.Organization, error) {
	if tx, ok := q.(*Tx); ok {
		if err := tx.lockOrganization(ctx, publicID); err != nil {
			return nil, err
		}
	}
	if key := keygate.KeyFromContext(ctx); key != nil {
		return findOrganizationForKey(ctx, q, key, publicID)
	}
	userID := keygate.UserIDFromContext(ctx)
	if userID == 0 {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	var org keygate.Organization
	var created, updated int64
	err := q.QueryRowContext(ctx, `
		SELECT o.id, o.public_id, o.name, o.plan, o.disabled_user_keys, o.leak_policy, o.created_at, o.updated_at, m.role,
			COALESCE((SELECT s.require_sso FROM org_sso s WHERE s.organization_id = o.id), 0),
			o.require_two_factor, `+hasTwoFactorSQL("m.user_id")+`
		FROM organizations o JOIN memberships m ON m.organization_id = o.id
		WHERE o.public_id = $1 AND m.user_id = $2`, publicID, userID,
	).Scan(&org.ID, &org.PublicID, &org.Name, &org.Plan, &org.DisabledUserKeys, &org.LeakPolicy, &created, &updated, &org.Role, &org.RequireSSO,
		&org.RequireTwoFactor, &org.ActorHasTwoFactor)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find organization: %w", err)
	}
	org.CreatedAt, org.UpdatedAt = fromMS(created), fromMS(updated)
	return &org, nil
}

// findOrganizationForKey returns the acting API key's organization, with
// the role its scopes carry; any other organization is not found.
func findOrganizationForKey(ctx context.Context, q queryer, key *keygate.KeyActor, publicID string) (*keygate.Organization, error) {
	if publicID != key.OrgPublicID {
		return nil, errOrgNotFound
	}
	var org keygate.Organization
	var created, updated int64
	err := q.QueryRowContext(ctx, `SELECT id, public_id, name, plan, disabled_user_keys, created_at, updated_at FROM organizations WHERE id = $1`,
		key.OrganizationID).Scan(&org.ID, &org.PublicID, &org.Name, &org.Plan, &org.DisabledUserKeys, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find organization: %w", err)
	}
	org.CreatedAt, org.UpdatedAt = fromMS(created), fromMS(updated)
	org.Role = keygate.RoleForScopes(key.Scopes)
	return &org, nil
}

// FindOrganizationByID returns one of the acting user's organizations.
func (s *OrganizationService) FindOrganizationByID(ctx context.Context, publicID string) (*keygate.Organization, error) {
	return findOrganizationForUser(ctx, s.db.reader(), publicID)
}

// FindOrganizations returns the acting user's organizations by name.
func (s *OrganizationService) FindOrganizations(ctx context.Context) ([]*keygate.Organization, error) {
	userID := keygate.UserIDFromContext(ctx)
	if userID == 0 {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	rows, err := s.db.reader().QueryContext(ctx, `
		SELECT o.id, o.public_id, o.name, o.plan, o.disabled_user_keys, o.created_at, o.updated_at, m.role
		FROM organizations o JOIN memberships m ON m.organization_id = o.id
		WHERE m.user_id = $1 ORDER BY lower(o.name), o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("find organizations: %w", err)
	}
	defer rows.Close()
	var orgs []*keygate.Organization
	for rows.Next() {
		var org keygate.Organization
		var created, updated int64
		if err := rows.Scan(&org.ID, &org.PublicID, &org.Name, &org.Plan, &org.DisabledUserKeys, &created, &updated, &org.Role); err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		org.CreatedAt, org.UpdatedAt = fromMS(created), fromMS(updated)
		orgs = append(orgs, &org)
	}
	return orgs, rows.Err()
}

// CreateOrganization creates an organization owned by the acting user.
func (s *OrganizationService) CreateOrganization(ctx context.Context, name string) (*keygate.Organization, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	name = strings.TrimSpace(name)
	if msg := keygate.ValidateOrganizationName(name); msg != "" {
		return nil, keygate.FieldError("name", msg)
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	org, err := createOrganization(ctx, tx, name, user)
	if err != nil {
		return nil, err
	}
	return org, tx.Commit()
}

// createOrganization inserts an organization on the instance's default
// plan, its Owner membership and the audit event.
func createOrganization(ctx context.Context, tx *Tx, name string, owner *keygate.User) (*keygate.Organization, error) {
	plan, err := tx.db.defaultPlan(ctx, tx)
	if err != nil {
		return nil, err
	}
	org := &keygate.Organization{PublicID: newPublicID("org"), Name: name, Plan: plan, DisabledUserKeys: keygate.DisabledUserKeysStop,
		CreatedAt: tx.now, UpdatedAt: tx.now, Role: keygate.RoleOwner}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO organizations (public_id, name, plan, disabled_user_keys, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`,
		org.PublicID, org.Name, org.Plan, org.DisabledUserKeys, ms(tx.now)).Scan(&org.ID); err != nil {
		return nil, fmt.Errorf("insert organization: %w", err)
	}
	tx.botsChanged(org.ID) // an id taken again starts with nothing cached
	if err := insertMembership(ctx, tx, org.ID, owner.ID, keygate.RoleOwner); err != nil {
		return nil, err
	}
	err = insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, ActorUserID: owner.ID, ActorName: owner.Name, Action: keygate.AuditOrganizationCreate,
		TargetType: "organization", TargetID: org.PublicID, TargetName: org.Name,
	})
	return org, err
}

func insertMembership(ctx context.Context, tx *Tx, orgID, userID int64, role keygate.Role) error {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO memberships (organization_id, user_id, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
		orgID, userID, role, ms(tx.now)); err != nil {
		return fmt.Errorf("insert membership: %w", formatError(err))
	}
	return nil
}

// UpdateOrganization renames an organization; Admin or Owner.
func (s *OrganizationService) UpdateOrganization(ctx context.Context, publicID string, upd keygate.OrganizationUpdate) (*keygate.Organization, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	org, err := findOrganizationForUser(ctx, tx, publicID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to change the organization.")
	}
	if upd.Name != nil {
		name := strings.TrimSpace(*upd.Name)
		if msg := keygate.ValidateOrganizationName(name); msg != "" {
			return nil, keygate.FieldError("name", msg)
		}
		org.Name = name
	}
	if d := upd.DisabledUserKeys; d != nil {
		// Whether a disabled person's keys keep working is the Owner's call.
		if org.Role != keygate.RoleOwner {
			return nil, keygate.Errorf(keygate.EFORBIDDEN, "Only an Owner can decide what happens to keys of disabled users.")
		}
		if !d.Valid() {
			return nil, keygate.FieldError("disabled_user_keys", "Choose whether the keys stop or keep working.")
		}
		org.DisabledUserKeys = *d
	}
	org.UpdatedAt = tx.now
	if _, err := tx.ExecContext(ctx, `UPDATE organizations SET name = $1, disabled_user_keys = $2, updated_at = $3 WHERE id = $4`,
		org.Name, org.DisabledUserKeys, ms(tx.now), org.ID); err != nil {
		return nil, fmt.Errorf("update organization: %w", err)
	}
	// Keys carry the organization's name and disabled-user rule.
	if err := tx.keysChanged(ctx, "org:"+org.PublicID); err != nil {
		return nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditOrganizationUpdate,
		TargetType: "organization", TargetID: org.PublicID, TargetName: org.Name,
	}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update organization: %w", err)
	}
	return org, nil
}

// DeleteOrganization deletes an organization and, by cascade, everything in
// it; Owner only, confirmed by typing its name.
func (s *OrganizationService) DeleteOrganization(ctx context.Context, publicID, confirm string) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	org, err := findOrganizationForUser(ctx, tx, publicID)
	if err != nil {
		return err
	}
	if org.Role != keygate.RoleOwner {
		return keygate.Errorf(keygate.EFORBIDDEN, "Only an Owner can delete the organization.")
	}
	if strings.TrimSpace(confirm) != org.Name {
		return keygate.FieldError("confirm", "Type the organization's name exactly to confirm.")
	}
	// Its single sign-on goes with it (a cascade), and the identities its
	// provider created, which reference it only by name.
	if _, err := tx.ExecContext(ctx, `DELETE FROM identities WHERE provider = $1`, orgSSOProviderKey(org.PublicID)); err != nil {
		return fmt.Errorf("delete organization: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM organizations WHERE id = $1`, org.ID); err != nil {
		return fmt.Errorf("delete organization: %w", err)
	}
	// Its bots are gone, and its id may be taken again.
	tx.botsChanged(org.ID)
	if err := tx.keysChanged(ctx, "org:"+org.PublicID); err != nil { // its keys are gone
		return err
	}
	// The event outlives the organization, so it is recorded outside it.
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		Action: keygate.AuditOrganizationDelete, TargetType: "organization", TargetID: org.PublicID, TargetName: org.Name,
	}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete organization: %w", err)
	}
	return nil
}

// AddMember makes userID a member of the organization with role, without
// checking the actor's rights. It is for the command line and set-up code;
// the dashboard goes through invitations.
func (s *OrganizationService) AddMember(ctx context.Context, orgPublicID string, userID int64, role keygate.Role) error {
	if !role.Valid() {
		return keygate.Errorf(keygate.EINVALID, "Unknown role %q.", role)
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var orgID int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM organizations WHERE public_id = $1`, orgPublicID).Scan(&orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return errOrgNotFound
	} else if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	if err := insertMembership(ctx, tx, orgID, userID, role); err != nil {
		return err
	}
	return tx.Commit()
}

// FindMembers lists an organization's members; Admin or Owner.
func (s *OrganizationService) FindMembers(ctx context.Context, publicID string) ([]*keygate.Member, error) {
	org, err := findOrganizationForUser(ctx, s.db.reader(), publicID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to manage members")
	}
	rows, err := s.db.reader().QueryContext(ctx, `
		SELECT `+userColumns+`, m.role, m.created_at, `+hasTwoFactorSQL("u.id")+`
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 ORDER BY lower(u.name), u.id`, org.ID)
	if err != nil {
		return nil, fmt.Errorf("find members: %w", err)
	}
	defer rows.Close()
	var out []*keygate.Member
	for rows.Next() {
		var u keygate.User
		var m keygate.Member
		var disabled sql.NullInt64
		var created, updated, joined int64
		if err := rows.Scan(&u.ID, &u.PublicID, &u.Name, &u.Email, &u.IsSuperuser, &u.HasPassword, &disabled, &created, &updated, &m.Role, &joined, &m.TwoFactor); err != nil {
			return nil, fmt.Errorf("scan member: %w", err)
		}
		u.DisabledAt, u.CreatedAt, u.UpdatedAt = fromNullMS(disabled), fromMS(created), fromMS(updated)
		m.User, m.JoinedAt = &u, fromMS(joined)
		out = append(out, &m)
	}
	return out, rows.Err()
}
