package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
)

// Ensure the service implements its interface.
var _ keygate.IntegrationService = (*IntegrationService)(nil)

// ErrSecretKeyMismatch means the master key cannot open what the database
// holds: the key check, or a credential. It is never shown to a user as is.
var ErrSecretKeyMismatch = errors.New("the secret key does not match the one this database's credentials were encrypted with")

// IntegrationService manages integrations, their secrets sealed with box.
type IntegrationService struct {
	db  *DB
	box *secretbox.Box
}

// NewIntegrationService returns an IntegrationService on db that seals
// secrets with box.
func NewIntegrationService(db *DB, box *secretbox.Box) *IntegrationService {
	return &IntegrationService{db: db, box: box}
}

var errIntegrationNotFound = keygate.Errorf(keygate.ENOTFOUND, "Integration not found.")

// integrationAdmin loads the organization and checks that the actor may
// manage its integrations: Admin or Owner, or an API key with the admin
// scope (findOrganizationForUser gives a key the role its scopes carry).
func integrationAdmin(ctx context.Context, q queryer, orgID string) (*keygate.Organization, error) {
	org, err := findOrganizationForUser(ctx, q, orgID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to manage integrations")
	}
	return org, nil
}

// integrationAAD binds a sealed secret to its row's organization, kind and
// name: a ciphertext copied to another organization or kind fails to open.
// Public ids never change, unlike row ids after a dump and reload.
func integrationAAD(orgPublicID string, kind keygate.IntegrationKind, name string) []byte {
	aad := orgPublicID + "|" + string(kind)
	if kind == keygate.IntegrationOther {
		aad += "|" + name
	}
	return []byte(aad)
}

const integrationColumns = `i.kind, i.name, i.client_id, i.secret_last4, i.created_at, i.updated_at, COALESCE(u.name, '')`

const integrationFrom = ` FROM integrations i LEFT JOIN users u ON u.id = i.updated_by`

func scanIntegration(row interface{ Scan(...any) error }) (*keygate.Integration, error) {
	var in keygate.Integration
	var created, updated int64
	if err := row.Scan(&in.Kind, &in.Name, &in.ClientID, &in.SecretLast4, &created, &updated, &in.UpdatedByName); err != nil {
		return nil, err
	}
	in.CreatedAt, in.UpdatedAt = fromMS(created), fromMS(updated)
	return &in, nil
}

