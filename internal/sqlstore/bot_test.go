package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
)

// botTestStart is the clock every bot test starts at.
var botTestStart = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// botClock is a settable clock for db.Now.
type botClock struct{ t time.Time }

func (c *botClock) Now() time.Time                   { return c.t }
func (c *botClock) Advance(d time.Duration)          { c.t = c.t.Add(d) }
func (c *botClock) Set(t time.Time)                  { c.t = t }
func (c *botClock) After(d time.Duration) *time.Time { t := c.t.Add(d); return &t }

// mustBotDB opens a fresh, migrated file database whose clock is the
// returned botClock.
func mustBotDB(tb testing.TB) (*sqlstore.DB, *botClock) {
	tb.Helper()
	db := newTestDB(tb, false)
	clock := &botClock{t: botTestStart}
	db.Now = clock.Now
	if err := db.OpenAndMigrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, clock
}

// mustBotOrg signs up a user and returns them with their organization.
func mustBotOrg(tb testing.TB, db *sqlstore.DB, email string) (*keygate.User, *keygate.Organization) {
	tb.Helper()
	hasher := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	user, org, err := sqlstore.NewUserService(db, hasher).Signup(context.Background(), &keygate.Signup{
		Name: "Test User", Email: email, Password: "correct horse battery staple 42", OrganizationName: "Org " + email,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return user, org
}

// orgCtx returns a context acting for org, as an API key of it would.
func orgCtx(org *keygate.Organization) context.Context {
	return keygate.NewContextWithOrganization(context.Background(), org.ID)
}

// mustCreateBot creates a valid bot named name.
func mustCreateBot(tb testing.TB, s *sqlstore.BotService, ctx context.Context, name string) *keygate.Bot {
	tb.Helper()
	bot, err := s.CreateBot(ctx, &keygate.BotCreate{MeetingURL: "https://meet.example.com/abc-defg-hij", BotName: name})
	if err != nil {
		tb.Fatal(err)
	}
	return bot
}

// countRows counts the rows of a table (a constant of the test).
func countRows(tb testing.TB, db *sqlstore.DB, table string) int {
	tb.Helper()
	var n int
	if err := db.WriteConn().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// assertError checks an error's code and message.
func assertError(tb testing.TB, err error, code, message string) {
	tb.Helper()
	if got, want := keygate.ErrorCode(err), code; got != want {
		tb.Fatalf("code=%q, want %q (err=%v)", got, want, err)
	}
	if got, want := keygate.ErrorMessage(err), message; got != want {
		tb.Fatalf("message=%q, want %q", got, want)
	}
}

// assertFields checks an EINVALID error's field messages, exactly.
func assertFields(tb testing.TB, err error, want map[string]string) {
	tb.Helper()
	if got := keygate.ErrorCode(err); got != keygate.EINVALID {
		tb.Fatalf("code=%q, want %q (err=%v)", got, keygate.EINVALID, err)
	}
	if got := keygate.ErrorFields(err); !maps.Equal(got, want) {
		tb.Fatalf("fields=%v, want %v", got, want)
	}
}

func TestBotService_CreateBot(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot, err := s.CreateBot(orgCtx(org), &keygate.BotCreate{
			MeetingURL: "  https://zoom.us/j/123?pwd=x  ", BotName: " Notetaker ",
			Metadata: json.RawMessage(`{ "customer": "acme",  "n": 1 }`),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(bot.PublicID, "bot_") || len(bot.PublicID) != 24 {
			t.Fatalf("PublicID=%q", bot.PublicID)
		}
		if got, want := bot.MeetingURL, "https://zoom.us/j/123?pwd=x"; got != want {
			t.Fatalf("MeetingURL=%q, want %q", got, want)
		}
		if got, want := bot.BotName, "Notetaker"; got != want {
			t.Fatalf("BotName=%q, want %q", got, want)
		}
		if got, want := string(bot.Metadata), `{"customer":"acme","n":1}`; got != want {
			t.Fatalf("Metadata=%s, want %s", got, want)
		}
		if got, want := bot.State, keygate.BotJoining; got != want {
			t.Fatalf("State=%q, want %q", got, want)
		}
		if got, want := bot.OrganizationID, org.ID; got != want {
			t.Fatalf("OrganizationID=%d, want %d", got, want)
		}
		if !bot.CreatedAt.Equal(clock.Now()) || !bot.UpdatedAt.Equal(clock.Now()) || bot.JoinAt != nil || bot.EndedAt != nil {
			t.Fatalf("times: %+v", bot)
		}
		found, err := s.FindBotByID(orgCtx(org), bot.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprintf("%+v", found), fmt.Sprintf("%+v", bot); got != want {
			t.Fatalf("found %s, want %s", got, want)
		}
	})

	t.Run("OKStateScheduled", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		joinAt := clock.After(time.Hour)
		bot, err := sqlstore.NewBotService(db).CreateBot(orgCtx(org), &keygate.BotCreate{
			MeetingURL: "https://meet.example.com/x", BotName: "Later", JoinAt: joinAt,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := bot.State, keygate.BotScheduled; got != want {
			t.Fatalf("State=%q, want %q", got, want)
		}
		if bot.JoinAt == nil || !bot.JoinAt.Equal(*joinAt) {
			t.Fatalf("JoinAt=%v, want %v", bot.JoinAt, joinAt)
		}
	})

	t.Run("OKStateJoiningWhenJoinAtNotInFuture", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		for _, joinAt := range []*time.Time{nil, clock.After(0), clock.After(-time.Minute)} {
			bot, err := s.CreateBot(orgCtx(org), &keygate.BotCreate{
				MeetingURL: "http://meet.example.com/x", BotName: "Now", JoinAt: joinAt,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := bot.State, keygate.BotJoining; got != want {
				t.Fatalf("join_at %v: State=%q, want %q", joinAt, got, want)
			}
		}
	})

	t.Run("OKLimits", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		// 100 two-byte runes: over 100 bytes, but exactly at the limit.
		name := strings.Repeat("é", 100)
		meta := `{"k":"` + strings.Repeat("x", keygate.MetadataMaxLen-8) + `"}`
		bot, err := sqlstore.NewBotService(db).CreateBot(orgCtx(org), &keygate.BotCreate{
			MeetingURL: "https://meet.example.com/x", BotName: name, Metadata: json.RawMessage(meta),
		})
		if err != nil {
			t.Fatal(err)
		}
		if bot.BotName != name || string(bot.Metadata) != meta {
			t.Fatalf("bot=%+v", bot)
		}
	})

	t.Run("OKNullMetadata", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		bot, err := sqlstore.NewBotService(db).CreateBot(orgCtx(org), &keygate.BotCreate{
			MeetingURL: "https://meet.example.com/x", BotName: "n", Metadata: json.RawMessage(`null`),
		})
		if err != nil {
			t.Fatal(err)
		}
		if bot.Metadata != nil {
			t.Fatalf("Metadata=%s, want nil", bot.Metadata)
		}
	})

	const (
		required = "This field is required."
		badURL   = "Enter a valid URL."
		tooLong  = "Ensure this field has no more than 100 characters."
		notObj   = "Must be a JSON object."
		tooBig   = "Must be at most 4 KiB."
	)
	valid := func(mod func(*keygate.BotCreate)) *keygate.BotCreate {
		in := &keygate.BotCreate{MeetingURL: "https://meet.example.com/x", BotName: "Notetaker"}
		mod(in)
		return in
	}
	for _, tt := range []struct {
		name string
		in   *keygate.BotCreate
		want map[string]string
	}{
		{"ErrMeetingURLRequired", valid(func(in *keygate.BotCreate) { in.MeetingURL = "" }), map[string]string{"meeting_url": required}},
		{"ErrMeetingURLBlank", valid(func(in *keygate.BotCreate) { in.MeetingURL = "  \t" }), map[string]string{"meeting_url": required}},
		{"ErrMeetingURLNotURL", valid(func(in *keygate.BotCreate) { in.MeetingURL = "my zoom call" }), map[string]string{"meeting_url": badURL}},
		{"ErrMeetingURLRelative", valid(func(in *keygate.BotCreate) { in.MeetingURL = "/j/123" }), map[string]string{"meeting_url": badURL}},
		{"ErrMeetingURLSchemeFTP", valid(func(in *keygate.BotCreate) { in.MeetingURL = "ftp://meet.example.com/x" }), map[string]string{"meeting_url": badURL}},
		{"ErrMeetingURLSchemeJavaScript", valid(func(in *keygate.BotCreate) { in.MeetingURL = "javascript:alert(1)" }), map[string]string{"meeting_url": badURL}},
		{"ErrMeetingURLNoHost", valid(func(in *keygate.BotCreate) { in.MeetingURL = "https:///j/123" }), map[string]string{"meeting_url": badURL}},
		{"ErrMeetingURLOpaque", valid(func(in *keygate.BotCreate) { in.MeetingURL = "https:meet.example.com" }), map[string]string{"meeting_url": badURL}},
		{"ErrMeetingURLBadHost", valid(func(in *keygate.BotCreate) { in.MeetingURL = "https://meet example.com/" }), map[string]string{"meeting_url": badURL}},
		{"ErrMeetingURLTooLong", valid(func(in *keygate.BotCreate) { in.MeetingURL = "https://x.com/" + strings.Repeat("a", 2048) }),
			map[string]string{"meeting_url": "Ensure this field has no more than 2048 characters."}},
		{"ErrBotNameRequired", valid(func(in *keygate.BotCreate) { in.BotName = "" }), map[string]string{"bot_name": required}},
		{"ErrBotNameBlank", valid(func(in *keygate.BotCreate) { in.BotName = "   " }), map[string]string{"bot_name": required}},
		{"ErrBotNameTooLong", valid(func(in *keygate.BotCreate) { in.BotName = strings.Repeat("é", 101) }), map[string]string{"bot_name": tooLong}},
		{"ErrJoinAtZero", valid(func(in *keygate.BotCreate) { in.JoinAt = &time.Time{} }), map[string]string{"join_at": "Enter a valid date and time."}},
		{"ErrMetadataArray", valid(func(in *keygate.BotCreate) { in.Metadata = json.RawMessage(`[1,2]`) }), map[string]string{"metadata": notObj}},
		{"ErrMetadataString", valid(func(in *keygate.BotCreate) { in.Metadata = json.RawMessage(`"x"`) }), map[string]string{"metadata": notObj}},
		{"ErrMetadataNumber", valid(func(in *keygate.BotCreate) { in.Metadata = json.RawMessage(`42`) }), map[string]string{"metadata": notObj}},
		{"ErrMetadataMalformed", valid(func(in *keygate.BotCreate) { in.Metadata = json.RawMessage(`{"a":`) }), map[string]string{"metadata": notObj}},
		{"ErrMetadataTooLarge", valid(func(in *keygate.BotCreate) {
			in.Metadata = json.RawMessage(`{"k":"` + strings.Repeat("x", keygate.MetadataMaxLen-7) + `"}`)
		}), map[string]string{"metadata": tooBig}},
		{"ErrAllAtOnce", &keygate.BotCreate{MeetingURL: "ftp://x", BotName: strings.Repeat("b", 101), Metadata: json.RawMessage(`[]`)},
			map[string]string{"meeting_url": badURL, "bot_name": tooLong, "metadata": notObj}},
		{"ErrEmpty", &keygate.BotCreate{}, map[string]string{"meeting_url": required, "bot_name": required}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustBotDB(t)
			_, org := mustBotOrg(t, db, "a@example.com")
			bot, err := sqlstore.NewBotService(db).CreateBot(orgCtx(org), tt.in)
			if bot != nil {
				t.Fatalf("bot=%+v, want nil", bot)
			}
			assertFields(t, err, tt.want)
			if got := countRows(t, db, "bots"); got != 0 {
				t.Fatalf("%d bots written, want 0", got)
			}
		})
	}

	t.Run("ErrUnauthorized", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, err := sqlstore.NewBotService(db).CreateBot(context.Background(), valid(func(*keygate.BotCreate) {}))
		if got, want := keygate.ErrorCode(err), keygate.EUNAUTHORIZED; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
		if got := countRows(t, db, "bots"); got != 0 {
			t.Fatalf("%d bots written, want 0", got)
		}
	})
}

func TestBotService_UpdateBot(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot := mustCreateBot(t, s, orgCtx(org), "Old")
		clock.Advance(time.Minute)
		name := " New "
		got, err := s.UpdateBot(orgCtx(org), bot.PublicID, &keygate.BotUpdate{BotName: &name, Metadata: json.RawMessage(`{"a": 1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if got.BotName != "New" || string(got.Metadata) != `{"a":1}` || !got.UpdatedAt.Equal(clock.Now()) || !got.CreatedAt.Equal(bot.CreatedAt) {
			t.Fatalf("bot=%+v", got)
		}
		if got.MeetingURL != bot.MeetingURL || got.State != bot.State {
			t.Fatalf("unchanged fields changed: %+v", got)
		}
	})

	t.Run("OKNothingGiven", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot, err := s.CreateBot(orgCtx(org), &keygate.BotCreate{MeetingURL: "https://x.example/m", BotName: "b", Metadata: json.RawMessage(`{"a":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.UpdateBot(orgCtx(org), bot.PublicID, &keygate.BotUpdate{})
		if err != nil {
			t.Fatal(err)
		}
		if got.BotName != "b" || string(got.Metadata) != `{"a":1}` {
			t.Fatalf("bot=%+v", got)
		}
	})

	t.Run("OKClearMetadataWithNull", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot, err := s.CreateBot(orgCtx(org), &keygate.BotCreate{MeetingURL: "https://x.example/m", BotName: "b", Metadata: json.RawMessage(`{"a":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.UpdateBot(orgCtx(org), bot.PublicID, &keygate.BotUpdate{Metadata: json.RawMessage(`null`)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Metadata != nil {
			t.Fatalf("Metadata=%s, want nil", got.Metadata)
		}
	})

	t.Run("OKReschedule", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot := mustCreateBot(t, s, orgCtx(org), "b")
		got, err := s.UpdateBot(orgCtx(org), bot.PublicID, &keygate.BotUpdate{JoinAt: clock.After(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keygate.BotScheduled || !got.JoinAt.Equal(*clock.After(time.Hour)) {
			t.Fatalf("bot=%+v", got)
		}
		got, err = s.UpdateBot(orgCtx(org), bot.PublicID, &keygate.BotUpdate{JoinAt: clock.After(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keygate.BotJoining {
			t.Fatalf("State=%q, want joining", got.State)
		}
	})

	t.Run("OKRenameEndedBot", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot := mustCreateBot(t, s, orgCtx(org), "b")
		if _, err := s.LeaveBot(orgCtx(org), bot.PublicID); err != nil {
			t.Fatal(err)
		}
		name := "Renamed"
		got, err := s.UpdateBot(orgCtx(org), bot.PublicID, &keygate.BotUpdate{BotName: &name})
		if err != nil {
			t.Fatal(err)
		}
		if got.BotName != name || got.State != keygate.BotEnded || got.EndedAt == nil {
			t.Fatalf("bot=%+v", got)
		}
	})

	t.Run("ErrRescheduleEndedBot", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot := mustCreateBot(t, s, orgCtx(org), "b")
		if _, err := s.LeaveBot(orgCtx(org), bot.PublicID); err != nil {
			t.Fatal(err)
		}
		name := "Renamed"
		_, err := s.UpdateBot(orgCtx(org), bot.PublicID, &keygate.BotUpdate{BotName: &name, JoinAt: clock.After(time.Hour)})
		assertError(t, err, keygate.ECONFLICT, "The bot has already left the meeting.")
		if got, _ := s.FindBotByID(orgCtx(org), bot.PublicID); got.BotName != "b" || got.JoinAt != nil {
			t.Fatalf("bot changed: %+v", got)
		}
	})

	blank, long := "  ", strings.Repeat("n", 101)
	for _, tt := range []struct {
		name string
		upd  *keygate.BotUpdate
		want map[string]string
	}{
		{"ErrBotNameBlank", &keygate.BotUpdate{BotName: &blank}, map[string]string{"bot_name": "This field is required."}},
		{"ErrBotNameTooLong", &keygate.BotUpdate{BotName: &long}, map[string]string{"bot_name": "Ensure this field has no more than 100 characters."}},
		{"ErrJoinAtZero", &keygate.BotUpdate{JoinAt: &time.Time{}}, map[string]string{"join_at": "Enter a valid date and time."}},
		{"ErrMetadataNotObject", &keygate.BotUpdate{Metadata: json.RawMessage(`true`)}, map[string]string{"metadata": "Must be a JSON object."}},
		{"ErrMetadataTooLarge", &keygate.BotUpdate{Metadata: json.RawMessage(`{"k":"` + strings.Repeat("x", 5000) + `"}`)},
			map[string]string{"metadata": "Must be at most 4 KiB."}},
		{"ErrAllAtOnce", &keygate.BotUpdate{BotName: &blank, Metadata: json.RawMessage(`[]`)},
			map[string]string{"bot_name": "This field is required.", "metadata": "Must be a JSON object."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, clock := mustBotDB(t)
			_, org := mustBotOrg(t, db, "a@example.com")
			s := sqlstore.NewBotService(db)
			bot := mustCreateBot(t, s, orgCtx(org), "b")
			clock.Advance(time.Minute)
			_, err := s.UpdateBot(orgCtx(org), bot.PublicID, tt.upd)
			assertFields(t, err, tt.want)
			got, err := s.FindBotByID(orgCtx(org), bot.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", bot); got != want {
				t.Fatalf("bot changed: %s, want %s", got, want)
			}
		})
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		name := "x"
		_, err := sqlstore.NewBotService(db).UpdateBot(orgCtx(org), "bot_missing", &keygate.BotUpdate{BotName: &name})
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
	})
}

func TestBotService_LeaveBot(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot := mustCreateBot(t, s, orgCtx(org), "b")
		clock.Advance(10 * time.Minute)
		got, err := s.LeaveBot(orgCtx(org), bot.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keygate.BotEnded || got.EndedAt == nil || !got.EndedAt.Equal(clock.Now()) || !got.UpdatedAt.Equal(clock.Now()) {
			t.Fatalf("bot=%+v", got)
		}
	})

	t.Run("ErrAlreadyLeft", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot := mustCreateBot(t, s, orgCtx(org), "b")
		first, err := s.LeaveBot(orgCtx(org), bot.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		_, err = s.LeaveBot(orgCtx(org), bot.PublicID)
		assertError(t, err, keygate.ECONFLICT, "The bot has already left the meeting.")
		got, err := s.FindBotByID(orgCtx(org), bot.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.EndedAt.Equal(*first.EndedAt) {
			t.Fatalf("EndedAt moved: %v, want %v", got.EndedAt, first.EndedAt)
		}
	})

	t.Run("OKScheduledBot", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewBotService(db)
		bot, err := s.CreateBot(orgCtx(org), &keygate.BotCreate{MeetingURL: "https://x.example/m", BotName: "b", JoinAt: clock.After(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.LeaveBot(orgCtx(org), bot.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keygate.BotEnded {
			t.Fatalf("State=%q", got.State)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		_, err := sqlstore.NewBotService(db).LeaveBot(orgCtx(org), "bot_missing")
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
	})
}

func TestBotService_DeleteBot(t *testing.T) {
	t.Parallel()
	db, _ := mustBotDB(t)
	_, org := mustBotOrg(t, db, "a@example.com")
	s := sqlstore.NewBotService(db)
	bot := mustCreateBot(t, s, orgCtx(org), "b")
	if err := s.DeleteBot(orgCtx(org), bot.PublicID); err != nil {
		t.Fatal(err)
	}
	_, err := s.FindBotByID(orgCtx(org), bot.PublicID)
	assertError(t, err, keygate.ENOTFOUND, "Not found.")
	assertError(t, s.DeleteBot(orgCtx(org), bot.PublicID), keygate.ENOTFOUND, "Not found.")
}

// A scheduled bot reads as joining once its join_at has passed.
func TestBotService_ScheduledBecomesJoining(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	_, org := mustBotOrg(t, db, "a@example.com")
	s := sqlstore.NewBotService(db)
	bot, err := s.CreateBot(orgCtx(org), &keygate.BotCreate{MeetingURL: "https://x.example/m", BotName: "b", JoinAt: clock.After(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	stateCount := func(state string) int {
		t.Helper()
		bots, _, err := s.FindBots(orgCtx(org), keygate.BotFilter{State: state})
		if err != nil {
			t.Fatal(err)
		}
		return len(bots)
	}
	if stateCount(keygate.BotScheduled) != 1 || stateCount(keygate.BotJoining) != 0 {
		t.Fatal("before join_at: want 1 scheduled, 0 joining")
	}
	clock.Advance(time.Hour)
	got, err := s.FindBotByID(orgCtx(org), bot.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != keygate.BotJoining {
		t.Fatalf("State=%q, want joining", got.State)
	}
	if stateCount(keygate.BotScheduled) != 0 || stateCount(keygate.BotJoining) != 1 {
		t.Fatal("at join_at: want 0 scheduled, 1 joining")
	}
}

func TestBotService_CrossOrganization(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	_, orgA := mustBotOrg(t, db, "a@example.com")
	_, orgB := mustBotOrg(t, db, "b@example.com")
	s := sqlstore.NewBotService(db)
	bot := mustCreateBot(t, s, orgCtx(orgA), "A's bot")
	ctxB := orgCtx(orgB)

	t.Run("ErrNotFoundFind", func(t *testing.T) {
		_, err := s.FindBotByID(ctxB, bot.PublicID)
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
	})
	t.Run("ErrNotFoundUpdate", func(t *testing.T) {
		name := "mine now"
		_, err := s.UpdateBot(ctxB, bot.PublicID, &keygate.BotUpdate{BotName: &name})
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
		_, err = s.UpdateBot(ctxB, bot.PublicID, &keygate.BotUpdate{JoinAt: clock.After(time.Hour)})
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
	})
	t.Run("ErrNotFoundLeave", func(t *testing.T) {
		_, err := s.LeaveBot(ctxB, bot.PublicID)
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
	})
	t.Run("ErrNotFoundDelete", func(t *testing.T) {
		assertError(t, s.DeleteBot(ctxB, bot.PublicID), keygate.ENOTFOUND, "Not found.")
	})
	t.Run("OKListIsolated", func(t *testing.T) {
		bots, hasMore, err := s.FindBots(ctxB, keygate.BotFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(bots) != 0 || hasMore {
			t.Fatalf("org B sees %d bots, hasMore=%v", len(bots), hasMore)
		}
	})
	t.Run("OKUntouched", func(t *testing.T) {
		got, err := s.FindBotByID(orgCtx(orgA), bot.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", bot); got != want {
			t.Fatalf("bot changed: %s, want %s", got, want)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		_, err := s.FindBotByID(context.Background(), bot.PublicID)
		if got, want := keygate.ErrorCode(err), keygate.EUNAUTHORIZED; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
		_, _, err = s.FindBots(context.Background(), keygate.BotFilter{})
		if got, want := keygate.ErrorCode(err), keygate.EUNAUTHORIZED; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
	})
}

func TestBotService_FindBots(t *testing.T) {
	t.Parallel()
	db, _ := mustBotDB(t)
	_, org := mustBotOrg(t, db, "a@example.com")
	s := sqlstore.NewBotService(db)
	ctx := orgCtx(org)
	for i := range 25 {
		mustCreateBot(t, s, ctx, fmt.Sprintf("bot %d", i))
	}
	bots, _, err := s.FindBots(ctx, keygate.BotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bots[:3] {
		if _, err := s.LeaveBot(ctx, b.PublicID); err != nil {
			t.Fatal(err)
		}
	}

	for _, tt := range []struct {
		name        string
		filter      keygate.BotFilter
		wantLen     int
		wantHasMore bool
	}{
		{"OKDefaultLimit", keygate.BotFilter{}, 20, true},
		{"OKLimit", keygate.BotFilter{Page: keygate.Page{Limit: 5}}, 5, true},
		{"OKLimitClampedUp", keygate.BotFilter{Page: keygate.Page{Limit: 1000}}, 25, false},
		{"OKLimitClampedDown", keygate.BotFilter{Page: keygate.Page{Limit: -3}}, 1, true},
		{"OKStateEnded", keygate.BotFilter{State: keygate.BotEnded}, 3, false},
		{"OKStateJoining", keygate.BotFilter{State: keygate.BotJoining, Page: keygate.Page{Limit: 22}}, 22, false},
		{"OKStateScheduled", keygate.BotFilter{State: keygate.BotScheduled}, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bots, hasMore, err := s.FindBots(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(bots), tt.wantLen; got != want {
				t.Fatalf("len=%d, want %d", got, want)
			}
			if got, want := hasMore, tt.wantHasMore; got != want {
				t.Fatalf("hasMore=%v, want %v", got, want)
			}
			for i, b := range bots {
				if tt.filter.State != "" && b.State != tt.filter.State {
					t.Fatalf("bot %d state %q", i, b.State)
				}
				if i > 0 && b.ID >= bots[i-1].ID {
					t.Fatalf("not newest first at %d", i)
				}
			}
		})
	}

	t.Run("ErrState", func(t *testing.T) {
		_, _, err := s.FindBots(ctx, keygate.BotFilter{State: "flying"})
		assertFields(t, err, map[string]string{"state": "Select a valid choice."})
	})
	t.Run("ErrAfterAndBefore", func(t *testing.T) {
		_, _, err := s.FindBots(ctx, keygate.BotFilter{Page: keygate.Page{After: 10, Before: 5}})
		if got, want := keygate.ErrorCode(err), keygate.EINVALID; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
	})
}

// walkBots pages forward from the newest bot with After cursors, calling
// between(i) before fetching page i+1, and returns the pages and hasMores.
func walkBots(t *testing.T, s *sqlstore.BotService, ctx context.Context, limit int, between func(page int)) ([][]*keygate.Bot, []bool) {
	t.Helper()
	var pages [][]*keygate.Bot
	var mores []bool
	page := keygate.Page{Limit: limit}
	for {
		bots, hasMore, err := s.FindBots(ctx, keygate.BotFilter{Page: page})
		if err != nil {
			t.Fatal(err)
		}
		pages, mores = append(pages, bots), append(mores, hasMore)
		if !hasMore || len(pages) > 100 {
			return pages, mores
		}
		between(len(pages))
		page.After = bots[len(bots)-1].ID
	}
}

func botIDs(bots []*keygate.Bot) []string {
	ids := make([]string, len(bots))
	for i, b := range bots {
		ids[i] = b.PublicID
	}
	return ids
}

func TestBotService_FindBots_Pagination(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*sqlstore.BotService, context.Context, []string) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		_, other := mustBotOrg(t, db, "b@example.com")
		s := sqlstore.NewBotService(db)
		var want []string // newest first
		for i := range 45 {
			want = append([]string{mustCreateBot(t, s, orgCtx(org), fmt.Sprintf("bot %d", i)).PublicID}, want...)
			if i%10 == 0 { // interleave another organization's rows
				mustCreateBot(t, s, orgCtx(other), "other")
			}
		}
		return s, orgCtx(org), want
	}
	sizes := func(pages [][]*keygate.Bot) []int {
		var out []int
		for _, p := range pages {
			out = append(out, len(p))
		}
		return out
	}

	t.Run("OKForward", func(t *testing.T) {
		s, ctx, want := setup(t)
		pages, mores := walkBots(t, s, ctx, 20, func(int) {})
		if got, want := fmt.Sprint(sizes(pages), mores), "[20 20 5] [true true false]"; got != want {
			t.Fatalf("pages, hasMore = %s, want %s", got, want)
		}
		var got []string
		for _, p := range pages {
			got = append(got, botIDs(p)...)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("walked %v, want %v", got, want)
		}
	})

	t.Run("OKStableUnderInserts", func(t *testing.T) {
		s, ctx, want := setup(t)
		var added []string
		pages, mores := walkBots(t, s, ctx, 20, func(int) {
			for range 7 {
				added = append(added, mustCreateBot(t, s, ctx, "new").PublicID)
			}
		})
		if got, want := fmt.Sprint(sizes(pages), mores), "[20 20 5] [true true false]"; got != want {
			t.Fatalf("pages, hasMore = %s, want %s", got, want)
		}
		var got []string
		for _, p := range pages {
			got = append(got, botIDs(p)...)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("walked %v, want %v (no duplicates, none skipped, none of %v)", got, want, added)
		}

		// Walking back from the first page finds the bots added meanwhile.
		back, hasMore, err := s.FindBots(ctx, keygate.BotFilter{Page: keygate.Page{Before: pages[0][0].ID, Limit: 20}})
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != len(added) || hasMore {
			t.Fatalf("back: %d bots, hasMore=%v; want %d, false", len(back), hasMore, len(added))
		}
		if back[0].PublicID != added[len(added)-1] {
			t.Fatalf("back page not newest first")
		}
	})

	t.Run("OKBackward", func(t *testing.T) {
		s, ctx, want := setup(t)
		pages, _ := walkBots(t, s, ctx, 20, func(int) {})

		// From the last page back to the second: the same 20 bots, newest
		// first, and newer ones beyond.
		back, hasMore, err := s.FindBots(ctx, keygate.BotFilter{Page: keygate.Page{Before: pages[2][0].ID, Limit: 20}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(botIDs(back), ","), strings.Join(botIDs(pages[1]), ","); got != want || !hasMore {
			t.Fatalf("back to page 2: %s hasMore=%v, want %s true", got, hasMore, want)
		}

		back, hasMore, err = s.FindBots(ctx, keygate.BotFilter{Page: keygate.Page{Before: back[0].ID, Limit: 20}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(botIDs(back), ","), strings.Join(want[:20], ","); got != want || hasMore {
			t.Fatalf("back to page 1: %s hasMore=%v, want %s false", got, hasMore, want)
		}

		// A Before page shorter than the limit is the newest rows.
		back, hasMore, err = s.FindBots(ctx, keygate.BotFilter{Page: keygate.Page{Before: pages[0][5].ID, Limit: 20}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(botIDs(back), ","), strings.Join(want[:5], ","); got != want || hasMore {
			t.Fatalf("partial back: %s hasMore=%v, want %s false", got, hasMore, want)
		}
	})
}

// BenchmarkFindBots lists pages of an organization with 10,000 bots.
func BenchmarkFindBots(b *testing.B) {
	db, clock := mustBotDB(b)
	_, org := mustBotOrg(b, db, "a@example.com")
	tx, err := db.WriteConn().Begin()
	if err != nil {
		b.Fatal(err)
	}
	now := clock.Now().UnixMilli()
	for i := range 10000 {
		state := []string{"joining", "ended", "scheduled"}[i%3]
		if _, err := tx.Exec(`INSERT INTO bots (public_id, organization_id, meeting_url, bot_name, state, join_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $6)`,
			fmt.Sprintf("bot_bench%015d", i), org.ID, "https://meet.example.com/x", fmt.Sprintf("bot %d", i), state, now+int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	s, ctx := sqlstore.NewBotService(db), orgCtx(org)
	for _, bb := range []struct {
		name   string
		filter keygate.BotFilter
	}{
		{"FirstPage", keygate.BotFilter{}},
		{"DeepAfter", keygate.BotFilter{Page: keygate.Page{After: 150}}},
		{"Before", keygate.BotFilter{Page: keygate.Page{Before: 5000}}},
		{"StateEnded", keygate.BotFilter{State: keygate.BotEnded, Page: keygate.Page{Limit: 100}}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				// Past the bot cache's maximum age (30 s): each read
				// queries, as the first after a change does.
				clock.Advance(time.Minute)
				if _, _, err := s.FindBots(ctx, bb.filter); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("FirstPageCached", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.FindBots(ctx, keygate.BotFilter{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
