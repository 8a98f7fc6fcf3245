package keygate

import (
	"context"
	"time"
)

// Audit actions of single sign-on.
const (
	// AuditLoginSSO: a user logged in through an identity provider.
	AuditLoginSSO = "user.login_sso"
	// AuditIdentityLink: an identity was linked to a user.
	AuditIdentityLink = "user.identity_link"
	// AuditIdentityUnlink: an identity was removed from a user.
	AuditIdentityUnlink = "user.identity_unlink"
)

// ExternalIdentity is who an identity provider says a person is, after
// Keygate has verified the provider's answer. It is identified by
// (Provider, Issuer, Subject), never by its email.
type ExternalIdentity struct {
	Provider string // the provider's key: "oidc", "google", "github", "microsoft"
	Issuer   string // the issuer (for Microsoft the tenant), pinned by configuration
	Subject  string // the provider's stable id of the person
	Email    string // normalized; may be ""
	Name     string
	// EmailTrusted is true only when the provider asserts the email is
	// verified and is trusted for it (Google's email_verified, GitHub's
	// verified primary email, an OIDC provider's email_verified). Only a
	// trusted email may link to an existing account by itself.
	EmailTrusted bool
}

// Identity is an external identity linked to a user.
type Identity struct {
	ID          int64
	PublicID    string // idn_...
	UserID      int64
	Provider    string
	Issuer      string
	Subject     string
	Email       string
	CreatedAt   time.Time
	LastLoginAt *time.Time
}

// SSOOutcome says what a single sign-on login did.
type SSOOutcome int

// Outcomes of LoginWithIdentity.
const (
	SSOLoggedIn SSOOutcome = iota // a linked identity logged in
	SSOLinked                     // a trusted email linked the identity to an existing account
	SSOSignedUp                   // a new account and organization were created
)

// IdentityService links external identities to users and logs them in.
type IdentityService interface {
	// LoginWithIdentity returns the user an identity belongs to. A new
	// identity whose trusted email matches an account is linked to it; one
	// with no matching account creates a user (without a password) and
	// their own organization, subject to the signup mode. Returns
	// EUNAUTHORIZED for a disabled user, ECONFLICT when the email belongs
	// to an account and is not trusted (log in with the password and link
	// from settings), EFORBIDDEN when signup is closed or by invitation,
	// EINVALID when the provider shared no usable email.
	LoginWithIdentity(ctx context.Context, ext *ExternalIdentity) (*User, SSOOutcome, error)

	// LinkIdentity links ext to the acting user. Returns EUNAUTHORIZED
	// without a user, ECONFLICT if ext belongs to another user.
	LinkIdentity(ctx context.Context, ext *ExternalIdentity) (*Identity, error)

	// FindIdentities lists the acting user's identities, oldest first.
	// Returns EUNAUTHORIZED without a user.
	FindIdentities(ctx context.Context) ([]*Identity, error)

	// UnlinkIdentity removes one of the acting user's identities by its
	// public id. Returns ENOTFOUND, EFORBIDDEN when it is the user's last
	// way in (no password and no other identity), EUNAUTHORIZED without a
	// user.
	UnlinkIdentity(ctx context.Context, publicID string) error
}