// FindIntegrations lists an organization's integrations, masked.
func (s *IntegrationService) FindIntegrations(ctx context.Context, orgID string) ([]*keygate.Integration, error) {
	org, err := integrationAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+integrationColumns+integrationFrom+`
		WHERE i.organization_id = $1
		ORDER BY CASE i.kind WHEN 'zoom' THEN 0 WHEN 'deepgram' THEN 1 ELSE 2 END, i.name, i.id`, org.ID)
	if err != nil {
		return nil, fmt.Errorf("find integrations: %w", err)
	}
	defer rows.Close()
	var out []*keygate.Integration
	for rows.Next() {
		in, err := scanIntegration(rows)
		if err != nil {
			return nil, fmt.Errorf("scan integration: %w", err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// SaveIntegration creates or replaces an integration.
func (s *IntegrationService) SaveIntegration(ctx context.Context, orgID string, in *keygate.IntegrationSave) (*keygate.Integration, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	org, err := integrationAdmin(ctx, tx, orgID)
	if err != nil {
		return nil, err
	}
	in.Normalize()
	if err := in.Validate(); err != nil {
		return nil, err
	}
	// The key may have been rotated since start-up (keygate
	// rotate-secret-key while serving): sealing with a stale key would
	// leave a value nobody can open, so the check is made in this
	// transaction, against what the database holds now.
	if err := verifyKeyCheck(ctx, tx, s.box); err != nil {
		return nil, fmt.Errorf("save integration: %w", err)
	}
	sealed, err := s.box.Seal([]byte(in.Secret), integrationAAD(org.PublicID, in.Kind, in.Name))
	if err != nil {
		return nil, fmt.Errorf("save integration: %w", err)
	}
	out := &keygate.Integration{Kind: in.Kind, Name: in.Name, ClientID: in.ClientID, SecretLast4: keygate.SecretLast4(in.Secret), UpdatedAt: tx.now}
	var by sql.NullInt64
	if user := keygate.UserFromContext(ctx); user != nil {
		by, out.UpdatedByName = sql.NullInt64{Int64: user.ID, Valid: true}, user.Name
	}
	var created int64
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO integrations (organization_id, kind, name, client_id, secret, secret_last4, created_at, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
		ON CONFLICT (organization_id, kind, name) DO UPDATE SET
			client_id = excluded.client_id, secret = excluded.secret, secret_last4 = excluded.secret_last4,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by
		RETURNING created_at`,
		org.ID, in.Kind, in.Name, in.ClientID, sealed, out.SecretLast4, ms(tx.now), by,
	).Scan(&created); err != nil {
		return nil, fmt.Errorf("save integration: %w", err)
	}
	out.CreatedAt = fromMS(created)
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditIntegrationSave,
		TargetType: "integration", TargetID: string(in.Kind), TargetName: out.Title(),
	}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("save integration: %w", err)
	}
	return out, nil
}

// DeleteIntegration deletes an integration.
func (s *IntegrationService) DeleteIntegration(ctx context.Context, orgID string, kind keygate.IntegrationKind, name string) (*keygate.Integration, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	org, err := integrationAdmin(ctx, tx, orgID)
	if err != nil {
		return nil, err
	}
	if !kind.Valid() || (kind == keygate.IntegrationOther) != (name != "") {
		return nil, errIntegrationNotFound
	}
	out, err := scanIntegration(tx.QueryRowContext(ctx, `SELECT `+integrationColumns+integrationFrom+`
		WHERE i.organization_id = $1 AND i.kind = $2 AND i.name = $3`, org.ID, kind, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errIntegrationNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find integration: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM integrations WHERE organization_id = $1 AND kind = $2 AND name = $3`,
		org.ID, kind, name); err != nil {
		return nil, fmt.Errorf("delete integration: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditIntegrationDelete,
		TargetType: "integration", TargetID: string(kind), TargetName: out.Title(),
	}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("delete integration: %w", err)
	}
	return out, nil
}

// DecryptSecret returns the plaintext secret of an organization's
// integration, for code inside Keygate that calls the service (and for
// tests). It checks no actor: it must never be reachable over HTTP.
func (s *IntegrationService) DecryptSecret(ctx context.Context, orgPublicID string, kind keygate.IntegrationKind, name string) (string, error) {
	var sealed []byte
	err := s.db.reader().QueryRowContext(ctx, `
		SELECT i.secret FROM integrations i JOIN organizations o ON o.id = i.organization_id
		WHERE o.public_id = $1 AND i.kind = $2 AND i.name = $3`, orgPublicID, kind, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errIntegrationNotFound
	} else if err != nil {
		return "", fmt.Errorf("decrypt secret: %w", err)
	}
	plain, err := s.box.Open(sealed, integrationAAD(orgPublicID, kind, name))
	if err != nil {
		return "", fmt.Errorf("decrypt secret: %w: %w", ErrSecretKeyMismatch, err)
	}
	return string(plain), nil
}

// keyCheckAAD and keyCheckPlaintext make the key check value. Its content
// does not matter: only whether it authenticates under a key.
var (
	keyCheckAAD       = []byte("keygate|secret_key_check")
	keyCheckPlaintext = []byte("keygate secret key check v1")
)

// verifyKeyCheck checks box against the stored key check, inside tx, and
// stores one sealed with box if there is none yet (first use).
func verifyKeyCheck(ctx context.Context, tx *Tx, box *secretbox.Box) error {
	var value []byte
	// Locked until tx ends: a rotation by another process waits for a save
	// that checked the key, and re-encrypts what it saved; a save waits for
	// a rotation, and then finds its key outdated.
	err := tx.QueryRowContext(ctx, `SELECT value FROM secret_key_check WHERE id = 1`+tx.forUpdate()).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		// No check yet, but a credential (the check row was lost): the key
		// must open it before it becomes the one the check records.
		if err := openAnyIntegration(ctx, tx, box); err != nil {
			return err
		}
		if err := openAnyOrgSSO(ctx, tx, box); err != nil {
			return err
		}
		return writeKeyCheck(ctx, tx, box)
	} else if err != nil {
		return fmt.Errorf("read key check: %w", err)
	}
	if _, err := box.Open(value, keyCheckAAD); err != nil {
		return ErrSecretKeyMismatch
	}
	return nil
}

// openAnyIntegration opens one stored secret, if there is one, with box.
func openAnyIntegration(ctx context.Context, tx *Tx, box *secretbox.Box) error {
	var org, name string
	var kind keygate.IntegrationKind
	var sealed []byte
	err := tx.QueryRowContext(ctx, `
		SELECT o.public_id, i.kind, i.name, i.secret
		FROM integrations i JOIN organizations o ON o.id = i.organization_id ORDER BY i.id LIMIT 1`).Scan(&org, &kind, &name, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read integration: %w", err)
	}
	if _, err := box.Open(sealed, integrationAAD(org, kind, name)); err != nil {
		return ErrSecretKeyMismatch
	}
	return nil
}

// writeKeyCheck stores a key check sealed with box, replacing any.
func writeKeyCheck(ctx context.Context, tx *Tx, box *secretbox.Box) error {
	value, err := box.Seal(keyCheckPlaintext, keyCheckAAD)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO secret_key_check (id, value, created_at, updated_at) VALUES (1, $1, $2, $2)
		ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		value, ms(tx.now)); err != nil {
		return fmt.Errorf("write key check: %w", err)
	}
	return nil
}

// HasSecretKeyCheck reports whether the database holds a key check, that
// is, whether a master key has ever been used with it.
func (s *IntegrationService) HasSecretKeyCheck(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM secret_key_check`).Scan(&n); err != nil {
		return false, fmt.Errorf("read key check: %w", err)
	}
	return n > 0, nil
}

// CheckSecretKey verifies the service's key against the database's key
// check, storing the check at first use; created reports that it did. A
// key that does not match returns ErrSecretKeyMismatch and changes nothing.
func (s *IntegrationService) CheckSecretKey(ctx context.Context) (created bool, err error) {
	had, err := s.HasSecretKeyCheck(ctx)
	if err != nil {
		return false, err
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if err := verifyKeyCheck(ctx, tx, s.box); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("check secret key: %w", err)
	}
	return !had, nil
}

// RotateSecretKey re-encrypts every integration secret, every organization
// SSO client secret, every authenticator secret, every webhook signing
// secret and the key check from the key of from to the key of to and
// returns how many secrets it re-encrypted. It runs in ONE transaction:
// either every value moves to the new key or, on any error (from not the
// current key, a value that does not open), none does.
func (s *IntegrationService) RotateSecretKey(ctx context.Context, from, to *secretbox.Box) (int, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if err := verifyKeyCheck(ctx, tx, from); err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	type sealedRow struct {
		id     int64
		aad    []byte
		secret []byte
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT i.id, o.public_id, i.kind, i.name, i.secret
		FROM integrations i JOIN organizations o ON o.id = i.organization_id ORDER BY i.id`)
	if err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	var all []sealedRow
	for rows.Next() {
		var r sealedRow
		var org, name string
		var kind keygate.IntegrationKind
		if err := rows.Scan(&r.id, &org, &kind, &name, &r.secret); err != nil {
			rows.Close()
			return 0, fmt.Errorf("rotate secret key: %w", err)
		}
		r.aad = integrationAAD(org, kind, name)
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	for _, r := range all {
		plain, err := from.Open(r.secret, r.aad)
		if err != nil {
			return 0, fmt.Errorf("rotate secret key: integration %d: %w", r.id, ErrSecretKeyMismatch)
		}
		sealed, err := to.Seal(plain, r.aad)
		clear(plain)
		if err != nil {
			return 0, fmt.Errorf("rotate secret key: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE integrations SET secret = $1 WHERE id = $2`, sealed, r.id); err != nil {
			return 0, fmt.Errorf("rotate secret key: %w", err)
		}
	}
	// Organizations' SSO client secrets move in the same transaction.
	nSSO, err := rotateOrgSSOSecrets(ctx, tx, from, to)
	if err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	// So do people's authenticator secrets (twofactor.go).
	nTOTP, err := rotateTOTPSecrets(ctx, tx, from, to)
	if err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	// And webhook endpoints' signing secrets (webhook_delivery.go).
	nHooks, err := rotateWebhookSecrets(ctx, tx, from, to)
	if err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	if err := writeKeyCheck(ctx, tx, to); err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("rotate secret key: %w", err)
	}
	return len(all) + nSSO + nTOTP + nHooks, nil
}
