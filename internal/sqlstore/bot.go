package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.BotService = (*BotService)(nil)

// BotService manages the meeting bots of the API key's organization.
type BotService struct {
	db *DB
}

// NewBotService returns a BotService on db.
func NewBotService(db *DB) *BotService { return &BotService{db: db} }

// Limits and messages of bot fields not defined by the domain.
const (
	apiMsgBadChoice  = "Select a valid choice."
	apiMsgBotHasLeft = "The bot has already left the meeting."
)

var (
	errBotNotFound = keygate.Errorf(keygate.ENOTFOUND, "Not found.")
	errBotHasLeft  = keygate.Errorf(keygate.ECONFLICT, apiMsgBotHasLeft)
)

// apiOrgID returns the organization the API call acts for. Every bot,
// conversation and analytics query is scoped to it, so a call without one
// must not reach the database.
func apiOrgID(ctx context.Context) (int64, error) {
	if id := keygate.OrganizationIDFromContext(ctx); id > 0 {
		return id, nil
	}
	return 0, keygate.Errorf(keygate.EUNAUTHORIZED, "An API key is required.")
}

// botStateExpr is a bot's state as the API reports it. A scheduled bot
// whose join_at has passed is joining: "scheduled" means join_at is in the
// future, and nothing else moves the stored state when the time comes.
// Every query that uses it binds now as $2.
const botStateExpr = `CASE WHEN state = 'scheduled' AND join_at <= $2 THEN 'joining' ELSE state END`

const botColumns = `id, public_id, organization_id, meeting_url, bot_name, ` + botStateExpr + `,
	join_at, ended_at, metadata, created_at, updated_at`

func scanBot(row scanner) (*keygate.Bot, error) {
	var b keygate.Bot
	var joinAt, endedAt sql.NullInt64
	var metadata sql.NullString
	var created, updated int64
	if err := row.Scan(&b.ID, &b.PublicID, &b.OrganizationID, &b.MeetingURL, &b.BotName, &b.State,
		&joinAt, &endedAt, &metadata, &created, &updated); err != nil {
		return nil, err
	}
	b.JoinAt, b.EndedAt = fromNullMS(joinAt), fromNullMS(endedAt)
	if metadata.Valid {
		b.Metadata = json.RawMessage(metadata.String)
	}
	b.CreatedAt, b.UpdatedAt = fromMS(created), fromMS(updated)
	return &b, nil
}

// CreateBot validates and stores a bot: scheduled when join_at is in the
// future, joining otherwise.
func (s *BotService) CreateBot(ctx context.Context, in *keygate.BotCreate) (*keygate.Bot, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate().Err(); err != nil {
		return nil, err
	}
	meetingURL, botName := strings.TrimSpace(in.MeetingURL), strings.TrimSpace(in.BotName)
	metadata, _ := keygate.NormalizeMetadata(in.Metadata)

	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	state := keygate.BotJoining
	if in.JoinAt != nil && in.JoinAt.After(tx.now) {
		state = keygate.BotScheduled
	}
	bot, err := scanBot(tx.QueryRowContext(ctx, `
		INSERT INTO bots (public_id, organization_id, meeting_url, bot_name, state, join_at, metadata, created_at, updated_at)
		VALUES ($3, $1, $4, $5, $6, $7, $8, $2, $2)
		RETURNING `+botColumns,
		orgID, ms(tx.now), newPublicID("bot"), meetingURL, botName, state, nullTime(in.JoinAt), metadataArg(metadata)))
	if err != nil {
		return nil, fmt.Errorf("create bot: %w", formatError(err))
	}
	if err := recordBotState(ctx, tx, bot.ID, state, tx.now); err != nil {
		return nil, err
	}
	tx.botsChanged(orgID)
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create bot: %w", err)
	}
	return bot, nil
}

// metadataArg binds metadata as TEXT, or NULL when there is none.
func metadataArg(m json.RawMessage) sql.NullString {
	return sql.NullString{String: string(m), Valid: m != nil}
}

// FindBots lists bots newest first. For a first page or Page.After, hasMore
// reports whether older rows follow the page; for Page.Before (walking back
// towards the newest) it reports whether newer rows lie beyond the page.
func (s *BotService) FindBots(ctx context.Context, f keygate.BotFilter) ([]*keygate.Bot, bool, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, false, err
	}
	if f.State != "" && !slices.Contains(keygate.BotStates, f.State) {
		return nil, false, keygate.FieldError("state", apiMsgBadChoice)
	}
	now := s.db.Now()
	load := func() ([]*keygate.Bot, bool, error) { return findBots(ctx, s.db.reader(), orgID, now, f) }
	if !cacheableBotState(f.State) || f.CreatedAfter != nil || f.CreatedBefore != nil {
		return load()
	}
	return s.db.bots.read(botCacheKey{org: orgID, state: f.State, page: f.Page}, now, load)
}

