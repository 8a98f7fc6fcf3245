package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/usage"
)

// UsageStore writes batches of API usage.
type UsageStore struct {
	db *DB
	// NoPause runs a flush's log statements back to back, without the
	// pauses that leave the core to requests (flushPause): for seeding,
	// and for benchmarks that time the flush's work.
	NoPause bool

	mu    sync.Mutex
	stmts *usageStmts // see prepare
}

// usageStmts are the statements of a flush, prepared once on the writer:
// a flush a second would otherwise parse each of them every second.
type usageStmts struct {
	logInserts map[int]*sql.Stmt // by rows
	// Upserts of the hourly counters and updates of the keys' last
	// requests (see counterWrites).
	writes map[string]*sql.Stmt
}

// counterWrites are the flush's statements besides the log's, by name.
// Replicas flushing into one database at once add to the counters, and a
// key's last request moves only forwards, whatever order flushes commit in.
var counterWrites = map[string]string{
	"hourly": `INSERT INTO usage_hourly (organization_id, api_key_id, hour, status_class, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, hour, status_class) DO UPDATE SET count = usage_hourly.count + excluded.count`,
	"latency": `INSERT INTO usage_latency_hourly (organization_id, api_key_id, hour, bucket, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, hour, bucket) DO UPDATE SET count = usage_latency_hourly.count + excluded.count`,
	"daily": `INSERT INTO usage_daily (organization_id, api_key_id, day, status_class, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, day, status_class) DO UPDATE SET count = usage_daily.count + excluded.count`,
	"latency daily": `INSERT INTO usage_latency_daily (organization_id, api_key_id, day, bucket, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, day, bucket) DO UPDATE SET count = usage_latency_daily.count + excluded.count`,
	"service": `INSERT INTO usage_service_hourly (organization_id, api_key_id, hour, service, status_class, count) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (api_key_id, hour, service, status_class) DO UPDATE SET count = usage_service_hourly.count + excluded.count`,
	"refused": `INSERT INTO usage_refused_hourly (organization_id, api_key_id, hour, count) VALUES ($1, $2, $3, $4)
		ON CONFLICT (api_key_id, hour) DO UPDATE SET count = usage_refused_hourly.count + excluded.count`,
	"last use": `UPDATE api_keys SET last_used_at = $1, last_used_ip = $2, last_used_user_agent = $3
		WHERE id = $4 AND (last_used_at IS NULL OR last_used_at < $1)`,
	"last attempt": `UPDATE api_keys SET last_attempt_at = $1, last_attempt_ip = $2, last_attempt_status = $3
		WHERE id = $4 AND (last_attempt_at IS NULL OR last_attempt_at < $1)`,
	"last refusal": `UPDATE api_keys SET last_refused_at = $1, last_refused_ip = $2, last_refused_code = $3
		WHERE id = $4 AND (last_refused_at IS NULL OR last_refused_at < $1)`,
}

// NewUsageStore returns a UsageStore on db.
func NewUsageStore(db *DB) *UsageStore { return &UsageStore{db: db} }

// WriteUsage writes a batch in one transaction: the request log, the
// hourly and daily counters and latency histograms and the hourly
// refusals (each added to what other flushes wrote) and each
// key's last use, attempt and refusal. Usage of an organization or key
// deleted since its requests is dropped.
func (s *UsageStore) WriteUsage(ctx context.Context, b *usage.Batch) error {
	stmts, err := s.prepare(ctx)
	if err != nil {
		return err
	}
	// Replicas flushing at once into one PostgreSQL lock the same counter
	// and key rows: writeBatch takes them in one order, and a transaction
	// the database aborts all the same (or SQLite's busy writer) runs
	// again.
	// On SQLite the flush's statements run on the server's own cores.
	var pauseUntil time.Time // the zero time: never
	if s.db.engine == EngineSQLite && !s.NoPause {
		pauseUntil = time.Now().Add(flushPauseBudget)
	}
	return s.db.inTx(ctx, func(tx *Tx) error { return writeBatch(ctx, tx, stmts, b, pauseUntil) })
}

