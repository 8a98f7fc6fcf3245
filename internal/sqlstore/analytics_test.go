package sqlstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func mustDate(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// usageWriter writes usage_hourly rows for one organization, as the usage
// buffer would, through an API key of its own.
type usageWriter struct {
	tb    testing.TB
	db    *sqlstore.DB
	orgID int64
	keyID int64
}

func mustUsageWriter(tb testing.TB, db *sqlstore.DB, user *keygate.User, org *keygate.Organization) *usageWriter {
	tb.Helper()
	key, _, err := sqlstore.NewAPIKeyService(db).CreateAPIKey(keygate.NewContextWithUser(context.Background(), user), org.PublicID,
		&keygate.APIKeyCreate{Name: "analytics", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		tb.Fatal(err)
	}
	return &usageWriter{tb: tb, db: db, orgID: org.ID, keyID: key.ID}
}

// add records count requests of class in the hour starting at hour.
func (w *usageWriter) add(hour string, class string, count int) {
	w.tb.Helper()
	if _, err := w.db.WriteConn().Exec(`INSERT INTO usage_hourly (organization_id, api_key_id, hour, status_class, count) VALUES ($1, $2, $3, $4, $5)`,
		w.orgID, w.keyID, mustDate(w.tb, hour).UnixMilli(), class, count); err != nil {
		w.tb.Fatal(err)
	}
}

func TestAnalyticsService_Analytics(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, clock := mustBotDB(t)
		userA, orgA := mustBotOrg(t, db, "a@example.com")
		userB, orgB := mustBotOrg(t, db, "b@example.com")
		ctxA, ctxB := orgCtx(orgA), orgCtx(orgB)
		bots, convs := sqlstore.NewBotService(db), sqlstore.NewConversationService(db)

		// A bot created before the range does not count.
		clock.Set(mustDate(t, "2026-02-20T10:00:00Z"))
		mustCreateBot(t, bots, ctxA, "old")

		// In the range: 4 bots, one of which leaves: 3 joining, 1 ended.
		clock.Set(mustDate(t, "2026-03-03T10:00:00Z"))
		var inRange []*keygate.Bot
		for range 4 {
			inRange = append(inRange, mustCreateBot(t, bots, ctxA, "b"))
		}
		if _, err := bots.LeaveBot(ctxA, inRange[0].PublicID); err != nil {
			t.Fatal(err)
		}
		mustCreateBot(t, bots, ctxB, "B's")

		// 90 s + 30 s of speech in two conversations in the range.
		mustCreateConversation(t, convs, ctxA, &keygate.Conversation{
			Title: "started in range", StartedAt: ptrTime(mustDate(t, "2026-03-02T09:00:00Z")),
			Transcript: []keygate.TranscriptSegment{
				{Speaker: "A", Text: "one", StartMS: 0, EndMS: 60000},
				{Speaker: "B", Text: "two", StartMS: 60000, EndMS: 90000},
			},
		})
		mustCreateConversation(t, convs, ctxA, &keygate.Conversation{
			Title:      "no started_at, created in range",
			Transcript: []keygate.TranscriptSegment{{Speaker: "A", Text: "three", StartMS: 1000, EndMS: 31000}},
		})
		// Created in the range but started before it; started at to; B's.
		mustCreateConversation(t, convs, ctxA, &keygate.Conversation{
			Title: "started before", StartedAt: ptrTime(mustDate(t, "2026-02-27T09:00:00Z")),
			Transcript: []keygate.TranscriptSegment{{Speaker: "A", Text: "x", StartMS: 0, EndMS: 600000}},
		})
		mustCreateConversation(t, convs, ctxA, &keygate.Conversation{
			Title: "started at to", StartedAt: ptrTime(mustDate(t, "2026-03-08T00:00:00Z")),
			Transcript: []keygate.TranscriptSegment{{Speaker: "A", Text: "x", StartMS: 0, EndMS: 600000}},
		})
		mustCreateConversation(t, convs, ctxB, &keygate.Conversation{
			Title: "B's", StartedAt: ptrTime(mustDate(t, "2026-03-02T09:00:00Z")),
			Transcript: []keygate.TranscriptSegment{{Speaker: "A", Text: "x", StartMS: 0, EndMS: 600000}},
		})

		usageA := mustUsageWriter(t, db, userA, orgA)
		usageA.add("2026-02-28T23:00:00Z", "2xx", 50) // before the range
		usageA.add("2026-03-02T09:00:00Z", "2xx", 10)
		usageA.add("2026-03-02T15:00:00Z", "2xx", 5)
		usageA.add("2026-03-02T15:00:00Z", "4xx", 2)
		usageA.add("2026-03-05T00:00:00Z", "429", 3)
		usageA.add("2026-03-05T23:00:00Z", "5xx", 1)
		usageA.add("2026-03-08T00:00:00Z", "2xx", 100) // at to: outside
		mustUsageWriter(t, db, userB, orgB).add("2026-03-02T09:00:00Z", "2xx", 1000)

		from, to := mustDate(t, "2026-03-01T00:00:00Z"), mustDate(t, "2026-03-08T00:00:00Z")
		a, err := sqlstore.NewAnalyticsService(db).Analytics(ctxA, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !a.From.Equal(from) || !a.To.Equal(to) {
			t.Fatalf("range %v-%v", a.From, a.To)
		}
		if got, want := a.BotsByState, map[string]int{"scheduled": 0, "joining": 3, "ended": 1}; !reflect.DeepEqual(got, want) {
			t.Fatalf("BotsByState=%v, want %v", got, want)
		}
		if got, want := a.Conversations, 2; got != want {
			t.Fatalf("Conversations=%d, want %d", got, want)
		}
		if got, want := a.TranscriptMinutes, 2.0; got != want {
			t.Fatalf("TranscriptMinutes=%v, want %v", got, want)
		}
		want := []keygate.DailyRequests{
			{Day: "2026-03-01"},
			{Day: "2026-03-02", Status2xx: 15, Status4xx: 2, Total: 17},
			{Day: "2026-03-03"},
			{Day: "2026-03-04"},
			{Day: "2026-03-05", Status5xx: 1, Status429: 3, Total: 4},
			{Day: "2026-03-06"},
			{Day: "2026-03-07"},
		}
		if got := a.RequestsPerDay; !reflect.DeepEqual(got, want) {
			t.Fatalf("RequestsPerDay=%+v\nwant %+v", got, want)
		}
	})

	t.Run("OKEmpty", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		a, err := sqlstore.NewAnalyticsService(db).Analytics(orgCtx(org), mustDate(t, "2026-03-01T00:00:00Z"), mustDate(t, "2026-03-03T00:00:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := a.BotsByState, map[string]int{"scheduled": 0, "joining": 0, "ended": 0}; !reflect.DeepEqual(got, want) {
			t.Fatalf("BotsByState=%v, want %v", got, want)
		}
		if a.Conversations != 0 || a.TranscriptMinutes != 0 {
			t.Fatalf("analytics=%+v", a)
		}
		if got, want := a.RequestsPerDay, []keygate.DailyRequests{{Day: "2026-03-01"}, {Day: "2026-03-02"}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("RequestsPerDay=%+v, want %+v", got, want)
		}
	})

	t.Run("OKPartialDays", func(t *testing.T) {
		db, _ := mustBotDB(t)
		user, org := mustBotOrg(t, db, "a@example.com")
		usage := mustUsageWriter(t, db, user, org)
		usage.add("2026-03-02T09:00:00Z", "2xx", 7)
		usage.add("2026-03-03T11:00:00Z", "2xx", 1)
		usage.add("2026-03-03T12:00:00Z", "2xx", 1000)
		// from's day counts whole; the hour holding to counts, later ones not.
		a, err := sqlstore.NewAnalyticsService(db).Analytics(orgCtx(org), mustDate(t, "2026-03-02T12:00:00Z"), mustDate(t, "2026-03-03T11:30:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		want := []keygate.DailyRequests{{Day: "2026-03-02", Status2xx: 7, Total: 7}, {Day: "2026-03-03", Status2xx: 1, Total: 1}}
		if got := a.RequestsPerDay; !reflect.DeepEqual(got, want) {
			t.Fatalf("RequestsPerDay=%+v, want %+v", got, want)
		}
	})

	t.Run("OK366Days", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		from := mustDate(t, "2027-01-01T00:00:00Z")
		a, err := sqlstore.NewAnalyticsService(db).Analytics(orgCtx(org), from, from.Add(366*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(a.RequestsPerDay), 366; got != want {
			t.Fatalf("%d days, want %d", got, want)
		}
		if got, want := a.RequestsPerDay[365].Day, "2028-01-01"; got != want {
			t.Fatalf("last day %s, want %s", got, want)
		}
	})

	from := mustDate(t, "2026-03-01T00:00:00Z")
	for _, tt := range []struct {
		name     string
		from, to time.Time
		message  string
	}{
		{"ErrRangeTooLong", from, from.Add(366*24*time.Hour + time.Millisecond), "The range must be at most 366 days."},
		{"ErrRangeEmpty", from, from, "The start of the range must be before its end."},
		{"ErrRangeReversed", from, from.Add(-time.Hour), "The start of the range must be before its end."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustBotDB(t)
			_, org := mustBotOrg(t, db, "a@example.com")
			_, err := sqlstore.NewAnalyticsService(db).Analytics(orgCtx(org), tt.from, tt.to)
			assertError(t, err, keygate.EINVALID, tt.message)
		})
	}

	t.Run("ErrUnauthorized", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, err := sqlstore.NewAnalyticsService(db).Analytics(context.Background(), from, from.Add(time.Hour))
		if got, want := keygate.ErrorCode(err), keygate.EUNAUTHORIZED; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
	})
}
