package keygate

import (
	"context"
	"time"
)

// Session lifetimes: a session ends after IdleTimeout without use or
// AbsoluteTimeout after it began, whichever comes first.
const (
	SessionIdleTimeout     = 12 * time.Hour
	SessionAbsoluteTimeout = 30 * 24 * time.Hour
)

// Session is a server-side browser session. The browser holds only a signed
// random token; the database keeps its SHA-256.
type Session struct {
	ID         int64
	PublicID   string // ses_..., safe to show and to use in URLs
	UserID     int64  // 0 before login
	Data       []byte
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// SessionService stores sessions.
type SessionService interface {
	// CreateSession stores s under tokenHash, filling its ids and times.
	CreateSession(ctx context.Context, s *Session, tokenHash []byte) error

	// FindSessionByTokenHash returns a live session, or ENOTFOUND when it is
	// unknown, idle for too long or past its absolute lifetime.
	FindSessionByTokenHash(ctx context.Context, tokenHash []byte) (*Session, error)

	// UpdateSession saves s's data and last-seen time, IP and user agent.
	UpdateSession(ctx context.Context, s *Session) error

	// DeleteSession ends a session by its row id; a missing one is no error.
	DeleteSession(ctx context.Context, id int64) error

	// FindUserSessions lists the acting user's live sessions, newest first.
	FindUserSessions(ctx context.Context) ([]*Session, error)

	// DeleteUserSession ends one of the acting user's sessions. Returns
	// ENOTFOUND for anyone else's.
	DeleteUserSession(ctx context.Context, publicID string) error

	// DeleteOtherUserSessions ends every session of the acting user except
	// keepID, and returns how many ended.
	DeleteOtherUserSessions(ctx context.Context, keepID int64) (int, error)

	// DeleteExpiredSessions removes ended sessions and returns how many.
	DeleteExpiredSessions(ctx context.Context) (int, error)
}
