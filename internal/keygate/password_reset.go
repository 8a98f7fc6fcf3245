package keygate

import (
	"context"
	"time"
)

// PasswordResetTTL is how long a password reset link works.
const PasswordResetTTL = time.Hour

// Audit actions of password recovery.
const (
	// AuditPasswordResetRequested: someone asked for a link by email.
	AuditPasswordResetRequested = "user.password_reset_requested"
	// AuditPasswordResetLink: a superuser or the command line made a link.
	AuditPasswordResetLink = "user.password_reset_link"
	// AuditPasswordReset: the password was set through a link.
	AuditPasswordReset = "user.password_reset"
)

// PasswordReset is a link made for a user: the token, in the clear only
// here, and when it stops working.
type PasswordReset struct {
	User      *User
	Token     string
	ExpiresAt time.Time
}

// PasswordResetService lets people who forgot their password choose a new
// one through a single-use link. Only the token's SHA-256 is stored.
type PasswordResetService interface {
	// RequestPasswordReset makes a link for the account with email, for
	// the person to be emailed. Returns ENOTFOUND for an unknown or
	// disabled account, and EFORBIDDEN (with the user) for an account
	// without a password, whose owner signs in with a provider.
	RequestPasswordReset(ctx context.Context, email string) (*PasswordReset, error)

	// MakePasswordResetLink makes a link for a user as the acting
	// superuser, to hand over by other means. Returns ENOTFOUND,
	// EFORBIDDEN for anyone but a superuser.
	MakePasswordResetLink(ctx context.Context, userPublicID string) (*PasswordReset, error)

	// FindPasswordReset returns the user of a link that still works, or
	// ENOTFOUND for an unknown, used or expired one.
	FindPasswordReset(ctx context.Context, token string) (*User, error)

	// ResetPassword sets the password through a link, at most once: it
	// uses up the link and every other of the user's, and ends every
	// session of the user, all at once. Returns EINVALID (field
	// "new_password"), ENOTFOUND as FindPasswordReset.
	ResetPassword(ctx context.Context, token, newPassword string) (*User, error)
}
