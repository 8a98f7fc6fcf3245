package keygate

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KeyPolicy is what an organization asks of its API keys. The zero value
// asks nothing and notifies on exposure.
type KeyPolicy struct {
	// MaxLifetimeDays is the longest a key may live from its creation (or
	// roll), one of KeyLifetimeChoices; 0 is no limit.
	MaxLifetimeDays int
	// NoteRequired asks for a note on every key.
	NoteRequired bool
	// RevokeUnusedDays revokes a key unused (last used, or created if
	// never used) for that many days, one of KeyUnusedChoices; 0 never.
	RevokeUnusedDays int
	// Leak is what happens to a key reported leaked or sent over plain
	// HTTP.
	Leak LeakPolicy
}

// Choices of the key policy, in the order the settings offer them.
var (
	KeyLifetimeChoices = []int{30, 90, 180, 365}
	KeyUnusedChoices   = []int{30, 60, 90, 180}
)

// UnusedKeyNotice is how long before the key policy revokes an unused key
// the people who look after it are emailed.
const UnusedKeyNotice = 7 * 24 * time.Hour

// Messages of the key policy.
const (
	MsgKeyNoteRequired = "Your organization's key policy requires a note on every key."
	// KeyPolicyActor names the key policy in the audit log when it acts.
	KeyPolicyActor = "Key policy"
)

// Audit actions of the key policy.
const (
	// AuditOrganizationKeyPolicy: an Owner or Admin changed the key
	// policy; the target name says what changed.
	AuditOrganizationKeyPolicy = "organization.key_policy_changed"
)

// MaxLifetime is MaxLifetimeDays as a duration; 0 for no limit.
func (p KeyPolicy) MaxLifetime() time.Duration {
	return time.Duration(p.MaxLifetimeDays) * 24 * time.Hour
}

// LifetimeMessage is the message of a key that would live longer than
// the policy allows.
func (p KeyPolicy) LifetimeMessage() string {
	return "Your organization's key policy allows keys to live at most " + strconv.Itoa(p.MaxLifetimeDays) + " days."
}

// expirySlack forgives a form's "30 days" read on a clock a moment
// before the transaction's, which stores time to the millisecond.
const expirySlack = time.Minute

// ExpiryAllowed reports whether a key expiring at expires (nil: never)
// and created at now keeps to the maximum lifetime.
func (p KeyPolicy) ExpiryAllowed(expires *time.Time, now time.Time) bool {
	if p.MaxLifetimeDays == 0 {
		return true
	}
	return expires != nil && !expires.After(now.Add(p.MaxLifetime()+expirySlack))
}

// CheckCreate adds to v how a key about to be created at now breaks the
// policy: its expiry beside "expiration", its note beside "note".
func (p KeyPolicy) CheckCreate(in *APIKeyCreate, now time.Time, v *ValidationErrors) {
	if !p.ExpiryAllowed(in.ExpiresAt, now) {
		v.Add("expiration", p.LifetimeMessage())
	}
	if p.NoteRequired && strings.TrimSpace(in.Note) == "" {
		v.Add("note", MsgKeyNoteRequired)
	}
}

// Validate checks the policy's choices, each beside its field.
func (p KeyPolicy) Validate() *ValidationErrors {
	var v ValidationErrors
	if p.MaxLifetimeDays != 0 && !slices.Contains(KeyLifetimeChoices, p.MaxLifetimeDays) {
		v.Add("max_lifetime_days", "Choose a maximum lifetime from the list.")
	}
	if p.RevokeUnusedDays != 0 && !slices.Contains(KeyUnusedChoices, p.RevokeUnusedDays) {
		v.Add("revoke_unused_days", "Choose after how long unused keys are revoked from the list.")
	}
	if !p.Leak.Valid() {
		v.Add("leak_policy", "Choose what happens to an exposed key.")
	}
	return &v
}

// DaysLabel is n days in words, or none when n is 0.
func DaysLabel(n int, none string) string {
	if n == 0 {
		return none
	}
	return strconv.Itoa(n) + " days"
}

