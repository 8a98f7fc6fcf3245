package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.AuditService = (*AuditService)(nil)

// AuditService reads the audit log.
type AuditService struct {
	db *DB
}

// NewAuditService returns an AuditService on db.
func NewAuditService(db *DB) *AuditService { return &AuditService{db: db} }

// insertAuditEvent records ev inside tx, taking the actor and the request's
// IP and user agent from ctx where ev leaves them empty.
func insertAuditEvent(ctx context.Context, tx *Tx, ev *keygate.AuditEvent) error {
	if ev.ActorUserID == 0 && ev.ActorName == "" {
		if user := keygate.UserFromContext(ctx); user != nil {
			ev.ActorUserID, ev.ActorName = user.ID, user.Name
		} else if key := keygate.KeyFromContext(ctx); key != nil {
			ev.ActorName = keyActorName(key)
		}
	}
	info := keygate.RequestInfoFromContext(ctx)
	if ev.IP == "" {
		ev.IP = info.IP
	}
	if ev.UserAgent == "" {
		ev.UserAgent = truncate(info.UserAgent, 512)
	}
	ev.CreatedAt = tx.now
	var orgID, actorID sql.NullInt64
	if ev.OrganizationID != 0 {
		orgID = sql.NullInt64{Int64: ev.OrganizationID, Valid: true}
	}
	if ev.ActorUserID != 0 {
		actorID = sql.NullInt64{Int64: ev.ActorUserID, Valid: true}
	}
	err := tx.QueryRowContext(ctx, `
		INSERT INTO audit_events (organization_id, actor_user_id, actor_name, action, target_type, target_id, target_name, ip, user_agent, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING id`,
		orgID, actorID, ev.ActorName, ev.Action, ev.TargetType, ev.TargetID, ev.TargetName, ev.IP, ev.UserAgent, ms(tx.now),
	).Scan(&ev.ID)
	if err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// FindAuditEvents returns an organization's events, newest first.
func (s *AuditService) FindAuditEvents(ctx context.Context, filter keygate.AuditFilter) ([]*keygate.AuditEvent, int, error) {
	org, err := findOrganizationForUser(ctx, s.db.reader(), filter.OrgPublicID)
	if err != nil {
		return nil, 0, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, 0, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to view the audit log.")
	}
	where, args := []string{"e.organization_id = $1"}, []any{org.ID}
	if filter.Action != "" {
		args = append(args, filter.Action)
		where = append(where, fmt.Sprintf("e.action = $%d", len(args)))
	}
	if filter.ActorID != "" {
		args = append(args, filter.ActorID)
		where = append(where, fmt.Sprintf("e.actor_user_id = (SELECT id FROM users WHERE public_id = $%d)", len(args)))
	}
	cond := strings.Join(where, " AND ")

	var total int
	if err := s.db.reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events e WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit events: %w", err)
	}
	limit := filter.Limit
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	args = append(args, limit, max(filter.Offset, 0))
	rows, err := s.db.reader().QueryContext(ctx, fmt.Sprintf(`
		SELECT e.id, COALESCE(e.organization_id, 0), COALESCE(e.actor_user_id, 0), e.actor_name, e.action,
		       e.target_type, e.target_id, e.target_name, e.ip, e.user_agent, e.created_at
		FROM audit_events e WHERE %s ORDER BY e.id DESC LIMIT $%d OFFSET $%d`, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find audit events: %w", err)
	}
	defer rows.Close()
	var events []*keygate.AuditEvent
	for rows.Next() {
		var ev keygate.AuditEvent
		var created int64
		if err := rows.Scan(&ev.ID, &ev.OrganizationID, &ev.ActorUserID, &ev.ActorName, &ev.Action,
			&ev.TargetType, &ev.TargetID, &ev.TargetName, &ev.IP, &ev.UserAgent, &created); err != nil {
			return nil, 0, fmt.Errorf("scan audit event: %w", err)
		}
		ev.CreatedAt = fromMS(created)
		events = append(events, &ev)
	}
	return events, total, rows.Err()
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// keyActorName is how an API key acting through the API is named in the
// audit log and as a key's creator.
func keyActorName(key *keygate.KeyActor) string {
	return "API key “" + key.Name + "” (" + key.PublicID + ")"
}
