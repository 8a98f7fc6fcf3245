package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.IdempotencyService = (*IdempotencyService)(nil)

// IdempotencyService keeps the answers to API requests made with an
// Idempotency-Key.
type IdempotencyService struct {
	db *DB
}

// NewIdempotencyService returns an IdempotencyService on db.
func NewIdempotencyService(db *DB) *IdempotencyService { return &IdempotencyService{db: db} }

// FindIdempotentResponse returns the answer kept for a key since a time.
func (s *IdempotencyService) FindIdempotentResponse(ctx context.Context, orgID int64, method, path, key string, since time.Time) (*keygate.IdempotentResponse, error) {
	resp := &keygate.IdempotentResponse{OrganizationID: orgID, Method: method, Path: path, Key: key}
	var created int64
	err := s.db.reader().QueryRowContext(ctx, `SELECT request_hash, status, body, created_at FROM idempotency_keys
		WHERE organization_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4 AND created_at > $5`,
		orgID, method, path, key, ms(since)).Scan(&resp.RequestHash, &resp.Status, &resp.Body, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "No answer is kept for this Idempotency-Key.")
	} else if err != nil {
		return nil, fmt.Errorf("find idempotent response: %w", err)
	}
	resp.CreatedAt = fromMS(created)
	return resp, nil
}

// SaveIdempotentResponse keeps an answer; CreatedAt is set to now.
func (s *IdempotencyService) SaveIdempotentResponse(ctx context.Context, resp *keygate.IdempotentResponse) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// A key kept from more than IdempotencyTTL ago no longer counts: its
	// row is replaced, as if the sweep had already taken it.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO idempotency_keys (organization_id, method, path, idempotency_key, request_hash, status, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (organization_id, method, path, idempotency_key) DO UPDATE SET
			request_hash = excluded.request_hash, status = excluded.status, body = excluded.body, created_at = excluded.created_at`,
		resp.OrganizationID, resp.Method, resp.Path, resp.Key, resp.RequestHash, resp.Status, resp.Body, ms(tx.now)); err != nil {
		return fmt.Errorf("save idempotent response: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save idempotent response: %w", err)
	}
	resp.CreatedAt = tx.now
	return nil
}

// DeleteIdempotentResponsesBefore deletes the answers kept before t and
// returns how many there were.
func (s *IdempotencyService) DeleteIdempotentResponsesBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at <= $1`, ms(t))
	if err != nil {
		return 0, fmt.Errorf("delete idempotent responses: %w", err)
	}
	return res.RowsAffected()
}
