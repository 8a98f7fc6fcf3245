package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/secretbox"
)

// Ensure the service implements its interface.
var _ keygate.TwoFactorService = (*TwoFactorService)(nil)

// TwoFactorService keeps authenticator secrets, sealed with box, and the
// SHA-256 hashes of recovery codes.
type TwoFactorService struct {
	db        *DB
	box       *secretbox.Box
	passwords PasswordHasher
}

// NewTwoFactorService returns a TwoFactorService on db that seals secrets
// with box and checks passwords with passwords.
func NewTwoFactorService(db *DB, box *secretbox.Box, passwords PasswordHasher) *TwoFactorService {
	return &TwoFactorService{db: db, box: box, passwords: passwords}
}

var errNoUser = keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")

// totpAAD binds a sealed secret to its user: a sealed value copied to
// another user's row does not open.
func totpAAD(userID int64) []byte { return []byte("user-totp:" + strconv.FormatInt(userID, 10)) }

// TwoFactorStatus returns the acting user's state.
func (s *TwoFactorService) TwoFactorStatus(ctx context.Context) (*keygate.TwoFactor, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, errNoUser
	}
	var out keygate.TwoFactor
	var enabled sql.NullInt64
	err := s.db.reader().QueryRowContext(ctx, `SELECT enabled_at FROM user_totp WHERE user_id = $1`, user.ID).Scan(&enabled)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("two-factor status: %w", err)
	}
	out.Enabled, out.Pending = enabled.Valid, err == nil && !enabled.Valid
	if err := s.db.reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1`, user.ID).Scan(&out.RecoveryCodesLeft); err != nil {
		return nil, fmt.Errorf("two-factor status: %w", err)
	}
	return &out, nil
}

// BeginTOTP stores a pending secret for the acting user.
func (s *TwoFactorService) BeginTOTP(ctx context.Context, secret string) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return errNoUser
	}
	return s.db.inTx(ctx, func(tx *Tx) error {
		if err := verifyKeyCheck(ctx, tx, s.box); err != nil {
			return err
		}
		sealed, err := s.box.Seal([]byte(secret), totpAAD(user.ID))
		if err != nil {
			return fmt.Errorf("begin totp: %w", err)
		}
		// A pending secret is replaced; an enabled one never is.
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_totp WHERE user_id = $1 AND enabled_at IS NULL`, user.ID); err != nil {
			return fmt.Errorf("begin totp: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO user_totp (user_id, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING`,
			user.ID, sealed, ms(tx.now))
		if err != nil {
			return fmt.Errorf("begin totp: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return keygate.Errorf(keygate.ECONFLICT, "Two-step verification is already on.")
		}
		return nil
	})
}

// PendingTOTP returns the acting user's pending secret.
func (s *TwoFactorService) PendingTOTP(ctx context.Context) (string, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return "", errNoUser
	}
	t, err := s.findTOTP(ctx, user.ID, false)
	if err != nil {
		return "", err
	}
	return t.Secret, nil
}

// findTOTP reads and opens a user's secret, enabled or pending.
func (s *TwoFactorService) findTOTP(ctx context.Context, userID int64, enabled bool) (*keygate.TOTPSecret, error) {
	cond := `enabled_at IS NULL`
	if enabled {
		cond = `enabled_at IS NOT NULL`
	}
	var sealed []byte
	var t keygate.TOTPSecret
	err := s.db.reader().QueryRowContext(ctx, `SELECT secret, last_step FROM user_totp WHERE user_id = $1 AND `+cond, userID).Scan(&sealed, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "No authenticator app is set up.")
	} else if err != nil {
		return nil, fmt.Errorf("find totp: %w", err)
	}
	plain, err := s.box.Open(sealed, totpAAD(userID))
	if err != nil {
		return nil, fmt.Errorf("find totp: %w", err)
	}
	t.Secret = string(plain)
	return &t, nil
}

// FindTOTP returns a user's enabled authenticator.
func (s *TwoFactorService) FindTOTP(ctx context.Context, userID int64) (*keygate.TOTPSecret, error) {
	return s.findTOTP(ctx, userID, true)
}

// EnableTOTP turns the pending authenticator on, with its recovery codes.
func (s *TwoFactorService) EnableTOTP(ctx context.Context, step int64, hashes [][]byte) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return errNoUser
	}
	return s.db.inTx(ctx, func(tx *Tx) error {
		// The recovery codes come with the first factor: with a passkey
		// already, the person has theirs.
		had, err := hasFactor(ctx, tx, user.ID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE user_totp SET enabled_at = $1, last_step = $2 WHERE user_id = $3 AND enabled_at IS NULL`,
			ms(tx.now), step, user.ID)
		if err != nil {
			return fmt.Errorf("enable totp: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return keygate.Errorf(keygate.ENOTFOUND, "Start the setup again: no authenticator app is waiting for its first code.")
		}
		if !had {
			if err := replaceRecoveryCodes(ctx, tx, user.ID, hashes); err != nil {
				return err
			}
		}
		return recordUserEvent(ctx, tx, user, keygate.AuditTwoFactorEnabled)
	})
}

// replaceRecoveryCodes deletes a user's recovery codes and stores hashes.
func replaceRecoveryCodes(ctx context.Context, tx *Tx, userID int64, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_recovery_codes (user_id, code_hash) VALUES ($1, $2)`, userID, h); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
	}
	return nil
}

