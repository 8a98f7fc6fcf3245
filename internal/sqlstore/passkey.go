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
var _ keygate.PasskeyService = (*TwoFactorService)(nil)

const passkeyColumns = `id, user_id, name, credential_id, public_key, sign_count, transports, aaguid, flags, attestation_type, created_at, last_used_at`

func scanPasskey(row scanner) (*keygate.Passkey, error) {
	var p keygate.Passkey
	var signCount, flags int64
	var transports string
	var created int64
	var lastUsed sql.NullInt64
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.CredentialID, &p.PublicKey, &signCount, &transports,
		&p.AAGUID, &flags, &p.AttestationType, &created, &lastUsed); err != nil {
		return nil, err
	}
	p.SignCount, p.Flags, p.CreatedAt = uint32(signCount), uint8(flags), fromMS(created)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	if lastUsed.Valid {
		t := fromMS(lastUsed.Int64)
		p.LastUsedAt = &t
	}
	return &p, nil
}

// Passkeys returns the acting user's passkeys.
func (s *TwoFactorService) Passkeys(ctx context.Context) ([]*keygate.Passkey, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, errNoUser
	}
	return s.UserPasskeys(ctx, user.ID)
}

// UserPasskeys returns a user's passkeys, oldest first.
func (s *TwoFactorService) UserPasskeys(ctx context.Context, userID int64) ([]*keygate.Passkey, error) {
	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+passkeyColumns+` FROM user_passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	out, err := collect(rows, scanPasskey)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return out, nil
}

// validPasskeyName checks a passkey's name, trimmed.
func validPasskeyName(name string) error {
	if name == "" {
		var v keygate.ValidationErrors
		v.Add("name", "Enter a name for this passkey.")
		return v.Err()
	}
	return keygate.ValidatePasskeyName(name)
}

// hasFactor reports whether a user has an enabled authenticator app or a
// passkey, inside tx.
func hasFactor(ctx context.Context, tx *Tx, userID int64) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND enabled_at IS NOT NULL)
		+ (SELECT COUNT(*) FROM user_passkeys WHERE user_id = $1)`, userID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("has factor: %w", err)
	}
	return n > 0, nil
}

// AddPasskey stores a new passkey of the acting user; the recovery codes
// come with the first factor, in the same transaction.
func (s *TwoFactorService) AddPasskey(ctx context.Context, p *keygate.Passkey, hashes [][]byte) (bool, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return false, errNoUser
	}
	p.Name = strings.TrimSpace(p.Name)
	if err := validPasskeyName(p.Name); err != nil {
		return false, err
	}
	return inTxValue(ctx, s.db, func(tx *Tx) (bool, error) {
		had, err := hasFactor(ctx, tx, user.ID)
		if err != nil {
			return false, err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO user_passkeys (user_id, name, credential_id, public_key, sign_count, transports, aaguid, flags, attestation_type, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			user.ID, p.Name, p.CredentialID, p.PublicKey, int64(p.SignCount), strings.Join(p.Transports, ","), p.AAGUID, int64(p.Flags),
			p.AttestationType, ms(tx.now)).Scan(&p.ID)
		if err = formatError(err); keygate.ErrorCode(err) == keygate.ECONFLICT {
			return false, keygate.Errorf(keygate.ECONFLICT, "This passkey is registered already.")
		} else if err != nil {
			return false, fmt.Errorf("add passkey: %w", err)
		}
		p.UserID, p.CreatedAt = user.ID, fromMS(ms(tx.now))
		if !had {
			if err := replaceRecoveryCodes(ctx, tx, user.ID, hashes); err != nil {
				return false, err
			}
		}
		return !had, recordUserEvent(ctx, tx, user, keygate.AuditPasskeyAdded)
	})
}

// RemovePasskey removes one of the acting user's passkeys; the recovery
// codes go with the last factor.
func (s *TwoFactorService) RemovePasskey(ctx context.Context, id int64) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return errNoUser
	}
	return s.db.inTx(ctx, func(tx *Tx) error {
		// Scoped to the owner: someone else's id is simply not found.
		res, err := tx.ExecContext(ctx, `DELETE FROM user_passkeys WHERE id = $1 AND user_id = $2`, id, user.ID)
		if err != nil {
			return fmt.Errorf("remove passkey: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return keygate.Errorf(keygate.ENOTFOUND, "Passkey not found.")
		}
		if err := dropCodesWithoutFactor(ctx, tx, user.ID); err != nil {
			return err
		}
		return recordUserEvent(ctx, tx, user, keygate.AuditPasskeyRemoved)
	})
}

// dropCodesWithoutFactor deletes a user's recovery codes when no factor
// is left for them to stand in for.
func dropCodesWithoutFactor(ctx context.Context, tx *Tx, userID int64) error {
	has, err := hasFactor(ctx, tx, userID)
	if err != nil || has {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("remove recovery codes: %w", err)
	}
	return nil
}

// FindPasskey returns the passkey with a credential id.
func (s *TwoFactorService) FindPasskey(ctx context.Context, credentialID []byte) (*keygate.Passkey, error) {
	p, err := scanPasskey(s.db.reader().QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM user_passkeys WHERE credential_id = $1`, credentialID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "Passkey not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find passkey: %w", err)
	}
	return p, nil
}

// UsePasskey records a use of a passkey, and a login event for a sign-in
// with the passkey alone, in one transaction.
func (s *TwoFactorService) UsePasskey(ctx context.Context, id int64, signCount uint32, signIn bool) error {
	return s.db.inTx(ctx, func(tx *Tx) error {
		var userID int64
		err := tx.QueryRowContext(ctx, `UPDATE user_passkeys SET sign_count = $1, last_used_at = $2 WHERE id = $3 RETURNING user_id`,
			int64(signCount), ms(tx.now), id).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return keygate.Errorf(keygate.ENOTFOUND, "Passkey not found.")
		} else if err != nil {
			return fmt.Errorf("use passkey: %w", err)
		}
		if !signIn {
			return nil
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, userID))
		if err != nil {
			return fmt.Errorf("use passkey: %w", err)
		}
		return recordUserEvent(ctx, tx, u, keygate.AuditLogin)
	})
}
