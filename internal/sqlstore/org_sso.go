package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
)

// Ensure the service implements its interface.
var _ keygate.OrgSSOService = (*OrgSSOService)(nil)

// OrgSSOService manages organizations' own OpenID Connect providers, their
// client secrets sealed with box.
type OrgSSOService struct {
	db  *DB
	box *secretbox.Box
}

// NewOrgSSOService returns an OrgSSOService on db that seals secrets with
// box.
func NewOrgSSOService(db *DB, box *secretbox.Box) *OrgSSOService {
	return &OrgSSOService{db: db, box: box}
}

var errOrgSSONotFound = keygate.Errorf(keygate.ENOTFOUND, "No organization uses single sign-on for this domain.")

// orgSSOAAD binds a sealed client secret to its organization: copied to
// another organization's row, it fails to open.
func orgSSOAAD(orgPublicID string) []byte { return []byte(orgPublicID + "|sso") }

// orgSSOAdmin loads the organization and checks that the actor is Admin or
// Owner.
func orgSSOAdmin(ctx context.Context, q queryer, orgID string) (*keygate.Organization, error) {
	org, err := findOrganizationForUser(ctx, q, orgID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to manage single sign-on")
	}
	return org, nil
}

const orgSSOSelect = `SELECT o.id, o.public_id, o.name, s.issuer, s.client_id, s.client_secret, s.secret_last4, s.require_sso,
	s.updated_at, COALESCE(u.name, '')
	FROM org_sso s JOIN organizations o ON o.id = s.organization_id LEFT JOIN users u ON u.id = s.updated_by `

// loadOrgSSO reads one organization's settings by the WHERE clause and
// its argument, with the sealed secret and the domain claims.
func loadOrgSSO(ctx context.Context, q queryer, where string, arg any) (*keygate.OrgSSO, []byte, error) {
	var o keygate.OrgSSO
	var sealed []byte
	var updated int64
	err := q.QueryRowContext(ctx, orgSSOSelect+where, arg).Scan(&o.OrgID, &o.OrgPublicID, &o.OrgName, &o.Issuer, &o.ClientID,
		&sealed, &o.SecretLast4, &o.RequireSSO, &updated, &o.UpdatedByName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errOrgSSONotFound
	} else if err != nil {
		return nil, nil, fmt.Errorf("find sso settings: %w", err)
	}
	o.UpdatedAt = fromMS(updated)
	if o.Domains, err = loadDomains(ctx, q, `WHERE d.organization_id = $1 ORDER BY d.domain`, o.OrgID); err != nil {
		return nil, nil, err
	}
	return &o, sealed, nil
}

// FindOrgSSO returns the organization's SSO settings, masked.
func (s *OrgSSOService) FindOrgSSO(ctx context.Context, orgID string) (*keygate.OrgSSO, error) {
	org, err := orgSSOAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	o, _, err := loadOrgSSO(ctx, s.db.reader(), `WHERE s.organization_id = $1`, org.ID)
	return o, err
}

