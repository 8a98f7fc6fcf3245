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

// UsageSummary is the organization's (or one key's) API traffic figures.
type UsageSummary struct {
	RequestsToday int // since 00:00 UTC
	Requests30d   int // the last 30 days, today included
	Errors30d     int // 4xx and 5xx, not counting 429
	Throttled30d  int // 429
	// P50 and P99 are latency percentiles over the last 30 days, read from
	// latency histograms: the upper bound of the bucket the percentile
	// falls in. Zero when there was no traffic.
	P50, P99 time.Duration
}

// ErrorRate is Errors30d / Requests30d, 0 without traffic.
func (u UsageSummary) ErrorRate() float64 {
	if u.Requests30d == 0 {
		return 0
	}
	return float64(u.Errors30d) / float64(u.Requests30d)
}

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
	Route     string
	Status    int
	Latency   time.Duration
	IP        string
	UserAgent string
}

// RequestLogFilter narrows the API logs. Zero values match everything.
type RequestLogFilter struct {
	OrganizationID string // org_..., required
	KeyID          string // key_...
	Class          string // 2xx, 4xx, 5xx, 429
	Route          string // exact route pattern, e.g. /api/v1/bots/{id}
	From, To       *time.Time
	// Before is the keyset cursor: entries with a smaller id than this.
	Before int64
	Limit  int
}

// HygieneReport lists keys that deserve a look, each with its reason.
type HygieneReport struct {
	ExpiringSoon []*APIKey // active, expiring within 7 days
	Unused       []*APIKey // active, never used, or not used for 30 days
	Exposed      []*APIKey // active, seen over plain HTTP
	AdminScope   []*APIKey // active, with the admin scope
	CreatorLeft  []*APIKey // active, created by someone no longer a member
}

// MonitoringService reads an organization's usage for the dashboard. Every
// method needs an Admin or Owner in the context (another organization is
// ENOTFOUND, a Member EFORBIDDEN), except where noted.
type MonitoringService interface {
	// Summary returns the figures for the organization, or for one of its
	// keys when keyID is set.
	Summary(ctx context.Context, orgID, keyID string) (*UsageSummary, error)
	// Daily returns one entry per UTC day for the last days days (today
	// included, oldest first), for the organization or one key; days
	// without traffic have zero counts.
	Daily(ctx context.Context, orgID, keyID string, days int) ([]DailyUsage, error)
	// TopRoutes and TopIPs rank one key's last 30 days of requests;
	// TopRoutesAndIPs returns both from one read of them.
	TopRoutes(ctx context.Context, orgID, keyID string, limit int) ([]Count, error)
	TopIPs(ctx context.Context, orgID, keyID string, limit int) ([]Count, error)
	TopRoutesAndIPs(ctx context.Context, orgID, keyID string, limit int) (routes, ips []Count, err error)
	// FindRequestLog returns log entries newest first and whether older
	// ones match too.
	FindRequestLog(ctx context.Context, f RequestLogFilter) ([]*RequestLogEntry, bool, error)
	// RequestLogRoutes lists the distinct routes in the organization's log,
	// for the filter.
	RequestLogRoutes(ctx context.Context, orgID string) ([]string, error)
	// Hygiene lists keys that deserve a look.
	Hygiene(ctx context.Context, orgID string) (*HygieneReport, error)
}
