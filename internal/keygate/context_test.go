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
