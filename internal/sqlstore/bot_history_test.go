package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// historyString renders a state history as "state@offset" from the test's
// start, for comparisons.
func historyString(changes []keygate.BotStateChange) string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.State + "@" + c.At.Sub(botTestStart).String()
	}
	return strings.Join(out, ",")
}

// historyFixture is a fresh database, its clock, and the bot service with
// a context acting for a new organization.
type historyFixture struct {
	db    *sqlstore.DB
	clock *botClock
	s     *sqlstore.BotService
	ctx   context.Context
}

func newHistoryFixture(tb testing.TB) *historyFixture {
	tb.Helper()
	db, clock := mustBotDB(tb)
	_, org := mustBotOrg(tb, db, "a@example.com")
	return &historyFixture{db: db, clock: clock, s: sqlstore.NewBotService(db), ctx: orgCtx(org)}
}

// bot creates a bot that joins after in, or at once for 0.
func (f *historyFixture) bot(tb testing.TB, in time.Duration) string {
	tb.Helper()
	create := &keygate.BotCreate{MeetingURL: "https://x.example/m", BotName: "b"}
	if in > 0 {
		create.JoinAt = f.clock.After(in)
	}
	bot, err := f.s.CreateBot(f.ctx, create)
	if err != nil {
		tb.Fatal(err)
	}
	return bot.PublicID
}

// leave makes the bot leave its meeting.
func (f *historyFixture) leave(tb testing.TB, id string) {
	tb.Helper()
	if _, err := f.s.LeaveBot(f.ctx, id); err != nil {
		tb.Fatal(err)
	}
}

// update changes the bot.
func (f *historyFixture) update(tb testing.TB, id string, upd *keygate.BotUpdate) {
	tb.Helper()
	if _, err := f.s.UpdateBot(f.ctx, id, upd); err != nil {
		tb.Fatal(err)
	}
}

