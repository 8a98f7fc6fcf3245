package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.NotificationService = (*NotificationService)(nil)

// NotificationService keeps what people are told of, and sends the key
// reminders (SweepKeyReminders).
type NotificationService struct {
	db *DB
}

// NewNotificationService returns a NotificationService on db.
func NewNotificationService(db *DB) *NotificationService { return &NotificationService{db: db} }

// Bits of api_keys.expiry_notified: which of a key's reminders were sent
// for its expiry.
const (
	notifiedFirst   = 1 // 14 days before
	notifiedLast    = 2 // 3 days before
	notifiedExpired = 4 // key.expired
	notifiedGrace   = 8 // a rolled key's grace period ends within a day
	notifiedAll     = notifiedFirst | notifiedLast | notifiedExpired | notifiedGrace
)

// dueKey is a key SweepKeyReminders looks at.
type dueKey struct {
	id, expires, created int64
	notifiedFor          sql.NullInt64
	notified             int64
	// rolledAt is when the key that replaced it was made, 0 if none did.
	rolledAt int64
}

// SweepKeyReminders writes what is due of the keys' reminders, once each:
// key.expiring 14 and 3 days before a key expires, with notifications to
// its people; key.expired once it has; and, for a rolled key, a
// notification a day before its grace period ends. A key made (or rolled)
// already inside a reminder's window skips that reminder: whoever made it
// knows. A new expiry starts the key's reminders again. The reminders
// returned are to be emailed to their Recipients.
func (s *NotificationService) SweepKeyReminders(ctx context.Context) (*keygate.KeyReminderSweep, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.KeyReminderSweep, error) {
		out := &keygate.KeyReminderSweep{}
		keys, err := dueKeys(ctx, tx)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if err := remindKey(ctx, tx, k, out); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
}

