package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/usage"
)

// statusClassExpr is a request_log row's status class, keygate.StatusClassOf
// in SQL (empty for the statuses of no class). It must stay identical to the
// expression of the request_log_org_class index
// (migrations/*/0017_request_log_rows.sql): both engines use an expression
// index only for the same expression.
const statusClassExpr = `(CASE WHEN status = 429 THEN '429' WHEN status >= 500 AND status <= 599 THEN '5xx' WHEN status >= 400 AND status <= 499 THEN '4xx' WHEN status >= 200 AND status <= 399 THEN '2xx' ELSE '' END)`

// FindRequestLog returns the organization's log entries that match f,
// newest first, and whether older ones match too.
func (s *MonitoringService) FindRequestLog(ctx context.Context, f keygate.RequestLogFilter) ([]*keygate.RequestLogEntry, bool, error) {
	tx, scope, err := s.begin(ctx, f.OrgPublicID, f.KeyID)
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
	if f.Sort != "" && !slices.Contains(keygate.LogSorts, f.Sort) {
		return nil, false, keygate.FieldError("sort", "Unknown order.")
	}
	if f.RequestID != "" {
		if _, ok := usage.ParseRequestID(f.RequestID); !ok {
			return nil, false, keygate.FieldError("request_id", msgRequestID)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = requestLogDefault
	}
	limit = min(limit, requestLogMax)
	if f.RequestID != "" {
		// Request ids are unique: the newest match is the one
		// (request_log_org_request).
		out, err := findRequestLog(ctx, tx, scope, f, logRead{n: 1})
		return out, false, err
	}
	if f.Sort != "" && f.Sort != keygate.LogNewest {
		return findSortedRequestLog(ctx, tx, scope, f, limit)
	}
	f.Offset = 0
	// A time range is read in two steps; see requestLogQuery.
	period := f.From != nil || f.To != nil
	out, err := findRequestLog(ctx, tx, scope, f, logRead{n: limit + 1, walk: period})
	if err == nil && period && len(out) <= limit {
		// The newest rows held less than a page of the range: read the
		// range itself.
		out, err = findRequestLog(ctx, tx, scope, f, logRead{n: limit + 1})
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

// msgRequestID says what a request id looks like.
const msgRequestID = "Enter a request ID: 16 characters, 0-9 and a-f, as in the X-Request-Id header."

// findSortedRequestLog returns a page of the log in an order other than
// newest first. Oldest first walks an index forwards; status and latency
// sort the newest keygate.LogSortWindow entries that match, whatever the
// log holds, which keeps their cost bounded: latency is in no index.
func findSortedRequestLog(ctx context.Context, q queryer, scope usageScope, f keygate.RequestLogFilter, limit int) ([]*keygate.RequestLogEntry, bool, error) {
	var from int64
	if f.Sort != keygate.LogOldest {
		var err error
		if from, err = sortWindowStart(ctx, q, scope, f); err != nil {
			return nil, false, err
		}
	}
	out, err := findRequestLog(ctx, q, scope, f, logRead{n: limit + 1, fromID: from})
	if err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	return out[:min(len(out), limit)], more, nil
}

// sortWindowStart returns the id of the oldest of the newest
// keygate.LogSortWindow entries that match f, 0 if fewer match: the index
// that serves f's filters counts them off, without reading the rows.
func sortWindowStart(ctx context.Context, q queryer, scope usageScope, f keygate.RequestLogFilter) (int64, error) {
	f.Sort, f.Offset = "", 0
	query, args := requestLogQueryFrom(scope, f, logRead{})
	var id int64
	err := q.QueryRowContext(ctx, query, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("find request log: %w", err)
	}
	return id, nil
}

// logRead is how requestLogQueryFrom reads the log.
type logRead struct {
	n    int  // entries; 0 for the id of the keygate.LogSortWindow-th newest match instead
	walk bool // as requestLogQuery says
	// fromID, if not 0, is the id of the oldest entry to read.
	fromID int64
}

// findRequestLog runs requestLogQueryFrom and reads its entries.
func findRequestLog(ctx context.Context, q queryer, scope usageScope, f keygate.RequestLogFilter, read logRead) ([]*keygate.RequestLogEntry, error) {
	query, args := requestLogQueryFrom(scope, f, read)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find request log: %w", err)
	}
	defer rows.Close()
	var out []*keygate.RequestLogEntry
	var keyIDs []int64
	for rows.Next() {
		e, keyID, err := scanLogEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("find request log: %w", err)
		}
		out, keyIDs = append(out, e), append(keyIDs, keyID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find request log: %w", err)
	}
	rows.Close()
	if err := nameKeys(ctx, q, out, keyIDs); err != nil {
		return nil, fmt.Errorf("find request log: %w", err)
	}
	return out, nil
}

// logEntryColumns are the columns of a request_log row c, for
// scanLogEntry. The log's queries join no key: a join would make
// PostgreSQL sort the rows it joins rather than stop after a page of them.
// nameKeys reads the keys of a page instead.
const logEntryColumns = `c.id, c.created_at, COALESCE(c.api_key_id, 0),
	c.method, c.route, (CASE WHEN c.path = '' THEN c.route ELSE c.path END), c.status, c.code, c.latency_us, c.ip, c.user_agent, c.request_id, c.service`

// scanLogEntry scans logEntryColumns into an entry, and returns its key's
// row id (0 for none) for nameKeys.
func scanLogEntry(row scanner) (*keygate.RequestLogEntry, int64, error) {
	var e keygate.RequestLogEntry
	var at, latencyUS, keyID int64
	var rid []byte
	if err := row.Scan(&e.ID, &at, &keyID, &e.Method, &e.Route, &e.Path, &e.Status, &e.Code,
		&latencyUS, &e.IP, &e.UserAgent, &rid, &e.Service); err != nil {
		return nil, 0, err
	}
	e.At, e.Latency = fromMS(at), microseconds(latencyUS)
	if len(rid) == 8 && !allZero(rid) {
		e.RequestID = hex.EncodeToString(rid)
	}
	return &e, keyID, nil
}

// nameKeys sets each entry's key id, name and hint from the key of row id
// keyIDs[i], in one read of the keys of the page.
func nameKeys(ctx context.Context, q queryer, entries []*keygate.RequestLogEntry, keyIDs []int64) error {
	var distinct []any
	seen := map[int64]bool{0: true}
	for _, id := range keyIDs {
		if !seen[id] {
			seen[id] = true
			distinct = append(distinct, id)
		}
	}
	type keyRef struct{ publicID, name, hint string }
	keys := map[int64]keyRef{}
	for len(distinct) > 0 {
		part := distinct[:min(len(distinct), inListMax)]
		distinct = distinct[len(part):]
		rows, err := q.QueryContext(ctx, `SELECT id, public_id, name, hint FROM api_keys WHERE id IN (`+placeholders(1, len(part))+`)`, part...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var k keyRef
			if err := rows.Scan(&id, &k.publicID, &k.name, &k.hint); err != nil {
				rows.Close()
				return err
			}
			keys[id] = k
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for i, e := range entries {
		k := keys[keyIDs[i]]
		e.KeyID, e.KeyName, e.KeyHint = k.publicID, k.name, k.hint
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// errLogEntryNotFound is the answer for an id the log does not hold.
var errLogEntryNotFound = keygate.Errorf(keygate.ENOTFOUND, "Request not found. It may be older than the log keeps.")

// FindRequestLogEntry returns one entry of the organization's log.
func (s *MonitoringService) FindRequestLogEntry(ctx context.Context, orgID string, id int64) (*keygate.RequestLogEntry, error) {
	tx, scope, err := s.begin(ctx, orgID, "")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if id < 0 {
		return nil, errLogEntryNotFound
	}
	e, keyID, err := scanLogEntry(tx.QueryRowContext(ctx, `
		SELECT `+logEntryColumns+` FROM request_log c WHERE c.organization_id = $1 AND c.id = $2`, scope.orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errLogEntryNotFound
	} else if err == nil {
		err = nameKeys(ctx, tx, []*keygate.RequestLogEntry{e}, []int64{keyID})
	}
	if err != nil {
		return nil, fmt.Errorf("find request log entry: %w", err)
	}
	return e, nil
}

// requestLogWalk is how many of the newest rows that match a filter's
// other conditions FindRequestLog reads looking for a page in its time
// range, before it reads the whole range.
var requestLogWalk = 10_000

// logOrders are the ORDER BY clauses of keygate.LogSorts; ties go newest
// first.
var logOrders = map[string]string{
	keygate.LogNewest:     `c.id DESC`,
	keygate.LogOldest:     `c.id`,
	keygate.LogStatusDesc: `c.status DESC, c.id DESC`,
	keygate.LogStatusAsc:  `c.status, c.id DESC`,
	keygate.LogSlowest:    `c.latency_us DESC, c.id DESC`,
	keygate.LogFastest:    `c.latency_us, c.id DESC`,
}

// requestLogQuery builds the query of the first n entries that match f.
//
// The filters other than time are equalities next to organization_id and
// the order is id descending, so one of the request_log_org_* or _key_id
// indexes serves the query walking backwards, and it stops after n rows.
//
// Time is not in id order. Without walk, the query reads every row of the
// range from request_log_org_time and sorts them, a cost that grows with
// the range. With walk, it walks the same index as without a range, down
// to the requestLogWalk-th newest row that matches the other filters
// (found first, from the index alone), and keeps the rows in the range: a
// page's worth of rows when the range is recent and busy ("the last 7
// days"), a few milliseconds when it is not. The first n matches among the
// newest rows are the first n of all, so a full page is exact; a short one
// may not be, and FindRequestLog reads the range then.
//
// Only constants are concatenated; every value is a parameter.
func requestLogQuery(scope usageScope, f keygate.RequestLogFilter, n int, walk bool) (string, []any) {
	return requestLogQueryFrom(scope, f, logRead{n: n, walk: walk})
}

// requestLogQueryFrom is requestLogQuery as read says. With read.n 0, it
// is the query of the id of the keygate.LogSortWindow-th newest match.
func requestLogQueryFrom(scope usageScope, f keygate.RequestLogFilter, read logRead) (string, []any) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	// filters are the conditions on the rows of t other than time.
	filters := func(t string) []string {
		where := []string{t + "organization_id = " + arg(scope.orgID)}
		if scope.keyID != 0 {
			where = append(where, t+"api_key_id = "+arg(scope.keyID))
		}
		if f.Class != "" {
			where = append(where, statusClassExpr+" = "+arg(f.Class))
			if f.Class != keygate.Class2xx {
				// What request_log_org_class holds: errors only.
				where = append(where, "status >= 400")
			}
		}
		if f.Route != "" {
			where = append(where, t+"route = "+arg(f.Route))
		}
		if f.Service != nil {
			where = append(where, t+"service = "+arg(*f.Service))
		}
		if id, ok := usage.ParseRequestID(f.RequestID); ok {
			b := id.Bytes()
			where = append(where, t+"request_id = "+arg(b[:]))
		}
		if f.Before > 0 {
			where = append(where, t+"id < "+arg(f.Before))
		}
		return where
	}
	where := filters("c.")
	if f.From != nil {
		where = append(where, "c.created_at >= "+arg(ms(*f.From)))
	}
	if f.To != nil {
		where = append(where, "c.created_at < "+arg(ms(*f.To)))
	}
	if read.n == 0 {
		return `SELECT c.id FROM request_log c WHERE ` + strings.Join(where, " AND ") +
			` ORDER BY c.id DESC LIMIT 1 OFFSET ` + arg(keygate.LogSortWindow-1), args
	}
	if read.fromID > 0 {
		where = append(where, "c.id >= "+arg(read.fromID))
	}
	order, ok := logOrders[f.Sort]
	if !ok {
		order = logOrders[keygate.LogNewest]
	}
	if period := f.From != nil || f.To != nil; period && read.walk {
		where = append(where, `c.id >= (SELECT MIN(id) FROM (SELECT i.id FROM request_log i WHERE `+
			strings.Join(filters("i."), " AND ")+` ORDER BY i.id DESC LIMIT `+arg(requestLogWalk)+`) AS walked)`)
	} else if period && read.fromID == 0 && order == logOrders[keygate.LogNewest] {
		// The whole range, newest first: its ids are picked from
		// request_log_org_time alone (it holds them: the rowid on SQLite,
		// INCLUDE on PostgreSQL), sorted, and only the page's rows are
		// read. The unary plus hides the id from the indexes' order (on
		// both engines): without statistics, SQLite would rather walk an
		// id index through the whole log, for an old range.
		limit := arg(read.n)
		offset := arg(max(f.Offset, 0))
		return `
		SELECT ` + logEntryColumns + `
		FROM request_log c
		WHERE c.id IN (SELECT c.id FROM request_log c WHERE ` + strings.Join(where, " AND ") + `
			ORDER BY +c.id DESC LIMIT ` + limit + ` OFFSET ` + offset + `)
		ORDER BY c.id DESC`, args
	}
	limit := arg(read.n) // before the return reads args
	offset := arg(max(f.Offset, 0))
	return `
		SELECT ` + logEntryColumns + `
		FROM request_log c
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ` + order + ` LIMIT ` + limit + ` OFFSET ` + offset, args
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
