package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// This file exports the monitoring queries to the external tests, so they
// can check the query plans of exactly the SQL the service runs.

// StatusClassExpr is the SQL of keygate.StatusClassOf over a status column.
const StatusClassExpr = statusClassExpr

// RequestLogQuery is a query FindRequestLog runs for f, n rows, in the
// organization and (when keyID is not 0) the key with those row ids; walk
// as requestLogQuery says.
func RequestLogQuery(orgID, keyID int64, f keygate.RequestLogFilter, n int, walk bool) (string, []any) {
	return requestLogQuery(usageScope{orgID: orgID, keyID: keyID}, f, n, walk)
}

// SetRequestLogWalk sets how many rows FindRequestLog walks looking for a
// page in a time range, until the test ends.
func SetRequestLogWalk(tb testing.TB, n int) {
	old := requestLogWalk
	requestLogWalk = n
	tb.Cleanup(func() { requestLogWalk = old })
}

// CounterQueries are the queries Summary (summary, latency) and Daily
// (daily, for days days) run at now, for the organization or (keyID not 0)
// the key with those row ids.
func CounterQueries(orgID, keyID int64, now time.Time, days int) map[string]struct {
	Query string
	Args  []any
} {
	scope, d := usageScope{orgID: orgID, keyID: keyID}, daysAt(now)
	out := map[string]struct {
		Query string
		Args  []any
	}{}
	add := func(name, q string, args []any) {
		out[name] = struct {
			Query string
			Args  []any
		}{q, args}
	}
	q, args := summaryQuery(scope, d.last(30), d.today, d.tomorrow)
	add("summary", q, args)
	q, args = latencyQuery(scope, d.last(30), d.tomorrow)
	add("latency", q, args)
	q, args = dailyQuery(scope, d.last(days), d.tomorrow)
	add("daily", q, args)
	return out
}

// Monitoring queries with fixed text, and their arguments' meaning.
const (
	TopQuery              = topQuery              // key id, since
	RequestLogRoutesQuery = requestLogRoutesQuery // org id, limit
	// SweepQuery selects the rows DeleteRequestLogBefore deletes: before, limit.
	SweepQuery = sweepSelect
)

// ExplainQueryPlan returns query's plan: on SQLite as its shell prints it,
// one line per step, indented by depth; on PostgreSQL as EXPLAIN prints it.
func (db *DB) ExplainQueryPlan(ctx context.Context, query string, args ...any) (string, error) {
	if db.engine == EnginePostgres {
		return db.explainPostgres(ctx, query, args...)
	}
	rows, err := db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	depth := map[int]int{}
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", err
		}
		depth[id] = depth[parent] + 1
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth[id]-1), detail)
	}
	return b.String(), rows.Err()
}

func (db *DB) explainPostgres(ctx context.Context, query string, args ...any) (string, error) {
	rows, err := db.read.QueryContext(ctx, "EXPLAIN (COSTS OFF) "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		b.WriteString(line + "\n")
	}
	return b.String(), rows.Err()
}

// MigrateThrough applies the embedded migrations up to version, leaving
// the database as an older release left it.
func (db *DB) MigrateThrough(ctx context.Context, version int) error {
	return db.migrateThrough(ctx, version)
}
