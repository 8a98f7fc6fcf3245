package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.ConversationService = (*ConversationService)(nil)

// ConversationService manages the conversations of the API key's
// organization and their transcripts.
type ConversationService struct {
	db *DB
}

// NewConversationService returns a ConversationService on db.
func NewConversationService(db *DB) *ConversationService { return &ConversationService{db: db} }

var errConversationNotFound = keygate.Errorf(keygate.ENOTFOUND, "Not found.")

const conversationColumns = `c.id, c.public_id, c.organization_id, c.title, COALESCE(b.public_id, ''), COALESCE(b.bot_name, ''),
	c.started_at, c.ended_at, c.participants, c.created_at`

const conversationFrom = ` FROM conversations c LEFT JOIN bots b ON b.id = c.bot_id`

func scanConversation(row scanner) (*keygate.Conversation, error) {
	var c keygate.Conversation
	var started, ended sql.NullInt64
	var participants string
	var created int64
	if err := row.Scan(&c.ID, &c.PublicID, &c.OrganizationID, &c.Title, &c.BotID, &c.BotName,
		&started, &ended, &participants, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(participants), &c.Participants); err != nil {
		return nil, fmt.Errorf("participants: %w", err)
	}
	if c.Participants == nil {
		c.Participants = []string{}
	}
	c.StartedAt, c.EndedAt, c.CreatedAt = fromNullMS(started), fromNullMS(ended), fromMS(created)
	return &c, nil
}

// CreateConversation validates and stores a conversation together with its
// transcript.
func (s *ConversationService) CreateConversation(ctx context.Context, in *keygate.Conversation) (*keygate.Conversation, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	c, v := keygate.NormalizeConversation(in)

	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// The bot is looked up inside the write transaction, and held, so it
	// cannot be deleted between the check and the insert. Another
	// organization's bot gets the same message as a missing one: its
	// existence is not ours to reveal.
	var botRowID sql.NullInt64
	if c.BotID != "" {
		err := tx.QueryRowContext(ctx, `SELECT id, bot_name FROM bots WHERE organization_id = $1 AND public_id = $2`+tx.forKeyShare(),
			orgID, c.BotID).Scan(&botRowID, &c.BotName)
		if errors.Is(err, sql.ErrNoRows) {
			v.Add("bot_id", keygate.MsgUnknownObject(c.BotID))
		} else if err != nil {
			return nil, fmt.Errorf("find bot: %w", err)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}

	participants, err := json.Marshal(c.Participants)
	if err != nil {
		return nil, fmt.Errorf("create conversation: %w", err)
	}
	c.PublicID, c.OrganizationID, c.CreatedAt = newPublicID("conv"), orgID, tx.now
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO conversations (public_id, organization_id, title, bot_id, started_at, ended_at, participants, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		c.PublicID, orgID, c.Title, botRowID, nullTime(c.StartedAt), nullTime(c.EndedAt), string(participants), ms(tx.now),
	).Scan(&c.ID); err != nil {
		return nil, fmt.Errorf("create conversation: %w", formatError(err))
	}
	if err := insertTranscript(ctx, tx, c.ID, c.Transcript); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create conversation: %w", err)
	}
	return c, nil
}

