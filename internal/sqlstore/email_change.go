package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
)

// Ensure the service implements its interface.
var _ keygate.EmailChangeService = (*EmailChangeService)(nil)

// EmailChangeService keeps the links that confirm a new email by the
// SHA-256 of their token.
type EmailChangeService struct {
	db        *DB
	passwords PasswordHasher
}

// NewEmailChangeService returns an EmailChangeService on db.
func NewEmailChangeService(db *DB, passwords PasswordHasher) *EmailChangeService {
	return &EmailChangeService{db: db, passwords: passwords}
}

var errEmailChangeNotFound = keygate.Errorf(keygate.ENOTFOUND, "This link has expired or was already used. Change your email again in Settings.")

func emailInUse() error {
	return &keygate.Error{Code: keygate.ECONFLICT, Message: "An account with this email already exists.",
		Fields: map[string]string{"email": "An account with this email already exists."}}
}

// RequestEmailChange makes a link for the acting user's new email.
func (s *EmailChangeService) RequestEmailChange(ctx context.Context, current, newEmail string) (*keygate.EmailChange, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	newEmail = keygate.NormalizeEmail(newEmail)
	var v keygate.ValidationErrors
	if msg := keygate.ValidateEmail(newEmail); msg != "" {
		v.Add("email", msg)
	} else if newEmail == user.Email {
		v.Add("email", "This is already your email.")
	}
	if err := s.checkCurrentPassword(ctx, user, current, &v); err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var taken bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email = $1)`, newEmail).Scan(&taken); err != nil {
		return nil, fmt.Errorf("request email change: %w", err)
	} else if taken {
		return nil, emailInUse()
	}
	token, hash := newResetToken()
	expires := tx.now.Add(keygate.EmailChangeTTL)
	if _, err := tx.ExecContext(ctx, `INSERT INTO email_changes (user_id, new_email, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		user.ID, newEmail, hash, ms(tx.now), ms(expires)); err != nil {
		return nil, fmt.Errorf("request email change: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("request email change: %w", err)
	}
	return &keygate.EmailChange{User: user, NewEmail: newEmail, Token: token, ExpiresAt: expires}, nil
}

// checkCurrentPassword adds a message to v unless current is the user's
// password; an account without a password has none to give.
func (s *EmailChangeService) checkCurrentPassword(ctx context.Context, user *keygate.User, current string, v *keygate.ValidationErrors) error {
	var hash sql.NullString
	if err := s.db.reader().QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, user.ID).Scan(&hash); err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	switch {
	case !hash.Valid:
		return nil
	case current == "":
		v.Add("current_password", "Enter your current password.")
		return nil
	case len(current) > password.MaxBytes:
		v.Add("current_password", "Current password is incorrect.") // not hashed: see Authenticate
		return nil
	}
	ok, err := s.passwords.Verify(ctx, hash.String, current)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	} else if !ok {
		v.Add("current_password", "Current password is incorrect.")
	}
	return nil
}

// FindEmailChange returns the change of a link that still works.
func (s *EmailChangeService) FindEmailChange(ctx context.Context, token string) (*keygate.EmailChange, error) {
	var c keygate.EmailChange
	var expires int64
	row := s.db.reader().QueryRowContext(ctx, `SELECT c.new_email, c.expires_at, `+userColumns+` FROM email_changes c JOIN users u ON u.id = c.user_id
		WHERE c.token_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2`, hashResetToken(token), ms(s.db.Now()))
	u, err := scanUser(prefixScanner{row, []any{&c.NewEmail, &expires}})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errEmailChangeNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find email change: %w", err)
	}
	c.User, c.ExpiresAt = u, fromMS(expires)
	return &c, nil
}

// prefixScanner scans a row's first columns into prefix and the rest as
// its caller asks.
type prefixScanner struct {
	row    interface{ Scan(...any) error }
	prefix []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.row.Scan(append(p.prefix, dest...)...) }

// ConfirmEmailChange makes the link's address the user's email.
func (s *EmailChangeService) ConfirmEmailChange(ctx context.Context, token string) (*keygate.User, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// The conditional update is what makes the link single-use, also when
	// two requests race.
	var userID int64
	var newEmail string
	err = tx.QueryRowContext(ctx, `UPDATE email_changes SET used_at = $1
		WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id, new_email`,
		ms(tx.now), hashResetToken(token)).Scan(&userID, &newEmail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errEmailChangeNotFound
	} else if err != nil {
		return nil, fmt.Errorf("confirm email change: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE email_changes SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`, ms(tx.now), userID); err != nil {
		return nil, fmt.Errorf("confirm email change: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, updated_at = $2 WHERE id = $3`, newEmail, ms(tx.now), userID); err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
			return nil, emailInUse()
		}
		return nil, fmt.Errorf("confirm email change: %w", err)
	}
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, userID))
	if err != nil {
		return nil, fmt.Errorf("confirm email change: %w", err)
	}
	if err := recordUserEvent(ctx, tx, u, keygate.AuditEmailChanged); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("confirm email change: %w", err)
	}
	return u, nil
}
