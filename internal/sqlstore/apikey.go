package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.APIKeyService = (*APIKeyService)(nil)

// APIKeyService manages API keys.
type APIKeyService struct {
	db *DB

	// MaxKeysPerOrg caps each organization's active keys (neither revoked
	// nor expired), --max-keys-per-org; 0 means
	// keygate.DefaultMaxKeysPerOrg.
	MaxKeysPerOrg int
}

// NewAPIKeyService returns an APIKeyService on db.
func NewAPIKeyService(db *DB) *APIKeyService { return &APIKeyService{db: db} }

var (
	errKeyNotFound   = keygate.Errorf(keygate.ENOTFOUND, "API key not found.")
	errKeyFormReused = keygate.Errorf(keygate.ECONFLICT, "This form was already submitted. For your security, a key's secret is shown only once.")
)

// keyAdmin loads the organization and checks that the acting user may
// manage its keys.
func keyAdmin(ctx context.Context, q queryer, orgID string) (*keygate.Organization, error) {
	org, err := findOrganizationForUser(ctx, q, orgID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to manage API keys")
	}
	return org, nil
}

const apiKeyColumns = `k.id, k.public_id, k.organization_id, k.name, k.environment, k.scopes, k.hint, k.note,
	COALESCE(k.created_by, 0), COALESCE(cu.name, ''), k.created_at, k.updated_at, k.expires_at,
	k.revoked_at, COALESCE(k.revoked_by, 0), COALESCE(ru.name, ''), k.last_used_at, k.last_used_ip,
	COALESCE(pk.public_id, ''), COALESCE((SELECT n.public_id FROM api_keys n WHERE n.rolled_from_id = k.id ORDER BY n.id LIMIT 1), ''),
	k.last_used_user_agent, k.rate_limit, k.exposed_at,
	COALESCE(cu.public_id, ''), COALESCE(cu.name, ''), COALESCE(ck.public_id, ''), COALESCE(ck.name, ''), k.allowed_ips,
	k.exposed_url, k.exposed_source`

const apiKeyFrom = ` FROM api_keys k
	LEFT JOIN users cu ON cu.id = k.created_by
	LEFT JOIN users ru ON ru.id = k.revoked_by
	LEFT JOIN api_keys pk ON pk.id = k.rolled_from_id
	LEFT JOIN api_keys ck ON ck.id = k.created_by_key_id`

func scanAPIKey(row scanner) (*keygate.APIKey, error) {
	var k keygate.APIKey
	var scopes string
	var created, updated int64
	var expires, revoked, lastUsed, exposed sql.NullInt64
	var userID, userName, keyID, keyName, allowedIPs string
	if err := row.Scan(&k.ID, &k.PublicID, &k.OrganizationID, &k.Name, &k.Environment, &scopes, &k.Hint, &k.Note,
		&k.CreatedByID, &k.CreatedByName, &created, &updated, &expires,
		&revoked, &k.RevokedByID, &k.RevokedByName, &lastUsed, &k.LastUsedIP,
		&k.RolledFrom, &k.RolledTo, &k.LastUsedUserAgent, &k.RateLimit, &exposed,
		&userID, &userName, &keyID, &keyName, &allowedIPs, &k.ExposedURL, &k.ExposedSource); err != nil {
		return nil, err
	}
	k.CreatedBy = newCreator(userID, userName, keyID, keyName)
	k.Scopes = keygate.ParseScopes(scopes)
	k.AllowedIPs = keygate.SplitAllowedIPs(allowedIPs)
	k.CreatedAt, k.UpdatedAt = fromMS(created), fromMS(updated)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt, k.ExposedAt = fromNullMS(expires), fromNullMS(revoked), fromNullMS(lastUsed), fromNullMS(exposed)
	return &k, nil
}