// insertTranscript stores segments in order, numbered from 0.
func insertTranscript(ctx context.Context, tx *Tx, convID int64, segs []keygate.TranscriptSegment) error {
	if len(segs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO transcript_segments (conversation_id, position, speaker, text, start_ms, end_ms)
		VALUES ($1, $2, $3, $4, $5, $6)`)
	if err != nil {
		return fmt.Errorf("insert transcript: %w", err)
	}
	defer stmt.Close()
	for i, seg := range segs {
		if _, err := stmt.ExecContext(ctx, convID, i, seg.Speaker, seg.Text, seg.StartMS, seg.EndMS); err != nil {
			return fmt.Errorf("insert transcript segment %d: %w", i, err)
		}
	}
	return nil
}

// FindConversations lists conversations newest first, without their
// transcripts. hasMore means what it means for FindBots.
func (s *ConversationService) FindConversations(ctx context.Context, f keygate.ConversationFilter) ([]*keygate.Conversation, bool, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, false, err
	}
	cur, err := newIDCursor(f.Page)
	if err != nil {
		return nil, false, err
	}
	args := []any{orgID}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where := []string{"c.organization_id = $1"}
	if f.BotID != "" {
		// Scoped to the organization: another organization's bot matches nothing.
		where = append(where, "c.bot_id = (SELECT id FROM bots WHERE organization_id = $1 AND public_id = "+arg(f.BotID)+")")
	}
	if f.StartedAfter != nil {
		where = append(where, "c.started_at >= "+arg(ms(*f.StartedAfter)))
	}
	if f.StartedBefore != nil {
		where = append(where, "c.started_at < "+arg(ms(*f.StartedBefore)))
	}
	where, tail := cur.sql("c.id", where, arg)

	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+conversationColumns+conversationFrom+
		` WHERE `+strings.Join(where, " AND ")+tail, args...)
	if err != nil {
		return nil, false, fmt.Errorf("find conversations: %w", err)
	}
	out, err := collect(rows, scanConversation)
	if err != nil {
		return nil, false, fmt.Errorf("find conversations: %w", err)
	}
	out, hasMore := finishIDPage(out, cur)
	return out, hasMore, nil
}

// FindConversationByID returns a conversation with its transcript in order.
func (s *ConversationService) FindConversationByID(ctx context.Context, id string) (*keygate.Conversation, error) {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return nil, err
	}
	// A read transaction gives both queries one snapshot, so a delete in
	// between cannot return a conversation with its transcript missing.
	tx, err := s.db.reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("find conversation: %w", err)
	}
	defer tx.Rollback()
	c, err := scanConversation(tx.QueryRowContext(ctx, `SELECT `+conversationColumns+conversationFrom+
		` WHERE c.organization_id = $1 AND c.public_id = $2`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errConversationNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find conversation: %w", err)
	}
	if c.Transcript, err = findTranscript(ctx, tx, c.ID); err != nil {
		return nil, err
	}
	return c, nil
}

// findTranscript returns a conversation's segments in order; never nil, so
// a conversation without speech shows an empty transcript.
func findTranscript(ctx context.Context, q queryer, convID int64) ([]keygate.TranscriptSegment, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT speaker, text, start_ms, end_ms FROM transcript_segments
		WHERE conversation_id = $1 ORDER BY position`, convID)
	if err != nil {
		return nil, fmt.Errorf("find transcript: %w", err)
	}
	defer rows.Close()
	segs := []keygate.TranscriptSegment{}
	for rows.Next() {
		var seg keygate.TranscriptSegment
		if err := rows.Scan(&seg.Speaker, &seg.Text, &seg.StartMS, &seg.EndMS); err != nil {
			return nil, fmt.Errorf("scan transcript segment: %w", err)
		}
		segs = append(segs, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find transcript: %w", err)
	}
	return segs, nil
}

// DeleteConversation deletes a conversation and its transcript.
func (s *ConversationService) DeleteConversation(ctx context.Context, id string) error {
	orgID, err := apiOrgID(ctx)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var title string
	err = tx.QueryRowContext(ctx, `DELETE FROM conversations WHERE organization_id = $1 AND public_id = $2 RETURNING title`,
		orgID, id).Scan(&title)
	if errors.Is(err, sql.ErrNoRows) {
		return errConversationNotFound
	} else if err != nil {
		return fmt.Errorf("delete conversation: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: orgID, Action: keygate.AuditConversationDelete,
		TargetType: "conversation", TargetID: id, TargetName: title}); err != nil {
		return err
	}
	return tx.Commit()
}
