package sqlstore

import (
	"context"

	"github.com/keygate/keygate/internal/keygate"
)

// ResetTwoFactorByEmail turns off every second factor of the user with
// email (authenticator app, passkeys, recovery codes) and ends their
// sessions, in one transaction, for the operator's command line: there is
// no acting user. Returns ENOTFOUND for an unknown email.
func (s *TwoFactorService) ResetTwoFactorByEmail(ctx context.Context, email string) (*keygate.User, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.User, error) {
		target, err := findUserByEmail(ctx, tx, email)
		if err != nil {
			return nil, err
		}
		return target, resetTwoFactor(ctx, tx, target)
	})
}
