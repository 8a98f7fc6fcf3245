package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/usage"
)

// Ensure the service implements its interface.
var _ keygate.MonitoringService = (*MonitoringService)(nil)

// MonitoringService reads an organization's API usage for the dashboard:
// the hourly counters and latency histograms the usage buffer writes, the
// request log, and the keys that deserve a look.
type MonitoringService struct {
	db *DB
}

// NewMonitoringService returns a MonitoringService on db.
func NewMonitoringService(db *DB) *MonitoringService { return &MonitoringService{db: db} }

const dayMS = int64(24 * time.Hour / time.Millisecond)

// Limits of the monitoring reads.
const (
	monitoringMaxDays   = 366
	topDefaultLimit     = 10
	topMaxLimit         = 100
	requestLogDefault   = 50
	requestLogMax       = 500
	requestLogMaxRoutes = 1000
)

// usageScope is what a monitoring read counts: one organization, or one of
// its keys.
type usageScope struct {
	orgID int64
	keyID int64 // 0: the whole organization
}

// column returns the counter tables' column to filter on and its value.
// Both usage tables carry organization_id and api_key_id, and index each.
func (u usageScope) column() (string, int64) {
	if u.keyID != 0 {
		return "api_key_id", u.keyID
	}
	return "organization_id", u.orgID
}

// days are the UTC day boundaries a read counts in, from one clock reading.
type days struct {
	today, tomorrow time.Time
}

func daysAt(now time.Time) days {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return days{today: today, tomorrow: today.AddDate(0, 0, 1)}
}

// last returns the start of the window of the last n days, today included.
func (d days) last(n int) time.Time { return d.today.AddDate(0, 0, 1-n) }

// begin starts a read-only transaction, so that every figure of one call
// comes from the same snapshot, and checks that the actor may read orgID's
// usage, which takes an Admin (and that keyID, if set, is one of its keys).
func (s *MonitoringService) begin(ctx context.Context, orgID, keyID string) (*sql.Tx, usageScope, error) {
	return s.beginAs(ctx, orgID, keyID, keyAdmin)
}

// beginFigures is begin for the organization's figures and chart, which
// any member may read; one key's take an Admin.
func (s *MonitoringService) beginFigures(ctx context.Context, orgID, keyID string) (*sql.Tx, usageScope, error) {
	if keyID != "" {
		return s.begin(ctx, orgID, keyID)
	}
	return s.beginAs(ctx, orgID, "", findOrganizationForUser)
}

// beginAs is begin with the check of the actor's role in the organization.
func (s *MonitoringService) beginAs(ctx context.Context, orgID, keyID string,
	find func(context.Context, queryer, string) (*keygate.Organization, error)) (*sql.Tx, usageScope, error) {
	tx, err := s.db.reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, usageScope{}, fmt.Errorf("monitoring: %w", err)
	}
	org, err := find(ctx, tx, orgID)
	if err != nil {
		tx.Rollback()
		return nil, usageScope{}, err
	}
	scope := usageScope{orgID: org.ID}
	if keyID != "" {
		// Another organization's key is as unknown as a key that never was.
		err := tx.QueryRowContext(ctx, `SELECT id FROM api_keys WHERE organization_id = $1 AND public_id = $2`,
			org.ID, keyID).Scan(&scope.keyID)
		if errors.Is(err, sql.ErrNoRows) {
			tx.Rollback()
			return nil, usageScope{}, errKeyNotFound
		} else if err != nil {
			tx.Rollback()
			return nil, usageScope{}, fmt.Errorf("find api key: %w", err)
		}
	}
	return tx, scope, nil
}

// placeholders returns n numbered parameters from $first: "$5, $6, $7".
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

// The counter queries list every status class, and every latency bucket,
// in an IN list, though the tables hold no others: with it, an
// organization-wide read seeks usage_hourly_org_class (or
// usage_latency_hourly_org_bucket) once per class (bucket) and reads just
// the window's hours from the index alone, already in group order, with
// neither table lookups nor a sort. Without it, the planner reads the
// (organization_id, hour) index, looks up every row and sorts them all:
// 250 ms instead of 40 for a month of 50 busy keys.

// statusClassArgs are the values of the IN list of status classes.
func statusClassArgs() []any {
	args := make([]any, len(keygate.StatusClasses))
	for i, c := range keygate.StatusClasses {
		args[i] = c
	}
	return args
}

// summaryQuery sums the daily counters of [from, tomorrow) by class, and
// those from today on apart (from, today and tomorrow are UTC days).
func summaryQuery(scope usageScope, from, today, tomorrow time.Time) (string, []any) {
	col, id := scope.column()
	return `
		SELECT status_class, SUM(count), SUM(CASE WHEN day >= $3 THEN count ELSE 0 END)
		FROM usage_daily WHERE ` + col + ` = $1 AND status_class IN (` + placeholders(5, len(keygate.StatusClasses)) + `)
			AND day >= $2 AND day < $4
		GROUP BY status_class`,
		append([]any{id, ms(from), ms(today), ms(tomorrow)}, statusClassArgs()...)
}

