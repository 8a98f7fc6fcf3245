package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ClaimIdempotencyKey marks a request with an Idempotency-Key as being
// served, for every replica to see, until ttl has passed: one statement
// that either inserts the claim or takes over one that lapsed (left by a
// replica that stopped). It returns the claim's token for
// ReleaseIdempotencyKey, or ok false when the key is claimed already.
func (s *IdempotencyService) ClaimIdempotencyKey(ctx context.Context, orgID int64, method, path, key string, ttl time.Duration) (token string, ok bool, err error) {
	now := s.db.Now()
	token = rand.Text()
	err = s.db.write.QueryRowContext(ctx, `
		INSERT INTO idempotency_claims (organization_id, method, path, idempotency_key, token, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (organization_id, method, path, idempotency_key) DO UPDATE SET
			token = excluded.token, expires_at = excluded.expires_at
		WHERE idempotency_claims.expires_at <= $7
		RETURNING token`,
		orgID, method, path, key, token, ms(now.Add(ttl)), ms(now)).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	} else if err != nil {
		return "", false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return token, true, nil
}

// ReleaseIdempotencyKey ends the claim with token, if it is still the
// key's: a claim that lapsed and was taken over is the new holder's.
func (s *IdempotencyService) ReleaseIdempotencyKey(ctx context.Context, orgID int64, method, path, key, token string) error {
	if _, err := s.db.write.ExecContext(ctx, `DELETE FROM idempotency_claims
		WHERE organization_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4 AND token = $5`,
		orgID, method, path, key, token); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// DeleteLapsedIdempotencyClaims deletes the claims that lapsed before t,
// left by replicas that stopped mid-request, and returns how many.
func (s *IdempotencyService) DeleteLapsedIdempotencyClaims(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM idempotency_claims WHERE expires_at <= $1`, ms(t))
	if err != nil {
		return 0, fmt.Errorf("delete lapsed idempotency claims: %w", err)
	}
	return res.RowsAffected()
}
