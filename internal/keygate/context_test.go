package keygate_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

func TestContext(t *testing.T) {
	t.Run("OK/User", func(t *testing.T) {
		user := &keygate.User{ID: 7, Name: "Ada"}
		ctx := keygate.NewContextWithUser(context.Background(), user)
		if got := keygate.UserFromContext(ctx); got != user {
			t.Fatalf("UserFromContext=%v, want %v", got, user)
		}
		if got := keygate.UserIDFromContext(ctx); got != 7 {
			t.Fatalf("UserIDFromContext=%d, want 7", got)
		}
	})

	t.Run("OK/NoUser", func(t *testing.T) {
		ctx := context.Background()
		if got := keygate.UserFromContext(ctx); got != nil {
			t.Fatalf("UserFromContext=%v, want nil", got)
		}
		if got := keygate.UserIDFromContext(ctx); got != 0 {
			t.Fatalf("UserIDFromContext=%d, want 0", got)
		}
		// A nil user is no user.
		if got := keygate.UserIDFromContext(keygate.NewContextWithUser(ctx, nil)); got != 0 {
			t.Fatalf("UserIDFromContext(nil user)=%d, want 0", got)
		}
	})

	t.Run("OK/RequestInfo", func(t *testing.T) {
		info := keygate.RequestInfo{IP: "203.0.113.7", UserAgent: "curl/8", RequestID: "req-1"}
		ctx := keygate.NewContextWithRequestInfo(context.Background(), info)
		ctx = keygate.NewContextWithUser(ctx, &keygate.User{ID: 1})
		if got := keygate.RequestInfoFromContext(ctx); got != info {
			t.Fatalf("RequestInfoFromContext=%+v, want %+v", got, info)
		}
		if got := keygate.RequestInfoFromContext(context.Background()); got != (keygate.RequestInfo{}) {
			t.Fatalf("RequestInfoFromContext(empty)=%+v, want zero", got)
		}
	})
}

func TestNewContextWithKey(t *testing.T) {
	base := keygate.NewContextWithRequestInfo(context.Background(), keygate.RequestInfo{RequestID: "r1"})
	key := &keygate.KeyActor{KeyID: 3, OrganizationID: 9}
	ctx := keygate.NewContextWithKey(base, key)
	if keygate.KeyFromContext(ctx) != key {
		t.Fatal("the key is not in the context")
	}
	if id := keygate.OrganizationIDFromContext(ctx); id != 9 {
		t.Fatalf("organization %d, want the key's, 9", id)
	}
	if keygate.RequestInfoFromContext(ctx).RequestID != "r1" {
		t.Fatal("values of the parent context are lost")
	}
	// A key without an organization leaves the parent's in force.
	ctx = keygate.NewContextWithKey(keygate.NewContextWithOrganization(base, 4), &keygate.KeyActor{KeyID: 5})
	if id := keygate.OrganizationIDFromContext(ctx); id != 4 {
		t.Fatalf("organization %d, want the parent's, 4", id)
	}
	if keygate.OrganizationIDFromContext(base) != 0 || keygate.KeyFromContext(base) != nil {
		t.Fatal("the parent context changed")
	}
}
