package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// threeSegments is a transcript in speaking order.
var threeSegments = []keygate.TranscriptSegment{
	{Speaker: "Ada", Text: "Shall we start?", StartMS: 0, EndMS: 1500},
	{Speaker: "Grace", Text: "Yes, the agenda first.", StartMS: 1500, EndMS: 4200},
	{Speaker: "Ada", Text: "Item one: the budget.", StartMS: 4300, EndMS: 9000},
}

// mustCreateConversation creates c or fails.
func mustCreateConversation(tb testing.TB, s *sqlstore.ConversationService, ctx context.Context, c *keygate.Conversation) *keygate.Conversation {
	tb.Helper()
	out, err := s.CreateConversation(ctx, c)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestConversationService_CreateConversation(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, clock := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		bot := mustCreateBot(t, sqlstore.NewBotService(db), orgCtx(org), "b")
		s := sqlstore.NewConversationService(db)
		started := clock.After(-time.Hour)
		ended := clock.After(-30 * time.Minute)
		c, err := s.CreateConversation(orgCtx(org), &keygate.Conversation{
			Title: " Weekly sync ", BotID: bot.PublicID, StartedAt: started, EndedAt: ended,
			Participants: []string{"Ada", " Grace "},
			Transcript:   threeSegments,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.PublicID, "conv_") || c.Title != "Weekly sync" || c.BotID != bot.PublicID ||
			c.OrganizationID != org.ID || !c.CreatedAt.Equal(clock.Now()) {
			t.Fatalf("conversation=%+v", c)
		}
		if got, want := c.Participants, []string{"Ada", "Grace"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("Participants=%q, want %q", got, want)
		}

		found, err := s.FindConversationByID(orgCtx(org), c.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(found, c) {
			t.Fatalf("found %+v\nwant  %+v", found, c)
		}
		if got, want := found.Transcript, threeSegments; !reflect.DeepEqual(got, want) {
			t.Fatalf("Transcript=%+v, want %+v", got, want)
		}
	})

	t.Run("OKMinimal", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewConversationService(db)
		c := mustCreateConversation(t, s, orgCtx(org), &keygate.Conversation{Title: "Hallway chat"})
		found, err := s.FindConversationByID(orgCtx(org), c.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if found.BotID != "" || found.StartedAt != nil || found.EndedAt != nil {
			t.Fatalf("conversation=%+v", found)
		}
		// Empty, not nil: the API shows [] for both.
		if found.Participants == nil || len(found.Participants) != 0 || found.Transcript == nil || len(found.Transcript) != 0 {
			t.Fatalf("Participants=%#v Transcript=%#v, want empty", found.Participants, found.Transcript)
		}
	})

	t.Run("OKMaxSegments", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, org := mustBotOrg(t, db, "a@example.com")
		s := sqlstore.NewConversationService(db)
		segs := make([]keygate.TranscriptSegment, 10000)
		for i := range segs {
			segs[i] = keygate.TranscriptSegment{Speaker: "S", Text: fmt.Sprint(i), StartMS: int64(i) * 10, EndMS: int64(i)*10 + 10}
		}
		c := mustCreateConversation(t, s, orgCtx(org), &keygate.Conversation{Title: "Long", Transcript: segs})
		found, err := s.FindConversationByID(orgCtx(org), c.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(found.Transcript, segs) {
			t.Fatal("transcript of 10,000 segments did not round-trip in order")
		}
	})

	const required = "This field is required."
	seg := func(speaker, text string, start, end int64) keygate.TranscriptSegment {
		return keygate.TranscriptSegment{Speaker: speaker, Text: text, StartMS: start, EndMS: end}
	}
	valid := func(mod func(*keygate.Conversation)) *keygate.Conversation {
		c := &keygate.Conversation{Title: "Sync", Participants: []string{"Ada"}, Transcript: append([]keygate.TranscriptSegment(nil), threeSegments...)}
		mod(c)
		return c
	}
	at := func(s string) *time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return &t
	}
	for _, tt := range []struct {
		name string
		in   *keygate.Conversation
		want map[string]string
	}{
		{"ErrTitleRequired", valid(func(c *keygate.Conversation) { c.Title = " " }), map[string]string{"title": required}},
		{"ErrTitleTooLong", valid(func(c *keygate.Conversation) { c.Title = strings.Repeat("ü", 201) }),
			map[string]string{"title": "Ensure this field has no more than 200 characters."}},
		{"ErrEndedBeforeStarted", valid(func(c *keygate.Conversation) {
			c.StartedAt, c.EndedAt = at("2026-03-10T10:00:00Z"), at("2026-03-10T09:59:59Z")
		}), map[string]string{"ended_at": "Must not be before started_at."}},
		{"ErrStartedAtZero", valid(func(c *keygate.Conversation) { c.StartedAt = &time.Time{} }),
			map[string]string{"started_at": "Enter a valid date and time."}},
		{"ErrTooManyParticipants", valid(func(c *keygate.Conversation) { c.Participants = make([]string, 101) }),
			map[string]string{"participants": "Ensure this field has no more than 100 elements."}},
		{"ErrParticipantBlank", valid(func(c *keygate.Conversation) { c.Participants = []string{"Ada", "  "} }),
			map[string]string{"participants": "Participant 1: this field is required."}},
		{"ErrParticipantTooLong", valid(func(c *keygate.Conversation) { c.Participants = []string{strings.Repeat("p", 201)} }),
			map[string]string{"participants": "Participant 0: ensure this field has no more than 200 characters."}},
		{"ErrTooManySegments", valid(func(c *keygate.Conversation) {
			c.Transcript = make([]keygate.TranscriptSegment, 10001)
		}), map[string]string{"transcript": "Ensure this field has no more than 10000 segments."}},
		{"ErrSegmentSpeakerRequired", valid(func(c *keygate.Conversation) { c.Transcript[1].Speaker = "" }),
			map[string]string{"transcript": "Segment 1: speaker is required."}},
		{"ErrSegmentSpeakerTooLong", valid(func(c *keygate.Conversation) { c.Transcript[0].Speaker = strings.Repeat("s", 201) }),
			map[string]string{"transcript": "Segment 0: speaker must have no more than 200 characters."}},
		{"ErrSegmentTextRequired", valid(func(c *keygate.Conversation) { c.Transcript[0].Text = " \n" }),
			map[string]string{"transcript": "Segment 0: text is required."}},
		{"ErrSegmentStartNegative", valid(func(c *keygate.Conversation) { c.Transcript[2] = seg("Ada", "x", -1, 5) }),
			map[string]string{"transcript": "Segment 2: start_ms must not be negative."}},
		{"ErrSegmentEndBeforeStart", valid(func(c *keygate.Conversation) { c.Transcript[2] = seg("Ada", "x", 5000, 4999) }),
			map[string]string{"transcript": "Segment 2: end_ms must not be before start_ms."}},
		{"ErrFirstBadSegmentReported", valid(func(c *keygate.Conversation) {
			c.Transcript[1].Text, c.Transcript[2].Speaker = "", ""
		}), map[string]string{"transcript": "Segment 1: text is required."}},
		{"ErrBotUnknown", valid(func(c *keygate.Conversation) { c.BotID = "bot_nothere" }),
			map[string]string{"bot_id": "Object with id=bot_nothere does not exist."}},
		{"ErrAllAtOnce", &keygate.Conversation{
			Title: "", BotID: "bot_nothere", StartedAt: at("2026-03-10T10:00:00Z"), EndedAt: at("2026-03-10T09:00:00Z"),
			Participants: []string{""}, Transcript: []keygate.TranscriptSegment{seg("A", "x", 10, 0)},
		}, map[string]string{
			"title": required, "bot_id": "Object with id=bot_nothere does not exist.", "ended_at": "Must not be before started_at.",
			"participants": "Participant 0: this field is required.", "transcript": "Segment 0: end_ms must not be before start_ms.",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustBotDB(t)
			_, org := mustBotOrg(t, db, "a@example.com")
			c, err := sqlstore.NewConversationService(db).CreateConversation(orgCtx(org), tt.in)
			if c != nil {
				t.Fatalf("conversation=%+v, want nil", c)
			}
			assertFields(t, err, tt.want)
			if n, m := countRows(t, db, "conversations"), countRows(t, db, "transcript_segments"); n != 0 || m != 0 {
				t.Fatalf("%d conversations, %d segments written, want none", n, m)
			}
		})
	}

	t.Run("ErrBotOfOtherOrganization", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, orgA := mustBotOrg(t, db, "a@example.com")
		_, orgB := mustBotOrg(t, db, "b@example.com")
		bot := mustCreateBot(t, sqlstore.NewBotService(db), orgCtx(orgA), "A's bot")
		_, err := sqlstore.NewConversationService(db).CreateConversation(orgCtx(orgB), &keygate.Conversation{Title: "t", BotID: bot.PublicID})
		// The same message as for a bot that does not exist.
		assertFields(t, err, map[string]string{"bot_id": "Object with id=" + bot.PublicID + " does not exist."})
		if n := countRows(t, db, "conversations"); n != 0 {
			t.Fatalf("%d conversations written, want 0", n)
		}
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		db, _ := mustBotDB(t)
		_, err := sqlstore.NewConversationService(db).CreateConversation(context.Background(), &keygate.Conversation{Title: "t"})
		if got, want := keygate.ErrorCode(err), keygate.EUNAUTHORIZED; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
	})
}

