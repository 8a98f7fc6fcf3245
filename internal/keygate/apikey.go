package keygate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Environment is what an API key is for.
type Environment string

// Environments, in the order forms list them.
const (
	EnvProduction  Environment = "production"
	EnvStaging     Environment = "staging"
	EnvDevelopment Environment = "development"
	EnvCI          Environment = "ci"
	EnvOther       Environment = "other"
)

// Environments lists every environment in form order.
var Environments = []Environment{EnvProduction, EnvStaging, EnvDevelopment, EnvCI, EnvOther}

// Valid reports whether e is a known environment.
func (e Environment) Valid() bool {
	for _, v := range Environments {
		if e == v {
			return true
		}
	}
	return false
}

// Label is the environment's name as people read it.
func (e Environment) Label() string {
	switch e {
	case EnvProduction:
		return "Production"
	case EnvStaging:
		return "Staging"
	case EnvDevelopment:
		return "Development"
	case EnvCI:
		return "CI/CD"
	case EnvOther:
		return "Other"
	}
	return string(e)
}

// Scope is a right an API key carries. Admin implies Write, Write implies
// Read.
type Scope string

// Scopes, from least to most powerful.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

// AllScopes lists every scope, least powerful first.
var AllScopes = []Scope{ScopeRead, ScopeWrite, ScopeAdmin}

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeWrite:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s.rank() > 0 }

// Label is the scope's name as people read it.
func (s Scope) Label() string {
	switch s {
	case ScopeRead:
		return "Read"
	case ScopeWrite:
		return "Write"
	case ScopeAdmin:
		return "Admin"
	}
	return string(s)
}

// Scopes is a set of scopes, kept closed under implication and ordered
// least powerful first.
type Scopes []Scope

// NewScopes returns the closure of the given scopes: with Admin come Write
// and Read, with Write comes Read. Unknown scopes are dropped.
func NewScopes(in ...Scope) Scopes {
	top := 0
	for _, s := range in {
		top = max(top, s.rank())
	}
	var out Scopes
	for _, s := range AllScopes {
		if s.rank() <= top {
			out = append(out, s)
		}
	}
	return out
}

// ParseScopes reads a comma-separated list as stored.
func ParseScopes(s string) Scopes {
	var in []Scope
	for _, p := range strings.Split(s, ",") {
		in = append(in, Scope(strings.TrimSpace(p)))
	}
	return NewScopes(in...)
}

// String is the stored form: "read,write".
func (ss Scopes) String() string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// Has reports whether the set grants s.
func (ss Scopes) Has(s Scope) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

// Top is the most powerful scope in the set, or "".
func (ss Scopes) Top() Scope {
	if len(ss) == 0 {
		return ""
	}
	return ss[len(ss)-1]
}

// Covers reports whether ss grants every scope of other.
func (ss Scopes) Covers(other Scopes) bool { return ss.Top().rank() >= other.Top().rank() }

// MaxScopeForRole is the most a key created by someone with role may carry.
func MaxScopeForRole(r Role) Scope {
	switch r {
	case RoleOwner, RoleAdmin:
		return ScopeAdmin
	case RoleMember:
		return ScopeRead
	}
	return ""
}

// APIKey is an organization's API key. Its secret is never stored: only its
// SHA-256 and a hint.
type APIKey struct {
	ID             int64
	PublicID       string // key_...
	OrganizationID int64
	Name           string
	Environment    Environment
	Scopes         Scopes
	Hint           string // kg_4Nf…8Zp
	Note           string

	// CreatedByID and CreatedByName are the person who created the key;
	// 0 and "" for a key created through the API (see CreatedBy) or by a
	// since deleted person.
	CreatedByID   int64
	CreatedByName string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ExpiresAt     *time.Time

	RevokedAt     *time.Time
	RevokedByID   int64
	RevokedByName string

	LastUsedAt        *time.Time
	LastUsedIP        string
	LastUsedUserAgent string

	// RateLimit is the key's own limit ("1000/h"); "" means the default.
	RateLimit string
	// ExposedAt is when the key was first seen over plain HTTP.
	ExposedAt *time.Time
	// ExposedURL is where a leak report found the key, ExposedSource who
	// reported it; both "" when nobody has.
	ExposedURL, ExposedSource string

	// Permissions are the organization's own permission names the key
	// holds besides its scopes (invoices:write), sorted.
	Permissions []string
	// AllowedIPs are the networks the key may be used from, as CIDRs
	// (203.0.113.0/24, 2001:db8::/32); none means anywhere.
	AllowedIPs []string

	// RolledFrom is the public id of the key this one replaced, if any.
	RolledFrom string
	// RolledTo is the public id of the key that replaced this one, if any.
	RolledTo string

	// CreatedBy is the person or API key that created the key; nil once
	// that person is deleted.
	CreatedBy *Creator
}

