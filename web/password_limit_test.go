package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOversizedPasswords: a password over 1,024 bytes gets the usual
// answers (the service refuses it before hashing): the login's "Invalid
// email or password.", the password change's "Current password is
// incorrect.", the signup's length rule.
func TestOversizedPasswords(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	c.MustSignup("Ada", "ada@example.com", "Org A")
	long := strings.Repeat("x", 1025)

	t.Run("ErrLogin", func(t *testing.T) {
		p := app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {long}})
		assertStatus(t, p, http.StatusUnauthorized)
		if got, want := p.Text("[role=alert]"), "Invalid email or password."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
	})
	t.Run("ErrChangePassword", func(t *testing.T) {
		p := c.Post("/settings/password", url.Values{"current_password": {long}, "new_password": {"a brand new passphrase 7"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "current_password"), "Current password is incorrect."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
	})
	t.Run("ErrSignup", func(t *testing.T) {
		p := app.NewClient(t).Post("/signup", url.Values{"name": {"Bo"}, "email": {"bo@example.com"}, "password": {long}, "organization": {"Bo Org"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := fieldError(p, "password"), "Password must be at most 256 characters."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
	})
	t.Run("OKPasswordStillWorks", func(t *testing.T) {
		app.NewClient(t).MustLogin("ada@example.com", testPassword)
	})
}
