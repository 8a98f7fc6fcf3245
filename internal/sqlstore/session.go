package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.SessionService = (*SessionService)(nil)

// SessionService stores browser sessions by the hash of their token.
type SessionService struct {
	db *DB
}

// NewSessionService returns a SessionService on db.
func NewSessionService(db *DB) *SessionService { return &SessionService{db: db} }

func nullUserID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// CreateSession stores a new session under tokenHash.
func (s *SessionService) CreateSession(ctx context.Context, sess *keygate.Session, tokenHash []byte) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sess.PublicID = newPublicID("ses")
	sess.CreatedAt, sess.LastSeenAt = tx.now, tx.now
	sess.ExpiresAt = tx.now.Add(keygate.SessionAbsoluteTimeout)
	sess.UserAgent = truncate(sess.UserAgent, 512)
	if sess.Data == nil {
		sess.Data = []byte{}
	}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO sessions (public_id, token_hash, user_id, data, ip, user_agent, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id`,
		sess.PublicID, tokenHash, nullUserID(sess.UserID), sess.Data, sess.IP, sess.UserAgent, ms(tx.now), ms(sess.ExpiresAt),
	).Scan(&sess.ID); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return tx.Commit()
}

const sessionColumns = `id, public_id, COALESCE(user_id, 0), data, ip, user_agent, created_at, last_seen_at, expires_at`

func scanSession(row scanner) (*keygate.Session, error) {
	var sess keygate.Session
	var created, seen, expires int64
	if err := row.Scan(&sess.ID, &sess.PublicID, &sess.UserID, &sess.Data, &sess.IP, &sess.UserAgent, &created, &seen, &expires); err != nil {
		return nil, err
	}
	sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return &sess, nil
}

// FindSessionByTokenHash returns a live session.
func (s *SessionService) FindSessionByTokenHash(ctx context.Context, tokenHash []byte) (*keygate.Session, error) {
	now := s.db.Now()
	sess, err := scanSession(s.db.reader().QueryRowContext(ctx, `
		SELECT `+sessionColumns+` FROM sessions
		WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $3`,
		tokenHash, ms(now), ms(now.Add(-keygate.SessionIdleTimeout))))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "Session not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	return sess, nil
}

// UpdateSession saves a session's data and where it was last seen.
func (s *SessionService) UpdateSession(ctx context.Context, sess *keygate.Session) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sess.LastSeenAt = tx.now
	if _, err := tx.ExecContext(ctx, `
		UPDATE sessions SET data = $1, user_id = $2, ip = $3, user_agent = $4, last_seen_at = $5 WHERE id = $6`,
		sess.Data, nullUserID(sess.UserID), sess.IP, truncate(sess.UserAgent, 512), ms(tx.now), sess.ID); err != nil {
		return fmt.Errorf("update session: %w", err)
	}
	return tx.Commit()
}

// DeleteSession ends a session.
func (s *SessionService) DeleteSession(ctx context.Context, id int64) error {
	if _, err := s.db.write.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// FindUserSessions lists the acting user's live sessions, newest first.
func (s *SessionService) FindUserSessions(ctx context.Context) ([]*keygate.Session, error) {
	userID := keygate.UserIDFromContext(ctx)
	if userID == 0 {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	now := s.db.Now()
	rows, err := s.db.reader().QueryContext(ctx, `
		SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3
		ORDER BY last_seen_at DESC, id DESC`,
		userID, ms(now), ms(now.Add(-keygate.SessionIdleTimeout)))
	if err != nil {
		return nil, fmt.Errorf("find sessions: %w", err)
	}
	out, err := collect(rows, scanSession)
	if err != nil {
		return nil, fmt.Errorf("find sessions: %w", err)
	}
	return out, nil
}

// DeleteUserSession ends one of the acting user's sessions.
func (s *SessionService) DeleteUserSession(ctx context.Context, publicID string) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE public_id = $1 AND user_id = $2`, publicID, user.ID)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return keygate.Errorf(keygate.ENOTFOUND, "Session not found.")
	}
	if err := recordUserEvent(ctx, tx, user, keygate.AuditSessionRevoked); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteOtherUserSessions ends every session of the acting user but keepID.
func (s *SessionService) DeleteOtherUserSessions(ctx context.Context, keepID int64) (int, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return 0, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := deleteOtherSessions(ctx, tx, user, keepID)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// deleteOtherSessions ends every session of user but keepID, and records
// that sessions were revoked if any were.
func deleteOtherSessions(ctx context.Context, tx *Tx, user *keygate.User, keepID int64) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, user.ID, keepID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		if err := recordUserEvent(ctx, tx, user, keygate.AuditSessionRevoked); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}

// DeleteExpiredSessions removes sessions past either timeout.
func (s *SessionService) DeleteExpiredSessions(ctx context.Context) (int, error) {
	now := s.db.Now()
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		ms(now), ms(now.Add(-keygate.SessionIdleTimeout)))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
