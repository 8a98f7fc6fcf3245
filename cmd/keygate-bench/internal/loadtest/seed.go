package loadtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// insertKeys generates n read-scoped keys for the organization and inserts
// them in one transaction of one prepared INSERT on the writer connection,
// which takes a second or two for 100,000 keys where the service, one
// transaction and audit event per key, would take minutes. It returns the
// secrets in insertion order.
func insertKeys(ctx context.Context, db *sqlstore.DB, orgID, userID int64, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	secrets := make([]string, n)
	tx, err := db.WriteConn().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("insert keys: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO api_keys (public_id, organization_id, name, environment, scopes, secret_hash, hint, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`)
	if err != nil {
		return nil, fmt.Errorf("insert keys: %w", err)
	}
	defer stmt.Close()
	now := time.Now().UnixMilli()
	scopes := keygate.NewScopes(keygate.ScopeRead).String()
	for i := range secrets {
		k, err := apikey.Generate()
		if err != nil {
			return nil, err
		}
		hash := k.Hash()
		if _, err := stmt.ExecContext(ctx, publicID("key"), orgID, fmt.Sprintf("bulk %d", i+1), string(keygate.EnvProduction),
			scopes, hash[:], k.Hint(), userID, now); err != nil {
			return nil, fmt.Errorf("insert key %d: %w", i+1, err)
		}
		secrets[i] = k.String()
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("insert keys: %w", err)
	}
	return secrets, nil
}

// publicID returns prefix_ and 20 random base62 characters, the shape of
// the ids the services give.
func publicID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var buf [40]byte
	out := make([]byte, 0, len(prefix)+21)
	out = append(out, prefix...)
	out = append(out, '_')
	for len(out) < cap(out) {
		rand.Read(buf[:])
		for _, b := range buf {
			// Rejection sampling keeps every character equally likely.
			if b < 248 && len(out) < cap(out) {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out)
}
