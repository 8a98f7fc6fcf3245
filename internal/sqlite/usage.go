package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/usage"
)

// UsageStore writes batches of API usage.
type UsageStore struct {
	db *DB
}

// NewUsageStore returns a UsageStore on db.
func NewUsageStore(db *DB) *UsageStore { return &UsageStore{db: db} }

// WriteUsage writes a batch in one transaction: the request log rows, the
// hourly counters and latency histograms (upserted) and each key's last
// use.
func (s *UsageStore) WriteUsage(ctx context.Context, b *usage.Batch) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if err := insertRequestLog(ctx, tx, b.Requests); err != nil {
		return err
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

// DeleteRequestLogBefore deletes up to limit request log rows older than
// before and returns how many it deleted, so a sweep can go in small
// batches that never hold the writer for long.
func (s *UsageStore) DeleteRequestLogBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM request_log WHERE id IN (`+sweepSelect+`)`, ms(before), limit)
	if err != nil {
		return 0, fmt.Errorf("sweep request log: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// sweepSelect picks up to $2 request log rows before $1, in no particular
// order: organization by organization, from request_log_org_time, so that
// it reads only old rows and never the rest of the log. CROSS JOIN keeps
// organizations the outer loop, which the planner would otherwise not
// know to prefer.
const sweepSelect = `SELECT r.id FROM organizations o CROSS JOIN request_log r
	WHERE r.organization_id = o.id AND r.created_at < $1 LIMIT $2`

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// logRowsPerInsert is how many request log rows one INSERT carries: one
// statement per row would cost more in statement overhead than in writing.
// Its parameters are anonymous (?): the driver looks each parameter's name
// up when binding, and for numbered ones ($N) that lookup is linear, which
// made a 576-parameter statement quadratic.
const logRowsPerInsert = 64

// insertRequestLog writes the request log rows in multi-row INSERTs.
func insertRequestLog(ctx context.Context, tx *Tx, events []usage.Event) error {
	rows := make([]usage.Event, 0, len(events))
	for _, e := range events {
		if e.OrganizationID != 0 {
			rows = append(rows, e)
		}
	}
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	args := make([]any, 0, logRowsPerInsert*9)
	for len(rows) > 0 {
		n := min(len(rows), logRowsPerInsert)
		st, ok := stmts[n]
		if !ok {
			var q strings.Builder
			q.WriteString(`INSERT INTO request_log (organization_id, api_key_id, method, route, status, latency_us, ip, user_agent, created_at) VALUES `)
			for i := 0; i < n; i++ {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			}
			var err error
			if st, err = tx.PrepareContext(ctx, q.String()); err != nil {
				return fmt.Errorf("write request log: %w", err)
			}
			stmts[n] = st
		}
		args = args[:0]
		for _, e := range rows[:n] {
			args = append(args, e.OrganizationID, nullID(e.KeyID), e.Method, e.Route, e.Status,
				e.Latency.Microseconds(), e.IP, truncate(e.UserAgent, 512), ms(e.At))
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("write request log: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}