// latencyQuery sums the daily latency histograms of [from, to), UTC days,
// by bucket.
func latencyQuery(scope usageScope, from, to time.Time) (string, []any) {
	col, id := scope.column()
	args := []any{id, ms(from), ms(to)}
	for _, b := range usage.LatencyBucketsUS {
		args = append(args, b)
	}
	return `
		SELECT bucket, SUM(count) FROM usage_latency_daily
		WHERE ` + col + ` = $1 AND bucket IN (` + placeholders(4, len(usage.LatencyBucketsUS)) + `)
			AND day >= $2 AND day < $3
		GROUP BY bucket ORDER BY bucket`, args
}

// dailyQuery sums the daily counters of [from, to) by class and day, the
// order usage_daily_org_class holds them in.
func dailyQuery(scope usageScope, from, to time.Time) (string, []any) {
	col, id := scope.column()
	return `
		SELECT status_class, day, SUM(count) FROM usage_daily
		WHERE ` + col + ` = $1 AND status_class IN (` + placeholders(4, len(keygate.StatusClasses)) + `)
			AND day >= $2 AND day < $3
		GROUP BY status_class, day`,
		append([]any{id, ms(from), ms(to)}, statusClassArgs()...)
}

// Summary returns the organization's, or one key's, figures for today and
// the last 30 days (today included), from the daily counters.
func (s *MonitoringService) Summary(ctx context.Context, orgID, keyID string) (*keygate.UsageSummary, error) {
	tx, scope, err := s.beginFigures(ctx, orgID, keyID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	d := daysAt(s.db.Now())
	from := d.last(30)
	var sum keygate.UsageSummary
	query, args := summaryQuery(scope, from, d.today, d.tomorrow)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("usage summary: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var class string
		var n, today int
		if err := rows.Scan(&class, &n, &today); err != nil {
			return nil, fmt.Errorf("usage summary: %w", err)
		}
		sum.RequestsToday += today
		sum.Requests30d += n
		switch class {
		case keygate.Class4xx, keygate.Class5xx:
			sum.Errors30d += n
		case keygate.Class429:
			sum.Throttled30d += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage summary: %w", err)
	}
	if sum.P50, sum.P99, err = latencyPercentiles(ctx, tx, scope, from, d.tomorrow); err != nil {
		return nil, err
	}
	col, id := scope.column()
	// col is one of two column names, never input.
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(count), 0) FROM usage_refused_hourly WHERE `+col+` = $1 AND hour >= $2 AND hour < $3`,
		id, ms(from), ms(d.tomorrow)).Scan(&sum.Refused30d); err != nil {
		return nil, fmt.Errorf("usage summary: %w", err)
	}
	return &sum, nil
}

// microseconds converts a stored latency.
func microseconds(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// bucketCount is one latency histogram bucket: its upper bound in
// microseconds and how many requests fell in it.
type bucketCount struct {
	bound int64
	n     int64
}

// latencyPercentiles reads the histogram of [from, to) and returns its
// 50th and 99th percentiles.
func latencyPercentiles(ctx context.Context, q queryer, scope usageScope, from, to time.Time) (p50, p99 time.Duration, err error) {
	query, args := latencyQuery(scope, from, to)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("latency percentiles: %w", err)
	}
	defer rows.Close()
	var buckets []bucketCount
	for rows.Next() {
		var b bucketCount
		if err := rows.Scan(&b.bound, &b.n); err != nil {
			return 0, 0, fmt.Errorf("latency percentiles: %w", err)
		}
		buckets = append(buckets, b)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("latency percentiles: %w", err)
	}
	return percentile(buckets, 500), percentile(buckets, 990), nil
}

// percentile returns the upper bound of the first bucket (ascending) at
// which the cumulative count reaches ceil(perMille/1000 * total), or 0
// without requests. Integer arithmetic keeps the rank exact: 0.99 * 100 in
// floating point is not quite 99.
func percentile(buckets []bucketCount, perMille int64) time.Duration {
	var total int64
	for _, b := range buckets {
		total += b.n
	}
	if total == 0 {
		return 0
	}
	rank := (total*perMille + 999) / 1000
	var cum int64
	for i, b := range buckets {
		cum += b.n
		if cum < rank {
			continue
		}
		if b.bound == math.MaxInt64 {
			// The +Inf bucket has no upper bound to report. Twice the
			// largest finite bound says "slower than that" on a chart
			// without inventing a figure from nothing.
			return 2 * microseconds(largestFiniteBound(buckets[:i]))
		}
		return microseconds(b.bound)
	}
	return 0 // not reached: cum ends at total >= rank
}

// largestFiniteBound is the bound below the +Inf bucket: the last finite
// one of usage.LatencyBucketsUS (5 s), or a larger one among the stored
// buckets, should older rows carry bounds the list no longer has.
func largestFiniteBound(stored []bucketCount) int64 {
	bound := usage.LatencyBucketsUS[len(usage.LatencyBucketsUS)-2]
	if n := len(stored); n > 0 && stored[n-1].bound > bound {
		bound = stored[n-1].bound
	}
	return bound
}

// emptyDays returns the last n UTC days, today included, oldest first,
// each with every status class at zero; EINVALID for an n out of range.
func emptyDays(d days, n int) ([]keygate.DailyUsage, error) {
	if n < 1 || n > monitoringMaxDays {
		return nil, keygate.Errorf(keygate.EINVALID, "The number of days must be between 1 and %d.", monitoringMaxDays)
	}
	first := d.last(n)
	out := make([]keygate.DailyUsage, n)
	for i := range out {
		out[i].Day = first.AddDate(0, 0, i)
		out[i].Counts = make(map[string]int, len(keygate.StatusClasses))
		for _, c := range keygate.StatusClasses {
			out[i].Counts[c] = 0
		}
	}
	return out, nil
}

// Daily returns one entry per UTC day of the last n days, today included,
// oldest first, with every status class present.
func (s *MonitoringService) Daily(ctx context.Context, orgID, keyID string, n int) ([]keygate.DailyUsage, error) {
	tx, scope, err := s.beginFigures(ctx, orgID, keyID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	d := daysAt(s.db.Now())
	out, err := emptyDays(d, n)
	if err != nil {
		return nil, err
	}
	first := out[0].Day
	query, args := dailyQuery(scope, first, d.tomorrow)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("daily usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var class string
		var day int64
		var count int
		if err := rows.Scan(&class, &day, &count); err != nil {
			return nil, fmt.Errorf("daily usage: %w", err)
		}
		if i := (day - ms(first)) / dayMS; day >= ms(first) && i < int64(n) {
			if _, ok := out[i].Counts[class]; ok {
				out[i].Counts[class] += count
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("daily usage: %w", err)
	}
	return out, nil
}

// TopRoutes ranks one key's routes over the last 30 days.
func (s *MonitoringService) TopRoutes(ctx context.Context, orgID, keyID string, limit int) ([]keygate.Count, error) {
	routes, _, err := s.TopRoutesAndIPs(ctx, orgID, keyID, limit)
	return routes, err
}

// TopIPs ranks the addresses one key was used from over the last 30 days.
func (s *MonitoringService) TopIPs(ctx context.Context, orgID, keyID string, limit int) ([]keygate.Count, error) {
	_, ips, err := s.TopRoutesAndIPs(ctx, orgID, keyID, limit)
	return ips, err
}

// topQuery counts one key's requests since $2 (Unix milliseconds) by
// route and address, in one read of its log (request_log_key_id); the
// rankings are summed from it.
const topQuery = `SELECT route, ip, COUNT(*) FROM request_log WHERE api_key_id = $1 AND created_at >= $2 GROUP BY route, ip`

// TopRoutesAndIPs ranks one key's routes and addresses over the last 30
// days, from one read of its log.
func (s *MonitoringService) TopRoutesAndIPs(ctx context.Context, orgID, keyID string, limit int) (routes, ips []keygate.Count, err error) {
	tx, scope, err := s.begin(ctx, orgID, keyID)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	if scope.keyID == 0 {
		return nil, nil, errKeyNotFound // the rankings are per key
	}
	if limit <= 0 {
		limit = topDefaultLimit
	}
	limit = min(limit, topMaxLimit)
	// The period starts at midnight, a whole second.
	rows, err := tx.QueryContext(ctx, topQuery, scope.keyID, ms(daysAt(s.db.Now()).last(30)))
	if err != nil {
		return nil, nil, fmt.Errorf("top requests: %w", err)
	}
	defer rows.Close()
	byRoute, byIP := map[string]int{}, map[string]int{}
	for rows.Next() {
		var route, ip string
		var n int
		if err := rows.Scan(&route, &ip, &n); err != nil {
			return nil, nil, fmt.Errorf("top requests: %w", err)
		}
		byRoute[route] += n
		byIP[ip] += n
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("top requests: %w", err)
	}
	return rank(byRoute, limit), rank(byIP, limit), nil
}

// rank returns the limit largest counts, most first, ties by label.
func rank(counts map[string]int, limit int) []keygate.Count {
	out := make([]keygate.Count, 0, len(counts))
	for label, n := range counts {
		out = append(out, keygate.Count{Label: label, N: n})
	}
	slices.SortFunc(out, func(a, b keygate.Count) int {
		if a.N != b.N {
			return cmp.Compare(b.N, a.N)
		}
		return strings.Compare(a.Label, b.Label)
	})
	return out[:min(len(out), limit)]
}
