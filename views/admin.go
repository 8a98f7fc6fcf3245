package views

// AdminOverview is the front page of the instance administration.
type AdminOverview struct {
	Organizations int
	Free          int
	Professional  int
	Enterprise    int
	Users         int
	DisabledUsers int
	Superusers    int
	ActiveKeys    int
	// PendingDomains counts single sign-on domains waiting for
	// verification, shown when ShowDomains.
	PendingDomains int
	ShowDomains    bool
}

// AdminOrgRow is one organization in the admin list.
type AdminOrgRow struct {
	ID         string
	Name       string
	Members    int
	ActiveKeys int
	Plan       string // free, professional, enterprise
	PlanLabel  string
	Created    Time
	PlanAction string // where the plan form posts
}

// AdminOrgs lists every organization with a plan form each.
type AdminOrgs struct {
	Orgs  []AdminOrgRow
	Plans []Option
}

// AdminUserRow is one user in the admin list.
type AdminUserRow struct {
	ID          string
	Name        string
	Email       string
	Orgs        []string // "Acme (Owner)"
	IsSuperuser bool
	Disabled    bool
	IsYou       bool
	Created     Time
	// ConfirmURL shows the list with this user's Disable or Enable
	// confirmation open: it works without JavaScript.
	ConfirmURL string
	// ResetTwoFactorURL opens the confirmation of a reset of the user's
	// two-step verification; "" when it is off.
	ResetTwoFactorURL string
}

// AdminConfirm is a confirmation dialog the server opens.
type AdminConfirm struct {
	Title     string
	Question  string
	Action    string
	Button    string
	CancelURL string
	Danger    bool
}

// AdminUsers lists every user, and maybe a confirmation to answer.
type AdminUsers struct {
	Users   []AdminUserRow
	Confirm *AdminConfirm
}

// AdminSettings is the form of the instance settings. The options'
// empty value means "use the flag".
type AdminSettings struct {
	Form        Form
	SignupModes []Option
	Plans       []Option
}