// writeBatch is WriteUsage's transaction. It writes the counters and keys
// in the order of their primary keys.
func writeBatch(ctx context.Context, tx *Tx, stmts *usageStmts, b *usage.Batch, pauseUntil time.Time) error {
	gone, err := deletedOwners(ctx, tx, b)
	if err != nil {
		return err
	}
	if err := insertRequestLog(ctx, tx, stmts.logInserts, b.Requests, gone, pauseUntil); err != nil {
		return err
	}
	w := &batchWriter{ctx: ctx, tx: tx, stmts: stmts.writes}
	defer w.close()
	for _, k := range sortedKeys(b.Hourly, compareHourKeys) {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("hourly", k.OrganizationID, k.KeyID, ms(k.Hour), k.Class, b.Hourly[k])
		}
	}
	for _, k := range sortedKeys(b.Latency, compareLatencyKeys) {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("latency", k.OrganizationID, k.KeyID, ms(k.Hour), k.BucketUS, b.Latency[k])
		}
	}
	// The daily sums, from the hourly counters (a batch spans a second or
	// so: most often one hour of one day).
	daily, latencyDaily := map[usage.HourKey]int{}, map[usage.LatencyKey]int{}
	for k, n := range b.Hourly {
		k.Hour = k.Hour.Truncate(24 * time.Hour)
		daily[k] += n
	}
	for k, n := range b.Latency {
		k.Hour = k.Hour.Truncate(24 * time.Hour)
		latencyDaily[k] += n
	}
	for _, k := range sortedKeys(daily, compareHourKeys) {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("daily", k.OrganizationID, k.KeyID, ms(k.Hour), k.Class, daily[k])
		}
	}
	for _, k := range sortedKeys(latencyDaily, compareLatencyKeys) {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("latency daily", k.OrganizationID, k.KeyID, ms(k.Hour), k.BucketUS, latencyDaily[k])
		}
	}
	for _, k := range sortedKeys(b.Refused, func(a, b usage.RefusedKey) int {
		return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), a.Hour.Compare(b.Hour))
	}) {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("refused", k.OrganizationID, k.KeyID, ms(k.Hour), b.Refused[k])
		}
	}
	for _, k := range sortedKeys(b.Services, func(a, b usage.ServiceKey) int {
		return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), a.Hour.Compare(b.Hour), strings.Compare(a.Service, b.Service), strings.Compare(a.Class, b.Class))
	}) {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("service", k.OrganizationID, k.KeyID, ms(k.Hour), k.Service, k.Class, b.Services[k])
		}
	}
	for _, id := range sortedKeys(b.LastUsed, cmp.Compare[int64]) {
		if u := b.LastUsed[id]; !gone.keys[id] {
			w.exec("last use", ms(u.At), u.IP, truncate(u.UserAgent, 512), id)
		}
	}
	for _, id := range sortedKeys(b.LastAttempt, cmp.Compare[int64]) {
		if u := b.LastAttempt[id]; !gone.keys[id] {
			w.exec("last attempt", ms(u.At), u.IP, u.Status, id)
		}
	}
	for _, id := range sortedKeys(b.LastRefused, cmp.Compare[int64]) {
		if u := b.LastRefused[id]; !gone.keys[id] {
			w.exec("last refusal", ms(u.At), u.IP, u.Code, id)
		}
	}
	return w.err
}

// compareHourKeys and compareLatencyKeys order counters as their tables'
// primary keys do.
func compareHourKeys(a, b usage.HourKey) int {
	return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), a.Hour.Compare(b.Hour), strings.Compare(a.Class, b.Class))
}

func compareLatencyKeys(a, b usage.LatencyKey) int {
	return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), a.Hour.Compare(b.Hour), cmp.Compare(a.BucketUS, b.BucketUS))
}

// sortedKeys returns m's keys in the order of compare.
func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	return slices.SortedFunc(maps.Keys(m), compare)
}

// batchWriter runs the statements of counterWrites in a flush's
// transaction, each taken into it once; after an error it does nothing
// and keeps the error.
type batchWriter struct {
	ctx   context.Context
	tx    *Tx
	stmts map[string]*sql.Stmt
	inTx  map[string]*sql.Stmt
	err   error
}

func (w *batchWriter) exec(name string, args ...any) {
	if w.err != nil {
		return
	}
	st, ok := w.inTx[name]
	if !ok {
		if w.inTx == nil {
			w.inTx = map[string]*sql.Stmt{}
		}
		st = w.tx.StmtContext(w.ctx, w.stmts[name])
		w.inTx[name] = st
	}
	if _, err := st.ExecContext(w.ctx, args...); err != nil {
		w.err = fmt.Errorf("write usage, %s: %w", name, err)
	}
}

func (w *batchWriter) close() {
	for _, st := range w.inTx {
		st.Close()
	}
}

