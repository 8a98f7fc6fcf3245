package keygate

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Role is a user's role in an organization.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// AtLeast reports whether r carries at least the rights of other.
func (r Role) AtLeast(other Role) bool { return r.rank() >= other.rank() && r.rank() > 0 }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// Label is the role's name as people read it.
func (r Role) Label() string {
	switch r {
	case RoleOwner:
		return "Owner"
	case RoleAdmin:
		return "Admin"
	case RoleMember:
		return "Member"
	}
	return string(r)
}

// Organization is a group of users who share API keys and resources.
type Organization struct {
	ID        int64
	PublicID  string // org_...
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time

	// Plan decides what the organization may do: API access needs
	// Professional or higher. Only a superuser changes it.
	Plan Plan
	// DisabledUserKeys says whether keys created by a user who has since
	// been disabled keep working; the Owner decides.
	DisabledUserKeys DisabledUserKeys
	// LeakPolicy says what happens to a key reported leaked.
	LeakPolicy LeakPolicy

	// Role is the acting user's role in it, set by finds.
	Role Role
	// RequireSSO says its pages need a session that came through its own
	// single sign-on provider (Owners excepted), set by finds for a user.
	RequireSSO bool
	// RequireTwoFactor says its pages need members with two-step
	// verification, unless their session came through its single sign-on.
	RequireTwoFactor bool
	// ActorHasTwoFactor says the acting user has a second factor, set by
	// finds for a user.
	ActorHasTwoFactor bool
}

// Audit actions on an organization's two-factor requirement.
const (
	AuditOrgTwoFactorRequired    = "organization.two_factor_required"
	AuditOrgTwoFactorNotRequired = "organization.two_factor_not_required"
)

// MsgOwnerNeedsTwoFactor refuses a requirement the Owner does not meet.
const MsgOwnerNeedsTwoFactor = "Turn on two-step verification for your own account before requiring it."

// OrganizationUpdate lists the fields an update may change.
type OrganizationUpdate struct {
	Name *string
	// DisabledUserKeys may be changed by an Owner only.
	DisabledUserKeys *DisabledUserKeys
}

// ValidateOrganizationName returns a message for a bad organization name, or "".
func ValidateOrganizationName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "Organization name is required."
	case utf8.RuneCountInString(name) > 100:
		return "Organization name must be at most 100 characters."
	}
	return UnsafeTextMessage(name)
}

// Member is a user's membership in an organization.
type Member struct {
	User     *User
	Role     Role
	JoinedAt time.Time
	// TwoFactor says the member has a second factor.
	TwoFactor bool
}

// OrganizationService manages organizations. Every call acts as the user in
// the context and sees only that user's organizations: another
// organization's id is ENOTFOUND, a call without the role EFORBIDDEN.
type OrganizationService interface {
	// FindOrganizationByID returns an organization the acting user belongs
	// to, with their role. Returns ENOTFOUND otherwise.
	FindOrganizationByID(ctx context.Context, publicID string) (*Organization, error)

	// FindOrganizations returns the acting user's organizations by name.
	FindOrganizations(ctx context.Context) ([]*Organization, error)

	// CreateOrganization creates an organization with the acting user as its
	// Owner. Returns EINVALID, EUNAUTHORIZED.
	CreateOrganization(ctx context.Context, name string) (*Organization, error)

	// UpdateOrganization changes an organization; Admin or Owner, and
	// Owner for DisabledUserKeys. Returns ENOTFOUND, EFORBIDDEN, EINVALID.
	UpdateOrganization(ctx context.Context, publicID string, upd OrganizationUpdate) (*Organization, error)

	// SetRequireTwoFactor turns the organization's two-factor requirement
	// on or off; Owner only, and an Owner without a second factor cannot
	// turn it on. Returns ENOTFOUND, EFORBIDDEN, EINVALID (field
	// "require_two_factor").
	SetRequireTwoFactor(ctx context.Context, publicID string, require bool) (*Organization, error)

	// FindMembers lists an organization's members by name; Admin or Owner.
	// Returns ENOTFOUND, EFORBIDDEN.
	FindMembers(ctx context.Context, publicID string) ([]*Member, error)

	// DeleteOrganization deletes an organization and everything in it; Owner
	// only, and confirm must equal its name. Returns ENOTFOUND, EFORBIDDEN,
	// EINVALID.
	DeleteOrganization(ctx context.Context, publicID, confirm string) error
}
