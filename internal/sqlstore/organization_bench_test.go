package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// BenchmarkDeleteOrganization deletes an organization of 8,000 keys, half
// of them created by another key through the API; ns/op is per delete.
func BenchmarkDeleteOrganization(b *testing.B) {
	const keys = 8000
	db, _ := mustOpenDB(b)
	users, orgs := sqlstore.NewUserService(db, testHasher), sqlstore.NewOrganizationService(db)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		user, org := mustSignup(b, users, "Ada", "ada"+strconv.Itoa(i)+"@example.com", "Acme")
		mustInsertKeys(b, db, org.ID, user.ID, keys, i)
		uctx := keygate.NewContextWithUser(ctx, user)
		b.StartTimer()
		if err := orgs.DeleteOrganization(uctx, org.PublicID, org.Name); err != nil {
			b.Fatal(err)
		}
	}
}

// mustInsertKeys inserts n keys into the organization with row id orgID,
// created by userID, the second half by the first key; run tells runs
// apart.
func mustInsertKeys(tb testing.TB, db *sqlstore.DB, orgID, userID int64, n, run int) {
	tb.Helper()
	tx, err := db.WriteConn().Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	var first int64
	for j := range n {
		id := strconv.Itoa(run) + "_" + strconv.Itoa(j)
		hash := sha256.Sum256([]byte(id))
		var byUser, byKey any = userID, nil
		if j >= n/2 {
			byUser, byKey = nil, first
		}
		var keyID int64
		if err := tx.QueryRow(`INSERT INTO api_keys (public_id, organization_id, name, environment, scopes, secret_hash, hint,
			created_by, created_by_key_id, created_at, updated_at) VALUES ($1, $2, $3, 'production', 'read', $4, 'abcd', $5, $6, 0, 0)
			RETURNING id`, "key_bench"+id, orgID, "key "+id, hash[:], byUser, byKey).Scan(&keyID); err != nil {
			tb.Fatal(err)
		}
		if j == 0 {
			first = keyID
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}
