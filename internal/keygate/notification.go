package keygate

import (
	"context"
	"strconv"
	"time"
)

// Kinds of notification: what a person is told of, in the dashboard's bell
// and, unless they turned it off, by email.
const (
	// NotifyKeyExpiring: a key expires in 14 days, then in 3.
	NotifyKeyExpiring = "key_expiring"
	// NotifyGraceEnding: a rolled key stops working within a day.
	NotifyGraceEnding = "key_grace_ending"
	// NotifyKeyUnused: the key policy will revoke a key left unused.
	NotifyKeyUnused = "key_unused"
)

// NotificationKind is a kind of notification as Settings > Notifications
// offers it.
type NotificationKind struct {
	Kind  string
	Label string
	Hint  string
}

// NotificationKinds lists the kinds a person chooses to get by email, in
// the order they are shown.
var NotificationKinds = []NotificationKind{
	{NotifyKeyExpiring, "An API key is about to expire", "14 days and 3 days before, for keys you created and, as an Owner or Admin, every key of the organization."},
	{NotifyGraceEnding, "A rolled key is about to stop working", "A day before the grace period of a rolled key ends."},
	{NotifyKeyUnused, "An unused key will be revoked", "A week before the organization's key policy revokes a key nobody used."},
}

// Reminders before a key expires, and before a rolled key's grace period
// ends.
const (
	KeyExpiryFirstReminder = 14 * 24 * time.Hour
	KeyExpiryLastReminder  = 3 * 24 * time.Hour
	GraceEndingReminder    = 24 * time.Hour
)

// Notification is one thing a person was told of.
type Notification struct {
	ID       int64
	PublicID string // ntf_...
	Kind     string
	OrgID    string // public id
	OrgName  string
	Title    string
	// Link is the dashboard path it leads to.
	Link      string
	CreatedAt time.Time
	ReadAt    *time.Time
}

// KeyReminder is a reminder about one key that its people are told of.
type KeyReminder struct {
	Kind                 string // NotifyKeyExpiring or NotifyGraceEnding
	OrgPublicID, OrgName string
	KeyPublicID, KeyName string
	Hint                 string
	ExpiresAt            time.Time
	// DaysLeft is how many days are left before ExpiresAt, rounded up.
	DaysLeft int
	// RolledTo is the key that replaced it (NotifyGraceEnding).
	RolledTo string
	// Recipients are the emails of those who want it by email: the key's
	// creator and the organization's Owners and Admins, each once.
	Recipients []string
}

// Title is the reminder's one line, the bell's text and the email's
// subject.
func (r *KeyReminder) Title() string {
	if r.Kind == NotifyGraceEnding {
		return "The old API key “" + r.KeyName + "” stops working within a day"
	}
	return "API key “" + r.KeyName + "” expires in " + daysText(r.DaysLeft)
}

// daysText is "1 day", "3 days".
func daysText(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

// KeyPath is the dashboard path of the key.
func (r *KeyReminder) KeyPath() string {
	return "/orgs/" + r.OrgPublicID + "/api-keys/" + r.KeyPublicID
}

// DaysUntil is how many days are left from now to t, rounded up, and at
// least 0.
func DaysUntil(now, t time.Time) int {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}

// KeyReminderSweep is what one run of the reminders job did.
type KeyReminderSweep struct {
	Reminders []KeyReminder
	// Expired counts the keys whose key.expired event was written.
	Expired int
}

// NotificationService keeps what the acting person was told of, and which
// kinds they get by email. Every method acts as the user in the context.
type NotificationService interface {
	// FindNotifications lists one page of the person's notifications,
	// newest first, and whether there are more.
	FindNotifications(ctx context.Context, page Page) ([]*Notification, bool, error)
	// CountUnreadNotifications counts those not yet read.
	CountUnreadNotifications(ctx context.Context) (int, error)
	// OpenNotification marks one read and returns it. Returns ENOTFOUND.
	OpenNotification(ctx context.Context, id string) (*Notification, error)
	// MarkAllNotificationsRead marks every one read.
	MarkAllNotificationsRead(ctx context.Context) error
	// NotificationEmails says, for each of NotificationKinds, whether the
	// person gets it by email.
	NotificationEmails(ctx context.Context) (map[string]bool, error)
	// SetNotificationEmails sets which kinds are emailed; kinds left out
	// are not.
	SetNotificationEmails(ctx context.Context, on map[string]bool) error
}