// DeleteRequestLogBefore deletes up to limit request log rows older than
// before and returns how many it deleted, so a sweep can go in small
// batches that never hold the writer (or, on PostgreSQL, many row locks)
// for long.
func (s *UsageStore) DeleteRequestLogBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM request_log WHERE id IN (`+sweepSelect+`)`, ms(before), limit)
	if err != nil {
		return 0, fmt.Errorf("sweep request log: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// sweepSelect picks up to $2 request log rows from before $1, in no
// particular order: organization by organization, from
// request_log_org_time, so that it reads only old rows and never the rest
// of the log. CROSS JOIN keeps organizations the outer loop, which SQLite's
// planner would otherwise not know to prefer.
const sweepSelect = `SELECT c.id FROM organizations o CROSS JOIN request_log c
	WHERE c.organization_id = o.id AND c.created_at < $1 LIMIT $2`

// nullID is a row id as an argument, 0 as NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// logInsertSizes are the rows of the multi-row INSERTs that write the
// request log, largest first: one statement per request would cost more in
// statement overhead than in writing, and each size is prepared once, on
// the first flush. A logged request costs about 8 µs of CPU in the flush
// (BenchmarkWriteUsage, one core, 300,000 rows), mostly SQLite inserting
// into the table and its indexes; it was 21 µs while request ids were
// random, each landing on a page of its own of request_log_org_request
// (see newRequestID in web).
var logInsertSizes = []int{256, 64, 8, 1}

// flushPause is how long a flush on SQLite leaves the core to requests
// after a statement of the log that took d: as long again, and at least
// 2 ms. A busy second's flush is a few hundred ms of CPU on the cores
// that serve requests. Between its statements, it sleeps rather than
// yields (runtime.Gosched), because Go's scheduler runs a goroutine that
// yielded before it polls the network: the requests that arrive during a
// flush were then only seen when the runtime's own poll came, every
// 10 ms (a runtime trace under load: no request read for 10 ms at a
// time, all through each flush). Asleep, the flush is not runnable: the
// requests waiting for the core run, the network is polled, and the
// next statement comes after; 2 ms is longer than 32 waiting requests
// take. The log's statements are of 256 rows (about 1.3 ms), so that the
// flush keeps up with what it pauses for.
//
// With the statements of 64 rows and Gosched between them, against this
// (keygate-bench -serve-only, wrk on its own core, 32 connections,
// interleaved rounds of 5 s, 6 to 16 of each): p99 of GET /api/v1/me
// 10.6-11.3 ms, now 6.5-10.7; a bot read 10.7-12.0, now 7.6-11.1; a list
// of 20 bots 10.1-11.5, now 9.5-14.1, half the rounds under 10 (one
// build's rounds move by 2-4 ms on this machine); throughput the same.
// The price: the flush holds the writer longer, about 390 ms of a second
// at 30,000 requests a second (150-220 ms before), which writes wait
// behind.
//
// A flush pauses for flushPauseBudget at most: past it, its statements
// run back to back, so that it keeps up with a busier server than one
// core makes (the pauses alone would hold it to about 77,000 requests a
// second) and never holds the writer for much longer than that.
func flushPause(d time.Duration) time.Duration {
	return max(d, 2*time.Millisecond)
}

const flushPauseBudget = 500 * time.Millisecond

// logColumns are the request_log columns a flush writes; the table gives
// each row its id, so replicas flushing into one database at once never
// choose the same.
const logColumns = `organization_id, api_key_id, method, route, path, status, code, latency_us, ip, user_agent, created_at, request_id, service`

// logInsert is the INSERT of n request log rows. On SQLite its parameters
// are anonymous (?): the driver looks each parameter's name up when
// binding, and for numbered ones ($N) that lookup is linear, which makes a
// statement of hundreds of parameters quadratic. PostgreSQL numbers them.
func logInsert(engine Engine, n int) string {
	const cols = 13
	var q strings.Builder
	q.WriteString(`INSERT INTO request_log (` + logColumns + `) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				q.WriteString(", ")
			}
			if engine == EnginePostgres {
				q.WriteString("$" + strconv.Itoa(i*cols+c+1))
			} else {
				q.WriteByte('?')
			}
		}
		q.WriteByte(')')
	}
	return q.String()
}

// owners are the organizations and keys a batch's usage belongs to that
// no longer exist.
type owners struct{ orgs, keys map[int64]bool }

func (o owners) has(orgID, keyID int64) bool { return o.orgs[orgID] || o.keys[keyID] }