// Changes says in words what differs from old to p ("maximum lifetime 90
// days, note required"), "" when nothing does.
func (p KeyPolicy) Changes(old KeyPolicy) string {
	var out []string
	if p.MaxLifetimeDays != old.MaxLifetimeDays {
		out = append(out, "maximum lifetime "+DaysLabel(p.MaxLifetimeDays, "no limit"))
	}
	if p.NoteRequired != old.NoteRequired {
		if p.NoteRequired {
			out = append(out, "note required")
		} else {
			out = append(out, "note optional")
		}
	}
	if p.RevokeUnusedDays != old.RevokeUnusedDays {
		out = append(out, "unused keys revoked after "+DaysLabel(p.RevokeUnusedDays, "never"))
	}
	if p.Leak != old.Leak {
		out = append(out, "exposed keys: "+strings.ToLower(p.Leak.Label()))
	}
	return strings.Join(out, ", ")
}

// Breaches lists how an active key breaks the policy at now: "no-expiry",
// "expiry" (later than the maximum from now) and "note".
func (p KeyPolicy) Breaches(k *APIKey, now time.Time) []string {
	var out []string
	if p.MaxLifetimeDays > 0 {
		if k.ExpiresAt == nil {
			out = append(out, "no-expiry")
		} else if k.ExpiresAt.After(now.Add(p.MaxLifetime())) {
			out = append(out, "expiry")
		}
	}
	if p.NoteRequired && strings.TrimSpace(k.Note) == "" {
		out = append(out, "note")
	}
	return out
}

// UnusedKeyWarning tells the people who look after a key that the key
// policy will revoke it.
type UnusedKeyWarning struct {
	OrgPublicID, OrgName string
	KeyPublicID, KeyName string
	Hint                 string
	// LastUsedAt is nil for a key never used.
	LastUsedAt *time.Time
	RevokeAt   time.Time
	// Days is the policy's RevokeUnusedDays.
	Days int
	// Recipients are the emails of those who want it by email: the key's
	// creator and the organization's Owners and Admins, each once.
	Recipients []string
}

// Title is the warning's one line, the bell's text and the email's
// subject.
func (w *UnusedKeyWarning) Title() string {
	return "API key “" + w.KeyName + "” will be revoked for disuse"
}

// KeyPolicySweep is what one run of the unused-keys job did.
type KeyPolicySweep struct {
	Warned  []UnusedKeyWarning
	Revoked int
}

// KeyPolicyService keeps each organization's key policy.
type KeyPolicyService interface {
	// KeyPolicy returns the organization's policy; Admin or Owner.
	// Returns ENOTFOUND, EFORBIDDEN.
	KeyPolicy(ctx context.Context, orgPublicID string) (*KeyPolicy, error)

	// SetKeyPolicy changes the policy, with an audit event naming what
	// changed; Admin or Owner. Keys are not changed. Returns ENOTFOUND,
	// EFORBIDDEN, EINVALID.
	SetKeyPolicy(ctx context.Context, orgPublicID string, p KeyPolicy) (*KeyPolicy, error)

	// FindKeysBreakingPolicy lists the active keys that break the policy,
	// newest first. Returns ENOTFOUND, EFORBIDDEN.
	FindKeysBreakingPolicy(ctx context.Context, orgPublicID string) ([]*APIKey, *KeyPolicy, error)

	// SetPolicyExpiry makes an active key expire at the policy's maximum
	// lifetime from now, if that is sooner. Returns ENOTFOUND, EFORBIDDEN,
	// and EINVALID when the policy has no maximum or the key is inactive.
	SetPolicyExpiry(ctx context.Context, orgPublicID, keyID string) (*APIKey, error)

	// SweepUnusedKeys warns of keys that the policy will revoke within
	// UnusedKeyNotice, once, and revokes those whose notice has run out.
	// It acts as the key policy, for every organization.
	SweepUnusedKeys(ctx context.Context) (*KeyPolicySweep, error)
}
