package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
var counterWrites = map[string]string{
	"hourly": `INSERT INTO usage_hourly (organization_id, api_key_id, hour, status_class, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, hour, status_class) DO UPDATE SET count = count + excluded.count`,
	"latency": `INSERT INTO usage_latency_hourly (organization_id, api_key_id, hour, bucket, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, hour, bucket) DO UPDATE SET count = count + excluded.count`,
	"refused": `INSERT INTO usage_refused_hourly (organization_id, api_key_id, hour, count) VALUES ($1, $2, $3, $4)
		ON CONFLICT (api_key_id, hour) DO UPDATE SET count = count + excluded.count`,
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
// hourly counters, latency histograms and refusals (upserted) and each
// key's last use, attempt and refusal. Usage of an organization or key
// deleted since its requests is dropped.
func (s *UsageStore) WriteUsage(ctx context.Context, b *usage.Batch) error {
	stmts, err := s.prepare(ctx)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	gone, err := deletedOwners(ctx, tx, b)
	if err != nil {
		return err
	}
	if err := insertRequestLog(ctx, tx, stmts.logInserts, b.Requests, gone); err != nil {
		return err
	}
	w := &batchWriter{ctx: ctx, tx: tx, stmts: stmts.writes}
	defer w.close()
	for k, n := range b.Hourly {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("hourly", k.OrganizationID, k.KeyID, ms(k.Hour), k.Class, n)
		}
	}
	for k, n := range b.Latency {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("latency", k.OrganizationID, k.KeyID, ms(k.Hour), k.BucketUS, n)
		}
	}
	for k, n := range b.Refused {
		if !gone.has(k.OrganizationID, k.KeyID) {
			w.exec("refused", k.OrganizationID, k.KeyID, ms(k.Hour), n)
		}
	}
	for id, u := range b.LastUsed {
		if !gone.keys[id] {
			w.exec("last use", ms(u.At), u.IP, truncate(u.UserAgent, 512), id)
		}
	}
	for id, u := range b.LastAttempt {
		if !gone.keys[id] {
			w.exec("last attempt", ms(u.At), u.IP, u.Status, id)
		}
	}
	for id, u := range b.LastRefused {
		if !gone.keys[id] {
			w.exec("last refusal", ms(u.At), u.IP, u.Code, id)
		}
	}
	if w.err != nil {
		return w.err
	}
	return tx.Commit()
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

