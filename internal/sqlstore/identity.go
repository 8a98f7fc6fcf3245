package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.IdentityService = (*IdentityService)(nil)

// IdentityService links identities at external providers (single sign-on)
// to users.
type IdentityService struct {
	db    *DB
	users *UserService
}

// NewIdentityService returns an IdentityService on db; users gives the
// signup mode in force.
func NewIdentityService(db *DB, users *UserService) *IdentityService {
	return &IdentityService{db: db, users: users}
}

const identityColumns = `i.id, i.public_id, i.user_id, i.provider, i.issuer, i.subject, i.email, i.created_at, i.last_login_at`

func scanIdentity(row interface{ Scan(...any) error }) (*keygate.Identity, error) {
	var id keygate.Identity
	var created int64
	var last sql.NullInt64
	if err := row.Scan(&id.ID, &id.PublicID, &id.UserID, &id.Provider, &id.Issuer, &id.Subject, &id.Email, &created, &last); err != nil {
		return nil, err
	}
	id.CreatedAt, id.LastLoginAt = fromMS(created), fromNullMS(last)
	return &id, nil
}

var errSSOEmailTaken = keygate.Errorf(keygate.ECONFLICT,
	"An account with this email already exists, and this provider does not confirm the address. Log in with your password, then link this sign-in method from Settings > Sign-in methods.")

// LoginWithIdentity finds, links or creates the user of ext, in one
// transaction so that two first logins at once cannot create two accounts:
// the one that loses the race for the account or the link runs again and
// logs in to what the other made.
func (s *IdentityService) LoginWithIdentity(ctx context.Context, ext *keygate.ExternalIdentity) (*keygate.User, keygate.SSOOutcome, error) {
	if ext.Provider == "" || ext.Issuer == "" || ext.Subject == "" {
		return nil, 0, keygate.Errorf(keygate.EINVALID, "The sign-in provider did not identify you.")
	}
	ext.Email = keygate.NormalizeEmail(ext.Email)
	var user *keygate.User
	var outcome keygate.SSOOutcome
	err := s.db.inTx(ctx, func(tx *Tx) (err error) {
		if user, outcome, err = s.loginWithIdentity(ctx, tx, ext); err != nil {
			return err
		}
		return finishIdentityLogin(ctx, tx, user, ext)
	})
	if err != nil {
		return nil, 0, err
	}
	return user, outcome, nil
}

// lostRace marks a unique row's conflict (an account or a link that a
// concurrent login inserted first) as a race to run again (inTx).
func lostRace(err error) error {
	if keygate.ErrorCode(err) == keygate.ECONFLICT {
		return &raceLost{err: err}
	}
	return err
}

// finishIdentityLogin refuses a disabled user, or else notes the
// identity's use and the login; the caller commits tx.
func finishIdentityLogin(ctx context.Context, tx *Tx, user *keygate.User, ext *keygate.ExternalIdentity) error {
	if user.DisabledAt != nil {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "This account is disabled.")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE identities SET last_login_at = $1, email = $2 WHERE provider = $3 AND issuer = $4 AND subject = $5`,
		ms(tx.now), ext.Email, ext.Provider, ext.Issuer, ext.Subject); err != nil {
		return fmt.Errorf("sso login: %w", err)
	}
	return recordUserEvent(ctx, tx, user, keygate.AuditLoginSSO)
}

func (s *IdentityService) loginWithIdentity(ctx context.Context, tx *Tx, ext *keygate.ExternalIdentity) (*keygate.User, keygate.SSOOutcome, error) {
	if err := tx.lockIdentity(ctx, ext); err != nil {
		return nil, 0, err
	}
	user, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM identities i JOIN users u ON u.id = i.user_id
		WHERE i.provider = $1 AND i.issuer = $2 AND i.subject = $3`, ext.Provider, ext.Issuer, ext.Subject))
	if err == nil {
		return user, keygate.SSOLoggedIn, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("find identity: %w", err)
	}
	if msg := keygate.ValidateEmail(ext.Email); msg != "" {
		return nil, 0, keygate.Errorf(keygate.EINVALID, "The sign-in provider did not share a usable email address, so Keygate cannot find or create your account.")
	}
	user, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, ext.Email))
	switch {
	case err == nil && !ext.EmailTrusted:
		return nil, 0, errSSOEmailTaken
	case err == nil:
		// The provider vouches for the address: link, as the account's
		// owner would from settings.
		if user.DisabledAt != nil {
			return user, 0, nil
		}
		if _, err := insertIdentity(ctx, tx, user, ext); err != nil {
			return nil, 0, lostRace(err)
		}
		return user, keygate.SSOLinked, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, 0, fmt.Errorf("find user: %w", err)
	}
	user, err = s.createSSOUser(ctx, tx, ext)
	if err != nil {
		return nil, 0, err
	}
	return user, keygate.SSOSignedUp, nil
}