// SaveOrgSSO creates or replaces the organization's SSO settings.
func (s *OrgSSOService) SaveOrgSSO(ctx context.Context, orgID string, in *keygate.OrgSSOSave) (*keygate.OrgSSO, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	org, err := orgSSOAdmin(ctx, tx, orgID)
	if err != nil {
		return nil, err
	}
	prev, sealed, err := loadOrgSSO(ctx, tx, `WHERE s.organization_id = $1`, org.ID)
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return nil, err
	}
	in.Normalize()
	domains, err := in.Validate(prev != nil)
	if err != nil {
		return nil, err
	}
	if err := checkDomainsFree(ctx, tx, org.ID, domains); err != nil {
		return nil, err
	}
	last4 := ""
	if prev != nil {
		last4 = prev.SecretLast4
	}
	if in.ClientSecret != "" {
		// As for integrations: the key may have been rotated since start-up,
		// so it is checked in this transaction before it seals anything.
		if err := verifyKeyCheck(ctx, tx, s.box); err != nil {
			return nil, fmt.Errorf("save sso settings: %w", err)
		}
		if sealed, err = s.box.Seal([]byte(in.ClientSecret), orgSSOAAD(org.PublicID)); err != nil {
			return nil, fmt.Errorf("save sso settings: %w", err)
		}
		last4 = keygate.SecretLast4(in.ClientSecret)
	}
	var by sql.NullInt64
	if user := keygate.UserFromContext(ctx); user != nil {
		by = sql.NullInt64{Int64: user.ID, Valid: true}
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO org_sso (organization_id, issuer, client_id, client_secret, secret_last4, require_sso, created_at, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
		ON CONFLICT (organization_id) DO UPDATE SET
			issuer = excluded.issuer, client_id = excluded.client_id, client_secret = excluded.client_secret,
			secret_last4 = excluded.secret_last4, require_sso = excluded.require_sso,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		org.ID, in.Issuer, in.ClientID, sealed, last4, in.RequireSSO, ms(tx.now), by); err != nil {
		return nil, fmt.Errorf("save sso settings: %w", err)
	}
	var claimed []string
	if prev != nil {
		claimed = prev.DomainNames()
	}
	if err := syncDomains(ctx, tx, org, claimed, domains); err != nil {
		return nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditOrgSSOSave,
		TargetType: "organization", TargetID: org.PublicID, TargetName: in.Issuer,
	}); err != nil {
		return nil, err
	}
	out, _, err := loadOrgSSO(ctx, tx, `WHERE s.organization_id = $1`, org.ID)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("save sso settings: %w", err)
	}
	return out, nil
}

// deleteOrgIdentities removes the identities of the organization's
// provider whose email match accepts (nil: all), and records the unlink
// in their users' audit logs.
func deleteOrgIdentities(ctx context.Context, tx *Tx, orgPublicID string, match func(email string) bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, user_id, email FROM identities WHERE provider = $1`, orgSSOProviderKey(orgPublicID))
	if err != nil {
		return fmt.Errorf("find sso identities: %w", err)
	}
	var ids, users []int64
	for rows.Next() {
		var id, userID int64
		var email string
		if err := rows.Scan(&id, &userID, &email); err != nil {
			rows.Close()
			return fmt.Errorf("find sso identities: %w", err)
		}
		if match == nil || match(email) {
			ids = append(ids, id)
			if !slices.Contains(users, userID) {
				users = append(users, userID)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find sso identities: %w", err)
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM identities WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete sso identity: %w", err)
		}
	}
	for _, id := range users {
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
		if err != nil {
			return fmt.Errorf("delete sso identity: %w", err)
		}
		if err := recordUserEvent(ctx, tx, u, keygate.AuditIdentityUnlink); err != nil {
			return err
		}
	}
	return nil
}

// DeleteOrgSSO removes the organization's provider, its domain claims and
// every identity it created.
func (s *OrgSSOService) DeleteOrgSSO(ctx context.Context, orgID string) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	org, err := orgSSOAdmin(ctx, tx, orgID)
	if err != nil {
		return err
	}
	prev, _, err := loadOrgSSO(ctx, tx, `WHERE s.organization_id = $1`, org.ID)
	if err != nil {
		return err
	}
	if err := deleteOrgIdentities(ctx, tx, org.PublicID, nil); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM org_sso WHERE organization_id = $1`, org.ID); err != nil {
		return fmt.Errorf("delete sso settings: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditOrgSSODelete,
		TargetType: "organization", TargetID: org.PublicID, TargetName: prev.Issuer,
	}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete sso settings: %w", err)
	}
	return nil
}

