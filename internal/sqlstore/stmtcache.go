package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// readPool is the reader pool with its statements prepared once: on SQLite,
// parsing and planning a query costs more than running the point queries
// the API reads with. In process, on one core (median of 4 interleaved
// runs): a bot read (BenchmarkAPIBot) takes 46 µs with its statement
// prepared once and 70 µs preparing it each time; the list of 20
// (BenchmarkAPIBots) 191 µs and 257 µs.
// On PostgreSQL pgx caches prepared statements per connection itself, so
// the pool is used as it is.
type readPool struct {
	*sql.DB
	cache bool
	stmts sync.Map // query text -> *sql.Stmt
	n     atomic.Int32
	mu    sync.Mutex // held while preparing
}

// maxCachedStmts bounds the cache: the store's queries are fixed texts and
// a few filter combinations, far fewer than this.
const maxCachedStmts = 500

func newReadPool(pool *sql.DB, cache bool) *readPool {
	return &readPool{DB: pool, cache: cache}
}

// stmt returns the prepared statement of query, preparing it on first use;
// nil when the cache is off or full, or preparing failed (the plain call
// then reports the error).
func (p *readPool) stmt(ctx context.Context, query string) *sql.Stmt {
	if !p.cache {
		return nil
	}
	if s, ok := p.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if p.n.Load() >= maxCachedStmts {
		return nil
	}
	// The statement outlives this request: prepare it on no request's
	// context.
	s, err := p.DB.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	p.stmts.Store(query, s)
	p.n.Add(1)
	return s
}

// QueryContext runs query through its prepared statement.
func (p *readPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query through its prepared statement.
func (p *readPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, query, args...)
}

// close closes the prepared statements; the pool is closed by its owner.
func (p *readPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stmts.Range(func(q, s any) bool {
		s.(*sql.Stmt).Close()
		p.stmts.Delete(q)
		return true
	})
	p.n.Store(0)
}
