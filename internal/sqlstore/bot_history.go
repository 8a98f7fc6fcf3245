package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// recordBotState adds a change to the state history of the bot with row id
// botID, inside the transaction that made the change.
func recordBotState(ctx context.Context, tx *Tx, botID int64, state string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO bot_state_changes (bot_id, state, changed_at) VALUES ($1, $2, $3)`,
		botID, state, ms(at)); err != nil {
		return fmt.Errorf("record bot state: %w", err)
	}
	return nil
}

// botForWrite finds a bot about to be written and returns its row id and
// stored state. A scheduled bot whose join_at has passed reads as joining
// (botStateExpr) while its row still says scheduled: botForWrite stores
// that move first, with join_at as its time, so the write that follows
// starts from the state the API reports and the history keeps the move.
func botForWrite(ctx context.Context, tx *Tx, orgID int64, id string) (int64, string, error) {
	var botID int64
	var state string
	var joinAt sql.NullInt64
	// Locked: the state read here decides the writes that follow, and a
	// concurrent leave must not be overwritten by a join stored late.
	err := tx.QueryRowContext(ctx, `SELECT id, state, join_at FROM bots WHERE organization_id = $1 AND public_id = $2`+tx.forUpdate(),
		orgID, id).Scan(&botID, &state, &joinAt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", errBotNotFound
	} else if err != nil {
		return 0, "", fmt.Errorf("find bot: %w", err)
	}
	if !joinDue(state, joinAt, tx.now) {
		return botID, state, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bots SET state = 'joining' WHERE id = $1`, botID); err != nil {
		return 0, "", fmt.Errorf("store bot join: %w", err)
	}
	tx.botsChanged(orgID)
	if err := recordBotState(ctx, tx, botID, keygate.BotJoining, fromMS(joinAt.Int64)); err != nil {
		return 0, "", err
	}
	return botID, keygate.BotJoining, nil
}

// joinDue reports whether a bot stored as state with joinAt has joined by
// now without a write recording it.
func joinDue(state string, joinAt sql.NullInt64, now time.Time) bool {
	return state == keygate.BotScheduled && joinAt.Valid && joinAt.Int64 <= ms(now)
}

// FindBotStateChanges returns a bot's state history, oldest first. A due
// join that no write has stored yet is shown as it will be stored.
func (s *BotService) FindBotStateChanges(ctx context.Context, id string) ([]keygate.BotStateChange, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	// One snapshot for the bot and its history.
	tx, err := s.db.reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("find bot history: %w", err)
	}
	defer tx.Rollback()
	var botID int64
	var state string
	var joinAt sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT id, state, join_at FROM bots WHERE organization_id = $1 AND public_id = $2`,
		orgID, id).Scan(&botID, &state, &joinAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBotNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find bot history: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT state, changed_at FROM bot_state_changes WHERE bot_id = $1 ORDER BY changed_at, id`, botID)
	if err != nil {
		return nil, fmt.Errorf("find bot history: %w", err)
	}
	changes, err := collect(rows, func(row scanner) (keygate.BotStateChange, error) {
		var c keygate.BotStateChange
		var at int64
		err := row.Scan(&c.State, &at)
		c.At = fromMS(at)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("find bot history: %w", err)
	}
	if joinDue(state, joinAt, s.db.Now()) {
		changes = append(changes, keygate.BotStateChange{State: keygate.BotJoining, At: fromMS(joinAt.Int64)})
	}
	return changes, nil
}
