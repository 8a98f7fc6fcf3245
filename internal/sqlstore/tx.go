package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Writes that stay correct with several writers.
//
// On SQLite a write transaction begins IMMEDIATE and holds the only write
// lock: what it reads stays true until it commits. On PostgreSQL several
// replicas write at once under READ COMMITTED, where a rule that is read
// and then acted on (the last Owner, the key cap, the first account) holds
// only if the write is one conditional statement or the rows it depends on
// are locked first. A transaction the database aborts to break a deadlock
// runs again (inTx).

// txAttempts bounds how many times inTx runs a transaction.
const txAttempts = 5

// inTx runs fn in a write transaction and commits it. When the database
// gives up on the transaction because of another one (retryable), or fn
// lost a race for a unique row (raceLost), it runs again from the start
// after a short random pause, at most txAttempts times in all. fn must
// therefore act on nothing but tx; what follows the commit (telling caches)
// is the caller's.
func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.runTx(ctx, fn)
		if err == nil {
			return nil
		}
		var lost *raceLost
		again := retryable(err) || errors.As(err, &lost)
		if !again || attempt == txAttempts || ctx.Err() != nil {
			if lost != nil {
				return lost.err
			}
			return err
		}
		// Both sides of a deadlock are not aborted, only one; the pause,
		// growing and jittered, keeps retries from meeting again in step.
		pause := time.Duration(attempt*attempt) * 5 * time.Millisecond
		select {
		case <-time.After(pause + rand.N(pause)):
		case <-ctx.Done():
			return err
		}
	}
}

// runTx is one attempt of inTx.
func (db *DB) runTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// raceLost is the error of a transaction that tried to insert a unique row
// (an account, an identity) that a concurrent one inserted first. Run
// again, it sees that row and takes the path it leads to, as it would have
// had the two not overlapped (two first sign-ins at once both sign in to
// one new account). err is the answer if it keeps losing.
type raceLost struct{ err error }

func (e *raceLost) Error() string { return e.err.Error() }
func (e *raceLost) Unwrap() error { return e.err }

// lockOrganization locks the organization's row until tx ends, so that
// what tx reads next about the organization (its members and their roles,
// its active keys, its pending invitations) stays true until it commits.
// Taken before any other read, it also makes the acting user's role one
// read under the lock. An unknown organization locks nothing: the lookup
// that follows reports it.
func (tx *Tx) lockOrganization(ctx context.Context, publicID string) error {
	lock := tx.forNoKeyUpdate()
	if lock == "" {
		return nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM organizations WHERE public_id = $1`+lock, publicID).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lock organization: %w", err)
	}
	return nil
}

// forKeyShare is forUpdate for a row that tx only references (a foreign
// key it is about to insert): PostgreSQL's FOR KEY SHARE, which keeps the
// row from being deleted until tx ends and lets others update it.
func (tx *Tx) forKeyShare() string {
	if tx.forUpdate() == "" {
		return ""
	}
	return " FOR KEY SHARE"
}

// lockUsers locks the rows of the users cond selects (a WHERE clause on
// users) until tx ends, in id order, so that two transactions locking the
// same users cannot deadlock: for a rule about several accounts at once
// (the last superuser, the last way in).
func (tx *Tx) lockUsers(ctx context.Context, cond string, args ...any) error {
	lock := tx.forUpdate()
	if lock == "" {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE `+cond+` ORDER BY id`+lock, args...)
	if err != nil {
		return fmt.Errorf("lock users: %w", err)
	}
	defer rows.Close()
	for rows.Next() { // each row is locked as it is read
	}
	return rows.Err()
}

// firstAccountLock names the lock held while an account is created on an
// instance without one: the first account becomes the superuser, and on
// an instance that is not open for signup it is the only one allowed in.
const firstAccountLock = 4627_1137_2027

// lockFirstAccount serializes the creation of the first account. It takes
// the lock only while the instance has no account (so only the first
// signups ever wait on it) and returns the number of accounts read under
// it.
func (tx *Tx) lockFirstAccount(ctx context.Context) (int, error) {
	n, err := countUsers(ctx, tx)
	if err != nil || n > 0 {
		return n, err
	}
	if err := tx.lockKey(ctx, firstAccountLock); err != nil {
		return 0, err
	}
	// Read again: a signup that held the lock may have committed since.
	return countUsers(ctx, tx)
}

// inTxValue is inTx for a transaction that returns a value.
func inTxValue[T any](ctx context.Context, db *DB, fn func(tx *Tx) (T, error)) (T, error) {
	var out T
	err := db.inTx(ctx, func(tx *Tx) (err error) {
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// lockIdentity makes the logins of one external identity take turns until
// tx ends. Without it, a first login could read "no link yet" before a
// concurrent one commits the account and its link, and "an account with
// this email" after, and refuse the person; in turn, the second finds
// both.
func (tx *Tx) lockIdentity(ctx context.Context, ext *keygate.ExternalIdentity) error {
	return tx.lockKey(ctx, lockID("identity", ext.Provider, ext.Issuer, ext.Subject))
}
