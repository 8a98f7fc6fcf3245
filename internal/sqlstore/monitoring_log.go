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
		// Request ids are unique: the newest match is the one, and a
		// request searched for is most often a recent one. No index holds
		// them, so a miss reads the organization's whole log.
		scan, err := scanWholeLog(ctx, tx, scope)
		if err != nil {
			return nil, false, err
		}
		out, err := findRequestLog(ctx, tx, scope, f, logRead{n: 1, tableScan: scan})
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
// log holds, which keeps their cost bounded: latency is inside the packed
// entries, where no index reaches.
func findSortedRequestLog(ctx context.Context, q queryer, scope usageScope, f keygate.RequestLogFilter, limit int) ([]*keygate.RequestLogEntry, bool, error) {
	var from int64
	if f.Sort != keygate.LogOldest {
		var err error
		if from, err = sortWindowStart(ctx, q, scope, f); err != nil {
			return nil, false, err
		}
	}
	out, err := findRequestLog(ctx, q, scope, f, logRead{n: limit + 1, fromChunk: from})
	if err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	return out[:min(len(out), limit)], more, nil
}

// sortWindowStart returns the id of the oldest chunk of the newest
// keygate.LogSortWindow entries that match f, 0 if fewer match: it walks
// the matching chunks newest first, adding up their entries.
func sortWindowStart(ctx context.Context, q queryer, scope usageScope, f keygate.RequestLogFilter) (int64, error) {
	f.Sort, f.Offset = "", 0
	query, args := requestLogQueryFrom(scope, f, logRead{})
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("find request log: %w", err)
	}
	defer rows.Close()
	var id, total int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return 0, fmt.Errorf("find request log: %w", err)
		}
		if total += n; total >= keygate.LogSortWindow {
			return id, rows.Close()
		}
	}
	return 0, rows.Err()
}

// scanWholeLog reports whether a read of the organization's whole log is
// faster as a scan of the whole table, in the order of its rows, than
// through the organization's index, which looks each row up: when the
// organization holds a good part of the log, as on an instance of a few.
func scanWholeLog(ctx context.Context, q queryer, scope usageScope) (bool, error) {
	var org, all int64
	// The ids' span counts the chunks the retention sweep left, and those
	// it deleted in between, which a scan skips quickly.
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id) - MIN(id) + 1, 0) FROM request_log_chunk`).Scan(&all); err != nil {
		return false, fmt.Errorf("find request log: %w", err)
	}
	// Counting stops at a quarter of the log, from the index alone.
	quarter := (all + 3) / 4
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM request_log_chunk WHERE organization_id = $1 LIMIT $2)`,
		scope.orgID, quarter).Scan(&org); err != nil {
		return false, fmt.Errorf("find request log: %w", err)
	}
	return quarter > 0 && org >= quarter, nil
}

// logRead is how requestLogQueryFrom reads the log.
type logRead struct {
	n    int  // entries; 0 for the matching chunks' ids and sizes instead
	walk bool // as requestLogQuery says
	// fromChunk, if not 0, is the id of the oldest chunk to read.
	fromChunk int64
	// tableScan reads the table in the order of its rows, not through an
	// index (see scanWholeLog).
	tableScan bool
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
	for rows.Next() {
		e, err := scanLogEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("find request log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find request log: %w", err)
	}
	return out, nil
}

// logEntryColumns are the columns of an entry of request_log_chunk c and
// json_each j (migrations/0015_request_detail_refused.sql), for
// scanLogEntry.
const logEntryColumns = entryID + `, ` + entryCreatedAt + `, COALESCE(k.public_id, ''), COALESCE(k.name, ''), COALESCE(k.hint, ''),
	c.method, c.route, ` + entryPath + `, c.status, c.code, ` + entryLatencyUS + `, c.ip, c.user_agent, ` + entryRequestID

func scanLogEntry(row scanner) (*keygate.RequestLogEntry, error) {
	var e keygate.RequestLogEntry
	var at, latencyUS int64
	var rid []byte
	if err := row.Scan(&e.ID, &at, &e.KeyID, &e.KeyName, &e.KeyHint, &e.Method, &e.Route, &e.Path, &e.Status, &e.Code,
		&latencyUS, &e.IP, &e.UserAgent, &rid); err != nil {
		return nil, err
	}
	e.At, e.Latency = fromMS(at), microseconds(latencyUS)
	if len(rid) == 8 && !allZero(rid) {
		e.RequestID = hex.EncodeToString(rid)
	}
	return &e, nil
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
	e, err := scanLogEntry(tx.QueryRowContext(ctx, `
		SELECT `+logEntryColumns+`
		FROM request_log_chunk c JOIN json_each(c.entries) j LEFT JOIN api_keys k ON k.id = c.api_key_id
		WHERE c.organization_id = $1 AND c.id = $2 AND j.key = $3`, scope.orgID, id/chunkEntries, id%chunkEntries))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errLogEntryNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find request log entry: %w", err)
	}
	return e, nil
}

