package sqlstore_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate/internal/sqlstore"
)

func TestHasUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := mustOpenDB(t)
	s := sqlstore.NewUserService(db, testHasher)
	if has, err := s.HasUsers(ctx); err != nil || has {
		t.Fatalf("HasUsers on an empty instance = %v, %v; want false", has, err)
	}
	mustSignup(t, s, "First", "first@example.com", "First")
	if has, err := s.HasUsers(ctx); err != nil || !has {
		t.Fatalf("HasUsers after a signup = %v, %v; want true", has, err)
	}
}
