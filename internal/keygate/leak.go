package keygate

import "context"

// LeakPolicy says what happens to an organization's key when someone
// reports it leaked; the organization's Owners and Admins are told in any
// case.
type LeakPolicy string

// Leak policies.
const (
	// LeakPolicyNotify only tells the Owners and Admins (the default).
	LeakPolicyNotify LeakPolicy = "notify"
	// LeakPolicyReadOnly also takes the key down to the read scope and
	// removes its organization permissions.
	LeakPolicyReadOnly LeakPolicy = "read_only"
	// LeakPolicyRevoke also revokes the key.
	LeakPolicyRevoke LeakPolicy = "revoke"
)

// LeakPolicies lists the policies in the order the settings offer them.
var LeakPolicies = []LeakPolicy{LeakPolicyNotify, LeakPolicyReadOnly, LeakPolicyRevoke}

// Valid reports whether p is one of LeakPolicies.
func (p LeakPolicy) Valid() bool {
	return p == LeakPolicyNotify || p == LeakPolicyReadOnly || p == LeakPolicyRevoke
}

// Label is the policy as the settings page names it.
func (p LeakPolicy) Label() string {
	switch p {
	case LeakPolicyReadOnly:
		return "Make the key read-only"
	case LeakPolicyRevoke:
		return "Revoke the key"
	}
	return "Notify the Owners and Admins"
}

// Audit actions of leak reports.
const (
	// AuditAPIKeyLeakReported: someone reported the key found in public;
	// the actor name says who (the report's source).
	AuditAPIKeyLeakReported = "api_key.leak_reported"
	// AuditAPIKeyMadeReadOnly: the leak policy took a reported key down
	// to the read scope.
	AuditAPIKeyMadeReadOnly = "api_key.made_read_only"
	// AuditOrganizationLeakPolicy: an Owner or Admin changed the policy.
	AuditOrganizationLeakPolicy = "organization.leak_policy_changed"
)

// Limits of a leak report's fields, in bytes; longer ones are cut.
const (
	MaxLeakURLLen    = 2048
	MaxLeakSourceLen = 200
)

// LeakReport is one key someone found in public.
type LeakReport struct {
	// Hash is the SHA-256 of the presented key (apikey.Hash): keys are
	// found by hash, never by comparing secrets.
	Hash [32]byte
	// URL is where the key was found; Source who found it ("GitHub",
	// "keygate scan").
	URL, Source string
}

// LeakedKey is what a report found and did, for telling the people who
// look after the key.
type LeakedKey struct {
	OrgPublicID, OrgName string
	KeyPublicID, KeyName string
	Hint                 string
	URL, Source          string
	// Policy is the organization's policy, applied unless the key was
	// already revoked (WasRevoked).
	Policy     LeakPolicy
	WasRevoked bool
	// New is false when the key had already been reported at this URL:
	// nobody is told twice.
	New bool
	// Recipients are the emails of the organization's Owners and Admins.
	Recipients []string
}

// LeakService takes leak reports and keeps each organization's policy.
type LeakService interface {
	// ReportLeak marks the key exposed at the report's URL and applies its
	// organization's policy, with audit events. It acts as nobody: anyone
	// who holds a key may report it. Returns ENOTFOUND for no such key.
	ReportLeak(ctx context.Context, report LeakReport) (*LeakedKey, error)

	// SetLeakPolicy changes an organization's policy; Admin or Owner.
	// Returns ENOTFOUND, EFORBIDDEN, EINVALID.
	SetLeakPolicy(ctx context.Context, orgPublicID string, p LeakPolicy) (*Organization, error)
}