// newCreator names a key's creator from the ids and names of its creating
// user and key ("" where there is none): the user if there is one, else
// the key, else nil (the user was deleted).
func newCreator(userID, userName, keyID, keyName string) *keygate.Creator {
	switch {
	case userID != "":
		return &keygate.Creator{Type: keygate.CreatorUser, PublicID: userID, Name: userName}
	case keyID != "":
		return &keygate.Creator{Type: keygate.CreatorKey, PublicID: keyID, Name: keyName}
	}
	return nil
}

func findAPIKey(ctx context.Context, q queryer, orgID int64, keyID string) (*keygate.APIKey, error) {
	k, err := scanAPIKey(q.QueryRowContext(ctx, `SELECT `+apiKeyColumns+apiKeyFrom+` WHERE k.organization_id = $1 AND k.public_id = $2`, orgID, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errKeyNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find api key: %w", err)
	}
	if err := loadPermissions(ctx, q, k); err != nil {
		return nil, err
	}
	return k, nil
}

func nullTime(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(*t), Valid: true}
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// CreateAPIKey creates a key; the secret is returned and nowhere kept.
func (s *APIKeyService) CreateAPIKey(ctx context.Context, orgID string, in *keygate.APIKeyCreate) (*keygate.APIKey, string, error) {
	var key *keygate.APIKey
	var secret string
	err := s.db.inTx(ctx, func(tx *Tx) (err error) {
		key, secret, err = s.createAPIKey(ctx, tx, orgID, in)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return key, secret, nil
}

func (s *APIKeyService) createAPIKey(ctx context.Context, tx *Tx, orgID string, in *keygate.APIKeyCreate) (*keygate.APIKey, string, error) {
	org, err := keyAdmin(ctx, tx, orgID)
	if err != nil {
		return nil, "", err
	}
	// The organization's key policy caps the default lifetime, and what
	// breaks it is reported with the other fields' errors.
	var policy keygate.ValidationErrors
	if err := keyPolicyCreate(ctx, tx, org.ID, in, &policy); err != nil {
		return nil, "", err
	}
	if in.ExpiresAt == nil && in.DefaultExpiry {
		// The one default of the dashboard and the API alike.
		t := tx.now.Add(keygate.DefaultKeyLifetime)
		in.ExpiresAt = &t
	}
	v := in.Validate(tx.now)
	for f, m := range policy.Fields {
		v.Add(f, m)
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	scopes := keygate.NewScopes(in.Scopes...)
	// A key never carries more rights than its creator has: a user's role,
	// or the scopes of the key that creates it through the API.
	limit := keygate.NewScopes(keygate.MaxScopeForRole(org.Role))
	if actor := keygate.KeyFromContext(ctx); actor != nil {
		limit = actor.Scopes
	}
	if !limit.Covers(scopes) {
		return nil, "", keygate.FieldError("scopes", "You cannot grant a scope you do not have.")
	}
	// Counted under the organization's lock (keyAdmin), in the transaction
	// that inserts, so concurrent creates cannot all pass the check.
	if err := s.checkKeyLimit(ctx, tx, org.ID, 1); err != nil {
		return nil, "", err
	}
	key := &keygate.APIKey{
		OrganizationID: org.ID, Name: in.Name, Environment: in.Environment, Scopes: scopes,
		Note: in.Note, ExpiresAt: in.ExpiresAt, AllowedIPs: in.AllowedIPs,
	}
	secret, err := insertAPIKey(ctx, tx, key, in.FormToken, 0)
	if err != nil {
		return nil, "", err
	}
	if err := grantPermissions(ctx, tx, key, in.Permissions); err != nil {
		return nil, "", err
	}
	if err := enqueueKeyEvent(ctx, tx, keygate.WebhookKeyCreated, key); err != nil {
		return nil, "", err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditAPIKeyCreate, TargetType: "api_key", TargetID: key.PublicID, TargetName: key.Name,
	}); err != nil {
		return nil, "", err
	}
	return key, secret, nil
}

// maxKeys is the cap of active keys per organization.
func (s *APIKeyService) maxKeys() int {
	if s.MaxKeysPerOrg > 0 {
		return s.MaxKeysPerOrg
	}
	return keygate.DefaultMaxKeysPerOrg
}

// checkKeyLimit refuses a change that adds more active keys to the
// organization than its cap leaves room for.
func (s *APIKeyService) checkKeyLimit(ctx context.Context, tx *Tx, orgID int64, more int) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys
		WHERE organization_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
		orgID, ms(tx.now)).Scan(&n); err != nil {
		return fmt.Errorf("count active api keys: %w", err)
	}
	if limit := s.maxKeys(); n+more > limit {
		return keygate.KeyLimitError(limit)
	}
	return nil
}

// insertAPIKey generates a secret and stores key with its hash and hint.
func insertAPIKey(ctx context.Context, tx *Tx, key *keygate.APIKey, formToken string, rolledFrom int64) (string, error) {
	secret, err := apikey.Generate()
	if err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	hash := secret.Hash()
	user := keygate.UserFromContext(ctx)
	key.PublicID, key.Hint = newPublicID("key"), secret.Hint()
	key.CreatedAt, key.UpdatedAt = tx.now, tx.now
	var createdBy, createdByKey, rolled sql.NullInt64
	if user != nil {
		key.CreatedByID, key.CreatedByName = user.ID, user.Name
		key.CreatedBy = newCreator(user.PublicID, user.Name, "", "")
		createdBy = sql.NullInt64{Int64: user.ID, Valid: true}
	} else if actor := keygate.KeyFromContext(ctx); actor != nil {
		key.CreatedBy = newCreator("", "", actor.PublicID, actor.Name)
		createdByKey = sql.NullInt64{Int64: actor.KeyID, Valid: true}
	}
	if rolledFrom != 0 {
		rolled = sql.NullInt64{Int64: rolledFrom, Valid: true}
	}
	err = tx.QueryRowContext(ctx, `
		INSERT INTO api_keys (public_id, organization_id, name, environment, scopes, secret_hash, hint, note,
			created_by, created_at, updated_at, expires_at, rolled_from_id, form_token, created_by_key_id, allowed_ips)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15)
		RETURNING id`,
		key.PublicID, key.OrganizationID, key.Name, key.Environment, key.Scopes.String(), hash[:], key.Hint, key.Note,
		createdBy, ms(tx.now), nullTime(key.ExpiresAt), rolled, nullString(formToken), createdByKey, strings.Join(key.AllowedIPs, ","),
	).Scan(&key.ID)
	if err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT && formToken != "" {
			return "", errKeyFormReused
		}
		return "", fmt.Errorf("insert api key: %w", err)
	}
	return secret.String(), nil
}

