package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
)

// Ensure the service implements its interface.
var _ keygate.PasswordResetService = (*PasswordResetService)(nil)

// PasswordResetService keeps password reset links by the SHA-256 of their
// token.
type PasswordResetService struct {
	db        *DB
	passwords PasswordHasher
}

// NewPasswordResetService returns a PasswordResetService on db.
func NewPasswordResetService(db *DB, passwords PasswordHasher) *PasswordResetService {
	return &PasswordResetService{db: db, passwords: passwords}
}

var errResetNotFound = keygate.Errorf(keygate.ENOTFOUND, "This link has expired or was already used. Ask for a new one.")

// newResetToken returns 32 random bytes in base64url, and their SHA-256.
func newResetToken() (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, hashResetToken(token)
}

func hashResetToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// RequestPasswordReset makes a link for the account with email.
func (s *PasswordResetService) RequestPasswordReset(ctx context.Context, email string) (*keygate.PasswordReset, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := findUserByEmail(ctx, tx, email)
	if err != nil {
		return nil, err
	}
	if u.DisabledAt != nil {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "No account has the email %s.", u.Email)
	}
	if !u.HasPassword {
		return &keygate.PasswordReset{User: u}, keygate.Errorf(keygate.EFORBIDDEN, "This account signs in with a provider.")
	}
	return s.insertReset(ctx, tx, u, keygate.AuditPasswordResetRequested)
}

// MakePasswordResetLink makes a link as the acting superuser.
func (s *PasswordResetService) MakePasswordResetLink(ctx context.Context, userPublicID string) (*keygate.PasswordReset, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := superuser(ctx, tx); err != nil {
		return nil, err
	}
	u, err := findUserByPublicID(ctx, tx, userPublicID)
	if err != nil {
		return nil, err
	}
	return s.insertReset(ctx, tx, u, keygate.AuditPasswordResetLink)
}

// MakePasswordResetLinkByEmail makes a link for the account with email
// without an acting user. It is for the command line.
func (s *PasswordResetService) MakePasswordResetLinkByEmail(ctx context.Context, email string) (*keygate.PasswordReset, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := findUserByEmail(ctx, tx, email)
	if err != nil {
		return nil, err
	}
	return s.insertReset(ctx, tx, u, keygate.AuditPasswordResetLink)
}

// findUserByEmail returns the user with email, or ENOTFOUND.
func findUserByEmail(ctx context.Context, q queryer, email string) (*keygate.User, error) {
	email = keygate.NormalizeEmail(email)
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "No account has the email %s.", email)
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// insertReset stores a new link for u, records action, and commits.
func (s *PasswordResetService) insertReset(ctx context.Context, tx *Tx, u *keygate.User, action string) (*keygate.PasswordReset, error) {
	token, hash := newResetToken()
	expires := tx.now.Add(keygate.PasswordResetTTL)
	if _, err := tx.ExecContext(ctx, `INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		u.ID, hash, ms(tx.now), ms(expires)); err != nil {
		return nil, fmt.Errorf("insert password reset: %w", err)
	}
	if err := recordAdminUserEvent(ctx, tx, u, action); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("%s: %w", action, err)
	}
	return &keygate.PasswordReset{User: u, Token: token, ExpiresAt: expires}, nil
}

// FindPasswordReset returns the user of a link that still works.
func (s *PasswordResetService) FindPasswordReset(ctx context.Context, token string) (*keygate.User, error) {
	u, err := scanUser(s.db.reader().QueryRowContext(ctx, `SELECT `+userColumns+` FROM password_resets r JOIN users u ON u.id = r.user_id
		WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2`, hashResetToken(token), ms(s.db.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errResetNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find password reset: %w", err)
	}
	return u, nil
}

// ResetPassword sets the password through a link, at most once.
func (s *PasswordResetService) ResetPassword(ctx context.Context, token, next string) (*keygate.User, error) {
	// A bad link is answered before the new password is judged or hashed.
	if _, err := s.FindPasswordReset(ctx, token); err != nil {
		return nil, err
	}
	if err := password.Validate(next); err != nil {
		return nil, keygate.FieldError("new_password", keygate.ErrorMessage(err))
	}
	newHash, err := s.passwords.Hash(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	// Hashing stays outside the transaction; the conditional update below
	// is what makes the link single-use, also when two requests race.
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var userID int64
	err = tx.QueryRowContext(ctx, `UPDATE password_resets SET used_at = $1
		WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id`,
		ms(tx.now), hashResetToken(token)).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errResetNotFound
	} else if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	// The user's other links stop working with this one.
	if _, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`,
		ms(tx.now), userID); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`,
		newHash, ms(tx.now), userID); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	// Whoever knew the old password is signed out everywhere.
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return nil, fmt.Errorf("end sessions: %w", err)
	}
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, userID))
	if err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	if err := recordUserEvent(ctx, tx, u, keygate.AuditPasswordReset); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("reset password: %w", err)
	}
	return u, nil
}