func TestConversationService_FindConversations(t *testing.T) {
	t.Parallel()
	db, clock := mustBotDB(t)
	_, orgA := mustBotOrg(t, db, "a@example.com")
	_, orgB := mustBotOrg(t, db, "b@example.com")
	bots := sqlstore.NewBotService(db)
	botA := mustCreateBot(t, bots, orgCtx(orgA), "A")
	botB := mustCreateBot(t, bots, orgCtx(orgB), "B")
	s := sqlstore.NewConversationService(db)
	ctx := orgCtx(orgA)

	// 30 conversations of A, one an hour apart; every third from botA.
	base := clock.Now().Add(-48 * time.Hour)
	var all []*keygate.Conversation // newest first
	for i := range 30 {
		in := &keygate.Conversation{Title: fmt.Sprintf("c%d", i), StartedAt: ptrTime(base.Add(time.Duration(i) * time.Hour)), Transcript: threeSegments}
		if i%3 == 0 {
			in.BotID = botA.PublicID
		}
		all = append([]*keygate.Conversation{mustCreateConversation(t, s, ctx, in)}, all...)
	}
	mustCreateConversation(t, s, orgCtx(orgB), &keygate.Conversation{Title: "B's", BotID: botB.PublicID, StartedAt: ptrTime(base)})

	titles := func(cs []*keygate.Conversation) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Title)
		}
		return strings.Join(out, ",")
	}

	t.Run("OKNoTranscriptInList", func(t *testing.T) {
		cs, hasMore, err := s.FindConversations(ctx, keygate.ConversationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 20 || !hasMore {
			t.Fatalf("len=%d hasMore=%v, want 20 true", len(cs), hasMore)
		}
		if got, want := titles(cs), titles(all[:20]); got != want {
			t.Fatalf("titles=%s, want %s", got, want)
		}
		for _, c := range cs {
			if c.Transcript != nil {
				t.Fatalf("%s: Transcript=%v, want nil in a list", c.Title, c.Transcript)
			}
		}
	})

	t.Run("OKPages", func(t *testing.T) {
		first, _, err := s.FindConversations(ctx, keygate.ConversationFilter{Page: keygate.Page{Limit: 12}})
		if err != nil {
			t.Fatal(err)
		}
		rest, hasMore, err := s.FindConversations(ctx, keygate.ConversationFilter{Page: keygate.Page{After: first[11].ID, Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(append(first, rest...)), titles(all); got != want || hasMore {
			t.Fatalf("walked %s hasMore=%v, want %s false", got, hasMore, want)
		}
		back, hasMore, err := s.FindConversations(ctx, keygate.ConversationFilter{Page: keygate.Page{Before: rest[0].ID, Limit: 5}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(back), titles(first[7:12]); got != want || !hasMore {
			t.Fatalf("back %s hasMore=%v, want %s true", got, hasMore, want)
		}
	})

	t.Run("OKByBot", func(t *testing.T) {
		cs, hasMore, err := s.FindConversations(ctx, keygate.ConversationFilter{BotID: botA.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(cs), "c27,c24,c21,c18,c15,c12,c9,c6,c3,c0"; got != want || hasMore {
			t.Fatalf("titles=%s hasMore=%v, want %s false", got, hasMore, want)
		}
		for _, c := range cs {
			if c.BotID != botA.PublicID {
				t.Fatalf("%s: BotID=%q", c.Title, c.BotID)
			}
		}
	})

	t.Run("OKOtherOrganizationsBotMatchesNothing", func(t *testing.T) {
		cs, _, err := s.FindConversations(ctx, keygate.ConversationFilter{BotID: botB.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 0 {
			t.Fatalf("found %s", titles(cs))
		}
	})

	t.Run("OKStartedRange", func(t *testing.T) {
		cs, _, err := s.FindConversations(ctx, keygate.ConversationFilter{
			StartedAfter: ptrTime(base.Add(10 * time.Hour)), StartedBefore: ptrTime(base.Add(13 * time.Hour)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(cs), "c12,c11,c10"; got != want {
			t.Fatalf("titles=%s, want %s", got, want)
		}
	})

	t.Run("OKOtherOrganizationIsolated", func(t *testing.T) {
		cs, _, err := s.FindConversations(orgCtx(orgB), keygate.ConversationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titles(cs), "B's"; got != want {
			t.Fatalf("titles=%s, want %s", got, want)
		}
	})
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestConversationService_CrossOrganization(t *testing.T) {
	t.Parallel()
	db, _ := mustBotDB(t)
	_, orgA := mustBotOrg(t, db, "a@example.com")
	_, orgB := mustBotOrg(t, db, "b@example.com")
	s := sqlstore.NewConversationService(db)
	c := mustCreateConversation(t, s, orgCtx(orgA), &keygate.Conversation{Title: "A's", Transcript: threeSegments})

	t.Run("ErrNotFoundFind", func(t *testing.T) {
		_, err := s.FindConversationByID(orgCtx(orgB), c.PublicID)
		assertError(t, err, keygate.ENOTFOUND, "Not found.")
	})
	t.Run("ErrNotFoundDelete", func(t *testing.T) {
		assertError(t, s.DeleteConversation(orgCtx(orgB), c.PublicID), keygate.ENOTFOUND, "Not found.")
		if _, err := s.FindConversationByID(orgCtx(orgA), c.PublicID); err != nil {
			t.Fatalf("A's conversation gone: %v", err)
		}
	})
}

func TestConversationService_DeleteConversation(t *testing.T) {
	t.Parallel()
	db, _ := mustBotDB(t)
	_, org := mustBotOrg(t, db, "a@example.com")
	s := sqlstore.NewConversationService(db)
	c := mustCreateConversation(t, s, orgCtx(org), &keygate.Conversation{Title: "t", Transcript: threeSegments})
	if err := s.DeleteConversation(orgCtx(org), c.PublicID); err != nil {
		t.Fatal(err)
	}
	_, err := s.FindConversationByID(orgCtx(org), c.PublicID)
	assertError(t, err, keygate.ENOTFOUND, "Not found.")
	assertError(t, s.DeleteConversation(orgCtx(org), c.PublicID), keygate.ENOTFOUND, "Not found.")
	if n := countRows(t, db, "transcript_segments"); n != 0 {
		t.Fatalf("%d segments left, want 0", n)
	}
}

// Deleting a bot keeps its conversations, without the bot.
func TestConversationService_BotDeleted(t *testing.T) {
	t.Parallel()
	db, _ := mustBotDB(t)
	_, org := mustBotOrg(t, db, "a@example.com")
	bots := sqlstore.NewBotService(db)
	bot := mustCreateBot(t, bots, orgCtx(org), "b")
	s := sqlstore.NewConversationService(db)
	c := mustCreateConversation(t, s, orgCtx(org), &keygate.Conversation{Title: "t", BotID: bot.PublicID})
	if err := bots.DeleteBot(orgCtx(org), bot.PublicID); err != nil {
		t.Fatal(err)
	}
	found, err := s.FindConversationByID(orgCtx(org), c.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if found.BotID != "" {
		t.Fatalf("BotID=%q, want empty", found.BotID)
	}
}
