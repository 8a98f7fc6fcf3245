package keygate

import (
	"context"
	"time"
)

// Status classes of API responses, as usage counts them.
const (
	Class2xx = "2xx"
	Class4xx = "4xx"
	Class5xx = "5xx"
	Class429 = "429"
)

// StatusClasses lists the classes in chart order.
var StatusClasses = []string{Class2xx, Class4xx, Class5xx, Class429}

// StatusClassOf returns the class a response status counts under: Class429
// for 429, Class4xx for the other 400-499, Class5xx for 500-599 and
// Class2xx for 200-399 (a redirect is a success). Other statuses, 1xx and
// 600 on, belong to no class: "". The request log's SQL expression
// (internal/sqlstore) matches it status for status.
func StatusClassOf(status int) string {
	switch {
	case status == 429:
		return Class429
	case status >= 500 && status <= 599:
		return Class5xx
	case status >= 400 && status <= 499:
		return Class4xx
	case status >= 200 && status <= 399:
		return Class2xx
	}
	return ""
}

// UsageSummary is the organization's (or one key's) API traffic figures.
type UsageSummary struct {
	RequestsToday int // since 00:00 UTC
	Requests30d   int // the last 30 days, today included
	Errors30d     int // 4xx and 5xx, not counting 429
	Throttled30d  int // 429
	// Refused30d counts the 401s of keys that are known but no longer
	// usable (revoked, expired, or stopped with their disabled creator);
	// Errors30d counts them too.
	Refused30d int
	// P50 and P99 are latency percentiles over the last 30 days, read from
	// latency histograms: the upper bound of the bucket the percentile
	// falls in. Zero when there was no traffic.
	P50, P99 time.Duration
}

// ErrorRate is Errors30d / Requests30d, 0 without traffic (see
// HasTraffic).
func (u UsageSummary) ErrorRate() float64 {
	if u.Requests30d == 0 {
		return 0
	}
	return float64(u.Errors30d) / float64(u.Requests30d)
}

// HasTraffic reports whether there was any request in the last 30 days.
func (u UsageSummary) HasTraffic() bool { return u.Requests30d > 0 }

// DailyUsage counts one UTC day's requests by status class.
type DailyUsage struct {
	Day    time.Time // 00:00 UTC
	Counts map[string]int
}

// Count is one row of a "top" list.
type Count struct {
	Label string
	N     int
}

// RequestLogEntry is one logged API request.
type RequestLogEntry struct {
	ID        int64
	At        time.Time
	KeyID     string // key_...
	KeyName   string
	KeyHint   string
	Method    string
	Route     string // the pattern that served it, e.g. /api/v1/bots/{id}
	Path      string // the path requested, escaped, e.g. /api/v1/bots/bot_1
	Status    int
	Code      string // the error code of the response, "" for a success
	Latency   time.Duration
	IP        string
	UserAgent string
	// RequestID is the X-Request-Id the response carried, "" if unknown.
	RequestID string
	// Service is the service a forward-auth or verify call checked the key
	// for; "" for a call of Keygate's own API.
	Service string
}

// Orders of the API logs: by time, status or latency, descending with a
// leading minus.
const (
	LogNewest     = "-time"
	LogOldest     = "time"
	LogStatusDesc = "-status"
	LogStatusAsc  = "status"
	LogSlowest    = "-latency"
	LogFastest    = "latency"
)

// LogSortWindow is how many of the newest requests that match the filters
// the logs sort by status or latency: sorting the whole of a busy log
// would take seconds, and latency is in no index.
const LogSortWindow = 10_000

// LogSorts lists the orders of the API logs.
var LogSorts = []string{LogNewest, LogOldest, LogStatusDesc, LogStatusAsc, LogSlowest, LogFastest}

// RequestLogFilter narrows the API logs. Zero values match everything.
type RequestLogFilter struct {
	OrgPublicID string // org_..., required
	KeyID       string // key_...
	Class       string // 2xx, 4xx, 5xx, 429
	Route       string // exact route pattern, e.g. /api/v1/bots/{id}
	// RequestID is an X-Request-Id: 16 hexadecimal digits.
	RequestID string
	// Service keeps the calls checked for one service; "" keeps those of
	// Keygate's own API, nil every call.
	Service  *string
	From, To *time.Time
	// Sort is one of LogSorts, "" for LogNewest.
	Sort string
	// Before is the keyset cursor of LogNewest: entries with a smaller id
	// than this. Other orders page with Offset.
	Before int64
	Offset int
	Limit  int
}

