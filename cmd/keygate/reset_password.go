package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
)

// runUserResetPassword prints a single-use password reset link for the
// account with --email, for instances that send no email.
func runUserResetPassword(args []string, stdout, stderr io.Writer) error {
	var c Config
	var email string
	fs := newFlagSet("user reset-password", "keygate user reset-password --email EMAIL --base-url URL", stderr)
	commonFlags(fs, &c)
	fs.StringVar(&email, "email", "", "the user's email (required)")
	fs.StringVar(&c.BaseURL, "base-url", "", "public URL of this instance, which the link names (required; as serve's --base-url)")
	databaseFlag(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if email == "" {
		return errors.New("--email is required")
	}
	base, err := url.Parse(c.BaseURL)
	if c.BaseURL == "" || err != nil || base.Scheme != "https" || base.Host == "" {
		return errors.New("--base-url must be the instance's public https URL, such as https://keys.example.com")
	}
	ctx := context.Background()
	db, err := openDB(ctx, &c, true)
	if err != nil {
		return err
	}
	defer db.Close()
	resets := sqlstore.NewPasswordResetService(db, password.NewHasher(password.DefaultParams, 0))
	reset, err := resets.MakePasswordResetLinkByEmail(ctx, email)
	if err != nil {
		return errors.New(keygate.ErrorMessage(err))
	}
	fmt.Fprintf(stderr, "Password reset link for %s; it works once, until %s:\n", reset.User.Email, reset.ExpiresAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(stdout, strings.TrimSuffix(c.BaseURL, "/")+"/password/reset/"+reset.Token)
	return nil
}