// requestLogWalk is how many of the newest chunks that match a filter's
// other conditions FindRequestLog reads looking for a page in its time
// range, before it reads the whole range.
var requestLogWalk = 10_000

// The log's entries, unpacked from request_log_chunk c and json_each j
// (migrations/0012_request_log_packed.sql, 0015_request_detail_refused.sql).
const (
	entryID        = `(c.id * 1024 + j.key)`
	entryCreatedAt = `(c.second * 1000 + (j.value & 1023))`
	entryLatencyUS = `(j.value >> 10)`
	entryPath      = `(CASE WHEN c.paths = '' THEN c.route WHEN substr(c.paths, 1, 1) = '[' THEN c.paths ->> j.key ELSE c.paths END)`
	entryRequestID = `substr(c.request_ids, j.key * 8 + 1, 8)`
)

// logOrders are the ORDER BY clauses of keygate.LogSorts; ties go newest
// first.
var logOrders = map[string]string{
	keygate.LogNewest:     `c.id DESC, j.key DESC`,
	keygate.LogOldest:     `c.id, j.key`,
	keygate.LogStatusDesc: `c.status DESC, c.id DESC, j.key DESC`,
	keygate.LogStatusAsc:  `c.status, c.id DESC, j.key DESC`,
	keygate.LogSlowest:    entryLatencyUS + ` DESC, c.id DESC, j.key DESC`,
	keygate.LogFastest:    entryLatencyUS + `, c.id DESC, j.key DESC`,
}

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
	return requestLogQueryFrom(scope, f, logRead{n: n, walk: walk})
}

// requestLogQueryFrom is requestLogQuery as read says. With read.n 0, it
// is the query of the matching chunks' ids and sizes, newest first.
func requestLogQueryFrom(scope usageScope, f keygate.RequestLogFilter, read logRead) (string, []any) {
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	var rid []byte
	if id, ok := usage.ParseRequestID(f.RequestID); ok {
		b := id.Bytes()
		rid = b[:]
	}
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
		if rid != nil {
			where = append(where, "instr("+t+"request_ids, "+arg(rid)+") > 0")
		}
		if f.Before > 0 {
			where = append(where, t+"id <= "+arg(floorDiv(f.Before-1, chunkEntries)))
		}
		return where
	}
	if read.n == 0 {
		// The chunks alone, by the conditions on them (the time range at
		// the precision of their seconds).
		where := chunks("c.")
		if f.From != nil {
			where = append(where, "c.second >= "+arg(floorDiv(ms(*f.From), 1000)))
		}
		if f.To != nil {
			where = append(where, "c.second <= "+arg(floorDiv(ms(*f.To)-1, 1000)))
		}
		return `SELECT c.id, c.n FROM request_log_chunk c WHERE ` + strings.Join(where, " AND ") + ` ORDER BY c.id DESC`, args
	}
	where := chunks("c.")
	if f.Before > 0 {
		where = append(where, entryID+" < "+arg(f.Before))
	}
	if rid != nil {
		where = append(where, entryRequestID+" = "+arg(rid))
	}
	if f.From != nil {
		from := ms(*f.From)
		where = append(where, "c.second >= "+arg(floorDiv(from, 1000)), entryCreatedAt+" >= "+arg(from))
	}
	if f.To != nil {
		to := ms(*f.To)
		where = append(where, "c.second <= "+arg(floorDiv(to-1, 1000)), entryCreatedAt+" < "+arg(to))
	}
	if read.fromChunk > 0 {
		where = append(where, "c.id >= "+arg(read.fromChunk))
	}
	from := "request_log_chunk c"
	if read.tableScan {
		from += " NOT INDEXED"
	} else if period := f.From != nil || f.To != nil; period && read.walk {
		where = append(where, `c.id >= (SELECT MIN(id) FROM (SELECT i.id FROM request_log_chunk i WHERE `+
			strings.Join(chunks("i."), " AND ")+` ORDER BY i.id DESC LIMIT `+arg(requestLogWalk)+`))`)
	} else if period && read.fromChunk == 0 {
		// Without statistics, the planner would rather walk an id index
		// for the order than seek the range: through the whole log, for
		// an old range.
		from += " INDEXED BY request_log_chunk_org_time"
	}
	order, ok := logOrders[f.Sort]
	if !ok {
		order = logOrders[keygate.LogNewest]
	}
	limit := arg(read.n) // before the return reads args
	offset := arg(max(f.Offset, 0))
	return `
		SELECT ` + logEntryColumns + `
		FROM ` + from + ` JOIN json_each(c.entries) j LEFT JOIN api_keys k ON k.id = c.api_key_id
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ` + order + ` LIMIT ` + limit + ` OFFSET ` + offset, args
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