// KeyActivity is what a key's requests say beyond its last use: its last
// attempt of any outcome, and the requests refused because the key may no
// longer be used.
type KeyActivity struct {
	LastAttemptAt     *time.Time
	LastAttemptIP     string
	LastAttemptStatus int
	// LastRefusedAt, LastRefusedIP and LastRefusedCode describe the key's
	// last refused request.
	LastRefusedAt   *time.Time
	LastRefusedIP   string
	LastRefusedCode string
	// Refused24h counts the refused requests of the last 24 hours (by whole
	// hours: up to 25), Refused30d those of the last 30 days.
	Refused24h, Refused30d int
}

// KeyRef names a key in a list.
type KeyRef struct {
	PublicID, Name, Hint string
}

// HygieneReport lists keys that deserve a look, each with its reason.
type HygieneReport struct {
	// Active counts the organization's active keys.
	Active       int
	ExpiringSoon []*APIKey // active, expiring within 7 days
	// Unused: active, at least 7 days old, and never called, or not for
	// 30 days.
	Unused      []*APIKey
	Exposed     []*APIKey // active, seen over plain HTTP
	AdminScope  []*APIKey // active, with the admin scope
	CreatorLeft []*APIKey // active, created by someone no longer a member
	// Successors are the keys that replace rolled keys of the lists (their
	// RolledTo), by public id.
	Successors map[string]KeyRef
}

// MonitoringService reads an organization's usage for the dashboard. Every
// method needs an Admin or Owner in the context (another organization is
// ENOTFOUND, a Member EFORBIDDEN), except where noted.
type MonitoringService interface {
	// Summary returns the figures for the organization, or for one of its
	// keys when keyID is set. Any member may read the organization's.
	Summary(ctx context.Context, orgID, keyID string) (*UsageSummary, error)
	// Daily returns one entry per UTC day for the last days days (today
	// included, oldest first), for the organization or one key; days
	// without traffic have zero counts. Any member may read the
	// organization's.
	Daily(ctx context.Context, orgID, keyID string, days int) ([]DailyUsage, error)
	// TopRoutes and TopIPs rank one key's last 30 days of requests;
	// TopRoutesAndIPs returns both from one read of them.
	TopRoutes(ctx context.Context, orgID, keyID string, limit int) ([]Count, error)
	TopIPs(ctx context.Context, orgID, keyID string, limit int) ([]Count, error)
	TopRoutesAndIPs(ctx context.Context, orgID, keyID string, limit int) (routes, ips []Count, err error)
	// FindRequestLog returns log entries in f.Sort's order (newest first by
	// default) and whether more match. EINVALID for a bad filter.
	FindRequestLog(ctx context.Context, f RequestLogFilter) ([]*RequestLogEntry, bool, error)
	// FindRequestLogEntry returns one entry of the organization's log by
	// its id. ENOTFOUND if the log has no such entry.
	FindRequestLogEntry(ctx context.Context, orgID string, id int64) (*RequestLogEntry, error)
	// KeyActivity returns the activity of the organization's keys named,
	// by public id; unknown ids are left out.
	KeyActivity(ctx context.Context, orgID string, keyIDs []string) (map[string]*KeyActivity, error)
	// RequestLogRoutes lists the distinct routes in the organization's log,
	// for the filter.
	RequestLogRoutes(ctx context.Context, orgID string) ([]string, error)
	// Hygiene lists keys that deserve a look.
	Hygiene(ctx context.Context, orgID string) (*HygieneReport, error)
	// Services lists the services the organization's keys (or one key)
	// were checked for in the last 30 days, with their calls, busiest
	// first; "" is Keygate's own API.
	Services(ctx context.Context, orgID, keyID string) ([]ServiceUsage, error)
	// ServiceSummary and ServiceDaily are Summary and Daily of the calls
	// for one service ("" for Keygate's own API). The counters by service
	// hold no latencies: P50 and P99 are zero.
	ServiceSummary(ctx context.Context, orgID, service string) (*UsageSummary, error)
	ServiceDaily(ctx context.Context, orgID, service string, days int) ([]DailyUsage, error)
}

// ServiceUsage is the last 30 days of calls for one service.
type ServiceUsage struct {
	Service  string // "" for Keygate's own API
	Requests int
	Errors   int // 4xx and 5xx, not counting 429
}