// DeleteRequestLogBefore deletes up to limit request log chunks (each up to
// 1,024 requests of one second) older than before and returns how many it
// deleted, so a sweep can go in small batches that never hold the writer
// for long. It deletes whole seconds: the requests of before's own second
// stay until the next sweep.
func (s *UsageStore) DeleteRequestLogBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM request_log_chunk WHERE id IN (`+sweepSelect+`)`, before.Unix(), limit)
	if err != nil {
		return 0, fmt.Errorf("sweep request log: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// sweepSelect picks up to $2 request log chunks of seconds before $1, in
// no particular order: organization by organization, from
// request_log_chunk_org_time, so that it reads only old chunks and never
// the rest of the log. CROSS JOIN keeps organizations the outer loop, which
// the planner would otherwise not know to prefer.
const sweepSelect = `SELECT c.id FROM organizations o CROSS JOIN request_log_chunk c
	WHERE c.organization_id = o.id AND c.second < $1 LIMIT $2`

// boxes holds one interface value per distinct id and string of a batch:
// its rows repeat the same organization, key, route, address and agent,
// and each conversion to an argument would otherwise allocate.
type boxes struct {
	ids  map[int64]any
	strs map[string]any
}

func newBoxes() *boxes { return &boxes{ids: map[int64]any{}, strs: map[string]any{}} }

// id boxes a row id, 0 as NULL.
func (b *boxes) id(id int64) any {
	v, ok := b.ids[id]
	if !ok {
		v = nullID(id)
		b.ids[id] = v
	}
	return v
}

func (b *boxes) str(s string) any {
	v, ok := b.strs[s]
	if !ok {
		v = s
		b.strs[s] = v
	}
	return v
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// logInsertSizes are the rows of the multi-row INSERTs that write the
// request log, largest first: one statement per chunk would cost more in
// statement overhead than in writing, and each size is prepared once, on
// the first flush. Their parameters are anonymous (?): the driver looks each
// parameter's name up when binding, and for numbered ones ($N) that lookup
// is linear, which made a 640-parameter statement quadratic.
var logInsertSizes = []int{64, 8, 1}

// chunkEntries is how many requests a request_log_chunk row holds at most;
// entry k of chunk c has the id c*chunkEntries + k
// (migrations/0012_request_log_packed.sql).
const chunkEntries = 1024

// chunkKey is what the requests of one chunk share.
type chunkKey struct {
	org, key                           int64
	method, route, ip, userAgent, code string
	status                             int
	second                             int64
}

// chunk is a request_log_chunk row.
type chunk struct {
	chunkKey
	n          int
	entries    string // JSON array
	paths      string // "", one path, or a JSON array of paths
	requestIDs []byte // 8 bytes an entry
}

// packRequestLog packs events into chunks, leaving out those of deleted
// organizations and keys and those of no organization. Chunks come in the
// order of their second, then of their first request, so that ids follow
// time second by second; a chunk's entries in the order of events. It
// allocates per batch, not per chunk: the log of a batch of one-request
// chunks (many clients) must cost little more than rows would.
func packRequestLog(events []usage.Event, gone owners) []chunk {
	of := make([]int32, len(events)) // each event's chunk, -1 for none
	var keys []chunkKey
	var counts []int32
	open := make(map[chunkKey]int32, min(len(events), 1024))
	// A client's requests follow one another: an event like the last goes
	// in its chunk without a map lookup. (Equal strings of a batch share
	// their bytes, which makes comparing them cheap.)
	var last chunkKey
	lastChunk := int32(-1)
	for i := range events {
		e := &events[i]
		if e.OrganizationID == 0 || gone.has(e.OrganizationID, e.KeyID) {
			of[i] = -1
			continue
		}
		k := chunkKey{org: e.OrganizationID, key: e.KeyID, method: e.Method, route: e.Route, ip: e.IP,
			userAgent: truncate(e.UserAgent, 512), code: e.Code, status: e.Status, second: floorDiv(ms(e.At), 1000)}
		c := lastChunk
		if c < 0 || k != last || counts[c] == chunkEntries {
			var ok bool
			c, ok = open[k]
			if !ok || counts[c] == chunkEntries {
				c = int32(len(keys))
				keys, counts = append(keys, k), append(counts, 0)
				open[k] = c
			}
			last, lastChunk = k, c
		}
		counts[c]++
		of[i] = c
	}
	// Each chunk's events, by a counting sort.
	first := make([]int32, len(keys)+1)
	for c, n := range counts {
		first[c+1] = first[c] + n
	}
	members := make([]int32, first[len(keys)])
	next := slices.Clone(first[:len(keys)])
	for i, c := range of {
		if c >= 0 {
			members[next[c]] = int32(i)
			next[c]++
		}
	}
	order := make([]int32, len(keys))
	for c := range order {
		order[c] = int32(c)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(keys[a].second, keys[b].second) })

	// Every chunk's entries in one buffer, one string, sliced; their
	// request ids in another.
	buf := make([]byte, 0, 10*len(members)+2*len(keys))
	ends := make([]int, len(order))
	ids := make([]byte, 0, 8*len(members))
	for j, c := range order {
		buf = append(buf, '[')
		for m, i := range members[first[c]:first[c+1]] {
			if m > 0 {
				buf = append(buf, ',')
			}
			e := &events[i]
			buf = strconv.AppendInt(buf, max(e.Latency.Microseconds(), 0)*1024+ms(e.At)-keys[c].second*1000, 10)
			id := e.RequestID.Bytes()
			ids = append(ids, id[:]...)
		}
		buf = append(buf, ']')
		ends[j] = len(buf)
	}
	all := string(buf)
	out := make([]chunk, len(order))
	start, idStart := 0, 0
	for j, c := range order {
		of := members[first[c]:first[c+1]]
		out[j] = chunk{chunkKey: keys[c], n: int(counts[c]), entries: all[start:ends[j]],
			paths: chunkPaths(events, of, keys[c].route), requestIDs: ids[idStart : idStart+8*len(of) : idStart+8*len(of)]}
		start, idStart = ends[j], idStart+8*len(of)
	}
	return out
}

// chunkPaths is the paths column of a chunk of events (its members): ""
// when every path is route, the path they share, or a JSON array of each
// one's. Paths are escaped, without quotes or backslashes: a JSON string
// is the path in quotes.
func chunkPaths(events []usage.Event, members []int32, route string) string {
	shared := events[members[0]].Path
	for _, i := range members[1:] {
		if events[i].Path != shared {
			var b strings.Builder
			b.WriteByte('[')
			for m, i := range members {
				if m > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('"')
				b.WriteString(jsonSafePath(events[i].Path))
				b.WriteByte('"')
			}
			b.WriteByte(']')
			return b.String()
		}
	}
	if shared == route {
		return ""
	}
	return shared
}

// jsonSafePath drops what a path must not hold to be a JSON string as it
// is: the API escapes paths, so this only guards the log's format.
func jsonSafePath(p string) string {
	if !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }) {
		return p
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, p)
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
		if len(ids) == 0 {
			continue
		}
		list := make([]int64, 0, len(ids))
		for id := range ids {
			list = append(list, id)
		}
		arg, err := json.Marshal(list)
		if err != nil {
			return gone, err
		}
		// table is one of the two names above, never input.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM `+table+` WHERE id IN (SELECT value FROM json_each($1))`, string(arg))
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
		var q strings.Builder
		q.WriteString(`INSERT INTO request_log_chunk (organization_id, api_key_id, method, route, status, ip, user_agent, second, n, entries, code, paths, request_ids) VALUES `)
		for i := 0; i < n; i++ {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		}
		st, err := s.db.write.PrepareContext(ctx, q.String())
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

// insertRequestLog writes the batch's request log, packed into chunks, in
// multi-row INSERTs.
func insertRequestLog(ctx context.Context, tx *Tx, stmts map[int]*sql.Stmt, events []usage.Event, gone owners) error {
	chunks := packRequestLog(events, gone)
	args := make([]any, 0, logInsertSizes[0]*13)
	boxed := newBoxes()
	for _, n := range logInsertSizes {
		var st *sql.Stmt
		for len(chunks) >= n {
			if st == nil {
				st = tx.StmtContext(ctx, stmts[n])
				defer st.Close()
			}
			args = args[:0]
			for _, c := range chunks[:n] {
				args = append(args, boxed.id(c.org), boxed.id(c.key), boxed.str(c.method), boxed.str(c.route), c.status,
					boxed.str(c.ip), boxed.str(c.userAgent), c.second, c.n, c.entries, boxed.str(c.code), boxed.str(c.paths), c.requestIDs)
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("write request log: %w", err)
			}
			chunks = chunks[n:]
		}
	}
	return nil
}