// UseTOTPStep records an accepted step; one conditional statement, so two
// requests with the same code cannot both pass.
func (s *TwoFactorService) UseTOTPStep(ctx context.Context, userID int64, step int64) error {
	res, err := s.db.write.ExecContext(ctx, `UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND enabled_at IS NOT NULL AND last_step < $1`, step, userID)
	if err != nil {
		return fmt.Errorf("use totp step: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return keygate.Errorf(keygate.ECONFLICT, "This code was used already. Wait for the next one.")
	}
	return nil
}

// UseRecoveryCode consumes a recovery code.
func (s *TwoFactorService) UseRecoveryCode(ctx context.Context, userID int64, hash []byte) (int, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (int, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1 AND code_hash = $2`, userID, hash)
		if err != nil {
			return 0, fmt.Errorf("use recovery code: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, keygate.Errorf(keygate.EUNAUTHORIZED, "That recovery code is not valid.")
		}
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1`, userID).Scan(&left); err != nil {
			return 0, fmt.Errorf("use recovery code: %w", err)
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, userID))
		if err != nil {
			return 0, fmt.Errorf("use recovery code: %w", err)
		}
		return left, recordUserEvent(ctx, tx, u, keygate.AuditRecoveryCodeUsed)
	})
}

// ReplaceRecoveryCodes replaces the acting user's recovery codes.
func (s *TwoFactorService) ReplaceRecoveryCodes(ctx context.Context, hashes [][]byte) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return errNoUser
	}
	return s.db.inTx(ctx, func(tx *Tx) error {
		if has, err := hasFactor(ctx, tx, user.ID); err != nil {
			return err
		} else if !has {
			return keygate.Errorf(keygate.ENOTFOUND, "Two-step verification is off.")
		}
		if err := replaceRecoveryCodes(ctx, tx, user.ID, hashes); err != nil {
			return err
		}
		return recordUserEvent(ctx, tx, user, keygate.AuditRecoveryCodesRenewed)
	})
}

// CheckPassword checks the acting user's password.
func (s *TwoFactorService) CheckPassword(ctx context.Context, password string) (bool, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return false, errNoUser
	}
	var hash sql.NullString
	if err := s.db.reader().QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, user.ID).Scan(&hash); err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	if !hash.Valid || password == "" {
		return false, nil
	}
	return s.passwords.Verify(ctx, hash.String, password)
}

// DisableTOTP removes the acting user's authenticator app, and the
// recovery codes unless passkeys remain.
func (s *TwoFactorService) DisableTOTP(ctx context.Context) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return errNoUser
	}
	return s.db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_totp WHERE user_id = $1`, user.ID); err != nil {
			return fmt.Errorf("disable totp: %w", err)
		}
		// The recovery codes stay while passkeys remain.
		if err := dropCodesWithoutFactor(ctx, tx, user.ID); err != nil {
			return err
		}
		return recordUserEvent(ctx, tx, user, keygate.AuditTwoFactorDisabled)
	})
}

// removeTwoFactor deletes a user's authenticator, passkeys and recovery
// codes.
func removeTwoFactor(ctx context.Context, tx *Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_totp WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("remove two-factor: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_passkeys WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("remove two-factor: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("remove two-factor: %w", err)
	}
	return nil
}

// ResetTwoFactor turns a user's two-step verification off for a superuser
// and ends the user's sessions, in one transaction.
func (s *TwoFactorService) ResetTwoFactor(ctx context.Context, userPublicID string) (*keygate.User, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.User, error) {
		if _, err := superuser(ctx, tx); err != nil {
			return nil, err
		}
		target, err := findUserByPublicID(ctx, tx, userPublicID)
		if err != nil {
			return nil, err
		}
		return target, resetTwoFactor(ctx, tx, target)
	})
}

// resetTwoFactor removes every factor of target, ends their sessions and
// records it, within tx.
func resetTwoFactor(ctx context.Context, tx *Tx, target *keygate.User) error {
	if err := removeTwoFactor(ctx, tx, target.ID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, target.ID); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return recordAdminUserEvent(ctx, tx, target, keygate.AuditTwoFactorResetByAdmin)
}

// TwoFactorUsers returns who has two-step verification on, for a
// superuser.
func (s *TwoFactorService) TwoFactorUsers(ctx context.Context) (map[int64]bool, error) {
	if _, err := superuser(ctx, s.db.reader()); err != nil {
		return nil, err
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT user_id FROM user_totp WHERE enabled_at IS NOT NULL UNION SELECT user_id FROM user_passkeys`)
	if err != nil {
		return nil, fmt.Errorf("two-factor users: %w", err)
	}
	ids, err := collect(rows, func(row scanner) (id int64, err error) { return id, row.Scan(&id) })
	if err != nil {
		return nil, fmt.Errorf("two-factor users: %w", err)
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// rotateTOTPSecrets re-seals every authenticator secret from from to to,
// inside the secret key's rotation.
func rotateTOTPSecrets(ctx context.Context, tx *Tx, from, to *secretbox.Box) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT user_id, secret FROM user_totp ORDER BY user_id`)
	if err != nil {
		return 0, err
	}
	type row struct {
		id     int64
		sealed []byte
	}
	all, err := collect(rows, func(sc scanner) (r row, err error) { return r, sc.Scan(&r.id, &r.sealed) })
	if err != nil {
		return 0, err
	}
	for _, r := range all {
		plain, err := from.Open(r.sealed, totpAAD(r.id))
		if err != nil {
			return 0, fmt.Errorf("authenticator of user %d: %w", r.id, ErrSecretKeyMismatch)
		}
		sealed, err := to.Seal(plain, totpAAD(r.id))
		clear(plain)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE user_totp SET secret = $1 WHERE user_id = $2`, sealed, r.id); err != nil {
			return 0, err
		}
	}
	return len(all), nil
}