// deletedOwners finds the batch's organizations and keys deleted since
// their requests. request_log has no foreign keys, whose check would cost
// two lookups a row: this is the same check, once per organization and key
// of the batch.
func deletedOwners(ctx context.Context, tx *Tx, b *usage.Batch) (owners, error) {
	gone := owners{orgs: map[int64]bool{}, keys: map[int64]bool{}}
	for _, e := range b.Requests {
		if e.OrganizationID != 0 {
			gone.orgs[e.OrganizationID] = true
		}
		if e.KeyID != 0 {
			gone.keys[e.KeyID] = true
		}
	}
	for k := range b.Hourly {
		gone.orgs[k.OrganizationID], gone.keys[k.KeyID] = true, true
	}
	for table, ids := range map[string]map[int64]bool{"organizations": gone.orgs, "api_keys": gone.keys} {
		list := make([]any, 0, len(ids))
		for id := range ids {
			list = append(list, id)
		}
		for len(list) > 0 {
			part := list[:min(len(list), inListMax)]
			list = list[len(part):]
			// table is one of the two names above, never input.
			rows, err := tx.QueryContext(ctx, `SELECT id FROM `+table+` WHERE id IN (`+placeholders(1, len(part))+`)`, part...)
			if err != nil {
				return gone, fmt.Errorf("write usage: %w", err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return gone, fmt.Errorf("write usage: %w", err)
				}
				delete(ids, id) // it exists
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return gone, fmt.Errorf("write usage: %w", err)
			}
		}
	}
	return gone, nil
}

// prepare prepares the flush's statements on the writer, once. It runs
// before the flush's transaction, which holds the writer's only
// connection.
func (s *UsageStore) prepare(ctx context.Context) (*usageStmts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stmts != nil {
		return s.stmts, nil
	}
	stmts := &usageStmts{logInserts: map[int]*sql.Stmt{}, writes: map[string]*sql.Stmt{}}
	fail := func(err error) (*usageStmts, error) {
		for _, st := range stmts.logInserts {
			st.Close()
		}
		for _, st := range stmts.writes {
			st.Close()
		}
		return nil, fmt.Errorf("write usage: %w", err)
	}
	for _, n := range logInsertSizes {
		st, err := s.db.write.PrepareContext(ctx, logInsert(s.db.engine, n))
		if err != nil {
			return fail(err)
		}
		stmts.logInserts[n] = st
	}
	for name, query := range counterWrites {
		st, err := s.db.write.PrepareContext(ctx, query)
		if err != nil {
			return fail(err)
		}
		stmts.writes[name] = st
	}
	s.stmts = stmts
	return stmts, nil
}

// insertRequestLog writes the batch's request log, a row a request, in
// multi-row INSERTs, leaving out requests of deleted organizations and
// keys and those of no organization.
func insertRequestLog(ctx context.Context, tx *Tx, stmts map[int]*sql.Stmt, events []usage.Event, gone owners, pauseUntil time.Time) error {
	kept := make([]*usage.Event, 0, len(events))
	for i := range events {
		if e := &events[i]; e.OrganizationID != 0 && !gone.has(e.OrganizationID, e.KeyID) {
			kept = append(kept, e)
		}
	}
	args := make([]any, 0, logInsertSizes[0]*13)
	for _, n := range logInsertSizes {
		var st *sql.Stmt
		for len(kept) >= n {
			if st == nil {
				st = tx.StmtContext(ctx, stmts[n])
				defer st.Close()
			}
			args = args[:0]
			for _, e := range kept[:n] {
				path := e.Path
				if path == e.Route {
					path = ""
				}
				args = append(args, nullID(e.OrganizationID), nullID(e.KeyID), e.Method, e.Route,
					path, e.Status, e.Code, max(e.Latency.Microseconds(), 0), e.IP,
					truncate(e.UserAgent, 512), ms(e.At), requestIDArg(e.RequestID), e.Service)
			}
			start := time.Now()
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("write request log: %w", err)
			}
			kept = kept[n:]
			if len(kept) > 0 && time.Now().Before(pauseUntil) {
				time.Sleep(flushPause(time.Since(start)))
			}
		}
	}
	return nil
}

// requestIDArg is a request id as the log stores it: 8 bytes, big-endian,
// or NULL for none.
func requestIDArg(id usage.RequestID) any {
	if id == 0 {
		return nil
	}
	b := id.Bytes()
	return b[:]
}

// inListMax is how many values an IN list of placeholders holds at most:
// both engines bind far more parameters, but a longer list gains nothing.
const inListMax = 500
