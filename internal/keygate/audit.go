package keygate

import (
	"context"
	"time"
)

// Audit actions.
const (
	AuditSignup             = "user.signup"
	AuditLogin              = "user.login"
	AuditLoginFailed        = "user.login_failed"
	AuditLogout             = "user.logout"
	AuditProfileUpdated     = "user.profile_updated"
	AuditPasswordChanged    = "user.password_changed"
	AuditSessionRevoked     = "user.session_revoked"
	AuditOrganizationCreate = "organization.create"
	AuditOrganizationUpdate = "organization.update"
	AuditOrganizationDelete = "organization.delete"
)

// AuditEvent records who did what, to what, from where and when. It never
// holds a secret.
type AuditEvent struct {
	ID             int64
	OrganizationID int64 // 0 for events outside an organization
	ActorUserID    int64 // 0 when no user acted
	ActorName      string
	Action         string
	TargetType     string
	TargetID       string
	TargetName     string
	IP             string
	UserAgent      string
	CreatedAt      time.Time
}

// AuditFilter narrows a search of the audit log.
type AuditFilter struct {
	OrgPublicID   string // org_...
	Action        string
	ActorID       string // usr_...
	Offset, Limit int
}

// AuditService reads the audit log. Writes happen inside the transactions of
// the changes they record.
type AuditService interface {
	// FindAuditEvents returns an organization's events, newest first, and
	// the total matching. Admin or Owner. Returns ENOTFOUND, EFORBIDDEN.
	FindAuditEvents(ctx context.Context, filter AuditFilter) ([]*AuditEvent, int, error)
}

// Audit actions on API keys.
const (
	AuditAPIKeyCreate = "api_key.create"
	AuditAPIKeyRoll   = "api_key.roll"
	AuditAPIKeyRevoke = "api_key.revoke"
	AuditAPIKeyUpdate = "api_key.update"
	// AuditAPIKeyExposed: the key arrived over plain HTTP.
	AuditAPIKeyExposed = "api_key.exposed"
)

// AuditActions lists every action, for the audit log's filter.
var AuditActions = []string{
	AuditAPIKeyCreate, AuditAPIKeyRoll, AuditAPIKeyRevoke, AuditAPIKeyUpdate, AuditAPIKeyExposed,
	AuditAPIKeyLeakReported, AuditAPIKeyMadeReadOnly, AuditOrganizationLeakPolicy, AuditOrganizationKeyPolicy,
	AuditLogin, AuditLoginFailed, AuditLogout, AuditSignup, AuditProfileUpdated, AuditPasswordChanged, AuditSessionRevoked,
	AuditPasswordResetRequested, AuditPasswordResetLink, AuditPasswordReset, AuditEmailChanged,
	AuditOrganizationCreate, AuditOrganizationUpdate, AuditOwnershipTransfer,
	AuditInvite, AuditInviteRevoke, AuditJoin, AuditRoleChange, AuditMemberRemove, AuditMemberLeave,
	AuditOrganizationPlan, AuditUserDisable, AuditUserEnable,
	AuditIntegrationSave, AuditIntegrationDelete,
	AuditWebhookCreate, AuditWebhookUpdate, AuditWebhookDelete, AuditWebhookSecretRoll,
	AuditPermissionCreated, AuditPermissionDeleted,
	AuditLoginSSO, AuditIdentityLink, AuditIdentityUnlink,
	AuditOrgSSOSave, AuditOrgSSODelete, AuditSSODomainVerify, AuditLoginSSORefused,
	AuditOrgTwoFactorRequired, AuditOrgTwoFactorNotRequired,
	AuditBotLeave, AuditBotDelete, AuditConversationDelete,
	AuditTwoFactorEnabled, AuditTwoFactorDisabled, AuditRecoveryCodesRenewed, AuditRecoveryCodeUsed, AuditTwoFactorResetByAdmin,
}