// createSSOUser creates a user without a password, their organization and
// the identity, subject to the signup mode.
func (s *IdentityService) createSSOUser(ctx context.Context, tx *Tx, ext *keygate.ExternalIdentity) (*keygate.User, error) {
	n, err := tx.lockFirstAccount(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		if mode, err := s.users.signupMode(ctx, tx); err != nil {
			return nil, err
		} else if mode == keygate.SignupInvite {
			return nil, keygate.Errorf(keygate.EFORBIDDEN, "Signup on this instance is by invitation only, and no account uses this email. Ask an administrator of your organization for an invitation link.")
		} else if mode != keygate.SignupOpen {
			return nil, keygate.Errorf(keygate.EFORBIDDEN, "Signup is closed on this instance, and no account uses this email. Ask its administrator for an account.")
		}
	}
	name := truncateRunes(ext.Name, 100)
	if keygate.ValidateName(name) != "" {
		name, _, _ = strings.Cut(ext.Email, "@")
	}
	user := &keygate.User{PublicID: newPublicID("usr"), Name: name, Email: ext.Email, IsSuperuser: n == 0, CreatedAt: tx.now, UpdatedAt: tx.now}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO users (public_id, name, email, password_hash, is_superuser, created_at, updated_at)
		VALUES ($1, $2, $3, NULL, $4, $5, $5) RETURNING id`,
		user.PublicID, user.Name, user.Email, user.IsSuperuser, ms(tx.now)).Scan(&user.ID); err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
			return nil, lostRace(errSSOEmailTaken)
		}
		return nil, fmt.Errorf("insert user: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		ActorUserID: user.ID, ActorName: user.Name, Action: keygate.AuditSignup,
		TargetType: "user", TargetID: user.PublicID, TargetName: user.Email,
	}); err != nil {
		return nil, err
	}
	if _, err := createOrganization(ctx, tx, truncateRunes(user.Name, 85)+"'s organization", user); err != nil {
		return nil, err
	}
	if _, err := insertIdentity(ctx, tx, user, ext); err != nil {
		return nil, lostRace(err)
	}
	return user, nil
}

// insertIdentity links ext to user and records it in the user's
// organizations' audit logs.
func insertIdentity(ctx context.Context, tx *Tx, user *keygate.User, ext *keygate.ExternalIdentity) (*keygate.Identity, error) {
	id := &keygate.Identity{PublicID: newPublicID("idn"), UserID: user.ID, Provider: ext.Provider, Issuer: ext.Issuer,
		Subject: ext.Subject, Email: keygate.NormalizeEmail(ext.Email), CreatedAt: tx.now}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO identities (public_id, user_id, provider, issuer, subject, email, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		id.PublicID, id.UserID, id.Provider, id.Issuer, id.Subject, id.Email, ms(tx.now)).Scan(&id.ID); err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
			return nil, keygate.Errorf(keygate.ECONFLICT, "This account at the provider is already linked to another Keygate account.")
		}
		return nil, fmt.Errorf("insert identity: %w", err)
	}
	if err := recordUserEvent(ctx, tx, user, keygate.AuditIdentityLink); err != nil {
		return nil, err
	}
	return id, nil
}

// LinkIdentity links ext to the acting user.
func (s *IdentityService) LinkIdentity(ctx context.Context, ext *keygate.ExternalIdentity) (*keygate.Identity, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	existing, err := scanIdentity(tx.QueryRowContext(ctx, `SELECT `+identityColumns+` FROM identities i
		WHERE i.provider = $1 AND i.issuer = $2 AND i.subject = $3`, ext.Provider, ext.Issuer, ext.Subject))
	if err == nil {
		if existing.UserID != user.ID {
			return nil, keygate.Errorf(keygate.ECONFLICT, "This account at the provider is already linked to another Keygate account.")
		}
		return existing, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("link identity: %w", err)
	}
	id, err := insertIdentity(ctx, tx, user, ext)
	if err != nil {
		return nil, err
	}
	return id, tx.Commit()
}

// FindIdentities lists the acting user's identities.
func (s *IdentityService) FindIdentities(ctx context.Context) ([]*keygate.Identity, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+identityColumns+` FROM identities i WHERE i.user_id = $1 ORDER BY i.id`, user.ID)
	if err != nil {
		return nil, fmt.Errorf("find identities: %w", err)
	}
	defer rows.Close()
	var out []*keygate.Identity
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return nil, fmt.Errorf("find identities: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// UnlinkIdentity removes one of the acting user's identities, unless it is
// their last way in.
func (s *IdentityService) UnlinkIdentity(ctx context.Context, publicID string) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Two unlinks at once would each see the other identity: the account
	// is locked so that the second sees what the first left.
	if err := tx.lockUsers(ctx, `id = $1`, user.ID); err != nil {
		return err
	}
	var others int
	var hasPassword bool
	err = tx.QueryRowContext(ctx, `
		SELECT (SELECT COUNT(*) FROM identities o WHERE o.user_id = i.user_id AND o.id <> i.id),
		       (SELECT u.password_hash IS NOT NULL FROM users u WHERE u.id = i.user_id)
		FROM identities i WHERE i.public_id = $1 AND i.user_id = $2`, publicID, user.ID).Scan(&others, &hasPassword)
	if errors.Is(err, sql.ErrNoRows) {
		return keygate.Errorf(keygate.ENOTFOUND, "Sign-in method not found.")
	} else if err != nil {
		return fmt.Errorf("unlink identity: %w", err)
	}
	// Never remove the last way in: without a password or another
	// identity, the account could not be logged in to again.
	if others == 0 && !hasPassword {
		return keygate.Errorf(keygate.EFORBIDDEN, "This is your only way to log in. Set a password or link another sign-in method before you remove it.")
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM identities WHERE public_id = $1 AND user_id = $2`, publicID, user.ID); err != nil {
		return fmt.Errorf("unlink identity: %w", err)
	}
	if err := recordUserEvent(ctx, tx, user, keygate.AuditIdentityUnlink); err != nil {
		return err
	}
	return tx.Commit()
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
