package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// RunJob runs fn as the background job name, at most once per every
// across all the replicas on the database: whoever moves the job's
// next_run_at forward, in one conditional statement, runs it; the others
// skip. On PostgreSQL the replica also holds an advisory lock named after
// the job for the run, so that a run longer than every never overlaps the
// next. It reports whether fn ran; fn's error is returned as it is.
func (db *DB) RunJob(ctx context.Context, name string, every time.Duration, fn func(context.Context) error) (ran bool, err error) {
	if db.engine == EnginePostgres {
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return false, fmt.Errorf("job %s: %w", name, err)
		}
		// The lock lives on this connection: closing it (returning it to
		// the pool) would keep the lock, so it is unlocked first.
		defer conn.Close()
		var locked bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, jobLockID(name)).Scan(&locked); err != nil {
			return false, fmt.Errorf("job %s: lock: %w", name, err)
		}
		if !locked {
			return false, nil
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, jobLockID(name))
	}
	if claimed, err := db.claimJob(ctx, name, every); err != nil || !claimed {
		return false, err
	}
	return true, fn(ctx)
}

// claimJob moves the job's next run forward by every if it is due, and
// reports whether it was.
func (db *DB) claimJob(ctx context.Context, name string, every time.Duration) (bool, error) {
	now := db.Now()
	err := db.write.QueryRowContext(ctx, `
		INSERT INTO scheduled_jobs (name, next_run_at, last_started_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET next_run_at = excluded.next_run_at, last_started_at = excluded.last_started_at
		WHERE scheduled_jobs.next_run_at <= $3
		RETURNING name`, name, ms(now.Add(every)), ms(now)).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("job %s: claim: %w", name, err)
	}
	return true, nil
}

// jobLockID is the advisory lock key of the job name.
func jobLockID(name string) int64 { return lockID("job", name) }

// lockID is the advisory lock key of what kind and parts name.
func lockID(kind string, parts ...string) int64 {
	h := sha256.New()
	h.Write([]byte("keygate " + kind))
	for _, p := range parts {
		h.Write([]byte("\x00" + p))
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)[:8]))
}
