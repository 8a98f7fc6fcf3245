package views

import "github.com/a-h/templ"

// Stat is one figure on the overview.
type Stat struct {
	Label, Value, Hint string
	Warn               bool
}

// HygieneItem is one key that deserves a look, with its one-click action.
type HygieneItem struct {
	Name, Hint, URL string
	Detail          string
	// ReplacedBy, if set, is the key that replaces this rolled one: the
	// detail goes on "— replaced by" it.
	ReplacedBy     *Link
	ActionLabel    string
	ActionURL      string
	Danger         bool
	DataRevoke     string // when set, the action opens the revoke dialog
	RevokeQuestion string
}

// Link is a labelled URL.
type Link struct {
	Label, URL string
}

// HygieneGroup is one kind of finding.
type HygieneGroup struct {
	ID, Title, Advice string
	Items             []HygieneItem
}

// RangeLink is one choice of the chart's range.
type RangeLink struct {
	Label, URL string
	Current    bool
}

// OverviewStats is the overview of an organization with usage.
type OverviewStats struct {
	OrgName string
	// Services are the Service filter's choices (none hides it), Service
	// the one chosen, and URL the page's address for the filter's form.
	Services []Option
	Service  string
	Days     int
	URL      string
	// IsAdmin: the viewer manages keys. Members see the figures and the
	// chart only, with no key actions and no links to Admin pages.
	IsAdmin   bool
	Stats     []Stat
	Chart     Chart
	Ranges    []RangeLink
	Hygiene   []HygieneGroup
	LogsURL   string
	KeysURL   string
	NoTraffic bool
	// NoKeys: the organization has no API key yet; the page says what to
	// do next.
	NoKeys bool
	// NoActiveKeys: no active key, so hygiene has nothing to check.
	NoActiveKeys bool
}

// LogRow is one API request in the logs.
type LogRow struct {
	At Time
	// Service is the service a forward-auth or verify call was for, ""
	// for Keygate's own API.
	Service string
	Key     string
	KeyURL  string
	Method  string
	Route   string // the pattern, for the title
	Path    string // the path requested
	Status  int
	Class   string
	Code    string // the error code, "" for a success
	Latency string
	IP      string
	URL     string // the request's detail page
}

// SortHeader is a column header that sorts the logs by it.
type SortHeader struct {
	Label string
	URL   string
	// Dir is the column's current order, as aria-sort says it:
	// "ascending", "descending", or "" when the logs are not sorted by it.
	Dir string
}

// LogsPage is the API logs with their filters.
type LogsPage struct {
	Rows   []LogRow
	Keys   []Option
	Routes []Option
	// Services are the Service filter's choices; none hides the filter.
	Services  []Option
	Service   string
	Classes   []Option
	Key       string
	Class     string
	Route     string
	RequestID string
	From, To  string
	URL       string
	// Sorts are the headers of the Time, Status and Latency columns.
	Sorts map[string]SortHeader
	// Sorted: an order other than newest first, paged by number.
	Sorted bool
	// SortNote, if set, says what a sort by status or latency orders.
	SortNote  string
	OlderURL  string
	NewestURL string
	PrevURL   string
	NextURL   string
	CSVURL    string
	// Errors are the filters' messages, by field: from, to, request_id.
	Errors map[string]string
}

// LogDetail is one API request's page.
type LogDetail struct {
	// Service is the service a forward-auth or verify call was for.
	Service   string
	RequestID string
	Method    string
	Path      string
	Route     string
	Status    int
	Class     string
	Code      string
	Key       string // name and hint
	KeyURL    string
	Latency   string
	IP        string
	UserAgent string
	Client    string // what the user agent names, e.g. "curl"
	At        Time
	// AtUTC and AtISO are the time in UTC, as people read it and in ISO
	// 8601; the page adds the viewer's local time.
	AtUTC, AtISO string
	LogsURL      string
	// SameIDURL lists the logs filtered by this request id.
	SameIDURL string
}

// KeyUsage is the usage section of a key's page.
type KeyUsage struct {
	Stats     []Stat
	Chart     Chart
	TopRoutes []CountRow
	TopIPs    []CountRow
	// Services are the key's calls of the last 30 days by service,
	// Keygate's own API among them.
	Services []CountRow
	Recent   []LogRow
	LogsURL  string
	// Alert, if set, says that the key is refused but still being tried.
	Alert *RefusedAlert
	// LastAttempt is the key's last request of any outcome.
	LastAttempt LastAttempt
}

// RefusedAlert says a key that no longer works is still being used: "This
// key was revoked but is still being used: N requests refused in the last
// 24 hours, the last from <address> <time>."
type RefusedAlert struct {
	// Lead says what happened to the key: "This key was revoked".
	Lead    string
	Refused int
	IP      string
	Last    Time
}

// LastAttempt is a key's last request of any outcome.
type LastAttempt struct {
	At      Time
	IP      string
	Refused bool // the request was refused (401)
	Status  int
	Class   string // Status's class (2xx, 4xx, 5xx, 429), "" if none
}

// CountRow is one row of a ranking.
type CountRow struct {
	Label string
	N     int
}

// pluralize is "1 request" or "5 requests".
func pluralize(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// ariaSort is the aria-sort attribute of a sorted column.
func ariaSort(dir string) templ.Attributes {
	if dir == "" {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-sort": dir}
}

// invalidAttrs mark a field in error and tie it to its message.
func invalidAttrs(id, msg string) templ.Attributes {
	if msg == "" {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": id + "-error"}
}

// sortArrow shows a sorted column's order.
func sortArrow(dir string) string {
	switch dir {
	case "ascending":
		return " ↑"
	case "descending":
		return " ↓"
	}
	return ""
}
