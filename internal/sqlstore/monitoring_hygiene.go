package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Thresholds of the hygiene report.
const (
	hygieneExpiringWithin = 7 * 24 * time.Hour
	hygieneUnusedFor      = 30 * 24 * time.Hour
	// A key younger than this has had no time to be deployed: it is not
	// "unused" yet.
	hygieneUnusedMinAge = 7 * 24 * time.Hour
)

// hygieneActive selects the organization's active keys at $2: neither
// revoked nor expired, as keygate.APIKey.State reads them.
const hygieneActive = ` WHERE k.organization_id = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)`

// Hygiene lists the organization's active keys that deserve a look, each
// list newest first.
func (s *MonitoringService) Hygiene(ctx context.Context, orgID string) (*keygate.HygieneReport, error) {
	tx, scope, err := s.begin(ctx, orgID, "")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := s.db.Now().UTC()
	var r keygate.HygieneReport
	for _, l := range []struct {
		dst  *[]*keygate.APIKey
		cond string
		arg  []any // from $3
	}{
		{&r.ExpiringSoon, `k.expires_at <= $3`, []any{ms(now.Add(hygieneExpiringWithin))}},
		// Nothing called with the key: no attempt of any outcome.
		{&r.Unused, `(k.last_attempt_at IS NULL OR k.last_attempt_at < $3) AND k.created_at <= $4`,
			[]any{ms(now.Add(-hygieneUnusedFor)), ms(now.Add(-hygieneUnusedMinAge))}},
		{&r.Exposed, `k.exposed_at IS NOT NULL`, nil},
		// Scopes are stored as a comma-separated list ("read,write,admin").
		{&r.AdminScope, `',' || k.scopes || ',' LIKE $3`, []any{"%," + string(keygate.ScopeAdmin) + ",%"}},
		// A creator whose account was deleted left created_by NULL; one who
		// left only this organization has no membership row in it.
		{&r.CreatorLeft, `k.created_by IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM memberships m WHERE m.organization_id = k.organization_id AND m.user_id = k.created_by)`, nil},
	} {
		keys, err := findHygieneKeys(ctx, tx, l.cond, append([]any{scope.orgID, ms(now)}, l.arg...)...)
		if err != nil {
			return nil, err
		}
		*l.dst = keys
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys k`+hygieneActive, scope.orgID, ms(now)).Scan(&r.Active); err != nil {
		return nil, fmt.Errorf("key hygiene: %w", err)
	}
	if r.Successors, err = findSuccessors(ctx, tx, scope.orgID, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// findSuccessors returns the keys that replace the report's rolled keys.
func findSuccessors(ctx context.Context, q queryer, orgID int64, r *keygate.HygieneReport) (map[string]keygate.KeyRef, error) {
	out := map[string]keygate.KeyRef{}
	var ids []string
	for _, list := range [][]*keygate.APIKey{r.ExpiringSoon, r.Unused, r.Exposed, r.AdminScope, r.CreatorLeft} {
		for _, k := range list {
			if k.RolledTo != "" {
				ids = append(ids, k.RolledTo)
			}
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{orgID}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, `SELECT public_id, name, hint FROM api_keys
		WHERE organization_id = $1 AND public_id IN (`+placeholders(2, len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("key hygiene: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k keygate.KeyRef
		if err := rows.Scan(&k.PublicID, &k.Name, &k.Hint); err != nil {
			return nil, fmt.Errorf("key hygiene: %w", err)
		}
		out[k.PublicID] = k
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key hygiene: %w", err)
	}
	return out, nil
}

// findHygieneKeys returns the active keys that also match cond, a constant
// of Hygiene, newest first.
func findHygieneKeys(ctx context.Context, q queryer, cond string, args ...any) ([]*keygate.APIKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+apiKeyColumns+apiKeyFrom+hygieneActive+` AND `+cond+` ORDER BY k.id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("key hygiene: %w", err)
	}
	defer rows.Close()
	keys := []*keygate.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("key hygiene: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key hygiene: %w", err)
	}
	return keys, nil
}
