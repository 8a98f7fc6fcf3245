package sqlite

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

	mu         sync.Mutex
	logInserts map[int]*sql.Stmt // by rows; see prepareLogInserts
}

// NewUsageStore returns a UsageStore on db.
func NewUsageStore(db *DB) *UsageStore { return &UsageStore{db: db} }

// WriteUsage writes a batch in one transaction: the request log, the
// hourly counters and latency histograms (upserted) and each key's last
// use. Usage of an organization or key deleted since its requests is
// dropped.
func (s *UsageStore) WriteUsage(ctx context.Context, b *usage.Batch) error {
	logInserts, err := s.prepareLogInserts(ctx)
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
	if err := insertRequestLog(ctx, tx, logInserts, b.Requests, gone); err != nil {
		return err
	}
	for k := range b.Hourly {
		if gone.has(k.OrganizationID, k.KeyID) {
			delete(b.Hourly, k)
		}
	}
	for k := range b.Latency {
		if gone.has(k.OrganizationID, k.KeyID) {
			delete(b.Latency, k)
		}
	}
	for id := range b.LastUsed {
		if gone.keys[id] {
			delete(b.LastUsed, id)
		}
	}

	hourStmt, err := tx.PrepareContext(ctx, `
		INSERT INTO usage_hourly (organization_id, api_key_id, hour, status_class, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, hour, status_class) DO UPDATE SET count = count + excluded.count`)
	if err != nil {
		return fmt.Errorf("write usage: %w", err)
	}
	defer hourStmt.Close()
	for k, n := range b.Hourly {
		if _, err := hourStmt.ExecContext(ctx, k.OrganizationID, k.KeyID, ms(k.Hour), k.Class, n); err != nil {
			return fmt.Errorf("write hourly usage: %w", err)
		}
	}

	latencyStmt, err := tx.PrepareContext(ctx, `
		INSERT INTO usage_latency_hourly (organization_id, api_key_id, hour, bucket, count) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (api_key_id, hour, bucket) DO UPDATE SET count = count + excluded.count`)
	if err != nil {
		return fmt.Errorf("write usage: %w", err)
	}
	defer latencyStmt.Close()
	for k, n := range b.Latency {
		if _, err := latencyStmt.ExecContext(ctx, k.OrganizationID, k.KeyID, ms(k.Hour), k.BucketUS, n); err != nil {
			return fmt.Errorf("write latency histogram: %w", err)
		}
	}

	lastStmt, err := tx.PrepareContext(ctx, `
		UPDATE api_keys SET last_used_at = $1, last_used_ip = $2, last_used_user_agent = $3
		WHERE id = $4 AND (last_used_at IS NULL OR last_used_at < $1)`)
	if err != nil {
		return fmt.Errorf("write usage: %w", err)
	}
	defer lastStmt.Close()
	for id, u := range b.LastUsed {
		if _, err := lastStmt.ExecContext(ctx, ms(u.At), u.IP, truncate(u.UserAgent, 512), id); err != nil {
			return fmt.Errorf("write last use: %w", err)
		}
	}
	return tx.Commit()
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
	org, key                     int64
	method, route, ip, userAgent string
	status                       int
	second                       int64
}

// chunk is a request_log_chunk row.
type chunk struct {
	chunkKey
	n       int
	entries string // JSON array
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
	for i, e := range events {
		if e.OrganizationID == 0 || gone.has(e.OrganizationID, e.KeyID) {
			of[i] = -1
			continue
		}
		k := chunkKey{org: e.OrganizationID, key: e.KeyID, method: e.Method, route: e.Route, ip: e.IP,
			userAgent: truncate(e.UserAgent, 512), status: e.Status, second: floorDiv(ms(e.At), 1000)}
		c, ok := open[k]
		if !ok || counts[c] == chunkEntries {
			c = int32(len(keys))
			keys, counts = append(keys, k), append(counts, 0)
			open[k] = c
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

	// Every chunk's entries in one buffer, one string, sliced.
	buf := make([]byte, 0, 10*len(members)+2*len(keys))
	ends := make([]int, len(order))
	for j, c := range order {
		buf = append(buf, '[')
		for m, i := range members[first[c]:first[c+1]] {
			if m > 0 {
				buf = append(buf, ',')
			}
			e := &events[i]
			buf = strconv.AppendInt(buf, max(e.Latency.Microseconds(), 0)*1024+ms(e.At)-keys[c].second*1000, 10)
		}
		buf = append(buf, ']')
		ends[j] = len(buf)
	}
	all := string(buf)
	out := make([]chunk, len(order))
	start := 0
	for j, c := range order {
		out[j] = chunk{chunkKey: keys[c], n: int(counts[c]), entries: all[start:ends[j]]}
		start = ends[j]
	}
	return out
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

// prepareLogInserts prepares the request log's INSERTs on the writer, once.
// It runs before the flush's transaction, which holds the writer's only
// connection.
func (s *UsageStore) prepareLogInserts(ctx context.Context) (map[int]*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logInserts != nil {
		return s.logInserts, nil
	}
	stmts := map[int]*sql.Stmt{}
	for _, n := range logInsertSizes {
		var q strings.Builder
		q.WriteString(`INSERT INTO request_log_chunk (organization_id, api_key_id, method, route, status, ip, user_agent, second, n, entries) VALUES `)
		for i := 0; i < n; i++ {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		}
		st, err := s.db.write.PrepareContext(ctx, q.String())
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return nil, fmt.Errorf("write request log: %w", err)
		}
		stmts[n] = st
	}
	s.logInserts = stmts
	return stmts, nil
}

// insertRequestLog writes the batch's request log, packed into chunks, in
// multi-row INSERTs.
func insertRequestLog(ctx context.Context, tx *Tx, stmts map[int]*sql.Stmt, events []usage.Event, gone owners) error {
	chunks := packRequestLog(events, gone)
	args := make([]any, 0, logInsertSizes[0]*10)
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
					boxed.str(c.ip), boxed.str(c.userAgent), c.second, c.n, c.entries)
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("write request log: %w", err)
			}
			chunks = chunks[n:]
		}
	}
	return nil
}
