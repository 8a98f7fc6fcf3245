package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// runUserReset2FA turns off every second factor of the account with
// --email, for a person locked out without their phone, passkey or
// recovery codes, on an instance whose superusers cannot log in either.
func runUserReset2FA(args []string, stdout, stderr io.Writer) error {
	var c Config
	var email string
	fs := newFlagSet("user reset-2fa", "keygate user reset-2fa --email EMAIL", stderr)
	commonFlags(fs, &c)
	fs.StringVar(&email, "email", "", "the user's email (required)")
	databaseFlag(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if email == "" {
		return errors.New("--email is required")
	}
	ctx := context.Background()
	db, err := openDB(ctx, &c, true)
	if err != nil {
		return err
	}
	defer db.Close()
	// Removing factors opens no sealed secret: no secret key is needed.
	user, err := sqlstore.NewTwoFactorService(db, nil, nil).ResetTwoFactorByEmail(ctx, email)
	if err != nil {
		return errors.New(keygate.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "Two-step verification is off for %s: authenticator app, passkeys and recovery codes removed, sessions ended.\n", user.Email)
	return nil
}
