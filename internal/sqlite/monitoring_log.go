package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// requestLogClassExpr is a request_log_chunk row's status class. It must
// stay identical to the expression of the request_log_chunk_org_class index
// (migrations/0012_request_log_packed.sql): SQLite uses an expression index only
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

// requestLogWalk is how many of the newest chunks that match a filter's
// other conditions FindRequestLog reads looking for a page in its time
// range, before it reads the whole range.
var requestLogWalk = 10_000

// The log's entries, unpacked from request_log_chunk c and json_each j
// (migrations/0012_request_log_packed.sql).
const (
	entryID        = `(c.id * 1024 + j.key)`
	entryCreatedAt = `(c.second * 1000 + (j.value & 1023))`
	entryLatencyUS = `(j.value >> 10)`
)

// requestLogQuery builds the query of the first n entries that match f.
//
// The filters other than time are equalities next to organization_id and
// the order is id descending, so one of the request_log_chunk_org_* or
// _key_id indexes serves the query walking backwards, and it stops after
// the chunks that hold n entries. Within a chunk, entries are in id order.
//
// Time is not in id order. Without walk, the query reads every chunk of
// the range from request_log_chunk_org_time and sorts them, a cost that
// grows with the range. With walk, it walks the same index as without a
// range, down to the requestLogWalk-th newest chunk that matches the other
// filters (found first, from the index alone), and keeps the entries in the
// range: a page's worth of chunks when the range is recent and busy ("the
// last 7 days"), a few milliseconds when it is not. The first n matches
// among the newest chunks are the first n of all, so a full page is exact;
// a short one may not be, and FindRequestLog reads the range then.
//
// Only constants are concatenated; every value is a parameter.
func requestLogQuery(scope usageScope, f keygate.RequestLogFilter, n int, walk bool) (string, []any) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	// chunks are the conditions on the chunks of t other than time.
	chunks := func(t string) []string {
		where := []string{t + "organization_id = " + arg(scope.orgID)}
		if scope.keyID != 0 {
			where = append(where, t+"api_key_id = "+arg(scope.keyID))
		}
		if f.Class != "" {
			where = append(where, requestLogClassExpr+" = "+arg(f.Class))
			if f.Class != keygate.Class2xx {
				// What request_log_chunk_org_class holds: errors only.
				where = append(where, "status >= 400")
			}
		}
		if f.Route != "" {
			where = append(where, t+"route = "+arg(f.Route))
		}
		if f.Before > 0 {
			where = append(where, t+"id <= "+arg(floorDiv(f.Before-1, chunkEntries)))
		}
		return where
	}
	where := chunks("c.")
	if f.Before > 0 {
		where = append(where, entryID+" < "+arg(f.Before))
	}
	if f.From != nil {
		from := ms(*f.From)
		where = append(where, "c.second >= "+arg(floorDiv(from, 1000)), entryCreatedAt+" >= "+arg(from))
	}
	if f.To != nil {
		to := ms(*f.To)
		where = append(where, "c.second <= "+arg(floorDiv(to-1, 1000)), entryCreatedAt+" < "+arg(to))
	}
	from := "request_log_chunk c"
	if period := f.From != nil || f.To != nil; period && walk {
		where = append(where, `c.id >= (SELECT MIN(id) FROM (SELECT i.id FROM request_log_chunk i WHERE `+
			strings.Join(chunks("i."), " AND ")+` ORDER BY i.id DESC LIMIT `+arg(requestLogWalk)+`))`)
	} else if period {
		// Without statistics, the planner would rather walk an id index
		// for the order than seek the range: through the whole log, for
		// an old range.
		from += " INDEXED BY request_log_chunk_org_time"
	}
	limit := arg(n) // before the return reads args
	return `
		SELECT ` + entryID + `, ` + entryCreatedAt + `, COALESCE(k.public_id, ''), COALESCE(k.name, ''), COALESCE(k.hint, ''),
			c.method, c.route, c.status, ` + entryLatencyUS + `, c.ip, c.user_agent
		FROM ` + from + ` JOIN json_each(c.entries) j LEFT JOIN api_keys k ON k.id = c.api_key_id
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY c.id DESC, j.key DESC LIMIT ` + limit, args
}

// floorDiv is a / b rounded down, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// requestLogRoutesQuery lists an organization's distinct routes by
// skipping along request_log_chunk_org_route from one route to the next, one
// index seek per route, rather than reading every row of the log as
// SELECT DISTINCT would. PostgreSQL runs it as written.
const requestLogRoutesQuery = `
	WITH RECURSIVE routes (route) AS (
		SELECT MIN(route) FROM request_log_chunk WHERE organization_id = $1
		UNION ALL
		SELECT (SELECT MIN(r.route) FROM request_log_chunk r WHERE r.organization_id = $1 AND r.route > routes.route)
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