// findBots is FindBots' query.
func findBots(ctx context.Context, q queryer, orgID int64, now time.Time, f keygate.BotFilter) ([]*keygate.Bot, bool, error) {
	args := []any{orgID, ms(now)}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where := []string{"organization_id = $1"}
	if f.State != "" {
		where = append(where, botStateExpr+" = "+arg(f.State))
	}
	if f.CreatedAfter != nil {
		where = append(where, "created_at >= "+arg(ms(*f.CreatedAfter)))
	}
	if f.CreatedBefore != nil {
		where = append(where, "created_at < "+arg(ms(*f.CreatedBefore)))
	}
	cur, err := newIDCursor(f.Page)
	if err != nil {
		return nil, false, err
	}
	where, tail := cur.sql("id", where, arg)

	rows, err := q.QueryContext(ctx, `SELECT `+botColumns+` FROM bots WHERE `+strings.Join(where, " AND ")+tail, args...)
	if err != nil {
		return nil, false, fmt.Errorf("find bots: %w", err)
	}
	bots, err := collect(rows, scanBot)
	if err != nil {
		return nil, false, fmt.Errorf("find bots: %w", err)
	}
	bots, hasMore := finishIDPage(bots, cur)
	return bots, hasMore, nil
}

// FindBotByID returns one of the organization's bots.
func (s *BotService) FindBotByID(ctx context.Context, id string) (*keygate.Bot, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	now := s.db.Now()
	bots, _, err := s.db.bots.read(botCacheKey{org: orgID, id: id}, now, func() ([]*keygate.Bot, bool, error) {
		b, err := findBot(ctx, s.db.reader(), orgID, ms(now), id)
		if err != nil {
			return nil, false, err
		}
		return []*keygate.Bot{b}, false, nil
	})
	if err != nil {
		return nil, err
	}
	return bots[0], nil
}

