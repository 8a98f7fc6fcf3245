package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestIdempotencyService(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, clock := mustOpenDB(t)
	users := sqlstore.NewUserService(db, testHasher)
	_, org := mustSignup(t, users, "Ada", "ada@example.com", "Org A")
	_, other := mustSignup(t, users, "Bob", "bob@example.com", "Org B")
	s := sqlstore.NewIdempotencyService(db)
	save := func(orgID int64, key, body string) {
		t.Helper()
		if err := s.SaveIdempotentResponse(ctx, &keygate.IdempotentResponse{OrganizationID: orgID, Method: "POST", Path: "/api/v1/bots",
			Key: key, RequestHash: []byte("hash-" + body), Status: 201, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	find := func(orgID int64, key string) (*keygate.IdempotentResponse, error) {
		return s.FindIdempotentResponse(ctx, orgID, "POST", "/api/v1/bots", key, clock.Now().Add(-keygate.IdempotencyTTL))
	}
	save(org.ID, "k1", `{"id": "bot_1"}`)

	t.Run("OK", func(t *testing.T) {
		got, err := find(org.ID, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Body) != `{"id": "bot_1"}` || got.Status != 201 || string(got.RequestHash) != `hash-{"id": "bot_1"}` || !got.CreatedAt.Equal(clock.Now()) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for name, call := range map[string]func() error{
			"OtherKey":          func() error { _, err := find(org.ID, "k2"); return err },
			"OtherOrganization": func() error { _, err := find(other.ID, "k1"); return err },
			"OtherPath": func() error {
				_, err := s.FindIdempotentResponse(ctx, org.ID, "POST", "/api/v1/conversations", "k1", time.Time{})
				return err
			},
		} {
			if err := call(); keygate.ErrorCode(err) != keygate.ENOTFOUND {
				t.Errorf("%s: err = %v", name, err)
			}
		}
	})
	t.Run("ExpiredIsReplaced", func(t *testing.T) {
		clock.Advance(keygate.IdempotencyTTL + time.Second)
		if _, err := find(org.ID, "k1"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("a day-old answer is found: %v", err)
		}
		save(org.ID, "k1", `{"id": "bot_2"}`)
		got, err := find(org.ID, "k1")
		if err != nil || string(got.Body) != `{"id": "bot_2"}` {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("Sweep", func(t *testing.T) {
		save(org.ID, "k3", `{}`)
		clock.Advance(time.Hour)
		n, err := s.DeleteIdempotentResponsesBefore(ctx, clock.Now().Add(-30*time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("deleted %d, %v; want 2", n, err)
		}
		if got := countQuery(t, db, `SELECT COUNT(*) FROM idempotency_keys`); got != 0 {
			t.Fatalf("%d left", got)
		}
	})
}
