package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

// reminderJob is the keys' reminders job of f's app, mailing to f's sink.
func reminderJob(tb testing.TB, f *leakFixture) func() {
	tb.Helper()
	m, _ := mailer.New(f.sink.URL(), "keygate@keygate.test")
	job := web.KeyReminderJob(sqlstore.NewNotificationService(f.app.DB), m, "https://keygate.example", slog.New(slog.NewTextHandler(io.Discard, nil)))
	return func() {
		tb.Helper()
		if err := job(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
}

// bellCount is the bell's badge on p, "" without one.
func bellCount(p *Page) string { return p.Text("[data-testid=bell] [data-testid=bell-count]") }

func TestKeyExpiryReminders(t *testing.T) {
	t.Parallel()
	f := mustLeakFixture(t)
	al := MustAddMember(t, f.app, f.orgID, "Al", "al@example.com", keygate.RoleAdmin)
	mia := MustAddMember(t, f.app, f.orgID, "Mia", "mia@example.com", keygate.RoleMember)
	expires := f.app.Clock.Now().Add(20 * 24 * time.Hour)
	_, key := f.app.MustKey(t, f.user, f.orgID, keygate.APIKeyCreate{Name: "Billing", Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &expires})
	run := reminderJob(t, f)

	// Al reads reminders of expiry in the bell only.
	p := al.Get("/settings/notifications")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("input[name=email][value=key_expiring]").Length() != 1 || p.Doc.Find("input[name=email]:checked").Length() != len(keygate.NotificationKinds) {
		t.Fatalf("settings: want every kind emailed by default; body: %.500s", p.Body)
	}
	p = al.Post("/settings/notifications", url.Values{"email": {keygate.NotifyGraceEnding, keygate.NotifyKeyUnused}})
	assertStatus(t, p, http.StatusSeeOther)
	p = al.Follow(p)
	if got := p.Text(".flash-success"); got != "Notification settings saved." {
		t.Errorf("flash = %q", got)
	}
	if p.Doc.Find("#f-key_expiring:checked").Length() != 0 || p.Doc.Find("#f-key_grace_ending:checked").Length() != 1 {
		t.Error("the saved choices are not shown")
	}

	run()
	if n := len(f.sink.Messages()); n != 0 {
		t.Fatalf("20 days before: %d emails, want none", n)
	}
	f.app.Clock.Advance(6*24*time.Hour + time.Hour)
	run()
	msgs := f.sink.Messages()
	if len(msgs) != 1 || msgs[0].To != "ada@example.com" {
		t.Fatalf("14 days before: emails = %+v, want one to ada@example.com (Al turned them off, Mia is a Member)", msgs)
	}
	for _, want := range []string{"Subject: API key “Billing” expires in 14 days", key.Hint, "Acme",
		"https://keygate.example/orgs/" + f.orgID + "/api-keys/" + key.PublicID, "https://keygate.example/settings/notifications"} {
		if !strings.Contains(msgs[0].Data, want) {
			t.Errorf("email lacks %q:\n%s", want, msgs[0].Data)
		}
	}
	run()
	if n := len(f.sink.Messages()); n != 1 {
		t.Fatalf("a second run sent %d emails in all, want 1", n)
	}

	// Days went by: everyone logs in again.
	relogin := func() {
		t.Helper()
		f.owner.MustLogin("ada@example.com", testPassword)
		al.MustLogin("al@example.com", testPassword)
		mia.MustLogin("mia@example.com", testPassword)
	}
	relogin()
	// The bell: Ada and Al have one unread, Mia none.
	for name, c := range map[string]*Client{"ada": f.owner, "al": al} {
		p := c.Get("/orgs/" + f.orgID)
		if got := bellCount(p); got != "1" {
			t.Errorf("%s: bell count = %q, want 1", name, got)
		}
		if got := p.Text("[data-testid=bell-label]"); got != "Notifications, 1 unread" {
			t.Errorf("%s: bell label = %q", name, got)
		}
		if got := p.Text("[data-testid=bell] [data-testid=notification] .notification-title"); !strings.Contains(got, "API key “Billing” expires in 14 days") {
			t.Errorf("%s: bell item = %q", name, got)
		}
	}
	if p := mia.Get("/orgs/" + f.orgID); bellCount(p) != "" || p.Doc.Find("[data-testid=bell] [data-testid=notification]").Length() != 0 {
		t.Errorf("Mia's bell = %q, want empty", bellCount(p))
	}

	// Opening it leads to the key and marks it read, for Ada only.
	action := f.owner.Get("/orgs/"+f.orgID).Doc.Find("[data-testid=bell] form").AttrOr("action", "")
	p = f.owner.Post(action, url.Values{})
	assertStatus(t, p, http.StatusSeeOther)
	if got := p.Header.Get("Location"); got != "/orgs/"+f.orgID+"/api-keys/"+key.PublicID {
		t.Errorf("opened → %q", got)
	}
	if got := bellCount(f.owner.Get("/orgs/" + f.orgID)); got != "" {
		t.Errorf("after opening: Ada's count = %q, want none", got)
	}
	if got := bellCount(al.Get("/orgs/" + f.orgID)); got != "1" {
		t.Errorf("after Ada opened hers: Al's count = %q, want 1", got)
	}
	// Nobody opens another's.
	assertStatus(t, mia.Post(action, url.Values{}), http.StatusNotFound)

	f.app.Clock.Advance(11 * 24 * time.Hour)
	run()
	if msgs := f.sink.Messages(); len(msgs) != 2 || !strings.Contains(msgs[1].Data, "Subject: API key “Billing” expires in 3 days") {
		t.Fatalf("3 days before: emails = %+v, want a second to Ada", msgs)
	}
	run()
	if n := len(f.sink.Messages()); n != 2 {
		t.Fatalf("%d emails after another run, want 2", n)
	}

	// The notifications page: both, newest first, both unread.
	relogin()
	p = al.Get("/notifications")
	assertStatus(t, p, http.StatusOK)
	items := p.Doc.Find("[data-testid=notifications] [data-testid=notification]")
	if items.Length() != 2 || !strings.Contains(items.First().Text(), "expires in 3 days") || !strings.Contains(items.First().Text(), "Acme") {
		t.Fatalf("notifications page: %d items, first %q", items.Length(), items.First().Text())
	}
	if got := p.Text("#notifications-heading"); got != "2 unread" {
		t.Errorf("heading = %q", got)
	}
	// Marking all read is a same-origin POST.
	req, _ := http.NewRequest(http.MethodPost, f.app.URL+"/notifications/read-all", nil)
	req.Header.Set("Origin", "https://evil.example")
	assertStatus(t, al.Do(req), http.StatusForbidden)
	p = al.Post("/notifications/read-all", url.Values{})
	assertStatus(t, p, http.StatusSeeOther)
	p = al.Follow(p)
	if got := p.Text("#notifications-heading"); got != "All read" || bellCount(p) != "" {
		t.Errorf("after marking all read: heading %q, count %q", got, bellCount(p))
	}
}

func TestGraceEndingReminder(t *testing.T) {
	t.Parallel()
	f := mustLeakFixture(t)
	p := f.owner.Post("/orgs/"+f.orgID+"/api-keys/"+f.key.PublicID+"/roll", url.Values{"grace": {"168h"}})
	if p.StatusCode != http.StatusOK && p.StatusCode != http.StatusSeeOther {
		t.Fatalf("roll: status %d; body: %.300s", p.StatusCode, p.Body)
	}
	run := reminderJob(t, f)
	f.app.Clock.Advance(6*24*time.Hour + time.Hour)
	run()
	msgs := f.sink.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Data, "Subject: The old API key “Deploy” stops working within a day") ||
		!strings.Contains(msgs[0].Data, "https://keygate.example/orgs/"+f.orgID+"/api-keys/"+f.key.PublicID) {
		t.Fatalf("emails = %+v, want the end of the grace period", msgs)
	}
	run()
	if n := len(f.sink.Messages()); n != 1 {
		t.Fatalf("%d emails after another run, want 1", n)
	}
}

func TestNotificationsNeedALogin(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	for _, path := range []string{"/notifications", "/settings/notifications"} {
		p := c.Get(path)
		if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/login") {
			t.Errorf("GET %s logged out: %d → %q", path, p.StatusCode, p.Header.Get("Location"))
		}
	}
	c.MustSignup("Ada", "ada@example.com", "Acme")
	p := c.Get("/notifications")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("[data-testid=no-notifications]").Length() != 1 || p.Doc.Find("[data-testid=bell]").Length() != 1 {
		t.Errorf("empty page: want the empty state and the bell; body: %.400s", p.Body)
	}
	if href := c.Get("/settings").Doc.Find("[data-testid=notifications-link]").AttrOr("href", ""); href != "/settings/notifications" {
		t.Errorf("settings link = %q", href)
	}
}