// dueKeys returns the unrevoked keys expiring within the first reminder's
// window whose reminders are not all sent.
func dueKeys(ctx context.Context, tx *Tx) ([]dueKey, error) {
	rows, err := tx.QueryContext(ctx, `SELECT k.id, k.expires_at, k.created_at, k.expiry_notified_for, k.expiry_notified,
		COALESCE((SELECT MIN(n.created_at) FROM api_keys n WHERE n.rolled_from_id = k.id), 0)
		FROM api_keys k
		WHERE k.revoked_at IS NULL AND k.expires_at IS NOT NULL AND k.expires_at <= $1
		AND (k.expiry_notified_for IS NULL OR k.expiry_notified_for <> k.expires_at OR k.expiry_notified < $2)
		ORDER BY k.id`, ms(tx.now.Add(keygate.KeyExpiryFirstReminder)), notifiedAll)
	if err != nil {
		return nil, fmt.Errorf("find keys to remind of: %w", err)
	}
	defer rows.Close()
	var out []dueKey
	for rows.Next() {
		var k dueKey
		if err := rows.Scan(&k.id, &k.expires, &k.created, &k.notifiedFor, &k.notified, &k.rolledAt); err != nil {
			return nil, fmt.Errorf("find keys to remind of: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// remindKey writes what is due of one key's reminders.
func remindKey(ctx context.Context, tx *Tx, k dueKey, out *keygate.KeyReminderSweep) error {
	notified := k.notified
	if !k.notifiedFor.Valid || k.notifiedFor.Int64 != k.expires {
		notified = 0
	}
	now, expires := ms(tx.now), fromMS(k.expires)
	left := k.expires - now
	// Reminders whose window the key was made (or rolled) in are skipped.
	skipped := func(before time.Duration) bool {
		start := k.expires - int64(before/time.Millisecond)
		return k.created >= start || (k.rolledAt != 0 && k.rolledAt >= start)
	}
	var event string
	var notify string
	next := notified
	switch {
	case left <= 0:
		// Expired: told by webhook only, and nothing earlier is sent late.
		if notified&notifiedExpired == 0 {
			event = keygate.WebhookKeyExpired
			out.Expired++
		}
		next = notifiedAll
	case left <= int64(keygate.KeyExpiryLastReminder/time.Millisecond) && notified&notifiedLast == 0:
		next |= notifiedFirst | notifiedLast
		if !skipped(keygate.KeyExpiryLastReminder) {
			event, notify = keygate.WebhookKeyExpiring, keygate.NotifyKeyExpiring
		}
	case notified&notifiedFirst == 0:
		next |= notifiedFirst
		if !skipped(keygate.KeyExpiryFirstReminder) {
			event, notify = keygate.WebhookKeyExpiring, keygate.NotifyKeyExpiring
		}
	}
	// A rolled key's people hear of the end of its grace period, not of
	// its expiry: its replacement is what they use now.
	if k.rolledAt != 0 {
		notify = ""
		if left > 0 && left <= int64(keygate.GraceEndingReminder/time.Millisecond) && notified&notifiedGrace == 0 {
			next |= notifiedGrace
			if !skipped(keygate.GraceEndingReminder) {
				notify = keygate.NotifyGraceEnding
			}
		}
	}
	if next != k.notified || !k.notifiedFor.Valid || k.notifiedFor.Int64 != k.expires {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET expiry_notified_for = $1, expiry_notified = $2 WHERE id = $3`,
			k.expires, next, k.id); err != nil {
			return fmt.Errorf("note key reminders: %w", err)
		}
	}
	if event == "" && notify == "" {
		return nil
	}
	key, err := sweepKey(ctx, tx, k.id)
	if err != nil {
		return err
	}
	if event != "" {
		if err := loadPermissions(ctx, tx, key); err != nil {
			return err
		}
		data := any(keygate.NewAPIKeyJSON(key, tx.now))
		if event == keygate.WebhookKeyExpiring {
			data = newKeyExpiring(key, tx.now, expires, "expiry")
		}
		if err := enqueueWebhookEvent(ctx, tx, key.OrganizationID, event, key.PublicID, data); err != nil {
			return err
		}
	}
	if notify == "" {
		return nil
	}
	r := keygate.KeyReminder{Kind: notify, KeyPublicID: key.PublicID, KeyName: key.Name, Hint: key.Hint,
		ExpiresAt: expires, DaysLeft: keygate.DaysUntil(tx.now, expires), RolledTo: key.RolledTo}
	if err := tx.QueryRowContext(ctx, `SELECT public_id, name FROM organizations WHERE id = $1`, key.OrganizationID).
		Scan(&r.OrgPublicID, &r.OrgName); err != nil {
		return fmt.Errorf("remind of key: %w", err)
	}
	r.Recipients, err = notifyKeyPeople(ctx, tx, key, notify, r.Title(), r.KeyPath())
	if err != nil {
		return err
	}
	out.Reminders = append(out.Reminders, r)
	return nil
}

// keyExpiringJSON is the data of a key.expiring event: the key, when it
// stops working and why.
type keyExpiringJSON struct {
	keygate.APIKeyJSON
	// Reason is "expiry", or "unused": the key policy revokes it at EndsAt
	// unless it is used.
	Reason   string    `json:"reason"`
	EndsAt   time.Time `json:"ends_at"`
	DaysLeft int       `json:"days_left"`
}

func newKeyExpiring(key *keygate.APIKey, now, ends time.Time, reason string) keyExpiringJSON {
	return keyExpiringJSON{APIKeyJSON: keygate.NewAPIKeyJSON(key, now), Reason: reason, EndsAt: ends.UTC(), DaysLeft: keygate.DaysUntil(now, ends)}
}

// keyPerson is someone told of what happens to a key.
type keyPerson struct {
	id        int64
	email     string
	emailsOff string
}

// keyPeople returns who is told of what happens to a key: its creator,
// while a member of the organization, and the organization's Owners and
// Admins; each once, none disabled.
func keyPeople(ctx context.Context, tx *Tx, key *keygate.APIKey) ([]keyPerson, error) {
	rows, err := tx.QueryContext(ctx, `SELECT u.id, u.email, u.notification_emails_off
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 AND u.disabled_at IS NULL
		AND (m.role IN ('owner', 'admin') OR u.id = (SELECT created_by FROM api_keys WHERE id = $2))
		ORDER BY u.email`, key.OrganizationID, key.ID)
	if err != nil {
		return nil, fmt.Errorf("find people of key: %w", err)
	}
	defer rows.Close()
	var out []keyPerson
	for rows.Next() {
		var p keyPerson
		if err := rows.Scan(&p.id, &p.email, &p.emailsOff); err != nil {
			return nil, fmt.Errorf("find people of key: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// notifyKeyPeople writes a notification of kind about key to each of its
// people, and returns the emails of those who get kind by email.
func notifyKeyPeople(ctx context.Context, tx *Tx, key *keygate.APIKey, kind, title, link string) ([]string, error) {
	people, err := keyPeople(ctx, tx, key)
	if err != nil {
		return nil, err
	}
	var emails []string
	for _, p := range people {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications
			(public_id, user_id, organization_id, api_key_id, kind, title, link, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			newPublicID("ntf"), p.id, key.OrganizationID, key.ID, kind, title, link, ms(tx.now)); err != nil {
			return nil, fmt.Errorf("insert notification: %w", err)
		}
		if !slices.Contains(strings.Split(p.emailsOff, ","), kind) {
			emails = append(emails, p.email)
		}
	}
	return emails, nil
}

const notificationColumns = `n.id, n.public_id, n.kind, o.public_id, o.name, n.title, n.link, n.created_at, n.read_at`

const notificationFrom = ` FROM notifications n JOIN organizations o ON o.id = n.organization_id`

func scanNotification(row scanner) (*keygate.Notification, error) {
	var n keygate.Notification
	var created int64
	var read sql.NullInt64
	if err := row.Scan(&n.ID, &n.PublicID, &n.Kind, &n.OrgID, &n.OrgName, &n.Title, &n.Link, &created, &read); err != nil {
		return nil, err
	}
	n.CreatedAt, n.ReadAt = fromMS(created), fromNullMS(read)
	return &n, nil
}

// FindNotifications lists one page of the acting person's notifications,
// newest first, in the organizations they are still a member of.
func (s *NotificationService) FindNotifications(ctx context.Context, page keygate.Page) ([]*keygate.Notification, bool, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, false, errNoUser
	}
	limit := page.Limit
	if limit <= 0 {
		limit = 25
	}
	q := `SELECT ` + notificationColumns + notificationFrom + ` WHERE n.user_id = $1` + memberOfNotificationOrg
	args := []any{user.ID}
	if page.After > 0 {
		q += ` AND n.id < $2`
		args = append(args, page.After)
	}
	rows, err := s.db.reader().QueryContext(ctx, q+fmt.Sprintf(` ORDER BY n.id DESC LIMIT %d`, limit+1), args...)
	if err != nil {
		return nil, false, fmt.Errorf("find notifications: %w", err)
	}
	defer rows.Close()
	var out []*keygate.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, false, fmt.Errorf("find notifications: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("find notifications: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// memberOfNotificationOrg keeps a person's notifications to the
// organizations they still belong to: one who left sees nothing of it.
const memberOfNotificationOrg = ` AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = n.user_id AND m.organization_id = n.organization_id)`

// CountUnreadNotifications counts the acting person's unread
// notifications.
func (s *NotificationService) CountUnreadNotifications(ctx context.Context) (int, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return 0, errNoUser
	}
	var n int
	if err := s.db.reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications n
		WHERE n.user_id = $1 AND n.read_at IS NULL`+memberOfNotificationOrg, user.ID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count notifications: %w", err)
	}
	return n, nil
}

// OpenNotification marks one of the acting person's notifications read
// and returns it.
func (s *NotificationService) OpenNotification(ctx context.Context, id string) (*keygate.Notification, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, errNoUser
	}
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.Notification, error) {
		n, err := scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationColumns+notificationFrom+`
			WHERE n.user_id = $1 AND n.public_id = $2`+memberOfNotificationOrg, user.ID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, keygate.Errorf(keygate.ENOTFOUND, "Notification not found.")
		} else if err != nil {
			return nil, fmt.Errorf("find notification: %w", err)
		}
		if n.ReadAt == nil {
			if _, err := tx.ExecContext(ctx, `UPDATE notifications SET read_at = $1 WHERE id = $2`, ms(tx.now), n.ID); err != nil {
				return nil, fmt.Errorf("mark notification read: %w", err)
			}
			now := tx.now
			n.ReadAt = &now
		}
		return n, nil
	})
}

