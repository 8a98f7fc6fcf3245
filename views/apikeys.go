package views

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// KeyForm is the create-key form with its one-time token.
type KeyForm struct {
	Form      Form
	Token     string
	Action    string
	CancelURL string
	// Scope is the chosen scope: read, write or admin, each including the
	// ones before it.
	Scope        string
	Expiration   string // 7, 30, 60, 90, custom, none
	Environments []Option
	MinDate      string // earliest custom date, YYYY-MM-DD
	// Expirations are the expiration choices the key policy allows;
	// MaxDate, if set, the latest custom date it allows, and PolicyHint
	// the policy's limit, shown beside them.
	Expirations []Option
	MaxDate     string
	PolicyHint  string
	// NoteRequired marks the note required by the key policy.
	NoteRequired bool
	// Permissions are the organization's own permissions to choose from;
	// none hides the fieldset. The form's "allowed_ips" value is the
	// allowlist textarea's text.
	Permissions []PermissionChoice
}

// PermissionChoice is one of the organization's permissions in the create
// form, checked when chosen.
type PermissionChoice struct {
	Name, Description string
	Checked           bool
}

// AllowedIPsHint explains the allowlist textarea.
const AllowedIPsHint = "One address or CIDR range per line (203.0.113.7, 10.0.0.0/8). Leave empty to allow any address."

// ExpirationOptions are the choices of the expiration select.
var ExpirationOptions = []Option{
	{"7", "7 days"}, {"30", "30 days"}, {"60", "60 days"}, {"90", "90 days"},
	{"custom", "Custom date"}, {"none", "No expiration"},
}

// ScopeOptions are the scope choices with what each allows and includes.
var ScopeOptions = []struct{ Value, Label, Help string }{
	{"read", "Read", "View bots, conversations and analytics."},
	{"write", "Write", "Create and change bots and conversations. Includes Read."},
	{"admin", "Admin", "Full access, including keys and members. Includes Write and Read."},
}

// APIKeyRow is one key in the list.
type APIKeyRow struct {
	ID       string
	Name     string
	Env      string
	EnvLabel string
	Scopes   []Option
	// Permissions are the organization's own permissions the key holds;
	// AllowedIPs the CIDRs it may be used from, none for anywhere.
	Permissions []string
	AllowedIPs  []string
	Hint        string
	// CreatedBy names the creator in full: "Ada Lovelace", or
	// "API key “CI” (key_…)" for a key created through the API. Creator
	// says it in a few words for the list: "Ada", "via key “CI”".
	CreatedBy      string
	Creator        string
	Created        Time
	LastUsed       Time
	LastUsedIP     string
	LastUsedAgent  string       // the raw User-Agent of the last use
	LastAttempt    *LastAttempt // the last request of any outcome, if later than the last use
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
	// ExposedURL is where a leak report found the key and ExposedSource
	// who reported it; "" when nobody has.
	ExposedURL, ExposedSource string
	// RolledFrom is the key this one replaced; ReplacedBy the key that
	// replaced this one. Nil when there is none.
	RolledFrom *KeyLink
	ReplacedBy *KeyLink
}

// AllowedIPsText lists the key's allowed networks, comma-separated.
func (k APIKeyRow) AllowedIPsText() string { return strings.Join(k.AllowedIPs, ", ") }

// KeyLink names another key and links to its page.
type KeyLink struct {
	Name, URL string
}

// MenuID is the id of the row's menu of actions.
func (k APIKeyRow) MenuID() string { return "key-menu-" + k.ID }

// CreatedKey is the secret shown once, in the "API Key Created" modal, or
// after a roll, the "Key rolled" one.
type CreatedKey struct {
	Title      string
	Name       string
	Secret     string
	Curl       string
	CertNote   string // why Curl names a certificate file, if it does
	ReturnURL  string
	OldKeyNote string // set after a roll
}

// Pagination links pages of a list.
type Pagination struct {
	Page, Pages int
	Total       int
	// Noun is what the list counts, plural: "keys", "members".
	Noun    string
	PrevURL string
	NextURL string
}

// Sorting is how a table is sorted and the headers that change it, by
// column sort key ("name", "created").
type Sorting struct {
	By, Dir string // the sort and direction in force ("asc" or "desc")
	// Caption says the order in words, like "newest first".
	Caption string
	Headers map[string]SortHeader
}

// Header returns the header of the column sorted by key.
func (s Sorting) Header(key string) SortHeader { return s.Headers[key] }

// APIKeysPage is the API Keys list.
type APIKeysPage struct {
	Keys       []APIKeyRow
	Query      string
	Env        string
	State      string
	States     []Option
	Pagination Pagination
	Sorting    Sorting
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
	Key  APIKeyRow
	Note string
	// NoteRequired marks the note required by the key policy.
	NoteRequired              bool
	Form                      Form
	Envs                      []Option
	Editable                  bool
	ListURL                   string
	RolledFrom, RolledFromURL string // the replaced key's name
	RolledTo, RolledToURL     string // the replacing key's name
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

// DurationText says how long d is in words, like "1 hour" or "7 days".
func DurationText(d time.Duration) string { return roundedDuration(d) }

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
