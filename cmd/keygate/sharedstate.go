package main

import (
	"log/slog"

	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

// sharedState is what replicas on one database must share so that a
// client cannot tell which one answered: API rate limits, login and
// signup throttles, and Idempotency-Keys in flight. Its fields are nil on
// SQLite, where the one process keeps them in memory.
type sharedState struct {
	limiter   ratelimit.Limiter
	throttles web.ThrottleStore
	claims    web.IdempotencyClaims
}

// newSharedState returns the database-backed state on PostgreSQL, and
// nothing on SQLite.
func newSharedState(db *sqlstore.DB, idempotency *sqlstore.IdempotencyService, logger *slog.Logger) sharedState {
	if db.Engine() != sqlstore.EnginePostgres {
		return sharedState{}
	}
	store := sqlstore.NewRateLimitStore(db)
	limiter := ratelimit.NewShared(store)
	// A failed trip makes the replica limit on its own for a second; the
	// log says so at most once a second as well.
	limiter.OnError = func(err error) {
		logger.Warn("rate limits: the database failed, limiting in this replica alone", "error", err.Error())
	}
	return sharedState{limiter: limiter, throttles: store, claims: idempotency}
}
