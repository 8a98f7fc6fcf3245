package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Failures returns key's failure times, oldest first.
func (s *RateLimitStore) Failures(ctx context.Context, key string) ([]time.Time, error) {
	var list string
	err := s.db.reader().QueryRowContext(ctx, `SELECT failures FROM throttle_failures WHERE key_hash = $1`, nameHash(key)).Scan(&list)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read throttle: %w", err)
	}
	return parseFailures(list)
}

// UpdateFailures replaces key's failure times by what update returns, in
// a transaction that holds key's row: concurrent updates of one key, on
// any replica, take turns. update may run more than once.
func (s *RateLimitStore) UpdateFailures(ctx context.Context, key string, keep time.Duration, update func([]time.Time) []time.Time) error {
	hash := nameHash(key)
	err := s.db.inTx(ctx, func(tx *Tx) error {
		// The row is made to exist first, so that there is always one to
		// lock, even for the first failure of a key.
		if _, err := tx.ExecContext(ctx, `INSERT INTO throttle_failures (key_hash, failures, expires_at) VALUES ($1, '', 0)
			ON CONFLICT (key_hash) DO NOTHING`, hash); err != nil {
			return err
		}
		var list string
		if err := tx.QueryRowContext(ctx, `SELECT failures FROM throttle_failures WHERE key_hash = $1`+tx.forUpdate(), hash).Scan(&list); err != nil {
			return err
		}
		times, err := parseFailures(list)
		if err != nil {
			return err
		}
		if times = update(times); len(times) == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM throttle_failures WHERE key_hash = $1`, hash)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE throttle_failures SET failures = $2, expires_at = $3 WHERE key_hash = $1`,
				hash, formatFailures(times), ms(times[len(times)-1].Add(keep)))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("update throttle: %w", err)
	}
	return nil
}

// DeleteExpiredThrottles forgets the throttle keys whose failures have all
// left their window as of now, and returns how many there were.
func (s *RateLimitStore) DeleteExpiredThrottles(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM throttle_failures WHERE expires_at <= $1`, ms(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired throttles: %w", err)
	}
	return res.RowsAffected()
}

// parseFailures reads the stored list of Unix milliseconds.
func parseFailures(list string) ([]time.Time, error) {
	if list == "" {
		return nil, nil
	}
	parts := strings.Split(list, ",")
	times := make([]time.Time, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read throttle: bad failure time %q", p)
		}
		times[i] = fromMS(v)
	}
	return times, nil
}

// formatFailures writes times as the stored list of Unix milliseconds.
func formatFailures(times []time.Time) string {
	buf := make([]byte, 0, 14*len(times))
	for i, t := range times {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, ms(t), 10)
	}
	return string(buf)
}
