package views

// Stat is one figure on the overview.
type Stat struct {
	Label, Value, Hint string
	Warn               bool
}

// HygieneItem is one key that deserves a look, with its one-click action.
type HygieneItem struct {
	Name, Hint, URL string
	Detail          string
	ActionLabel     string
	ActionURL       string
	Danger          bool
	DataRevoke      string // when set, the action opens the revoke dialog
	RevokeQuestion  string
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
	OrgName   string
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
}

// LogRow is one API request in the logs.
type LogRow struct {
	At      Time
	Key     string
	KeyURL  string
	Method  string
	Route   string
	Status  int
	Class   string
	Latency string
	IP      string
}

// LogsPage is the API logs with their filters.
type LogsPage struct {
	Rows      []LogRow
	Keys      []Option
	Routes    []Option
	Classes   []Option
	Key       string
	Class     string
	Route     string
	From, To  string
	URL       string
	OlderURL  string
	NewestURL string
	CSVURL    string
	Error     string
}

// KeyUsage is the usage section of a key's page.
type KeyUsage struct {
	Stats     []Stat
	Chart     Chart
	TopRoutes []CountRow
	TopIPs    []CountRow
	Recent    []LogRow
	LogsURL   string
}

// CountRow is one row of a ranking.
type CountRow struct {
	Label string
	N     int
}
