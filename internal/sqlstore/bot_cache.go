package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// botCache keeps what the API's bot reads found (one bot, a page of the
// list) so that a client polling its bots is answered without a query. A
// page of 20 from the cache takes 1.9 µs, from the database 62 µs
// (BenchmarkFindBots, FirstPageCached against FirstPage); through the
// router, a bot read 12.6 µs against 21.2 and a list 29 µs against 66
// (BenchmarkAPIBot, BenchmarkAPIBots). Under load over TLS the gap is
// wider, as a slower answer costs more again in the writes that wake the
// client: a bot read went from 11k to 22-24k requests a second and a
// list of 20 from 6k to 13-15k (keygate-bench -serve-only, wrk on its
// own core, the server on the other, 32 connections).
//
// It is only on SQLite, where this process makes every write: each
// transaction that changes an organization's bots moves that
// organization's generation on as it commits (Tx.botsChanged), which
// retires everything cached for it before. On PostgreSQL other replicas
// write too, and bot reads go to the database.
//
// Entries also expire after botCacheMaxAge, a bound on how stale a missed
// invalidation could leave a read; watchBotWrites makes this package's
// tests fail on a write that forgets.
type botCache struct {
	mu      sync.Mutex
	gens    map[int64]uint64 // by organization; a missing one is 0
	entries map[botCacheKey]botCacheEntry
	bytes   int // about what the entries hold
}

// botCacheKey is one read: a bot by public id, or a page of the list.
type botCacheKey struct {
	org   int64
	id    string // the bot's public id; "" for a page of the list
	state string // the list's state filter
	page  keygate.Page
}

type botCacheEntry struct {
	gen   uint64
	at    time.Time
	bots  []keygate.Bot // as stored: the state is worked out again on each read
	more  bool
	bytes int
}

const (
	botCacheMaxAge = 30 * time.Second
	// Past either bound, the cache starts again empty. A bot's metadata
	// alone may be 4 KiB, and a page 100 bots.
	botCacheEntries = 4096
	botCacheBytes   = 32 << 20
)

func newBotCache() *botCache {
	return &botCache{gens: map[int64]uint64{}, entries: map[botCacheKey]botCacheEntry{}}
}

// get returns what is cached for k, read before now-botCacheMaxAge at the
// earliest, with each bot's state as of now; ok is false on a miss, and
// gen is then the generation to put what the database says under.
func (c *botCache) get(k botCacheKey, now time.Time) (bots []*keygate.Bot, more bool, gen uint64, ok bool) {
	c.mu.Lock()
	gen = c.gens[k.org]
	e, found := c.entries[k]
	c.mu.Unlock()
	if !found || e.gen != gen || now.Sub(e.at) >= botCacheMaxAge || now.Before(e.at) {
		return nil, false, gen, false
	}
	// Copies: callers own the Bots they are given (their metadata and
	// times are shared, and only ever read).
	copies := make([]keygate.Bot, len(e.bots))
	bots = make([]*keygate.Bot, len(e.bots))
	for i := range e.bots {
		copies[i] = e.bots[i]
		copies[i].State = botStateAt(&copies[i], now)
		bots[i] = &copies[i]
	}
	return bots, e.more, gen, true
}

// put caches what the database said for k at now, unless the
// organization's bots changed since get returned gen: the read may then
// have seen the database before the change.
func (c *botCache) put(k botCacheKey, gen uint64, now time.Time, bots []*keygate.Bot, more bool) {
	e := botCacheEntry{gen: gen, at: now, bots: make([]keygate.Bot, len(bots)), more: more, bytes: 200}
	for i, b := range bots {
		e.bots[i] = *b
		e.bytes += 200 + len(b.PublicID) + len(b.MeetingURL) + len(b.BotName) + len(b.Metadata)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[k.org] != gen {
		return
	}
	if old, ok := c.entries[k]; ok {
		c.bytes -= old.bytes
	}
	if len(c.entries) >= botCacheEntries || c.bytes+e.bytes > botCacheBytes {
		clear(c.entries)
		c.bytes = 0
	}
	c.entries[k] = e
	c.bytes += e.bytes
}

// changed retires everything cached for the organization's bots. Called
// once the change has committed, so that no read after it can cache what
// was there before.
func (c *botCache) changed(org int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[org]++
}

// botStateAt is a bot's state at now as botStateExpr works it out in SQL:
// a scheduled bot whose join_at has passed is joining.
func botStateAt(b *keygate.Bot, now time.Time) string {
	if joinDue(b.State, nullTime(b.JoinAt), now) {
		return keygate.BotJoining
	}
	return b.State
}

// cacheableBotState reports whether a list filtered by state (or not, "")
// holds the same bots whenever it is read, until a write changes them:
// which bots are scheduled and which are joining changes as join times
// pass.
func cacheableBotState(state string) bool {
	return state != keygate.BotScheduled && state != keygate.BotJoining
}

// botsChanged records, inside the transaction that makes it, a change to
// the organization's bots: once the transaction commits, the bot cache
// retires what it holds for them.
func (tx *Tx) botsChanged(org int64) {
	if tx.db.bots == nil || slices.Contains(tx.botOrgs, org) {
		return
	}
	tx.botOrgs = append(tx.botOrgs, org)
	tx.afterCommit = append(tx.afterCommit, func() { tx.db.bots.changed(org) })
}

// read answers k from the cache, or from load, whose answer it caches; a
// nil cache (PostgreSQL) always loads.
func (c *botCache) read(k botCacheKey, now time.Time, load func() ([]*keygate.Bot, bool, error)) ([]*keygate.Bot, bool, error) {
	if c == nil {
		return load()
	}
	bots, more, gen, ok := c.get(k, now)
	if ok {
		return bots, more, nil
	}
	bots, more, err := load()
	if err != nil {
		return nil, false, err
	}
	c.put(k, gen, now, bots, more)
	return bots, more, nil
}

// watchBotWrites, set by this package's tests, has every SQLite database
// watch the rows its writer changes in the bots table (SQLite's pre-update
// hook) and makes a commit panic that changed an organization's bots
// without Tx.botsChanged: the cache would answer with what was there
// before, until botCacheMaxAge.
var watchBotWrites bool

// watchBots installs the watch of watchBotWrites on the writer connection
// (the only one: it holds it for good).
func (db *DB) watchBots() error {
	conn, err := db.write.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		hooks, ok := dc.(interface {
			RegisterPreUpdateHook(sqlite.PreUpdateHookFn)
		})
		if !ok {
			return fmt.Errorf("watch bot writes: %T has no pre-update hook", dc)
		}
		hooks.RegisterPreUpdateHook(func(d sqlite.SQLitePreUpdateData) {
			if d.TableName != "bots" {
				return
			}
			row := make([]any, 3) // id, public_id, organization_id
			var err error
			if d.Op == sqlite3.SQLITE_INSERT {
				err = d.New(row...)
			} else {
				err = d.Old(row...)
			}
			org, ok := row[2].(int64)
			if err != nil || !ok {
				panic(fmt.Sprintf("watch bot writes: a row of bots without its organization: %v %v", row, err))
			}
			db.botWrites = append(db.botWrites, org)
		})
		return nil
	})
}

// checkBotWrites panics if tx changed an organization's bots without
// botsChanged; see watchBotWrites.
func (tx *Tx) checkBotWrites() {
	for _, org := range tx.db.botWrites {
		if !slices.Contains(tx.botOrgs, org) {
			panic(fmt.Sprintf("sqlstore: a transaction changed the bots of organization %d without tx.botsChanged", org))
		}
	}
}
