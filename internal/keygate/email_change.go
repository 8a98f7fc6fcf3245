package keygate

import (
	"context"
	"time"
)

// EmailChangeTTL is how long a link that confirms a new email works.
const EmailChangeTTL = 24 * time.Hour

// AuditEmailChanged: a user's email changed, confirmed from the new
// address.
const AuditEmailChanged = "user.email_changed"

// EmailChange is a requested change of a user's email: the token, in the
// clear only here, goes to the new address.
type EmailChange struct {
	User      *User // as it is before the change
	NewEmail  string
	Token     string
	ExpiresAt time.Time
}

// EmailChangeService changes a user's email once the new address has
// confirmed it through a single-use link. Only the token's SHA-256 is
// stored.
type EmailChangeService interface {
	// RequestEmailChange makes a link for the acting user's new email
	// after checking their current password (none is asked of an account
	// without one). Returns EINVALID (fields "email", "current_password"),
	// ECONFLICT (field "email") for an email in use, EUNAUTHORIZED without
	// a user.
	RequestEmailChange(ctx context.Context, currentPassword, newEmail string) (*EmailChange, error)

	// FindEmailChange returns the change of a link that still works, or
	// ENOTFOUND for an unknown, used or expired one.
	FindEmailChange(ctx context.Context, token string) (*EmailChange, error)

	// ConfirmEmailChange makes the link's address the user's email, at
	// most once, and uses up the user's other links. Returns ENOTFOUND as
	// FindEmailChange, ECONFLICT if another account took the address
	// meanwhile.
	ConfirmEmailChange(ctx context.Context, token string) (*User, error)
}
