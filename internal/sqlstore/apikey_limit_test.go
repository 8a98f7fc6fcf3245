package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// TestAPIKeyService_KeyLimit: an organization holds at most MaxKeysPerOrg
// active keys. The count is checked in the transaction that inserts, so
// concurrent creates cannot pass it; revoked and expired keys do not
// count; a roll counts the old key only while it keeps working.
func TestAPIKeyService_KeyLimit(t *testing.T) {
	t.Parallel()
	const limitMsg = "This organization has reached its limit of 3 active API keys. Revoke keys it no longer needs before creating more."
	newKey := func(name string) *keygate.APIKeyCreate {
		return &keygate.APIKeyCreate{Name: name, Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}}
	}
	setup := func(t *testing.T) (*orgFixture, *sqlstore.APIKeyService, []*keygate.APIKey) {
		f := mustOrgFixture(t)
		keys := sqlstore.NewAPIKeyService(f.db)
		keys.MaxKeysPerOrg = 3
		var made []*keygate.APIKey
		for i := range 3 {
			k, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, newKey(fmt.Sprint("key ", i)))
			if err != nil {
				t.Fatal(err)
			}
			made = append(made, k)
		}
		return f, keys, made
	}
	activeKeys := func(t *testing.T, f *orgFixture) int {
		return countQuery(t, f.db, `SELECT COUNT(*) FROM api_keys WHERE organization_id = $1 AND revoked_at IS NULL
			AND (expires_at IS NULL OR expires_at > $2)`, f.org.ID, f.clock.Now().UnixMilli())
	}

	t.Run("ErrCreateAtLimit", func(t *testing.T) {
		f, keys, _ := setup(t)
		before := tableCounts(t, f.db, "api_keys", "audit_events")
		_, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, newKey("one more"))
		assertError(t, err, keygate.EINVALID, limitMsg)
		if !errors.Is(err, keygate.ErrKeyLimit) {
			t.Fatalf("err = %v, want ErrKeyLimit in its chain", err)
		}
		assertCounts(t, f.db, before)
		// Another organization has its own count.
		if _, _, err := keys.CreateAPIKey(f.ctx(asOutsider), f.outsiderOrg.PublicID, newKey("elsewhere")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("OKAfterRevoke", func(t *testing.T) {
		f, keys, made := setup(t)
		if _, err := keys.RevokeAPIKey(f.ctx(asOwner), f.org.PublicID, made[0].PublicID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, newKey("replacement")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("OKAfterExpiry", func(t *testing.T) {
		f := mustOrgFixture(t)
		keys := sqlstore.NewAPIKeyService(f.db)
		keys.MaxKeysPerOrg = 1
		in := newKey("short-lived")
		in.ExpiresAt = f.clock.After(time.Hour)
		if _, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, in); err != nil {
			t.Fatal(err)
		}
		_, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, newKey("second"))
		assertError(t, err, keygate.EINVALID, "This organization has reached its limit of 1 active API keys. Revoke keys it no longer needs before creating more.")
		f.clock.Advance(time.Hour)
		if _, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, newKey("second")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrRollWithGraceAtLimit", func(t *testing.T) {
		f, keys, made := setup(t)
		before := tableCounts(t, f.db, "api_keys", "audit_events")
		_, _, _, err := keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, made[0].PublicID, time.Hour, "")
		assertError(t, err, keygate.EINVALID, limitMsg)
		if !errors.Is(err, keygate.ErrKeyLimit) {
			t.Fatalf("err = %v, want ErrKeyLimit in its chain", err)
		}
		assertCounts(t, f.db, before)
	})

	t.Run("OKRollImmediatelyAtLimit", func(t *testing.T) {
		f, keys, made := setup(t)
		if _, _, _, err := keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, made[0].PublicID, 0, ""); err != nil {
			t.Fatal(err)
		}
		if got, want := activeKeys(t, f), 3; got != want {
			t.Fatalf("active keys = %d, want %d", got, want)
		}
	})

	t.Run("OKRollWithGraceBelowLimit", func(t *testing.T) {
		f, keys, made := setup(t)
		if _, err := keys.RevokeAPIKey(f.ctx(asOwner), f.org.PublicID, made[2].PublicID); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, made[0].PublicID, time.Hour, ""); err != nil {
			t.Fatal(err)
		}
		if got, want := activeKeys(t, f), 3; got != want {
			t.Fatalf("active keys = %d, want %d", got, want)
		}
	})

	t.Run("OKConcurrentCreatesStopAtLimit", func(t *testing.T) {
		f := mustOrgFixture(t)
		keys := sqlstore.NewAPIKeyService(f.db)
		keys.MaxKeysPerOrg = 5
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				_, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, newKey(fmt.Sprint("key ", i)))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		refused := 0
		for err := range errs {
			if errors.Is(err, keygate.ErrKeyLimit) {
				refused++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if got, want := activeKeys(t, f), 5; got != want || refused != 15 {
			t.Fatalf("active keys = %d (want %d), refused = %d (want 15)", got, want, refused)
		}
	})

	t.Run("OKDefaultLimit", func(t *testing.T) {
		if got, want := keygate.DefaultMaxKeysPerOrg, 1000; got != want {
			t.Fatalf("DefaultMaxKeysPerOrg = %d, want %d", got, want)
		}
	})
}
