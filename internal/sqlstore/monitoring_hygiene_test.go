package sqlstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// monKeyNames returns the keys' names, in order.
func monKeyNames(keys []*keygate.APIKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.Name)
	}
	return out
}

func TestMonitoringService_Hygiene(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	clock.Set(monNow.AddDate(0, 0, -60))
	owner, org := mustBotOrg(t, db, "owner@example.com")
	leaver, _ := mustBotOrg(t, db, "leaver@example.com")
	stayer, _ := mustBotOrg(t, db, "stayer@example.com")
	otherOwner, other := mustBotOrg(t, db, "other@example.com")
	orgs := sqlstore.NewOrganizationService(db)
	for _, u := range []*keygate.User{leaver, stayer} {
		if err := orgs.AddMember(context.Background(), org.PublicID, u.ID, keygate.RoleAdmin); err != nil {
			t.Fatal(err)
		}
	}
	ctx := monUserCtx(owner)
	keys := sqlstore.NewAPIKeyService(db)
	in := func(days int) *time.Time { return ptrTime(monNow.AddDate(0, 0, days)) }
	byName := map[string]*keygate.APIKey{}
	create := func(ctx context.Context, name string, scope keygate.Scope, expires *time.Time) *keygate.APIKey {
		k := mustMonKey(t, db, ctx, org, name, scope, expires)
		byName[name] = k
		return k
	}

	// Created oldest first; each name says which list the key belongs in.
	plain := create(ctx, "plain", keygate.ScopeRead, nil)
	create(ctx, "expiring in 3 days", keygate.ScopeRead, in(3))
	create(ctx, "expiring in 7 days", keygate.ScopeRead, in(7))
	create(ctx, "expiring in 8 days: none", keygate.ScopeRead, in(8))
	create(ctx, "expired: none", keygate.ScopeAdmin, in(-1))
	revoked := create(ctx, "revoked: none", keygate.ScopeAdmin, in(2))
	create(ctx, "never used", keygate.ScopeRead, nil)
	create(ctx, "used 31 days ago", keygate.ScopeRead, nil)
	create(ctx, "used 30 days ago: none", keygate.ScopeRead, nil)
	exposed := create(ctx, "exposed", keygate.ScopeRead, nil)
	create(ctx, "admin", keygate.ScopeAdmin, nil)
	create(ctx, "write: none", keygate.ScopeWrite, nil)
	create(monUserCtx(leaver), "creator left", keygate.ScopeRead, nil)
	create(monUserCtx(stayer), "creator stayed: none", keygate.ScopeRead, nil)
	create(keygate.NewContextWithKey(context.Background(), &keygate.KeyActor{
		KeyID: plain.ID, PublicID: plain.PublicID, OrganizationID: org.ID, OrgPublicID: org.PublicID,
		Scopes: keygate.NewScopes(keygate.ScopeAdmin),
	}), "created by a key: none", keygate.ScopeRead, nil)
	// Another organization's unused, exposed admin key is not A's concern.
	otherKey := mustMonKey(t, db, monUserCtx(otherOwner), other, "other org", keygate.ScopeAdmin, nil)

	if _, err := keys.RevokeAPIKey(ctx, org.PublicID, revoked.PublicID); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*keygate.APIKey{exposed, revoked, byName["expired: none"], otherKey} {
		if err := keys.MarkExposed(context.Background(), k.ID); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(monNow)
	// Every key was used an hour ago, but for the unused ones (and the
	// revoked and expired, which would be).
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.WriteConn().Exec(query, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE api_keys SET last_used_at = $1, last_attempt_at = $1 WHERE organization_id = $2`, monNow.Add(-time.Hour).UnixMilli(), org.ID)
	for name, at := range map[string]*time.Time{
		"never used": nil, "revoked: none": nil, "expired: none": nil,
		"used 31 days ago": in(-31), "used 30 days ago: none": in(-30),
	} {
		exec(`UPDATE api_keys SET last_used_at = $1, last_attempt_at = $1 WHERE id = $2`, nullMS(at), byName[name].ID)
	}
	// The leaver is removed from the organization, not from Keygate.
	exec(`DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2`, org.ID, leaver.ID)
	// Refused with a 401 a day ago, though its last success is older: an
	// attempt is a sign of use.
	exec(`UPDATE api_keys SET last_used_at = $1, last_attempt_at = $2 WHERE id = $3`,
		in(-40).UnixMilli(), monNow.Add(-24*time.Hour).UnixMilli(), byName["expiring in 8 days: none"].ID)
	// New keys have had no time to be used.
	clock.Set(monNow.Add(-7*24*time.Hour + time.Minute))
	create(ctx, "6 days old: none", keygate.ScopeRead, nil)
	clock.Set(monNow.Add(-7 * 24 * time.Hour))
	create(ctx, "7 days old, never used", keygate.ScopeRead, nil)
	clock.Set(monNow)

	s := sqlstore.NewMonitoringService(db)
	r, err := s.Hygiene(ctx, org.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		list string
		got  []*keygate.APIKey
		want []string // newest first
	}{
		{"ExpiringSoon", r.ExpiringSoon, []string{"expiring in 7 days", "expiring in 3 days"}},
		{"Unused", r.Unused, []string{"7 days old, never used", "used 31 days ago", "never used"}},
		{"Exposed", r.Exposed, []string{"exposed"}},
		{"AdminScope", r.AdminScope, []string{"admin"}},
		{"CreatorLeft", r.CreatorLeft, []string{"creator left"}},
	} {
		t.Run("OK"+tt.list, func(t *testing.T) {
			if got := monKeyNames(tt.got); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s=%q, want %q", tt.list, got, tt.want)
			}
			// The keys are complete, as the key pages load them.
			for _, k := range tt.got {
				want, err := keys.FindAPIKeyByID(ctx, org.PublicID, k.PublicID)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(k, want) {
					t.Fatalf("key %+v\nwant %+v", k, want)
				}
			}
		})
	}
	t.Run("OKActive", func(t *testing.T) {
		// 17 keys, less the expired and the revoked.
		if got, want := r.Active, 15; got != want {
			t.Fatalf("Active = %d, want %d", got, want)
		}
	})
	t.Run("OKSuccessors", func(t *testing.T) {
		next, _, _, err := keys.RollAPIKey(ctx, org.PublicID, byName["admin"].PublicID, time.Hour, "")
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Hygiene(ctx, org.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		var old *keygate.APIKey
		for _, k := range r.ExpiringSoon {
			if k.PublicID == byName["admin"].PublicID {
				old = k
			}
		}
		if old == nil || old.RolledTo != next.PublicID {
			t.Fatalf("the rolled key is not expiring, replaced: %+v", old)
		}
		want := keygate.KeyRef{PublicID: next.PublicID, Name: "admin", Hint: next.Hint}
		if got := r.Successors[next.PublicID]; got != want {
			t.Fatalf("successor = %+v, want %+v", got, want)
		}
	})
	t.Run("OKCreatorID", func(t *testing.T) {
		if got, want := r.CreatorLeft[0].CreatedByID, leaver.ID; got != want {
			t.Fatalf("CreatedByID=%d, want %d", got, want)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		r, err := s.Hygiene(monUserCtx(otherOwner), other.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		// The other organization's one key is exposed, admin and never used.
		if len(r.ExpiringSoon) != 0 || len(r.CreatorLeft) != 0 || r.ExpiringSoon == nil || r.CreatorLeft == nil ||
			len(r.Exposed) != 1 || len(r.AdminScope) != 1 || len(r.Unused) != 1 || r.Active != 1 {
			t.Fatalf("report %+v", r)
		}
	})
}

// nullMS is t in Unix milliseconds, or NULL.
func nullMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}
