package views

import (
	"fmt"
	"math"
	"time"
)

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// KeyForm is the create-key form with its one-time token.
type KeyForm struct {
	Form         Form
	Token        string
	Action       string
	CancelURL    string
	Scopes       map[string]bool
	Expiration   string // 7, 30, 60, 90, custom, none
	Environments []Option
	MinDate      string // earliest custom date, YYYY-MM-DD
}

// ExpirationOptions are the choices of the expiration select.
var ExpirationOptions = []Option{
	{"7", "7 days"}, {"30", "30 days"}, {"60", "60 days"}, {"90", "90 days"},
	{"custom", "Custom date"}, {"none", "No expiration"},
}

// ScopeOptions are the scope checkboxes with what each allows.
var ScopeOptions = []struct{ Value, Label, Help string }{
	{"read", "Read", "View bots, conversations and analytics."},
	{"write", "Write", "Create and change bots and conversations. Includes Read."},
	{"admin", "Admin", "Full access, including keys and members. Includes Write and Read."},
}

// APIKeyRow is one key in the list.
type APIKeyRow struct {
	ID             string
	Name           string
	Env            string
	EnvLabel       string
	Scopes         []Option
	Hint           string
	CreatedBy      string
	Created        Time
	LastUsed       Time
	LastUsedIP     string
	Expiry         string
	ExpirySoon     bool
	State          string // active, expired, revoked
	RevokedBy      string
	Revoked        Time
	URL            string
	RollURL        string
	RevokeURL      string
	RevokeQuestion string
	Exposed        bool
}

// CreatedKey is the secret shown once, in the "API Key Created" modal.
type CreatedKey struct {
	Name       string
	Secret     string
	Curl       string
	ReturnURL  string
	OldKeyNote string // set after a roll
}

// Pagination links pages of a list.
type Pagination struct {
	Page, Pages int
	Total       int
	PrevURL     string
	NextURL     string
}

// APIKeysPage is the API Keys list.
type APIKeysPage struct {
	Keys       []APIKeyRow
	Query      string
	Env        string
	State      string
	States     []Option
	Pagination Pagination
	Create     KeyForm
	OpenCreate bool
	Created    *CreatedKey
	NewURL     string
	ListURL    string
	Roll       RollForm
	// PlanNotice, if set, says the organization's plan has no API access.
	PlanNotice string
}

// RollForm is the choice of grace period when rolling a key.
type RollForm struct {
	KeyName   string
	Action    string
	Token     string
	Grace     string
	Error     string
	CancelURL string
}

// GraceOptions are the grace periods of a roll.
var GraceOptions = []Option{
	{"0", "Now: revoke the old key immediately"}, {"1h", "1 hour"}, {"24h", "24 hours"}, {"168h", "7 days"},
}

// APIKeyDetail is one key's page: details and the edit form.
type APIKeyDetail struct {
	Key                       APIKeyRow
	Note                      string
	Form                      Form
	Envs                      []Option
	Editable                  bool
	ListURL                   string
	RolledFrom, RolledFromURL string
	RolledTo, RolledToURL     string
	DefaultRateLimit          string
	LastUsedAgent             string
	Usage                     *KeyUsage
}

// ExpiryText describes when a key expires, relative to now.
func ExpiryText(expires *time.Time, now time.Time) (text string, soon bool) {
	if expires == nil {
		return "Never expires", false
	}
	d := expires.Sub(now)
	if d <= 0 {
		return "Expired " + roundedDuration(-d) + " ago", false
	}
	return "Expires in " + roundedDuration(d), d < 7*24*time.Hour
}

// roundedDuration says d in its largest fitting unit, rounded to the
// nearest: 59m59s is "1 hour", 4d23h is "5 days", 90 days is "3 months".
func roundedDuration(d time.Duration) string {
	round := func(unit time.Duration) int { return int(math.Round(float64(d) / float64(unit))) }
	const day = 24 * time.Hour
	if d < time.Minute {
		return plural(max(round(time.Second), 1), "second")
	}
	if m := round(time.Minute); m < 60 {
		return plural(m, "minute")
	}
	if h := round(time.Hour); h < 24 {
		return plural(h, "hour")
	}
	if n := round(day); n < 60 {
		return plural(n, "day")
	}
	if n := round(30 * day); n < 12 {
		return plural(n, "month")
	}
	return plural(round(365*day), "year")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
