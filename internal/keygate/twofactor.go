package keygate

import "context"

// Audit actions on two-step verification.
const (
	AuditTwoFactorEnabled      = "user.two_factor_enabled"
	AuditTwoFactorDisabled     = "user.two_factor_disabled"
	AuditRecoveryCodesRenewed  = "user.recovery_codes_regenerated"
	AuditRecoveryCodeUsed      = "user.recovery_code_used"
	AuditTwoFactorResetByAdmin = "user.two_factor_reset"
)

// RecoveryCodeCount is how many recovery codes a person gets at a time.
const RecoveryCodeCount = 10

// TwoFactor is the state of a person's two-step verification.
type TwoFactor struct {
	// Enabled is true once a code from the authenticator app confirmed
	// its enrollment.
	Enabled bool
	// Pending is true between "Set up" and the first code.
	Pending bool
	// RecoveryCodesLeft counts the unused recovery codes.
	RecoveryCodesLeft int
}

// TOTPSecret is an authenticator's shared secret (base32) and the last
// 30-second step whose code was accepted, so that no code counts twice.
type TOTPSecret struct {
	Secret   string
	LastStep int64
}

// TwoFactorService keeps authenticator secrets and recovery codes. The
// codes themselves are checked by the caller on its own clock; the service
// keeps which step was last used. Calls without a user id act as the user
// in the context.
type TwoFactorService interface {
	// TwoFactorStatus returns the acting user's state. Returns
	// EUNAUTHORIZED without a user.
	TwoFactorStatus(ctx context.Context) (*TwoFactor, error)

	// BeginTOTP stores secret as the acting user's pending authenticator,
	// replacing a pending one. Returns ECONFLICT when one is enabled
	// already, EUNAUTHORIZED without a user.
	BeginTOTP(ctx context.Context, secret string) error

	// PendingTOTP returns the acting user's pending secret, or ENOTFOUND.
	PendingTOTP(ctx context.Context) (string, error)

	// EnableTOTP enables the pending authenticator whose code of step was
	// just checked and, unless the user has a passkey (and so their codes
	// already), stores the SHA-256 hashes of the recovery codes. Returns
	// ENOTFOUND without a pending one.
	EnableTOTP(ctx context.Context, step int64, recoveryHashes [][]byte) error

	// FindTOTP returns a user's enabled authenticator, or ENOTFOUND.
	FindTOTP(ctx context.Context, userID int64) (*TOTPSecret, error)

	// UseTOTPStep records that a code of step was accepted for userID.
	// Returns ECONFLICT when that step or a later one was used already.
	UseTOTPStep(ctx context.Context, userID int64, step int64) error

	// UseRecoveryCode consumes the recovery code with hash and returns how
	// many are left. Returns EUNAUTHORIZED for an unknown or used code.
	UseRecoveryCode(ctx context.Context, userID int64, hash []byte) (int, error)

	// ReplaceRecoveryCodes replaces all of the acting user's recovery
	// codes. Returns ENOTFOUND without an enabled authenticator or a
	// passkey.
	ReplaceRecoveryCodes(ctx context.Context, hashes [][]byte) error

	// CheckPassword reports whether password is the acting user's.
	CheckPassword(ctx context.Context, password string) (bool, error)

	// DisableTOTP removes the acting user's authenticator, and the
	// recovery codes unless passkeys remain.
	DisableTOTP(ctx context.Context) error

	// ResetTwoFactor removes a user's authenticator, passkeys and recovery
	// codes and ends their sessions, for a superuser. Returns EFORBIDDEN,
	// ENOTFOUND.
	ResetTwoFactor(ctx context.Context, userPublicID string) (*User, error)

	// TwoFactorUsers returns the ids of the users with an enabled
	// authenticator or a passkey, for a superuser. Returns EFORBIDDEN.
	TwoFactorUsers(ctx context.Context) (map[int64]bool, error)
}