// MarkAllNotificationsRead marks every notification of the acting person
// read.
func (s *NotificationService) MarkAllNotificationsRead(ctx context.Context) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return errNoUser
	}
	return s.db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL`,
			ms(tx.now), user.ID); err != nil {
			return fmt.Errorf("mark notifications read: %w", err)
		}
		return nil
	})
}

// NotificationEmails says which kinds the acting person gets by email.
func (s *NotificationService) NotificationEmails(ctx context.Context) (map[string]bool, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, errNoUser
	}
	var off string
	if err := s.db.reader().QueryRowContext(ctx, `SELECT notification_emails_off FROM users WHERE id = $1`, user.ID).Scan(&off); err != nil {
		return nil, fmt.Errorf("find notification settings: %w", err)
	}
	out := map[string]bool{}
	for _, k := range keygate.NotificationKinds {
		out[k.Kind] = !slices.Contains(strings.Split(off, ","), k.Kind)
	}
	return out, nil
}

// SetNotificationEmails sets which kinds the acting person gets by email.
func (s *NotificationService) SetNotificationEmails(ctx context.Context, on map[string]bool) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return errNoUser
	}
	var off []string
	for _, k := range keygate.NotificationKinds {
		if !on[k.Kind] {
			off = append(off, k.Kind)
		}
	}
	return s.db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET notification_emails_off = $1 WHERE id = $2`,
			strings.Join(off, ","), user.ID); err != nil {
			return fmt.Errorf("save notification settings: %w", err)
		}
		return nil
	})
}