// assertHistory checks the bot's state history as historyString shows it.
func (f *historyFixture) assertHistory(tb testing.TB, id, want string) {
	tb.Helper()
	changes, err := f.s.FindBotStateChanges(f.ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	if got := historyString(changes); got != want {
		tb.Fatalf("history = %s, want %s", got, want)
	}
}

func TestBotService_FindBotStateChanges(t *testing.T) {
	t.Parallel()
	t.Run("OKJoinAtOnce", func(t *testing.T) {
		f := newHistoryFixture(t)
		id := f.bot(t, 0)
		f.clock.Advance(10 * time.Minute)
		f.leave(t, id)
		f.assertHistory(t, id, "joining@0s,ended@10m0s")
	})

	// The scheduled→joining transition happens when join_at passes, with no
	// write: it shows in the history at once, and is stored by the next
	// write, once.
	t.Run("OKScheduledJoinsThenLeaves", func(t *testing.T) {
		f := newHistoryFixture(t)
		id := f.bot(t, time.Hour)
		f.assertHistory(t, id, "scheduled@0s")
		f.clock.Advance(90 * time.Minute)
		f.assertHistory(t, id, "scheduled@0s,joining@1h0m0s")
		name := "renamed"
		f.update(t, id, &keygate.BotUpdate{BotName: &name})
		f.update(t, id, &keygate.BotUpdate{BotName: &name})
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM bot_state_changes WHERE state = 'joining'`); got != 1 {
			t.Fatalf("stored joining changes = %d, want 1", got)
		}
		f.clock.Advance(30 * time.Minute)
		f.leave(t, id)
		f.assertHistory(t, id, "scheduled@0s,joining@1h0m0s,ended@2h0m0s")
		if got := countRows(t, f.db, "bot_state_changes"); got != 3 {
			t.Fatalf("stored changes = %d, want 3", got)
		}
	})

	t.Run("OKLeaveAfterJoinAtStoresTheJoin", func(t *testing.T) {
		f := newHistoryFixture(t)
		id := f.bot(t, time.Hour)
		f.clock.Advance(2 * time.Hour)
		f.leave(t, id)
		f.assertHistory(t, id, "scheduled@0s,joining@1h0m0s,ended@2h0m0s")
	})

	t.Run("OKRescheduled", func(t *testing.T) {
		f := newHistoryFixture(t)
		id := f.bot(t, 0)
		f.clock.Advance(time.Minute)
		f.update(t, id, &keygate.BotUpdate{JoinAt: f.clock.After(time.Hour)})
		// Moving a scheduled bot to another future time changes no state.
		f.clock.Advance(time.Minute)
		f.update(t, id, &keygate.BotUpdate{JoinAt: f.clock.After(2 * time.Hour)})
		f.clock.Advance(time.Minute)
		f.update(t, id, &keygate.BotUpdate{JoinAt: f.clock.After(-time.Minute)})
		f.assertHistory(t, id, "joining@0s,scheduled@1m0s,joining@3m0s")
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, orgA := mustBotOrg(t, db, "a@example.com")
		_, orgB := mustBotOrg(t, db, "b@example.com")
		s := sqlstore.NewBotService(db)
		bot := mustCreateBot(t, s, orgCtx(orgA), "b")
		_, err := s.FindBotStateChanges(orgCtx(orgB), bot.PublicID)
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
		if err := s.DeleteBot(orgCtx(orgA), bot.PublicID); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindBotStateChanges(orgCtx(orgA), bot.PublicID)
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
		if got := countRows(t, db, "bot_state_changes"); got != 0 {
			t.Fatalf("changes of a deleted bot = %d, want 0", got)
		}
	})
}

func TestBotService_FindBots_Created(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	_, org := mustBotOrg(t, db, "a@example.com")
	s, ctx := sqlstore.NewBotService(db), orgCtx(org)
	var ids []string
	for range 3 {
		ids = append(ids, mustCreateBot(t, s, ctx, "b").PublicID)
		clock.Advance(24 * time.Hour)
	}
	day := func(n int) *time.Time { t := botTestStart.Add(time.Duration(n) * 24 * time.Hour); return &t }
	tests := []struct {
		name   string
		filter keygate.BotFilter
		want   []string
	}{
		{"After", keygate.BotFilter{CreatedAfter: day(1)}, []string{ids[2], ids[1]}},
		{"Before", keygate.BotFilter{CreatedBefore: day(1)}, []string{ids[0]}},
		{"Between", keygate.BotFilter{CreatedAfter: day(1), CreatedBefore: day(2)}, []string{ids[1]}},
		{"Empty", keygate.BotFilter{CreatedAfter: day(3)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bots, _, err := s.FindBots(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range bots {
				got = append(got, b.PublicID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("bots = %v, want %v", got, tt.want)
			}
		})
	}
}

// Leaving and deleting bots and deleting conversations are audited in the
// organization, as the user or the API key that did it.
func TestBotService_Audit(t *testing.T) {
	t.Parallel()
	db, _ := mustBotDB(t)
	user, org := mustBotOrg(t, db, "a@example.com")
	s, convs := sqlstore.NewBotService(db), sqlstore.NewConversationService(db)
	asUser := keygate.NewContextWithOrganization(keygate.NewContextWithUser(context.Background(), user), org.ID)
	asKey := keygate.NewContextWithKey(context.Background(), &keygate.KeyActor{KeyID: 1, PublicID: "key_test", Name: "CI", OrganizationID: org.ID})

	bot := mustCreateBot(t, s, asKey, "Notes")
	if _, err := s.LeaveBot(asUser, bot.PublicID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBot(asKey, bot.PublicID); err != nil {
		t.Fatal(err)
	}
	c := mustCreateConversation(t, convs, asKey, &keygate.Conversation{Title: "Standup"})
	if err := convs.DeleteConversation(asUser, c.PublicID); err != nil {
		t.Fatal(err)
	}
	// Refused calls write nothing.
	if _, err := s.LeaveBot(asUser, bot.PublicID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Fatalf("leave of a deleted bot: %v", err)
	}
	if err := convs.DeleteConversation(asUser, c.PublicID); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Fatalf("second delete: %v", err)
	}

	rows, err := db.WriteConn().Query(`SELECT action, actor_name, COALESCE(actor_user_id, 0), target_type, target_id, target_name
		FROM audit_events WHERE organization_id = $1 AND action IN ('bot.leave', 'bot.delete', 'conversation.delete') ORDER BY id`, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var action, actor, typ, id, name string
		var actorID int64
		if err := rows.Scan(&action, &actor, &actorID, &typ, &id, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{action, actor, typ, id, name}, " | "))
		if (actorID == user.ID) != (actor == user.Name) {
			t.Errorf("%s: actor id %d for %q", action, actorID, actor)
		}
	}
	want := []string{
		"bot.leave | Test User | bot | " + bot.PublicID + " | Notes",
		"bot.delete | API key “CI” (key_test) | bot | " + bot.PublicID + " | Notes",
		"conversation.delete | Test User | conversation | " + c.PublicID + " | Standup",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, action := range []string{keygate.AuditBotLeave, keygate.AuditBotDelete, keygate.AuditConversationDelete} {
		found := false
		for _, a := range keygate.AuditActions {
			found = found || a == action
		}
		if !found {
			t.Errorf("%s is not in AuditActions", action)
		}
	}
}

// Migration 14 records the state of every bot made before it, once.
func TestMigrate_BotStateChanges(t *testing.T) {
	t.Parallel()
	skipOnPostgres(t) // SQLite\'s files and upgrades from its older formats
	db, _ := mustOpenUnmigrated(t)
	ctx := context.Background()
	if err := db.MigrateThrough(ctx, 13); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO organizations (id, public_id, name, created_at, updated_at) VALUES (1, 'org_a', 'A', 1000, 1000)`,
		`INSERT INTO bots (id, public_id, organization_id, meeting_url, bot_name, state, join_at, ended_at, created_at, updated_at)
			VALUES (1, 'bot_joining', 1, 'https://m', 'j', 'joining', NULL, NULL, 2000, 2500),
			       (2, 'bot_scheduled', 1, 'https://m', 's', 'scheduled', 9000000000000, NULL, 3000, 3000),
			       (3, 'bot_ended', 1, 'https://m', 'e', 'ended', NULL, 7000, 4000, 7000)`,
	} {
		if _, err := db.WriteConn().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.WriteConn().Query(`SELECT bot_id, state, changed_at FROM bot_state_changes ORDER BY bot_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, at int64
		var state string
		if err := rows.Scan(&id, &state, &at); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d:%s:%d", id, state, at))
	}
	if want := "1:joining:2000,2:scheduled:3000,3:ended:7000"; strings.Join(got, ",") != want {
		t.Fatalf("changes = %s, want %s", strings.Join(got, ","), want)
	}
}