// CreatedByLabel names who created the key in full: the person's name, or
// `API key “CI” (key_…)` for a key created through the API; "" once the
// person is deleted.
func (k *APIKey) CreatedByLabel() string {
	if c := k.CreatedBy; c != nil && c.Type == CreatorKey {
		return "API key “" + c.Name + "” (" + c.PublicID + ")"
	}
	return k.CreatedByName
}

// KeyState is where a key stands at a moment.
type KeyState string

// Key states.
const (
	KeyActive  KeyState = "active"
	KeyExpired KeyState = "expired"
	KeyRevoked KeyState = "revoked"
)

// State returns the key's state at now.
func (k *APIKey) State(now time.Time) KeyState {
	switch {
	case k.RevokedAt != nil:
		return KeyRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return KeyExpired
	}
	return KeyActive
}

// APIKeyCreate is what creating a key takes.
type APIKeyCreate struct {
	Name        string
	Environment Environment
	Scopes      []Scope
	// ExpiresAt nil means the key never expires, unless DefaultExpiry
	// asks for the default lifetime.
	ExpiresAt *time.Time
	// DefaultExpiry gives a key created without ExpiresAt the default
	// lifetime, DefaultKeyLifetime.
	DefaultExpiry bool
	Note          string
	// Permissions are organization permission names to grant, each one
	// the organization defines.
	Permissions []string
	// AllowedIPs are the networks the key may be used from (addresses or
	// CIDRs); none means anywhere. Validate normalizes them.
	AllowedIPs []string
	// FormToken makes a create idempotent: a second create with the same
	// token creates nothing and returns ECONFLICT.
	FormToken string
}

// APIKeyUpdate lists what may change on a key. Scopes and expiry may not:
// roll the key instead.
type APIKeyUpdate struct {
	Name        *string
	Environment *Environment
	Note        *string
	// RateLimit is "" for the instance default or a limit like "600/m";
	// the web layer checks its syntax.
	RateLimit *string
	// AllowedIPs replaces the key's networks (addresses or CIDRs); an
	// empty list lets it be used from anywhere. Validate normalizes them.
	AllowedIPs *[]string
}

// APIKeyFilter narrows a listing of keys.
type APIKeyFilter struct {
	OrgPublicID string // org_..., required
	Query       string // name contains, case-insensitive
	Environment Environment
	State       KeyState // "" means active
	// Sort orders the listing: "created" (also ""), "name"
	// (case-insensitive), "last_used" (never used counts as oldest) or
	// "expires" (never expiring counts as latest). Ascending turns the
	// order around from newest, last or latest first.
	Sort          string
	Ascending     bool
	Offset, Limit int
	// Page walks the keys by cursor, newest first (FindAPIKeyPage, which
	// ignores Sort, Offset and Limit).
	Page Page
}

// Limits of API key fields.
const (
	APIKeyNameMax = 100
	APIKeyNoteMax = 1000
)

// DefaultKeyLifetimeDays is how long a key lives when its creator does not
// choose (the dashboard's preselected choice, the API's omitted
// expires_at), until an organization policy says otherwise.
const DefaultKeyLifetimeDays = 90

// DefaultKeyLifetime is DefaultKeyLifetimeDays as a duration.
const DefaultKeyLifetime = DefaultKeyLifetimeDays * 24 * time.Hour

// Validate checks the fields of a create and returns every problem at once.
func (c *APIKeyCreate) Validate(now time.Time) *ValidationErrors {
	var v ValidationErrors
	c.Name = strings.TrimSpace(c.Name)
	c.Note = strings.TrimSpace(c.Note)
	validateKeyName(&v, c.Name)
	if !c.Environment.Valid() {
		v.Add("environment", "Choose an environment.")
	}
	if len(c.Scopes) == 0 {
		v.Add("scopes", "Choose at least one scope.")
	}
	for _, s := range c.Scopes {
		if !s.Valid() {
			v.Add("scopes", "Unknown scope.")
		}
	}
	if c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
		v.Add("expiration", "The expiration date must be in the future.")
	}
	validateKeyNote(&v, c.Note)
	if ips, msg := NormalizeAllowedIPs(c.AllowedIPs); msg != "" {
		v.Add("allowed_ips", msg)
	} else {
		c.AllowedIPs = ips
	}
	return &v
}

func validateKeyName(v *ValidationErrors, name string) {
	if name == "" {
		v.Add("name", "Name is required.")
	} else if utf8.RuneCountInString(name) > APIKeyNameMax {
		v.Add("name", "Name must be at most 100 characters.")
	} else if msg := UnsafeTextMessage(name); msg != "" {
		v.Add("name", msg)
	}
}

