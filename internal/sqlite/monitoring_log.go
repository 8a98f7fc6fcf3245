package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// requestLogClassExpr is a request_log row's status class. It must stay
// identical to the expression of the request_log_org_class index
// (migrations/0011_request_log_indexes.sql): SQLite uses an expression index only
// for the same expression. 1xx and 6xx+ statuses belong to no class.
const requestLogClassExpr = `(CASE WHEN status = 429 THEN '429' WHEN status >= 500 AND status <= 599 THEN '5xx' WHEN status >= 400 AND status <= 499 THEN '4xx' WHEN status >= 200 AND status <= 399 THEN '2xx' ELSE '' END)`

// FindRequestLog returns the organization's log entries that match f,
// newest first, and whether older ones match too.
func (s *MonitoringService) FindRequestLog(ctx context.Context, f keygate.RequestLogFilter) ([]*keygate.RequestLogEntry, bool, error) {
	tx, scope, err := s.begin(ctx, f.OrganizationID, f.KeyID)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	if f.Class != "" && !slices.Contains(keygate.StatusClasses, f.Class) {
		return nil, false, keygate.FieldError("class", "Unknown status class.")
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return nil, false, keygate.FieldError("to", "The end of the range must be after its start.")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = requestLogDefault
	}
	limit = min(limit, requestLogMax)
	// A time range is read in two steps; see requestLogQuery.
	period := f.From != nil || f.To != nil
	out, err := findRequestLog(ctx, tx, scope, f, limit+1, period)
	if err == nil && period && len(out) <= limit {
		// The newest rows held less than a page of the range: read the
		// range itself.
		out, err = findRequestLog(ctx, tx, scope, f, limit+1, false)
	}
	if err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// findRequestLog runs requestLogQuery and reads its entries.
func findRequestLog(ctx context.Context, q queryer, scope usageScope, f keygate.RequestLogFilter, n int, walk bool) ([]*keygate.RequestLogEntry, error) {
	query, args := requestLogQuery(scope, f, n, walk)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find request log: %w", err)
	}
	defer rows.Close()
	var out []*keygate.RequestLogEntry
	for rows.Next() {
		var e keygate.RequestLogEntry
		var at, latencyUS int64
		if err := rows.Scan(&e.ID, &at, &e.KeyID, &e.KeyName, &e.KeyHint, &e.Method, &e.Route, &e.Status,
			&latencyUS, &e.IP, &e.UserAgent); err != nil {
			return nil, fmt.Errorf("find request log: %w", err)
		}
		e.At, e.Latency = fromMS(at), microseconds(latencyUS)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find request log: %w", err)
	}
	return out, nil
}

// requestLogWalk is how many of the newest rows that match a filter's
// other conditions FindRequestLog reads looking for a page in its time
// range, before it reads the whole range.
var requestLogWalk = 10_000

// requestLogQuery builds the query of the first n entries that match f.
//
// The filters other than time are equalities next to organization_id and
// the order is id descending, so one of the request_log_org_* or _key_id
// indexes serves the query walking backwards and stopping after n rows.
//
// Time is not in id order. Without walk, the query reads every row of the
// range from request_log_org_time and sorts them, a cost that grows with
// the range: 0.5 s for a month of a million rows. With walk, it reads the
// newest requestLogWalk rows that match the other filters, from their
// index, and keeps those in the range: a few milliseconds, and a full page
// whenever the range is recent and busy ("the last 7 days"). The first n
// matches among the newest rows are the first n of all, so a full page is
// exact; a short one may not be, and FindRequestLog reads the range then.
//
// Only constants are concatenated; every value is a parameter.
func requestLogQuery(scope usageScope, f keygate.RequestLogFilter, n int, walk bool) (string, []any) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	t := "r." // the table the filters other than time apply to
	if walk {
		t = "i."
	}
	where := []string{t + "organization_id = " + arg(scope.orgID)}
	if scope.keyID != 0 {
		where = append(where, t+"api_key_id = "+arg(scope.keyID))
	}
	if f.Class != "" {
		where = append(where, requestLogClassExpr+" = "+arg(f.Class))
		if f.Class != keygate.Class2xx {
			// What request_log_org_class holds: errors only.
			where = append(where, "status >= 400")
		}
	}
	if f.Route != "" {
		where = append(where, t+"route = "+arg(f.Route))
	}
	if f.Before > 0 {
		where = append(where, t+"id < "+arg(f.Before))
	}
	var period []string
	if f.From != nil {
		period = append(period, "r.created_at >= "+arg(ms(*f.From)))
	}
	if f.To != nil {
		period = append(period, "r.created_at < "+arg(ms(*f.To)))
	}
	from := "request_log r"
	if walk && len(period) > 0 {
		from = `(SELECT i.id FROM request_log i WHERE ` + strings.Join(where, " AND ") +
			` ORDER BY i.id DESC LIMIT ` + arg(requestLogWalk) + `) w JOIN request_log r ON r.id = w.id`
		where = period
	} else {
		where = append(where, period...)
	}
	limit := arg(n) // before the return reads args
	return `
		SELECT r.id, r.created_at, COALESCE(k.public_id, ''), COALESCE(k.name, ''), COALESCE(k.hint, ''),
			r.method, r.route, r.status, r.latency_us, r.ip, r.user_agent
		FROM ` + from + ` LEFT JOIN api_keys k ON k.id = r.api_key_id
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY r.id DESC LIMIT ` + limit, args
}

// requestLogRoutesQuery lists an organization's distinct routes by
// skipping along request_log_org_route from one route to the next, one
// index seek per route, rather than reading every row of the log as
// SELECT DISTINCT would. PostgreSQL runs it as written.
const requestLogRoutesQuery = `
	WITH RECURSIVE routes (route) AS (
		SELECT MIN(route) FROM request_log WHERE organization_id = $1
		UNION ALL
		SELECT (SELECT MIN(r.route) FROM request_log r WHERE r.organization_id = $1 AND r.route > routes.route)
		FROM routes WHERE routes.route IS NOT NULL
	)
	SELECT route FROM routes WHERE route IS NOT NULL LIMIT $2`

// RequestLogRoutes lists the distinct routes in the organization's log, in
// order, for the log's route filter.
func (s *MonitoringService) RequestLogRoutes(ctx context.Context, orgID string) ([]string, error) {
	tx, scope, err := s.begin(ctx, orgID, "")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, requestLogRoutesQuery, scope.orgID, requestLogMaxRoutes)
	if err != nil {
		return nil, fmt.Errorf("request log routes: %w", err)
	}
	defer rows.Close()
	routes := []string{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("request log routes: %w", err)
		}
		routes = append(routes, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("request log routes: %w", err)
	}
	return routes, nil
}