// FindMemberOrgSSO lists the acting user's organizations that have a
// provider, masked and without domains.
func (s *OrgSSOService) FindMemberOrgSSO(ctx context.Context) ([]*keygate.OrgSSO, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT o.id, o.public_id, o.name, s.issuer, s.require_sso
		FROM org_sso s JOIN organizations o ON o.id = s.organization_id
		JOIN memberships m ON m.organization_id = o.id AND m.user_id = $1 ORDER BY o.name, o.id`, user.ID)
	if err != nil {
		return nil, fmt.Errorf("find sso settings: %w", err)
	}
	defer rows.Close()
	var out []*keygate.OrgSSO
	for rows.Next() {
		var o keygate.OrgSSO
		if err := rows.Scan(&o.OrgID, &o.OrgPublicID, &o.OrgName, &o.Issuer, &o.RequireSSO); err != nil {
			return nil, fmt.Errorf("find sso settings: %w", err)
		}
		out = append(out, &o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find sso settings: %w", err)
	}
	return out, nil
}

// FindOrgSSOByEmail returns, with its plaintext secret, the settings of
// the organization that claims email's domain.
func (s *OrgSSOService) FindOrgSSOByEmail(ctx context.Context, email string) (*keygate.OrgSSO, error) {
	domain := keygate.EmailDomain(keygate.NormalizeEmail(email))
	if domain == "" {
		return nil, errOrgSSONotFound
	}
	return s.open(loadOrgSSO(ctx, s.db.reader(),
		`WHERE s.organization_id = (SELECT organization_id FROM org_sso_domains WHERE domain = $1 AND verified_at IS NOT NULL)`, domain))
}

// FindOrgSSOForLogin returns, with its plaintext secret, the settings of
// the organization with the public id.
func (s *OrgSSOService) FindOrgSSOForLogin(ctx context.Context, orgPublicID string) (*keygate.OrgSSO, error) {
	return s.open(loadOrgSSO(ctx, s.db.reader(), `WHERE o.public_id = $1`, orgPublicID))
}

func (s *OrgSSOService) open(o *keygate.OrgSSO, sealed []byte, err error) (*keygate.OrgSSO, error) {
	if err != nil {
		return nil, err
	}
	plain, err := s.box.Open(sealed, orgSSOAAD(o.OrgPublicID))
	if err != nil {
		return nil, fmt.Errorf("open sso secret: %w: %w", ErrSecretKeyMismatch, err)
	}
	o.ClientSecret = string(plain)
	return o, nil
}

// openAnyOrgSSO opens one stored client secret, if there is one, with box.
func openAnyOrgSSO(ctx context.Context, tx *Tx, box *secretbox.Box) error {
	var org string
	var sealed []byte
	err := tx.QueryRowContext(ctx, `SELECT o.public_id, s.client_secret FROM org_sso s
		JOIN organizations o ON o.id = s.organization_id ORDER BY s.organization_id LIMIT 1`).Scan(&org, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read sso settings: %w", err)
	}
	if _, err := box.Open(sealed, orgSSOAAD(org)); err != nil {
		return ErrSecretKeyMismatch
	}
	return nil
}

// rotateOrgSSOSecrets re-encrypts every organization's client secret from
// from to to, inside the caller's transaction, and returns how many.
func rotateOrgSSOSecrets(ctx context.Context, tx *Tx, from, to *secretbox.Box) (int, error) {
	type sealedRow struct {
		orgID  int64
		aad    []byte
		secret []byte
	}
	rows, err := tx.QueryContext(ctx, `SELECT s.organization_id, o.public_id, s.client_secret
		FROM org_sso s JOIN organizations o ON o.id = s.organization_id ORDER BY s.organization_id`)
	if err != nil {
		return 0, err
	}
	var all []sealedRow
	for rows.Next() {
		var r sealedRow
		var org string
		if err := rows.Scan(&r.orgID, &org, &r.secret); err != nil {
			rows.Close()
			return 0, err
		}
		r.aad = orgSSOAAD(org)
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range all {
		plain, err := from.Open(r.secret, r.aad)
		if err != nil {
			return 0, fmt.Errorf("sso settings of organization %d: %w", r.orgID, ErrSecretKeyMismatch)
		}
		sealed, err := to.Seal(plain, r.aad)
		clear(plain)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE org_sso SET client_secret = $1 WHERE organization_id = $2`, sealed, r.orgID); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}

// orgSSOProviderKey is the provider key of an organization's identities:
// one per organization, so that two organizations at the same issuer
// never share an identity.
func orgSSOProviderKey(orgPublicID string) string { return "org:" + orgPublicID }
