package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/keygate/keygate/internal/sqlstore"
)

// jobPoll is how often a replica asks whether a background job is due.
// The job runs every interval of its own, once across the replicas: the
// replica that claims it in the database runs it (sqlstore.DB.RunJob).
const jobPoll = time.Minute

// runJob runs fn as the background job name every interval, once across
// every replica on db, until ctx ends. Errors are logged, not fatal: the
// next run tries again.
func runJob(ctx context.Context, db *sqlstore.DB, name string, every time.Duration, logger *slog.Logger, fn func(context.Context) error) {
	t := time.NewTicker(min(jobPoll, every))
	defer t.Stop()
	for {
		if _, err := db.RunJob(ctx, name, every, fn); err != nil && ctx.Err() == nil {
			logger.Warn(name, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