// FindAPIKeys lists an organization's keys in the filter's order.
func (s *APIKeyService) FindAPIKeys(ctx context.Context, f keygate.APIKeyFilter) ([]*keygate.APIKey, int, error) {
	org, err := keyAdmin(ctx, s.db.reader(), f.OrgPublicID)
	if err != nil {
		return nil, 0, err
	}
	now := ms(s.db.Now())
	where, args := []string{"k.organization_id = $1"}, []any{org.ID}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	where = append(where, keyStateCond(f.State, now, arg))
	if f.Environment != "" {
		where = append(where, "k.environment = "+arg(string(f.Environment)))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, "k.name LIKE "+arg("%"+escapeLike(q)+"%")+" ESCAPE '\\'")
	}
	cond := " WHERE " + strings.Join(where, " AND ")

	var total int
	if err := s.db.reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys k`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count api keys: %w", err)
	}
	limit := f.Limit
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	query := `SELECT ` + apiKeyColumns + apiKeyFrom + cond + ` ORDER BY ` + apiKeyOrder(f) + ` LIMIT ` + arg(limit) + ` OFFSET ` + arg(max(f.Offset, 0))
	rows, err := s.db.reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find api keys: %w", err)
	}
	keys, err := collect(rows, scanAPIKey)
	if err != nil {
		return nil, 0, fmt.Errorf("find api keys: %w", err)
	}
	if err := loadPermissions(ctx, s.db.reader(), keys...); err != nil {
		return nil, 0, err
	}
	return keys, total, nil
}

// keyStateCond is the condition on k of keys in state at now ("" means
// active); arg binds a value and returns its placeholder.
func keyStateCond(state keygate.KeyState, now int64, arg func(any) string) string {
	switch state {
	case keygate.KeyRevoked:
		return "k.revoked_at IS NOT NULL"
	case keygate.KeyExpired:
		return "k.revoked_at IS NULL AND k.expires_at IS NOT NULL AND k.expires_at <= " + arg(now)
	}
	return "k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > " + arg(now) + ")"
}

// FindAPIKeyPage lists one page of an organization's keys in one state,
// newest first, by cursor.
func (s *APIKeyService) FindAPIKeyPage(ctx context.Context, f keygate.APIKeyFilter) ([]*keygate.APIKey, bool, error) {
	org, err := keyAdmin(ctx, s.db.reader(), f.OrgPublicID)
	if err != nil {
		return nil, false, err
	}
	args := []any{org.ID}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	where := []string{"k.organization_id = $1", keyStateCond(f.State, ms(s.db.Now()), arg)}
	cur, err := newIDCursor(f.Page)
	if err != nil {
		return nil, false, err
	}
	where, tail := cur.sql("k.id", where, arg)
	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+apiKeyColumns+apiKeyFrom+` WHERE `+strings.Join(where, " AND ")+tail, args...)
	if err != nil {
		return nil, false, fmt.Errorf("find api key page: %w", err)
	}
	keys, err := collect(rows, scanAPIKey)
	if err != nil {
		return nil, false, fmt.Errorf("find api key page: %w", err)
	}
	if err := loadPermissions(ctx, s.db.reader(), keys...); err != nil {
		return nil, false, err
	}
	keys, hasMore := finishIDPage(keys, cur)
	return keys, hasMore, nil
}

// escapeLike escapes LIKE's wildcards in user input.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// FindAPIKeyByID returns one of the organization's keys.
func (s *APIKeyService) FindAPIKeyByID(ctx context.Context, orgID, keyID string) (*keygate.APIKey, error) {
	org, err := keyAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	return findAPIKey(ctx, s.db.reader(), org.ID, keyID)
}

// UpdateAPIKey changes a key's name, environment or note.
func (s *APIKeyService) UpdateAPIKey(ctx context.Context, orgID, keyID string, upd keygate.APIKeyUpdate) (*keygate.APIKey, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.APIKey, error) { return updateAPIKey(ctx, tx, orgID, keyID, upd) })
}

// keyToChange returns the organization, as keyAdmin does (locked), and
// its key keyID.
func keyToChange(ctx context.Context, tx *Tx, orgID, keyID string) (*keygate.Organization, *keygate.APIKey, error) {
	org, err := keyAdmin(ctx, tx, orgID)
	if err != nil {
		return nil, nil, err
	}
	key, err := findAPIKey(ctx, tx, org.ID, keyID)
	if err != nil {
		return nil, nil, err
	}
	return org, key, nil
}

func updateAPIKey(ctx context.Context, tx *Tx, orgID, keyID string, upd keygate.APIKeyUpdate) (*keygate.APIKey, error) {
	org, key, err := keyToChange(ctx, tx, orgID, keyID)
	if err != nil {
		return nil, err
	}
	if err := upd.Validate().Err(); err != nil {
		return nil, err
	}
	if err := keyPolicyUpdate(ctx, tx, org.ID, upd); err != nil {
		return nil, err
	}
	if key.RevokedAt != nil {
		return nil, keygate.Errorf(keygate.EINVALID, "A revoked key cannot be changed.")
	}
	if upd.Name != nil {
		key.Name = *upd.Name
	}
	if upd.Environment != nil {
		key.Environment = *upd.Environment
	}
	if upd.Note != nil {
		key.Note = *upd.Note
	}
	if upd.RateLimit != nil {
		key.RateLimit = *upd.RateLimit
	}
	target := key.Name
	if upd.AllowedIPs != nil && !slices.Equal(key.AllowedIPs, *upd.AllowedIPs) {
		key.AllowedIPs = *upd.AllowedIPs
		target = key.Name + " (" + allowedIPsDetail(key.AllowedIPs) + ")"
	}
	key.UpdatedAt = tx.now
	if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET name = $1, environment = $2, note = $3, rate_limit = $4, updated_at = $5, allowed_ips = $6 WHERE id = $7`,
		key.Name, key.Environment, key.Note, key.RateLimit, ms(tx.now), strings.Join(key.AllowedIPs, ","), key.ID); err != nil {
		return nil, fmt.Errorf("update api key: %w", err)
	}
	if err := tx.keysChanged(ctx, "key:"+key.PublicID); err != nil {
		return nil, err
	}
	if err := enqueueKeyEvent(ctx, tx, keygate.WebhookKeyUpdated, key); err != nil {
		return nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditAPIKeyUpdate, TargetType: "api_key", TargetID: key.PublicID, TargetName: target,
	}); err != nil {
		return nil, err
	}
	return key, nil
}