func findBot(ctx context.Context, q queryer, orgID, now int64, id string) (*keygate.Bot, error) {
	b, err := scanBot(q.QueryRowContext(ctx, `SELECT `+botColumns+` FROM bots WHERE organization_id = $1 AND public_id = $3`,
		orgID, now, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBotNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find bot: %w", err)
	}
	return b, nil
}

// UpdateBot changes a bot's name, join time or metadata. An ended bot may
// still be renamed or have its metadata changed, but not rescheduled.
func (s *BotService) UpdateBot(ctx context.Context, id string, upd *keygate.BotUpdate) (*keygate.Bot, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	if err := upd.Validate().Err(); err != nil {
		return nil, err
	}
	var name sql.NullString
	if upd.BotName != nil {
		name = sql.NullString{String: strings.TrimSpace(*upd.BotName), Valid: true}
	}
	setMetadata := 0
	var metadata json.RawMessage
	if len(upd.Metadata) > 0 {
		setMetadata = 1
		metadata, _ = keygate.NormalizeMetadata(upd.Metadata)
	}
	if !name.Valid && upd.JoinAt == nil && setMetadata == 0 {
		return s.FindBotByID(ctx, id)
	}

	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	_, before, err := botForWrite(ctx, tx, orgID, id)
	if err != nil {
		return nil, err
	}
	// One conditional statement: a new join_at reschedules only a bot that
	// has not ended, and moves its state to match the new time.
	bot, err := scanBot(tx.QueryRowContext(ctx, `
		UPDATE bots SET
			bot_name = COALESCE(CAST($4 AS TEXT), bot_name),
			join_at = COALESCE(CAST($5 AS BIGINT), join_at),
			state = CASE WHEN state = 'ended' OR CAST($5 AS BIGINT) IS NULL THEN state WHEN CAST($5 AS BIGINT) > $2 THEN 'scheduled' ELSE 'joining' END,
			metadata = CASE WHEN $6 = 1 THEN CAST($7 AS TEXT) ELSE metadata END,
			updated_at = $2
		WHERE organization_id = $1 AND public_id = $3 AND (CAST($5 AS BIGINT) IS NULL OR state <> 'ended')
		RETURNING `+botColumns,
		orgID, ms(tx.now), id, name, nullTime(upd.JoinAt), setMetadata, metadataArg(metadata)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, botWriteMissed(ctx, tx, orgID, id)
	} else if err != nil {
		return nil, fmt.Errorf("update bot: %w", err)
	}
	tx.botsChanged(orgID)
	// botForWrite stored any due join, so the state read back is the
	// stored one and differs from before only if this update changed it.
	if bot.State != before {
		if err := recordBotState(ctx, tx, bot.ID, bot.State, tx.now); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update bot: %w", err)
	}
	return bot, nil
}

// botWriteMissed explains why a conditional write on a bot touched no row:
// the bot does not exist for this organization, or it has already ended.
func botWriteMissed(ctx context.Context, tx *Tx, orgID int64, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bots WHERE organization_id = $1 AND public_id = $2`,
		orgID, id).Scan(&n); err != nil {
		return fmt.Errorf("find bot: %w", err)
	}
	if n == 0 {
		return errBotNotFound
	}
	return errBotHasLeft
}

// DeleteBot deletes a bot and its state history. Its conversations stay,
// without the bot.
func (s *BotService) DeleteBot(ctx context.Context, id string) error {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var name string
	err = tx.QueryRowContext(ctx, `DELETE FROM bots WHERE organization_id = $1 AND public_id = $2 RETURNING bot_name`,
		orgID, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return errBotNotFound
	} else if err != nil {
		return fmt.Errorf("delete bot: %w", err)
	}
	tx.botsChanged(orgID)
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: orgID, Action: keygate.AuditBotDelete,
		TargetType: "bot", TargetID: id, TargetName: name}); err != nil {
		return err
	}
	return tx.Commit()
}

// LeaveBot ends a bot's stay in its meeting.
func (s *BotService) LeaveBot(ctx context.Context, id string) (*keygate.Bot, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, _, err := botForWrite(ctx, tx, orgID, id); err != nil {
		return nil, err
	}
	// Conditional on the state, so two concurrent leaves end the bot once.
	bot, err := scanBot(tx.QueryRowContext(ctx, `
		UPDATE bots SET state = 'ended', ended_at = $2, updated_at = $2
		WHERE organization_id = $1 AND public_id = $3 AND state <> 'ended'
		RETURNING `+botColumns,
		orgID, ms(tx.now), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, botWriteMissed(ctx, tx, orgID, id)
	} else if err != nil {
		return nil, fmt.Errorf("leave bot: %w", err)
	}
	tx.botsChanged(orgID)
	if err := recordBotState(ctx, tx, bot.ID, keygate.BotEnded, tx.now); err != nil {
		return nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: orgID, Action: keygate.AuditBotLeave,
		TargetType: "bot", TargetID: bot.PublicID, TargetName: bot.BotName}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("leave bot: %w", err)
	}
	return bot, nil
}

// Page sizes of cursor-paginated lists.
const (
	cursorPageDefault = 20
	cursorPageMax     = 100
)

// idCursor is a newest-first page over an id column: After (or nothing)
// walks towards older rows, Before walks back towards newer ones.
type idCursor struct {
	page   keygate.Page
	limit  int
	before bool
}

func newIDCursor(p keygate.Page) (idCursor, error) {
	if p.After > 0 && p.Before > 0 {
		return idCursor{}, keygate.Errorf(keygate.EINVALID, "Use either after or before, not both.")
	}
	limit := p.Limit
	if limit == 0 {
		limit = cursorPageDefault
	}
	return idCursor{page: p, limit: min(max(limit, 1), cursorPageMax), before: p.Before > 0}, nil
}

// sql adds the cursor's condition on col to where and returns the ORDER BY
// and LIMIT tail. It asks for one row more than the page, so that
// finishIDPage can tell whether more rows lie beyond it.
func (c idCursor) sql(col string, where []string, arg func(any) string) ([]string, string) {
	switch {
	case c.before:
		// Ascending from the cursor: the rows just newer than it, not the newest.
		where = append(where, col+" > "+arg(c.page.Before))
		return where, " ORDER BY " + col + " ASC LIMIT " + arg(c.limit+1)
	case c.page.After > 0:
		where = append(where, col+" < "+arg(c.page.After))
	}
	return where, " ORDER BY " + col + " DESC LIMIT " + arg(c.limit+1)
}

// finishIDPage cuts the extra row off and puts the page newest first.
// hasMore reports that the extra row existed: older rows for a forward
// page, newer rows for a Before page.
func finishIDPage[T any](rows []T, c idCursor) ([]T, bool) {
	hasMore := len(rows) > c.limit
	if hasMore {
		rows = rows[:c.limit]
	}
	if c.before {
		slices.Reverse(rows)
	}
	return rows, hasMore
}
