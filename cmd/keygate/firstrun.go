package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// logFirstRun tells whoever started an empty instance what to do next: the
// first account, made at /signup, becomes the superuser.
func logFirstRun(ctx context.Context, users keygate.UserService, url string, logger *slog.Logger) {
	has, err := users.HasUsers(ctx)
	if err != nil {
		logger.Warn("count accounts", "error", err.Error())
		return
	}
	if !has {
		logger.Info("No accounts yet: open " + strings.TrimSuffix(url, "/") + "/signup to create the first account (it becomes the superuser)")
	}
}
