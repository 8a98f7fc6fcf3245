package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// keyActivityQuery reads keys' last attempts and refusals, with their
// refused requests since $2 and since $3 (hours, Unix milliseconds),
// from usage_refused_hourly's primary key; the keys' public ids follow in
// an IN list (placeholders, from $4).
const keyActivityQuery = `
	SELECT k.public_id, k.last_attempt_at, k.last_attempt_ip, k.last_attempt_status,
		k.last_refused_at, k.last_refused_ip, k.last_refused_code,
		COALESCE((SELECT SUM(r.count) FROM usage_refused_hourly r WHERE r.api_key_id = k.id AND r.hour >= $2), 0),
		COALESCE((SELECT SUM(r.count) FROM usage_refused_hourly r WHERE r.api_key_id = k.id AND r.hour >= $3), 0)
	FROM api_keys k
	WHERE k.organization_id = $1 AND k.public_id IN `

// KeyActivity returns the named keys' last attempts and refusals.
func (s *MonitoringService) KeyActivity(ctx context.Context, orgID string, keyIDs []string) (map[string]*keygate.KeyActivity, error) {
	tx, scope, err := s.begin(ctx, orgID, "")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out := make(map[string]*keygate.KeyActivity, len(keyIDs))
	if len(keyIDs) == 0 {
		return out, nil
	}
	now := s.db.Now().UTC()
	// The last 24 hours by whole hours: the hour 24 hours ago, whole.
	since24h := now.Add(-24 * time.Hour).Truncate(time.Hour)
	args := []any{scope.orgID, ms(since24h), ms(daysAt(now).last(30))}
	for _, id := range keyIDs {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, keyActivityQuery+`(`+placeholders(4, len(keyIDs))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("key activity: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a keygate.KeyActivity
		var attempt, refused sql.NullInt64
		if err := rows.Scan(&id, &attempt, &a.LastAttemptIP, &a.LastAttemptStatus, &refused, &a.LastRefusedIP, &a.LastRefusedCode,
			&a.Refused24h, &a.Refused30d); err != nil {
			return nil, fmt.Errorf("key activity: %w", err)
		}
		a.LastAttemptAt, a.LastRefusedAt = fromNullMS(attempt), fromNullMS(refused)
		out[id] = &a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key activity: %w", err)
	}
	return out, nil
}
