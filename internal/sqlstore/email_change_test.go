package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestEmailChange(t *testing.T) {
	setup := func(t *testing.T) (*botClock, *sqlstore.UserService, *sqlstore.EmailChangeService, context.Context) {
		db, clock := mustOpenDB(t)
		users := sqlstore.NewUserService(db, testHasher)
		user, _ := mustSignup(t, users, "Ada", "ada@example.com", "Org A")
		mustSignup(t, users, "Bob", "bob@example.com", "Org B")
		return clock, users, sqlstore.NewEmailChangeService(db, testHasher), keygate.NewContextWithUser(context.Background(), user)
	}
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		_, users, changes, as := setup(t)
		c, err := changes.RequestEmailChange(as, testPassword, " Ada@New.example ")
		if err != nil {
			t.Fatal(err)
		}
		if c.NewEmail != "ada@new.example" || c.User.Email != "ada@example.com" {
			t.Fatalf("change = %+v", c)
		}
		other, _ := changes.RequestEmailChange(as, testPassword, "ada@other.example")
		if u, _ := users.FindUserByEmail(ctx, "ada@example.com"); u == nil {
			t.Fatal("the email changed before it was confirmed")
		}
		if found, err := changes.FindEmailChange(ctx, c.Token); err != nil || found.NewEmail != "ada@new.example" {
			t.Fatalf("find = %+v, %v", found, err)
		}
		u, err := changes.ConfirmEmailChange(ctx, c.Token)
		if err != nil || u.Email != "ada@new.example" {
			t.Fatalf("confirm = %+v, %v", u, err)
		}
		if _, err := users.Authenticate(ctx, "ada@new.example", testPassword); err != nil {
			t.Fatalf("login with the new email: %v", err)
		}
		_, err = changes.ConfirmEmailChange(ctx, c.Token)
		assertError(t, err, keygate.ENOTFOUND, "This link has expired or was already used. Change your email again in Settings.")
		_, err = changes.FindEmailChange(ctx, other.Token)
		assertError(t, err, keygate.ENOTFOUND, "This link has expired or was already used. Change your email again in Settings.")
	})

	t.Run("ErrFields", func(t *testing.T) {
		_, _, changes, as := setup(t)
		for _, tc := range []struct{ password, email, field string }{
			{"wrong password here", "ada@new.example", "current_password"},
			{"", "ada@new.example", "current_password"},
			{testPassword, "not an email", "email"},
			{testPassword, "ADA@example.com", "email"},
			{testPassword, "bob@example.com", "email"},
		} {
			_, err := changes.RequestEmailChange(as, tc.password, tc.email)
			if keygate.ErrorFields(err)[tc.field] == "" {
				t.Fatalf("%q, %q: err = %v, want a message for %s", tc.password, tc.email, err, tc.field)
			}
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		clock, _, changes, as := setup(t)
		c, err := changes.RequestEmailChange(as, testPassword, "ada@new.example")
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(24 * time.Hour)
		_, err = changes.ConfirmEmailChange(ctx, c.Token)
		assertError(t, err, keygate.ENOTFOUND, "This link has expired or was already used. Change your email again in Settings.")
	})

	t.Run("ErrTakenMeanwhile", func(t *testing.T) {
		_, users, changes, as := setup(t)
		c, err := changes.RequestEmailChange(as, testPassword, "carol@example.com")
		if err != nil {
			t.Fatal(err)
		}
		mustSignup(t, users, "Carol", "carol@example.com", "Org C")
		_, err = changes.ConfirmEmailChange(ctx, c.Token)
		if keygate.ErrorCode(err) != keygate.ECONFLICT {
			t.Fatalf("err = %v", err)
		}
	})
}
