package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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
// its argument, with the sealed secret.
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
	rows, err := q.QueryContext(ctx, `SELECT domain FROM org_sso_domains WHERE organization_id = $1 ORDER BY domain`, o.OrgID)
	if err != nil {
		return nil, nil, fmt.Errorf("find sso domains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, nil, fmt.Errorf("find sso domains: %w", err)
		}
		o.Domains = append(o.Domains, d)
	}
	return &o, sealed, rows.Err()
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
	user := keygate.UserFromContext(ctx)
	if user != nil {
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
	if err := replaceDomains(ctx, tx, org.ID, domains); err != nil {
		return nil, err
	}
	if in.RequireSSO && (prev == nil || !prev.RequireSSO) {
		if err := endPasswordSessions(ctx, tx, org.ID, user); err != nil {
			return nil, err
		}
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

// checkDomainsFree refuses a domain another organization claims.
func checkDomainsFree(ctx context.Context, tx *Tx, orgID int64, domains []string) error {
	for _, d := range domains {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM org_sso_domains WHERE domain = $1 AND organization_id <> $2`,
			d, orgID).Scan(&n); err != nil {
			return fmt.Errorf("check sso domains: %w", err)
		}
		if n > 0 {
			return keygate.FieldError("domains", d+" is already used by another organization.")
		}
	}
	return nil
}

// replaceDomains makes domains the organization's whole list.
func replaceDomains(ctx context.Context, tx *Tx, orgID int64, domains []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM org_sso_domains WHERE organization_id = $1`, orgID); err != nil {
		return fmt.Errorf("save sso domains: %w", err)
	}
	for _, d := range domains {
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_sso_domains (domain, organization_id) VALUES ($1, $2)`, d, orgID); err != nil {
			if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
				return keygate.FieldError("domains", d+" is already used by another organization.")
			}
			return fmt.Errorf("save sso domains: %w", err)
		}
	}
	return nil
}

// endPasswordSessions ends the sessions of the organization's members
// when Require SSO is switched on: they may no longer log in with a
// password, so a session that began with one must not outlive the switch.
// Owners keep theirs (they keep the password fallback), and so does the
// actor who made the change, who is looking at the page.
func endPasswordSessions(ctx context.Context, tx *Tx, orgID int64, actor *keygate.User) error {
	var actorID int64
	if actor != nil {
		actorID = actor.ID
	}
	if _, err := tx.ExecContext(ctx, `
		DELETE FROM sessions WHERE user_id <> $2 AND user_id IN (
			SELECT user_id FROM memberships WHERE organization_id = $1 AND role <> $3)`,
		orgID, actorID, keygate.RoleOwner); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// FindOrgSSOByEmail returns, with its plaintext secret, the settings of
// the organization that claims email's domain.
func (s *OrgSSOService) FindOrgSSOByEmail(ctx context.Context, email string) (*keygate.OrgSSO, error) {
	domain := keygate.EmailDomain(keygate.NormalizeEmail(email))
	if domain == "" {
		return nil, errOrgSSONotFound
	}
	return s.open(loadOrgSSO(ctx, s.db.reader(),
		`WHERE s.organization_id = (SELECT organization_id FROM org_sso_domains WHERE domain = $1)`, domain))
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

// requiresOrgSSO reports whether the user belongs, other than as Owner,
// to an organization that requires single sign-on. Owners keep their
// password so that a broken provider never locks an organization out.
func requiresOrgSSO(ctx context.Context, q queryer, userID int64) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `
		SELECT COUNT(*) FROM memberships m JOIN org_sso s ON s.organization_id = m.organization_id
		WHERE m.user_id = $1 AND s.require_sso = 1 AND m.role <> $2`, userID, keygate.RoleOwner).Scan(&n); err != nil {
		return false, fmt.Errorf("check require sso: %w", err)
	}
	return n > 0, nil
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

// LoginWithOrgIdentity finds, links or creates the user of an identity
// from the organization's provider, in one transaction.
func (s *OrgSSOService) LoginWithOrgIdentity(ctx context.Context, orgPublicID string, ext *keygate.ExternalIdentity) (*keygate.User, keygate.SSOOutcome, error) {
	if ext.Issuer == "" || ext.Subject == "" {
		return nil, 0, keygate.Errorf(keygate.EINVALID, "The sign-in provider did not identify you.")
	}
	ext.Provider, ext.Email = orgSSOProviderKey(orgPublicID), keygate.NormalizeEmail(ext.Email)
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	conf, _, err := loadOrgSSO(ctx, tx, `WHERE o.public_id = $1`, orgPublicID)
	if err != nil {
		return nil, 0, err
	}
	user, outcome, err := s.loginWithOrgIdentity(ctx, tx, conf, ext)
	if err != nil {
		return nil, 0, err
	}
	if user.DisabledAt != nil {
		return nil, 0, keygate.Errorf(keygate.EUNAUTHORIZED, "This account is disabled.")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE identities SET last_login_at = $1, email = $2 WHERE provider = $3 AND issuer = $4 AND subject = $5`,
		ms(tx.now), ext.Email, ext.Provider, ext.Issuer, ext.Subject); err != nil {
		return nil, 0, fmt.Errorf("org sso login: %w", err)
	}
	if err := recordUserEvent(ctx, tx, user, keygate.AuditLoginSSO); err != nil {
		return nil, 0, err
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, fmt.Errorf("org sso login: %w", err)
	}
	return user, outcome, nil
}

func (s *OrgSSOService) loginWithOrgIdentity(ctx context.Context, tx *Tx, conf *keygate.OrgSSO, ext *keygate.ExternalIdentity) (*keygate.User, keygate.SSOOutcome, error) {
	user, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM identities i JOIN users u ON u.id = i.user_id
		WHERE i.provider = $1 AND i.issuer = $2 AND i.subject = $3`, ext.Provider, ext.Issuer, ext.Subject))
	if err == nil {
		return user, keygate.SSOLoggedIn, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("find identity: %w", err)
	}
	if keygate.ValidateEmail(ext.Email) != "" {
		return nil, 0, keygate.Errorf(keygate.EINVALID, "The sign-in provider did not share a usable email address, so Keygate cannot find or create your account.")
	}
	// The organization's provider is trusted for its own domains only.
	if !containsString(conf.Domains, keygate.EmailDomain(ext.Email)) {
		return nil, 0, keygate.Errorf(keygate.EFORBIDDEN, "Your email address %s is not in a domain of %s, so its single sign-on cannot sign you in.", ext.Email, conf.OrgName)
	}
	outcome := keygate.SSOLinked
	user, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, ext.Email))
	switch {
	case err == nil && !ext.EmailTrusted:
		return nil, 0, errSSOEmailTaken
	case err == nil && user.DisabledAt != nil:
		return user, 0, nil
	case errors.Is(err, sql.ErrNoRows):
		if user, err = createOrgSSOUser(ctx, tx, ext); err != nil {
			return nil, 0, err
		}
		outcome = keygate.SSOSignedUp
	case err != nil:
		return nil, 0, fmt.Errorf("find user: %w", err)
	}
	if _, err := insertIdentity(ctx, tx, user, ext); err != nil {
		return nil, 0, err
	}
	if err := provisionMember(ctx, tx, conf, user); err != nil {
		return nil, 0, err
	}
	return user, outcome, nil
}

// createOrgSSOUser creates a user without a password and without an
// organization of their own: they are provisioned into the one whose
// provider identified them.
func createOrgSSOUser(ctx context.Context, tx *Tx, ext *keygate.ExternalIdentity) (*keygate.User, error) {
	name := truncateRunes(ext.Name, 100)
	if keygate.ValidateName(name) != "" {
		name, _, _ = strings.Cut(ext.Email, "@")
	}
	user := &keygate.User{PublicID: newPublicID("usr"), Name: name, Email: ext.Email, CreatedAt: tx.now, UpdatedAt: tx.now}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO users (public_id, name, email, password_hash, is_superuser, created_at, updated_at)
		VALUES ($1, $2, $3, NULL, 0, $4, $4) RETURNING id`,
		user.PublicID, user.Name, user.Email, ms(tx.now)).Scan(&user.ID); err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
			return nil, errSSOEmailTaken
		}
		return nil, fmt.Errorf("insert user: %w", err)
	}
	return user, nil
}

// provisionMember makes user a Member of the organization unless they
// belong to it already, and records the signup and the join there.
func provisionMember(ctx context.Context, tx *Tx, conf *keygate.OrgSSO, user *keygate.User) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO memberships (organization_id, user_id, role, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT (organization_id, user_id) DO NOTHING`, conf.OrgID, user.ID, keygate.RoleMember, ms(tx.now))
	if err != nil {
		return fmt.Errorf("provision member: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: conf.OrgID, ActorUserID: user.ID, ActorName: user.Name,
		Action: keygate.AuditJoin, TargetType: "user", TargetID: user.PublicID, TargetName: user.Email + " as " + keygate.RoleMember.Label() + " (single sign-on)"})
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
