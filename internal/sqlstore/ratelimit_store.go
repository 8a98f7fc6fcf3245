package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
)

// Ensure the store implements the limiter's interfaces.
var (
	_ ratelimit.BucketStore  = (*RateLimitStore)(nil)
	_ ratelimit.FailureStore = (*RateLimitStore)(nil)
)

// RateLimitStore keeps the state of rate limits and login throttles in the
// database, where every replica sees it: the storage of
// ratelimit.Shared and ratelimit.SharedFailureWindow. Names of buckets
// and keys (API key ids, accounts, addresses) are stored as their SHA-256.
type RateLimitStore struct {
	db *DB
}

// NewRateLimitStore returns a RateLimitStore on db.
func NewRateLimitStore(db *DB) *RateLimitStore { return &RateLimitStore{db: db} }

// nameHash is how bucket and key names are stored.
func nameHash(name string) []byte {
	sum := sha256.Sum256([]byte(name))
	return sum[:]
}

// takeCellsSQL takes up to $5 cells from bucket $1 as of $2, where a cell
// is $3 and a full bucket $4 (all in microseconds), in one statement: the
// update's WHERE refuses a bucket with no cell, and RETURNING says what
// was taken. $6 is what a new, full bucket gives: min($5, count). The
// base is the TAT, or now if the bucket is full; the cells in the bucket
// are (now + capacity - base) / cell, rounded down.
const takeCellsSQL = `
INSERT INTO rate_limits (bucket, tat_us, taken)
VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT) * CAST($6 AS BIGINT), CAST($6 AS BIGINT))
ON CONFLICT (bucket) DO UPDATE SET
	taken = CASE WHEN ` + cellsInBucket + ` < CAST($5 AS BIGINT) THEN ` + cellsInBucket + ` ELSE CAST($5 AS BIGINT) END,
	tat_us = ` + bucketBase + ` + CAST($3 AS BIGINT) *
		(CASE WHEN ` + cellsInBucket + ` < CAST($5 AS BIGINT) THEN ` + cellsInBucket + ` ELSE CAST($5 AS BIGINT) END)
WHERE ` + cellsInBucket + ` > 0
RETURNING tat_us, taken`

const (
	bucketBase    = `(CASE WHEN rate_limits.tat_us > CAST($2 AS BIGINT) THEN rate_limits.tat_us ELSE CAST($2 AS BIGINT) END)`
	cellsInBucket = `((CAST($2 AS BIGINT) + CAST($4 AS BIGINT) - ` + bucketBase + `) / CAST($3 AS BIGINT))`
)

// TakeCells takes up to want cells from bucket in one atomic statement,
// and returns how many it took and the bucket's TAT after.
func (s *RateLimitStore) TakeCells(ctx context.Context, bucket string, now time.Time, t time.Duration, count, want int) (int, time.Time, error) {
	cell := max(t.Microseconds(), 1)
	nowUS := now.UnixMicro()
	hash := nameHash(bucket)
	var tat, taken int64
	err := s.db.write.QueryRowContext(ctx, takeCellsSQL, hash, nowUS, cell, cell*int64(count), want, min(want, count)).Scan(&tat, &taken)
	if errors.Is(err, sql.ErrNoRows) {
		// Nothing to take: only now is the TAT needed, for Retry-After.
		err = s.db.reader().QueryRowContext(ctx, `SELECT tat_us FROM rate_limits WHERE bucket = $1`, hash).Scan(&tat)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, now, nil // swept meanwhile: full, and the next trip takes
		}
		taken = 0
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("take rate limit cells: %w", err)
	}
	return int(taken), time.UnixMicro(tat), nil
}

// DeleteFullBuckets forgets the buckets that are full as of now, which
// is the same state as no bucket, and returns how many there were.
func (s *RateLimitStore) DeleteFullBuckets(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM rate_limits WHERE tat_us <= $1`, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete full rate limit buckets: %w", err)
	}
	return res.RowsAffected()
}