func validateKeyNote(v *ValidationErrors, note string) {
	if utf8.RuneCountInString(note) > APIKeyNoteMax {
		v.Add("note", "Note must be at most 1000 characters.")
	}
}

// Validate checks the fields of an update.
func (u *APIKeyUpdate) Validate() *ValidationErrors {
	var v ValidationErrors
	if u.Name != nil {
		*u.Name = strings.TrimSpace(*u.Name)
		validateKeyName(&v, *u.Name)
	}
	if u.Environment != nil && !u.Environment.Valid() {
		v.Add("environment", "Choose an environment.")
	}
	if u.Note != nil {
		*u.Note = strings.TrimSpace(*u.Note)
		validateKeyNote(&v, *u.Note)
	}
	if u.AllowedIPs != nil {
		if ips, msg := NormalizeAllowedIPs(*u.AllowedIPs); msg != "" {
			v.Add("allowed_ips", msg)
		} else {
			*u.AllowedIPs = ips
		}
	}
	return &v
}

// DefaultMaxKeysPerOrg is how many active keys (neither revoked nor
// expired) an organization may hold unless --max-keys-per-org says
// otherwise.
const DefaultMaxKeysPerOrg = 1000

// ErrKeyLimit is in the chain of the EINVALID error of a create or roll
// that would take an organization past its limit of active keys; the API
// reports it with the code key_limit_reached.
var ErrKeyLimit = errors.New("api key limit reached")

// KeyLimitError is the error of an organization at its limit of limit
// active keys.
func KeyLimitError(limit int) error {
	return fmt.Errorf("%w: %w", ErrKeyLimit, Errorf(EINVALID,
		"This organization has reached its limit of %d active API keys. Revoke keys it no longer needs before creating more.", limit))
}

// Grace periods a rolled key's predecessor may keep working for.
var RollGracePeriods = []time.Duration{0, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// APIKeyService manages an organization's API keys. Every method acts as
// the user in the context, who must be an Admin or Owner of the
// organization: another organization's key is ENOTFOUND, a Member gets
// EFORBIDDEN. Each change and its audit event are written in one
// transaction.
type APIKeyService interface {
	// CreateAPIKey creates a key and returns it with its secret, which
	// exists nowhere else. Returns EINVALID (with ErrKeyLimit in its chain
	// when the organization is at its limit of active keys), ENOTFOUND,
	// EFORBIDDEN, and ECONFLICT when FormToken was already used.
	CreateAPIKey(ctx context.Context, orgID string, in *APIKeyCreate) (*APIKey, string, error)

	// FindAPIKeys lists keys in the filter's order (newest first unless
	// it says otherwise), with the total that match.
	// Returns ENOTFOUND, EFORBIDDEN.
	FindAPIKeys(ctx context.Context, filter APIKeyFilter) ([]*APIKey, int, error)

	// FindAPIKeyPage lists one page of keys newest first, by the cursor
	// of filter.Page; hasMore says whether keys lie beyond the page in
	// the direction walked (older after Page.After or from the start,
	// newer before Page.Before). Returns ENOTFOUND, EFORBIDDEN.
	FindAPIKeyPage(ctx context.Context, filter APIKeyFilter) (keys []*APIKey, hasMore bool, err error)

	// FindAPIKeyByID returns one key. Returns ENOTFOUND, EFORBIDDEN.
	FindAPIKeyByID(ctx context.Context, orgID, keyID string) (*APIKey, error)

	// UpdateAPIKey changes a key's name, environment or note. Returns
	// EINVALID, ENOTFOUND, EFORBIDDEN, and EINVALID for a revoked key.
	UpdateAPIKey(ctx context.Context, orgID, keyID string, upd APIKeyUpdate) (*APIKey, error)

	// RevokeAPIKey revokes a key at once and for good. Returns ENOTFOUND,
	// EFORBIDDEN, EINVALID if already revoked.
	RevokeAPIKey(ctx context.Context, orgID, keyID string) (*APIKey, error)

	// RollAPIKey creates a key with the same name, environment and scopes,
	// and lets the old key live for grace (one of RollGracePeriods; 0
	// revokes it now). Returns the new key, its secret and the old key.
	// Returns EINVALID (grace, inactive key, and ErrKeyLimit when a grace
	// period would take the organization past its limit of active keys),
	// ENOTFOUND, EFORBIDDEN, and ECONFLICT when formToken was already used.
	RollAPIKey(ctx context.Context, orgID, keyID string, grace time.Duration, formToken string) (*APIKey, string, *APIKey, error)
}