// RevokeAPIKey revokes a key now.
func (s *APIKeyService) RevokeAPIKey(ctx context.Context, orgID, keyID string) (*keygate.APIKey, error) {
	key, err := inTxValue(ctx, s.db, func(tx *Tx) (*keygate.APIKey, error) {
		_, key, err := keyToChange(ctx, tx, orgID, keyID)
		if err != nil {
			return nil, err
		}
		return key, revokeAPIKey(ctx, tx, key, keygate.AuditAPIKeyRevoke)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// revokeAPIKey marks key revoked by the acting user, if it is not already,
// and records action. The write is conditional: of concurrent revokes, one
// revokes and records, the others find it revoked.
func revokeAPIKey(ctx context.Context, tx *Tx, key *keygate.APIKey, action string) error {
	var by sql.NullInt64
	user := keygate.UserFromContext(ctx)
	if user != nil {
		by = sql.NullInt64{Int64: user.ID, Valid: true}
	}
	res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1, revoked_by = $2, updated_at = $1 WHERE id = $3 AND revoked_at IS NULL`,
		ms(tx.now), by, key.ID)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return keygate.Errorf(keygate.EINVALID, "This key is already revoked.")
	}
	if err := tx.keysChanged(ctx, "key:"+key.PublicID); err != nil {
		return err
	}
	now := tx.now
	key.RevokedAt, key.UpdatedAt = &now, now
	if user != nil {
		key.RevokedByID, key.RevokedByName = user.ID, user.Name
	}
	if err := enqueueKeyEvent(ctx, tx, keygate.WebhookKeyRevoked, key); err != nil {
		return err
	}
	return insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: key.OrganizationID, Action: action, TargetType: "api_key", TargetID: key.PublicID, TargetName: key.Name,
	})
}

// RollAPIKey replaces a key with a new one and lets the old one live for
// the grace period.
func (s *APIKeyService) RollAPIKey(ctx context.Context, orgID, keyID string, grace time.Duration, formToken string) (*keygate.APIKey, string, *keygate.APIKey, error) {
	if !slices.Contains(keygate.RollGracePeriods, grace) {
		return nil, "", nil, keygate.FieldError("grace", "Choose how long the old key keeps working.")
	}
	var next, old *keygate.APIKey
	var secret string
	err := s.db.inTx(ctx, func(tx *Tx) (err error) {
		next, secret, old, err = s.rollAPIKey(ctx, tx, orgID, keyID, grace, formToken)
		return err
	})
	if err != nil {
		return nil, "", nil, err
	}
	return next, secret, old, nil
}

var errKeyRolled = keygate.Errorf(keygate.EINVALID, "This key has already been rolled. Roll the key that replaced it instead.")

// rollAPIKey is RollAPIKey in tx. Under the organization's lock (keyAdmin),
// a key is rolled once: a second roll, concurrent or not, finds the key
// that replaced it and creates no other.
func (s *APIKeyService) rollAPIKey(ctx context.Context, tx *Tx, orgID, keyID string, grace time.Duration, formToken string) (*keygate.APIKey, string, *keygate.APIKey, error) {
	org, old, err := keyToChange(ctx, tx, orgID, keyID)
	if err != nil {
		return nil, "", nil, err
	}
	if used, err := formTokenUsed(ctx, tx, org.ID, formToken); err != nil {
		return nil, "", nil, err
	} else if used {
		return nil, "", nil, errKeyFormReused
	}
	if old.State(tx.now) != keygate.KeyActive {
		return nil, "", nil, keygate.Errorf(keygate.EINVALID, "Only an active key can be rolled.")
	}
	if old.RolledTo != "" {
		return nil, "", nil, errKeyRolled
	}
	if !keygate.NewScopes(keygate.MaxScopeForRole(org.Role)).Covers(old.Scopes) {
		return nil, "", nil, keygate.Errorf(keygate.EFORBIDDEN, "You cannot grant a scope you do not have.")
	}
	// The old key counts while it keeps working: a roll with a grace
	// period adds a key; one that revokes the old key at once never does,
	// so an organization at its cap can always roll that way.
	if grace > 0 {
		if err := s.checkKeyLimit(ctx, tx, org.ID, 1); err != nil {
			return nil, "", nil, err
		}
	}
	// The new key keeps the old one's expiry, brought within the key
	// policy's maximum lifetime.
	expires, err := keyPolicyRollExpiry(ctx, tx, old)
	if err != nil {
		return nil, "", nil, err
	}
	next := &keygate.APIKey{
		OrganizationID: org.ID, Name: old.Name, Environment: old.Environment, Scopes: old.Scopes,
		Note: old.Note, ExpiresAt: expires, RolledFrom: old.PublicID, AllowedIPs: old.AllowedIPs,
	}
	secret, err := insertAPIKey(ctx, tx, next, formToken, old.ID)
	if err != nil {
		return nil, "", nil, err
	}
	if err := copyPermissions(ctx, tx, next, old); err != nil {
		return nil, "", nil, err
	}
	if grace == 0 {
		if err := revokeAPIKey(ctx, tx, old, keygate.AuditAPIKeyRevoke); err != nil {
			return nil, "", nil, err
		}
	} else {
		until := tx.now.Add(grace)
		if old.ExpiresAt == nil || until.Before(*old.ExpiresAt) {
			old.ExpiresAt = &until
		}
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires_at = $1, updated_at = $2 WHERE id = $3`,
			nullTime(old.ExpiresAt), ms(tx.now), old.ID); err != nil {
			return nil, "", nil, fmt.Errorf("roll api key: %w", err)
		}
		if err := tx.keysChanged(ctx, "key:"+old.PublicID); err != nil {
			return nil, "", nil, err
		}
	}
	old.RolledTo = next.PublicID
	if err := enqueueKeyRolled(ctx, tx, next, old); err != nil {
		return nil, "", nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		OrganizationID: org.ID, Action: keygate.AuditAPIKeyRoll, TargetType: "api_key", TargetID: old.PublicID, TargetName: old.Name,
	}); err != nil {
		return nil, "", nil, err
	}
	return next, secret, old, nil
}

// formTokenUsed reports whether a key of the organization was made with
// the form token: its form was submitted already.
func formTokenUsed(ctx context.Context, tx *Tx, orgID int64, formToken string) (bool, error) {
	if formToken == "" {
		return false, nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE organization_id = $1 AND form_token = $2`,
		orgID, formToken).Scan(&n); err != nil {
		return false, fmt.Errorf("check form token: %w", err)
	}
	return n > 0, nil
}
