package keygate

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// Audit actions on passkeys.
const (
	AuditPasskeyAdded   = "user.passkey_added"
	AuditPasskeyRemoved = "user.passkey_removed"
)

// Passkey is a person's WebAuthn credential: a second step after the
// password, and a way to sign in on its own.
type Passkey struct {
	ID     int64
	UserID int64
	// Name is the person's own, like "MacBook Touch ID".
	Name string
	// CredentialID is the authenticator's id of the credential, unique.
	CredentialID []byte
	// PublicKey is the COSE-encoded public key.
	PublicKey []byte
	// SignCount is the authenticator's signature counter at the last use.
	SignCount uint32
	// Transports are how the browser reaches the authenticator ("internal",
	// "usb", "hybrid"...).
	Transports []string
	AAGUID     []byte
	// Flags are the authenticator data flags of the registration (user
	// present and verified, backup eligible and state).
	Flags           uint8
	AttestationType string
	CreatedAt       time.Time
	// LastUsedAt is nil for a passkey never used to sign in.
	LastUsedAt *time.Time
}

// PasskeyNameMaxLen bounds a passkey's name, in characters.
const PasskeyNameMaxLen = 64

// PasskeyService keeps people's passkeys. Calls without a user id act as
// the user in the context. A person has two-step verification when they
// have an enabled authenticator app or at least one passkey: the recovery
// codes come with the first of these and go with the last.
type PasskeyService interface {
	// Passkeys returns the acting user's passkeys, oldest first. Returns
	// EUNAUTHORIZED without a user.
	Passkeys(ctx context.Context) ([]*Passkey, error)

	// UserPasskeys returns a user's passkeys, oldest first, for the second
	// step of a login.
	UserPasskeys(ctx context.Context, userID int64) ([]*Passkey, error)

	// AddPasskey stores p for the acting user. When it is the user's first
	// factor (no authenticator app, no other passkey), recoveryHashes are
	// stored as the recovery codes and first is true; otherwise the codes
	// are left as they are. Returns EINVALID for a bad name, ECONFLICT for
	// a credential already stored, EUNAUTHORIZED without a user.
	AddPasskey(ctx context.Context, p *Passkey, recoveryHashes [][]byte) (first bool, err error)

	// RemovePasskey removes the acting user's passkey id; removing the last
	// factor removes the recovery codes too. Returns ENOTFOUND for a
	// passkey that is not theirs.
	RemovePasskey(ctx context.Context, id int64) error

	// FindPasskey returns the passkey with credentialID, whoever's it is,
	// for a sign-in with a discoverable credential. Returns ENOTFOUND.
	FindPasskey(ctx context.Context, credentialID []byte) (*Passkey, error)

	// UsePasskey records a use of passkey id: its new signature counter
	// and the time, and with signIn (the passkey alone signed the person
	// in) a login event. Returns ENOTFOUND.
	UsePasskey(ctx context.Context, id int64, signCount uint32, signIn bool) error
}

// ValidatePasskeyName checks a passkey's name as typed, trimmed; empty is
// for the caller to fill in or refuse.
func ValidatePasskeyName(name string) error {
	if utf8.RuneCountInString(name) > PasskeyNameMaxLen {
		var v ValidationErrors
		v.Add("name", fmt.Sprintf("Use at most %d characters.", PasskeyNameMaxLen))
		return v.Err()
	}
	return nil
}
