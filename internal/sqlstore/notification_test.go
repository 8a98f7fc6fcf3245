package sqlstore_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// reminderFixture is a busFixture with the notification service and an
// endpoint subscribed to key.expiring and key.expired.
type reminderFixture struct {
	*busFixture
	notes    *sqlstore.NotificationService
	hooks    *sqlstore.WebhookService
	endpoint *keygate.WebhookEndpoint
}

func mustReminderFixture(tb testing.TB) *reminderFixture {
	tb.Helper()
	f := &reminderFixture{busFixture: mustBusFixture(tb)}
	f.notes = sqlstore.NewNotificationService(f.db)
	f.hooks = sqlstore.NewWebhookService(f.db, mustBox(tb))
	url, events := "https://hooks.example.com/in", []string{keygate.WebhookKeyExpiring, keygate.WebhookKeyExpired}
	var err error
	f.endpoint, _, err = f.hooks.CreateWebhookEndpoint(f.ctx(asOwner), f.org.PublicID, &keygate.WebhookEndpointInput{URL: &url, Events: &events})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// sweep runs the reminders' sweep.
func (f *reminderFixture) sweep(tb testing.TB) *keygate.KeyReminderSweep {
	tb.Helper()
	s, err := f.notes.SweepKeyReminders(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// mustExpiringKey creates, as the Admin, a key expiring after d.
func (f *reminderFixture) mustExpiringKey(tb testing.TB, name string, d time.Duration) *keygate.APIKey {
	tb.Helper()
	at := f.clock.Now().Add(d)
	k, _, err := f.keys.CreateAPIKey(f.ctx(asAdmin), f.org.PublicID, &keygate.APIKeyCreate{
		Name: name, Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &at})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// events lists the endpoint's event types, oldest first.
func (f *reminderFixture) events(tb testing.TB) []string {
	tb.Helper()
	return deliveredTypes(tb, f.hooks, f.ctx(asOwner), f.org.PublicID, f.endpoint.PublicID)
}

// titles lists what a's bell holds, newest first.
func (f *reminderFixture) titles(tb testing.TB, a actor) []string {
	tb.Helper()
	list, _, err := f.notes.FindNotifications(f.ctx(a), keygate.Page{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, n := range list {
		out = append(out, n.Title)
	}
	return out
}

func (f *reminderFixture) unread(tb testing.TB, a actor) int {
	tb.Helper()
	n, err := f.notes.CountUnreadNotifications(f.ctx(a))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestNotificationService_ExpiryRemindersOnceEach(t *testing.T) {
	t.Parallel()
	f := mustReminderFixture(t)
	// The Owner reads them in the bell only.
	if err := f.notes.SetNotificationEmails(f.ctx(asOwner), map[string]bool{keygate.NotifyGraceEnding: true, keygate.NotifyKeyUnused: true}); err != nil {
		t.Fatal(err)
	}
	k := f.mustExpiringKey(t, "Billing", 20*day)

	f.clock.Advance(5 * day)
	if s := f.sweep(t); len(s.Reminders) != 0 || s.Expired != 0 {
		t.Fatalf("15 days left: %+v, want nothing", s)
	}
	f.clock.Advance(day + time.Hour)
	s := f.sweep(t)
	if len(s.Reminders) != 1 {
		t.Fatalf("14 days left: %+v, want one reminder", s)
	}
	r := s.Reminders[0]
	if r.Kind != keygate.NotifyKeyExpiring || r.KeyPublicID != k.PublicID || r.DaysLeft != 14 || r.OrgName != f.org.Name {
		t.Errorf("reminder = %+v", r)
	}
	if got, want := r.Title(), "API key “Billing” expires in 14 days"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	if got := strings.Join(r.Recipients, " "); got != "admin@example.com" {
		t.Errorf("recipients = %q, want the creator only: the Owner turned the emails off", got)
	}
	if s := f.sweep(t); len(s.Reminders) != 0 {
		t.Fatalf("swept again: %+v, want nothing: sent once", s)
	}

	f.clock.Advance(11 * day) // 3 days left, less an hour
	s = f.sweep(t)
	if len(s.Reminders) != 1 || s.Reminders[0].DaysLeft != 3 || len(s.Reminders[0].Recipients) != 1 {
		t.Fatalf("3 days left: %+v, want the last reminder", s)
	}
	if s := f.sweep(t); len(s.Reminders) != 0 {
		t.Fatalf("swept again: %+v, want nothing", s)
	}

	f.clock.Advance(3 * day)
	if s := f.sweep(t); len(s.Reminders) != 0 || s.Expired != 1 {
		t.Fatalf("expired: %+v, want the key.expired event only", s)
	}
	if s := f.sweep(t); s.Expired != 0 {
		t.Fatalf("swept again: %+v, want nothing", s)
	}
	if got, want := f.events(t), []string{keygate.WebhookKeyExpiring, keygate.WebhookKeyExpiring, keygate.WebhookKeyExpired}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	var payload struct {
		Data struct {
			ID       string    `json:"id"`
			Reason   string    `json:"reason"`
			EndsAt   time.Time `json:"ends_at"`
			DaysLeft int       `json:"days_left"`
		} `json:"data"`
	}
	mustEventPayload(t, f.db, keygate.WebhookKeyExpiring, &payload)
	if d := payload.Data; d.ID != k.PublicID || d.Reason != "expiry" || d.DaysLeft != 14 || !d.EndsAt.Equal(*k.ExpiresAt) {
		t.Errorf("first key.expiring data = %+v", d)
	}

	// The Owner and the Admin (the creator) see both in the bell; the
	// Member, who did not make the key, sees nothing.
	want := []string{"API key “Billing” expires in 3 days", "API key “Billing” expires in 14 days"}
	for _, a := range []actor{asOwner, asAdmin} {
		if got := f.titles(t, a); !slices.Equal(got, want) {
			t.Errorf("actor %d: bell = %q, want %q", a, got, want)
		}
		if n := f.unread(t, a); n != 2 {
			t.Errorf("actor %d: %d unread, want 2", a, n)
		}
	}
	if got := f.titles(t, asMember); len(got) != 0 {
		t.Errorf("member's bell = %q, want empty", got)
	}
}

// mustEventPayload decodes into v the payload of the first event of type
// typ.
func mustEventPayload(tb testing.TB, db *sqlstore.DB, typ string, v any) {
	tb.Helper()
	var payload string
	if err := db.WriteConn().QueryRow(`SELECT payload FROM webhook_events WHERE type = $1 ORDER BY id LIMIT 1`, typ).Scan(&payload); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal([]byte(payload), v); err != nil {
		tb.Fatal(err)
	}
}

func TestNotificationService_SkipsWindowsTheKeyWasMadeIn(t *testing.T) {
	t.Parallel()
	f := mustReminderFixture(t)
	f.mustExpiringKey(t, "Short", 5*day)
	if s := f.sweep(t); len(s.Reminders) != 0 {
		t.Fatalf("made 5 days before expiry: %+v, want no 14-day reminder", s)
	}
	f.clock.Advance(2*day + time.Hour)
	if s := f.sweep(t); len(s.Reminders) != 1 || s.Reminders[0].DaysLeft != 3 {
		t.Fatalf("3 days left: %+v, want the 3-day reminder", s)
	}
}

func TestNotificationService_NewExpiryRemindsAgain(t *testing.T) {
	t.Parallel()
	f := mustReminderFixture(t)
	k := f.mustExpiringKey(t, "Billing", 20*day)
	f.clock.Advance(7 * day)
	if s := f.sweep(t); len(s.Reminders) != 1 {
		t.Fatalf("13 days left: %+v, want one reminder", s)
	}
	// Given 30 more days, the key is reminded of again as its new expiry
	// comes.
	if _, err := f.db.WriteConn().Exec(`UPDATE api_keys SET expires_at = expires_at + $1 WHERE id = $2`,
		(30 * day).Milliseconds(), k.ID); err != nil {
		t.Fatal(err)
	}
	if s := f.sweep(t); len(s.Reminders) != 0 {
		t.Fatalf("43 days left: %+v, want nothing", s)
	}
	f.clock.Advance(30 * day)
	if s := f.sweep(t); len(s.Reminders) != 1 || s.Reminders[0].DaysLeft != 13 {
		t.Fatalf("13 days left of the new expiry: %+v, want a reminder", s)
	}
}

func TestNotificationService_RolledKeyGraceEnding(t *testing.T) {
	t.Parallel()
	f := mustReminderFixture(t)
	next, _, old, err := f.keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, 7*day, "")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * day)
	if s := f.sweep(t); len(s.Reminders) != 0 {
		t.Fatalf("2 days left: %+v, want no reminder for a rolled key", s)
	}
	f.clock.Advance(day + time.Hour)
	s := f.sweep(t)
	if len(s.Reminders) != 1 {
		t.Fatalf("23 hours left: %+v, want one reminder", s)
	}
	r := s.Reminders[0]
	if r.Kind != keygate.NotifyGraceEnding || r.KeyPublicID != old.PublicID || r.RolledTo != next.PublicID {
		t.Errorf("reminder = %+v", r)
	}
	if got, want := r.Title(), "The old API key “Deploy” stops working within a day"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	if got := strings.Join(r.Recipients, " "); got != "admin@example.com owner@example.com" {
		t.Errorf("recipients = %q", got)
	}
	if s := f.sweep(t); len(s.Reminders) != 0 {
		t.Fatalf("swept again: %+v, want nothing", s)
	}
	// A roll whose grace period is a day or less reminds of nothing: who
	// rolled it knows.
	_, _, _, err = f.keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, next.PublicID, 24*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if s := f.sweep(t); len(s.Reminders) != 0 {
		t.Fatalf("rolled with a day's grace: %+v, want nothing", s)
	}
}

func TestNotificationService_ReadAndAccess(t *testing.T) {
	t.Parallel()
	f := mustReminderFixture(t)
	f.mustExpiringKey(t, "A", 20*day)
	f.mustExpiringKey(t, "B", 20*day)
	f.clock.Advance(7 * day)
	f.sweep(t)
	list, _, err := f.notes.FindNotifications(f.ctx(asOwner), keygate.Page{})
	if err != nil || len(list) != 2 {
		t.Fatalf("owner's notifications = %+v, %v", list, err)
	}
	if !strings.HasPrefix(list[0].Link, "/orgs/"+f.org.PublicID+"/api-keys/") || list[0].OrgName != f.org.Name {
		t.Errorf("link = %q", list[0].Link)
	}
	// Another person cannot open it.
	if _, err := f.notes.OpenNotification(f.ctx(asOutsider), list[0].PublicID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("outsider opened it: %v", err)
	}
	n, err := f.notes.OpenNotification(f.ctx(asOwner), list[0].PublicID)
	if err != nil || n.ReadAt == nil {
		t.Fatalf("open = %+v, %v", n, err)
	}
	if got := f.unread(t, asOwner); got != 1 {
		t.Errorf("after opening one: %d unread, want 1", got)
	}
	if got := f.unread(t, asAdmin); got != 2 {
		t.Errorf("the Admin's: %d unread, want 2 (each person reads their own)", got)
	}
	if err := f.notes.MarkAllNotificationsRead(f.ctx(asOwner)); err != nil {
		t.Fatal(err)
	}
	if got := f.unread(t, asOwner); got != 0 {
		t.Errorf("after marking all read: %d unread", got)
	}
	// One who leaves the organization no longer sees its notifications.
	if _, err := f.members.RemoveMember(f.ctx(asOwner), f.org.PublicID, f.admin.PublicID, false); err != nil {
		t.Fatal(err)
	}
	if got := f.titles(t, asAdmin); len(got) != 0 {
		t.Errorf("after leaving: %q", got)
	}
	if _, _, err := f.notes.FindNotifications(context.Background(), keygate.Page{}); keygate.ErrorCode(err) != keygate.EUNAUTHORIZED {
		t.Errorf("nobody acting: %v, want unauthorized", err)
	}
}

func TestNotificationService_EmailSettings(t *testing.T) {
	t.Parallel()
	f := mustReminderFixture(t)
	got, err := f.notes.NotificationEmails(f.ctx(asMember))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keygate.NotificationKinds {
		if !got[k.Kind] {
			t.Errorf("%s off by default", k.Kind)
		}
	}
	if err := f.notes.SetNotificationEmails(f.ctx(asMember), map[string]bool{keygate.NotifyKeyUnused: true}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.notes.NotificationEmails(f.ctx(asMember))
	if got[keygate.NotifyKeyExpiring] || got[keygate.NotifyGraceEnding] || !got[keygate.NotifyKeyUnused] {
		t.Errorf("after saving: %v", got)
	}
	if other, _ := f.notes.NotificationEmails(f.ctx(asOwner)); !other[keygate.NotifyKeyExpiring] {
		t.Error("another person's settings changed")
	}
}

func TestNotificationService_UnusedKeyWarning(t *testing.T) {
	t.Parallel()
	f := mustReminderFixture(t)
	policies := sqlstore.NewKeyPolicyService(f.db)
	if _, err := policies.SetKeyPolicy(f.ctx(asAdmin), f.org.PublicID, keygate.KeyPolicy{RevokeUnusedDays: 30, Leak: keygate.LeakPolicyNotify}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(23*day + time.Hour)
	s, err := policies.SweepUnusedKeys(context.Background())
	if err != nil || len(s.Warned) != 1 {
		t.Fatalf("sweep = %+v, %v; want one warning", s, err)
	}
	want := []string{"API key “Deploy” will be revoked for disuse"}
	for _, a := range []actor{asOwner, asAdmin} {
		if got := f.titles(t, a); !slices.Equal(got, want) {
			t.Errorf("actor %d: bell = %q, want %q", a, got, want)
		}
	}
	var payload struct {
		Data struct {
			ID       string `json:"id"`
			Reason   string `json:"reason"`
			DaysLeft int    `json:"days_left"`
		} `json:"data"`
	}
	mustEventPayload(t, f.db, keygate.WebhookKeyExpiring, &payload)
	if d := payload.Data; d.ID != f.key.PublicID || d.Reason != "unused" || d.DaysLeft != 7 {
		t.Errorf("key.expiring data = %+v", d)
	}
}
