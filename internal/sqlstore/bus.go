package sqlstore

import (
	"context"
	"fmt"
)

// Bus carries the news that what API keys may do changed, from the
// transaction that changes it to the key cache of every Keygate process
// on the database. Revoking, rolling or changing a key, removing a member
// or changing their role, disabling or enabling a user, and changing or
// deleting an organization (its plan, its rules) all publish: a cache
// cannot tell which of its keys such a change reaches, so every cache
// drops everything it holds.
//
// Two implement it: InProcessBus, for a database one process uses
// (SQLite), and Listener, PostgreSQL's LISTEN/NOTIFY between replicas.
// Either way this process's own cache hears of a change through
// DB.OnKeysChanged, as the transaction commits.
type Bus interface {
	// Publish queues the news in tx, before tx commits: it is delivered
	// if tx commits and never if it rolls back. change says what changed
	// ("key:key_…"), for the logs.
	Publish(ctx context.Context, tx *Tx, change string) error
}

// InProcessBus is the Bus of a database that one process uses, SQLite's:
// the news goes no further than DB.OnKeysChanged.
type InProcessBus struct{}

// Publish does nothing: OnKeysChanged is called at commit in any case.
func (InProcessBus) Publish(context.Context, *Tx, string) error { return nil }

// bus returns the DB's Bus.
func (db *DB) bus() Bus {
	if db.Bus != nil {
		return db.Bus
	}
	return InProcessBus{}
}

// keysChanged records, inside the transaction that makes it, a change to
// what API keys may do: once the transaction commits, this process's
// cache drops what it holds and the Bus tells the other processes. Called
// in the transaction rather than after it, so that the news and the
// change commit together: neither goes without the other.
func (tx *Tx) keysChanged(ctx context.Context, change string) error {
	if tx.keysPublished {
		return nil // one change or several: every cache starts over once
	}
	// This process's cache first, then whatever the Bus waits for.
	n := len(tx.afterCommit)
	tx.afterCommit = append(tx.afterCommit, tx.db.keysChanged)
	if err := tx.db.bus().Publish(ctx, tx, change); err != nil {
		tx.afterCommit = tx.afterCommit[:n]
		return fmt.Errorf("publish key change: %w", err)
	}
	tx.keysPublished = true
	return nil
}

// Commit commits the transaction, then runs what waits for it.
func (tx *Tx) Commit() error {
	if watchBotWrites && tx.db.engine == EngineSQLite {
		tx.checkBotWrites()
	}
	if err := tx.Tx.Commit(); err != nil {
		return err
	}
	for _, fn := range tx.afterCommit {
		fn()
	}
	return nil
}
