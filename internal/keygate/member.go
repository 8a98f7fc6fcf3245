package keygate

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Audit actions on memberships.
const (
	AuditInvite            = "membership.invite"
	AuditInviteRevoke      = "membership.invite_revoke"
	AuditJoin              = "membership.join"
	AuditRoleChange        = "membership.role_change"
	AuditMemberRemove      = "membership.remove"
	AuditMemberLeave       = "membership.leave"
	AuditOwnershipTransfer = "organization.transfer"
)

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// ErrInvitationPending is in the chain of the ECONFLICT error of an
// invitation to an email that already has a pending one: the first link
// keeps working, with its role, until it is used, revoked or expires.
var ErrInvitationPending = errors.New("invitation pending")

// InvitationPendingError is the error of an invitation to email, which
// already has a pending invitation as role. Its message is also the email
// field's.
func InvitationPendingError(email string, role Role) error {
	msg := email + " already has a pending invitation as " + role.Label() + ". Resend it, or revoke it first."
	return fmt.Errorf("%w: %w", ErrInvitationPending, &Error{Code: ECONFLICT, Message: msg, Fields: map[string]string{"email": msg}})
}

// Invitation asks someone, by email, to join an organization with a role.
// Its token is stored hashed and shown once.
type Invitation struct {
	ID               int64
	PublicID         string // inv_...
	OrganizationID   int64
	OrganizationName string
	OrgPublicID      string
	Email            string
	Role             Role
	// InvitedByName names who invited: a person, or for an invitation made
	// through the API, the key ("API key “CI” (key_…)").
	InvitedByName string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	AcceptedAt    *time.Time
	RevokedAt     *time.Time
}

// Pending reports whether the invitation can still be accepted at now.
func (i *Invitation) Pending(now time.Time) bool {
	return i.AcceptedAt == nil && i.RevokedAt == nil && now.Before(i.ExpiresAt)
}

// Usable returns nil if the invitation can be accepted at now, or else an
// EINVALID error that tells the person why not.
func (i *Invitation) Usable(now time.Time) error {
	switch {
	case i.AcceptedAt != nil:
		return Errorf(EINVALID, "This invitation has already been used.")
	case i.RevokedAt != nil:
		return Errorf(EINVALID, "This invitation was revoked. Ask for a new one.")
	case !now.Before(i.ExpiresAt):
		return Errorf(EINVALID, "This invitation has expired. Ask for a new one.")
	}
	return nil
}

// MemberDetail is a member as the Members page shows them.
type MemberDetail struct {
	Member
	SignIn     string // "Password", "SSO", ...
	LastActive *time.Time
	ActiveKeys int // active keys they created in this organization
	// OrgSSO says they have an identity at the organization's own single
	// sign-on provider, through which they need no factor of Keygate's.
	OrgSSO bool
}

// MembershipService manages who belongs to an organization. Calls act as
// the user (or admin-scoped API key) in the context: another organization is
// ENOTFOUND; without Admin or Owner, EFORBIDDEN.
type MembershipService interface {
	// FindMemberDetails lists members with how they sign in and their
	// last activity. Admin or Owner.
	FindMemberDetails(ctx context.Context, orgID string) ([]*MemberDetail, error)

	// Invite creates an invitation and returns it with its token, which
	// exists nowhere else. An Admin cannot invite an Owner. Returns
	// EINVALID (field "email" or "role"), ECONFLICT if already a member,
	// and ECONFLICT with ErrInvitationPending in its chain while the email
	// has a pending invitation.
	Invite(ctx context.Context, orgID, email string, role Role) (*Invitation, string, error)

	// ResendInvitation replaces a pending invitation's token (the old link
	// stops working) and renews its expiry. Returns the new token.
	ResendInvitation(ctx context.Context, orgID, invitationID string) (*Invitation, string, error)

	// RevokeInvitation cancels a pending invitation.
	RevokeInvitation(ctx context.Context, orgID, invitationID string) error

	// FindInvitations lists pending invitations, newest first.
	FindInvitations(ctx context.Context, orgID string) ([]*Invitation, error)

	// FindInvitationByToken returns the invitation a link names, for the
	// accept page; it acts for nobody. Returns ENOTFOUND for an unknown
	// token, EINVALID (with a message) for one used, revoked or expired.
	FindInvitationByToken(ctx context.Context, token string) (*Invitation, error)

	// AcceptInvitation makes the acting user a member with the invited
	// role. Returns EFORBIDDEN when the user's email is not the invited one,
	// EINVALID when the invitation is no longer valid.
	AcceptInvitation(ctx context.Context, token string) (*Invitation, error)

	// ChangeRole sets a member's role. An Admin cannot grant Owner or change
	// an Owner; the last Owner cannot be demoted.
	ChangeRole(ctx context.Context, orgID, userID string, role Role) error

	// RemoveMember removes a member, optionally revoking the active keys
	// they created. The last Owner cannot be removed. Returns how many keys
	// were revoked.
	RemoveMember(ctx context.Context, orgID, userID string, revokeKeys bool) (int, error)

	// FindMemberAPIKeys lists every active key a member created, newest
	// first, without a cap: the keys RemoveMember revokes when asked.
	// Admin or Owner. Returns ENOTFOUND, EFORBIDDEN.
	FindMemberAPIKeys(ctx context.Context, orgID, userID string) ([]*APIKey, error)

	// LeaveOrganization removes the acting user; the last Owner cannot
	// leave.
	LeaveOrganization(ctx context.Context, orgID string) error

	// TransferOwnership makes another member an Owner and the acting Owner
	// an Admin. Owner only.
	TransferOwnership(ctx context.Context, orgID, userID string) error
}
