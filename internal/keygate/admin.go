package keygate

import "context"

// Plan is what an organization is entitled to. API access needs
// Professional or higher.
type Plan string

// Plans, from least to most.
const (
	PlanFree         Plan = "free"
	PlanProfessional Plan = "professional"
	PlanEnterprise   Plan = "enterprise"
)

// Plans lists every plan in order.
var Plans = []Plan{PlanFree, PlanProfessional, PlanEnterprise}

// DefaultPlan is the plan of new organizations when neither the
// --default-plan flag nor an instance setting says otherwise.
const DefaultPlan = PlanProfessional

// Valid reports whether p is a known plan.
func (p Plan) Valid() bool {
	switch p {
	case PlanFree, PlanProfessional, PlanEnterprise:
		return true
	}
	return false
}

// Label is the plan's name as people read it.
func (p Plan) Label() string {
	switch p {
	case PlanFree:
		return "Free"
	case PlanProfessional:
		return "Professional"
	case PlanEnterprise:
		return "Enterprise"
	}
	return string(p)
}

// IncludesAPI reports whether the plan's API keys may call the API. An
// unknown plan does not: access is granted, never assumed.
func (p Plan) IncludesAPI() bool { return p == PlanProfessional || p == PlanEnterprise }

// DisabledUserKeys says what happens to the API keys of a user who has been
// disabled: they stop working (the default) or keep working.
type DisabledUserKeys string

// What happens to a disabled user's keys.
const (
	DisabledUserKeysStop DisabledUserKeys = "stop"
	DisabledUserKeysKeep DisabledUserKeys = "keep"
)

// Valid reports whether d is a known choice.
func (d DisabledUserKeys) Valid() bool { return d == DisabledUserKeysStop || d == DisabledUserKeysKeep }

// Label is the choice as the settings page words it.
func (d DisabledUserKeys) Label() string {
	if d == DisabledUserKeysKeep {
		return "Keep working"
	}
	return "Stop working"
}

// Signup modes: who may create an account.
const (
	SignupOpen   = "open"
	SignupInvite = "invite"
	SignupClosed = "closed"
)

// ValidSignupMode reports whether mode is open, invite or closed.
func ValidSignupMode(mode string) bool {
	return mode == SignupOpen || mode == SignupInvite || mode == SignupClosed
}

// Audit actions of the instance administration.
const (
	AuditUserDisable      = "user.disable"
	AuditUserEnable       = "user.enable"
	AuditOrganizationPlan = "organization.plan"
	// AuditInstanceSettings is recorded outside any organization.
	AuditInstanceSettings = "instance.settings"
)

// AdminOverview counts what the instance holds.
type AdminOverview struct {
	Organizations int
	// ByPlan counts organizations per plan.
	ByPlan        map[Plan]int
	Users         int
	DisabledUsers int
	Superusers    int
	// ActiveKeys counts keys neither revoked nor expired.
	ActiveKeys int
}

// AdminOrganization is an organization as the admin area lists it.
type AdminOrganization struct {
	Organization *Organization // Role is unset: the superuser need not belong to it
	Members      int
	ActiveKeys   int
}

// AdminUser is a user as the admin area lists it.
type AdminUser struct {
	User *User
	// Organizations are the user's, each with the user's Role in it.
	Organizations []*Organization
}

// InstanceSettings are the settings a superuser changes at run time. An
// empty field means "no override": the command-line flag decides.
type InstanceSettings struct {
	SignupMode  string // "", open, invite or closed; overrides --signup
	DefaultPlan Plan   // "" or a plan; overrides --default-plan

	// FlagSignupMode and FlagDefaultPlan are the flags' values, which apply
	// where no override is set. Read only.
	FlagSignupMode  string
	FlagDefaultPlan Plan
}

// AdminService is the instance administration. Every method returns
// EFORBIDDEN unless the acting user is an enabled superuser; the web layer
// answers that with a 404, so the area is not advertised.
type AdminService interface {
	// Overview counts organizations, users and keys. Returns EFORBIDDEN.
	Overview(ctx context.Context) (*AdminOverview, error)

	// ListOrganizations lists every organization by name, with member and
	// active key counts. Returns EFORBIDDEN.
	ListOrganizations(ctx context.Context) ([]*AdminOrganization, error)

	// SetPlan changes an organization's plan; its keys see the change at
	// their next request. Returns EFORBIDDEN, ENOTFOUND, EINVALID.
	SetPlan(ctx context.Context, orgPublicID string, plan Plan) (*Organization, error)

	// ListUsers lists every user by name, with their organizations.
	// Returns EFORBIDDEN.
	ListUsers(ctx context.Context) ([]*AdminUser, error)

	// DisableUser disables a user: their sessions end at once, they cannot
	// log in, and the keys they created stop working unless their
	// organization keeps them. Disabling a disabled user changes nothing.
	// Returns EFORBIDDEN, ENOTFOUND, and EINVALID for the acting user.
	DisableUser(ctx context.Context, userPublicID string) (*User, error)

	// EnableUser lets a disabled user log in again. Enabling an enabled
	// user changes nothing. Returns EFORBIDDEN, ENOTFOUND.
	EnableUser(ctx context.Context, userPublicID string) (*User, error)

	// Settings returns the instance settings. Returns EFORBIDDEN.
	Settings(ctx context.Context) (*InstanceSettings, error)

	// SetSettings saves SignupMode and DefaultPlan (the flag fields are
	// ignored). Returns EFORBIDDEN, EINVALID (with field messages).
	SetSettings(ctx context.Context, in InstanceSettings) (*InstanceSettings, error)
}
