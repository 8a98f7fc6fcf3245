package sqlstore_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// countingHasher counts the argon2 work its wrapped hasher is asked for.
type countingHasher struct {
	inner sqlstore.PasswordHasher
	calls atomic.Int64
}

func (h *countingHasher) Hash(ctx context.Context, plain string) (string, error) {
	h.calls.Add(1)
	return h.inner.Hash(ctx, plain)
}

func (h *countingHasher) Verify(ctx context.Context, encoded, plain string) (bool, error) {
	h.calls.Add(1)
	return h.inner.Verify(ctx, encoded, plain)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, plain string) {
	h.calls.Add(1)
	h.inner.VerifyDummy(ctx, plain)
}

// TestUserService_OversizedPasswords: a password over 1,024 bytes is
// refused before any hashing, at login, as the current password of a
// change, and as a new password.
func TestUserService_OversizedPasswords(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1025)
	longRunes := strings.Repeat("é", 513) // 1,026 bytes, 513 characters
	tests := []struct {
		name string
		call func(ctx context.Context, s *sqlstore.UserService) error
		code string
		msg  string
		// fields, if set, are the field errors wanted.
		fields map[string]string
	}{
		{"ErrLoginKnownEmail", func(ctx context.Context, s *sqlstore.UserService) error {
			_, err := s.Authenticate(ctx, "ada@example.com", long)
			return err
		}, keygate.EUNAUTHORIZED, msgInvalidLogin, nil},
		{"ErrLoginMultibyte", func(ctx context.Context, s *sqlstore.UserService) error {
			_, err := s.Authenticate(ctx, "ada@example.com", longRunes)
			return err
		}, keygate.EUNAUTHORIZED, msgInvalidLogin, nil},
		{"ErrLoginUnknownEmail", func(ctx context.Context, s *sqlstore.UserService) error {
			_, err := s.Authenticate(ctx, "nobody@example.com", long)
			return err
		}, keygate.EUNAUTHORIZED, msgInvalidLogin, nil},
		{"ErrCurrentPassword", func(ctx context.Context, s *sqlstore.UserService) error {
			return s.ChangePassword(ctx, long, "a brand new passphrase 7", 0)
		}, keygate.EINVALID, msgCorrect, map[string]string{"current_password": "Current password is incorrect."}},
		{"ErrNewPassword", func(ctx context.Context, s *sqlstore.UserService) error {
			return s.ChangePassword(ctx, long, long, 0)
		}, keygate.EINVALID, msgCorrect, map[string]string{"current_password": "Current password is incorrect.", "new_password": "Password must be at most 256 characters."}},
		{"ErrSignup", func(ctx context.Context, s *sqlstore.UserService) error {
			_, _, err := s.Signup(ctx, &keygate.Signup{Name: "Bo", Email: "bo@example.com", Password: long, OrganizationName: "Bo Org"})
			return err
		}, keygate.EINVALID, msgCorrect, map[string]string{"password": "Password must be at most 256 characters."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustOpenDB(t)
			h := &countingHasher{inner: testHasher}
			s := sqlstore.NewUserService(db, h)
			ada, _ := mustSignup(t, s, "Ada", "ada@example.com", "Acme")
			before := h.calls.Load()

			err := tt.call(userCtx(ada), s)
			assertError(t, err, tt.code, tt.msg)
			if tt.fields != nil {
				assertFields(t, err, tt.fields)
			}
			if got := h.calls.Load() - before; got != 0 {
				t.Fatalf("hasher calls = %d, want 0", got)
			}
		})
	}

	t.Run("OKAtTheLimit", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		h := &countingHasher{inner: testHasher}
		s := sqlstore.NewUserService(db, h)
		mustSignup(t, s, "Ada", "ada@example.com", "Acme")
		before := h.calls.Load()
		_, err := s.Authenticate(context.Background(), "ada@example.com", strings.Repeat("x", 1024))
		assertError(t, err, keygate.EUNAUTHORIZED, msgInvalidLogin)
		if got := h.calls.Load() - before; got != 1 {
			t.Fatalf("hasher calls = %d, want 1 (a password of 1,024 bytes is checked)", got)
		}
	})
}
