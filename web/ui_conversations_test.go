package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

// mustConversation records a conversation through the API from body and
// returns its id.
func (o botOrg) mustConversation(tb testing.TB, app *App, body string) string {
	tb.Helper()
	r := app.API(tb, http.MethodPost, "/api/v1/conversations", "Token "+o.Key, body)
	wantAPI(tb, r, http.StatusCreated, "", "")
	return r.JSON["id"].(string)
}

// conversationRows returns the ids of the rows of a conversations list.
func conversationRows(p *Page) []string {
	var ids []string
	p.Doc.Find("[data-testid=conversations] [data-testid=conversation-row]").Each(func(_ int, s *goquerySelection) {
		id, _ := s.Attr("data-conversation-id")
		ids = append(ids, id)
	})
	return ids
}

func TestConversationsPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	list := "/orgs/" + org.ID + "/conversations"

	t.Run("OKNone", func(t *testing.T) {
		assertEmptyState(t, org.Owner, list, "conversations-empty", "No conversations yet")
	})

	botA := org.mustBot(t, app, "Alpha")
	botB := org.mustBot(t, app, "Beta")
	day := func(d string) string { return d + "T09:00:00Z" }
	var ids []string
	for i, c := range []struct{ bot, started string }{
		{botA, "2026-01-05"}, {botB, "2026-01-06"}, {botA, "2026-01-07"}, {"", "2026-01-07"}, {botB, "2026-01-09"},
	} {
		body := fmt.Sprintf(`{"title": "Meeting %d", "started_at": %q, "participants": ["Ada", "Grace"]`, i, day(c.started))
		if c.bot != "" {
			body += `, "bot_id": "` + c.bot + `"`
		}
		ids = append(ids, org.mustConversation(t, app, body+"}"))
	}

	t.Run("OK", func(t *testing.T) {
		p := org.Owner.Get(list)
		assertStatus(t, p, http.StatusOK)
		if got, want := strings.Join(conversationRows(p), ","), strings.Join([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}, ","); got != want {
			t.Fatalf("rows = %s, want %s", got, want)
		}
		row := p.Doc.Find("[data-testid=conversation-row][data-conversation-id=" + ids[2] + "]")
		if got := strings.TrimSpace(row.Find("th a").Text()); got != "Meeting 2" {
			t.Fatalf("title = %q", got)
		}
		bot := row.Find("[data-testid=conversation-bot] a")
		if href, _ := bot.Attr("href"); strings.TrimSpace(bot.Text()) != "Alpha" || href != "/orgs/"+org.ID+"/bots/"+botA {
			t.Fatalf("bot = %q -> %q", bot.Text(), href)
		}
		if strings.Contains(p.Body, "No conversations yet") {
			t.Fatal("empty state beside a list")
		}
	})

	t.Run("OKFilters", func(t *testing.T) {
		tests := []struct {
			name  string
			query url.Values
			want  []string
		}{
			{"Bot", url.Values{"bot_id": {botA}}, []string{ids[2], ids[0]}},
			{"StartedFrom", url.Values{"started_from": {"2026-01-07"}}, []string{ids[4], ids[3], ids[2]}},
			{"StartedTo", url.Values{"started_to": {"2026-01-06"}}, []string{ids[1], ids[0]}},
			{"RangeAndBot", url.Values{"started_from": {"2026-01-06"}, "started_to": {"2026-01-09"}, "bot_id": {botB}}, []string{ids[4], ids[1]}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := org.Owner.Get(list + "?" + tt.query.Encode())
				assertStatus(t, p, http.StatusOK)
				if got := conversationRows(p); strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("rows = %v, want %v", got, tt.want)
				}
				if v := tt.query.Get("bot_id"); v != "" {
					if got, _ := p.Doc.Find("#f-bot_id option[selected]").Attr("value"); got != v {
						t.Fatalf("bot filter shows %q, want %q", got, v)
					}
				}
			})
		}
	})

	t.Run("OKNoMatch", func(t *testing.T) {
		assertEmptyState(t, org.Owner, list+"?started_from=2027-01-01", "conversations-empty", "No conversations match")
	})

	t.Run("ErrInvalidFilter", func(t *testing.T) {
		stranger := mustBotOrg(t, app, "Eve", "eve@example.com")
		theirs := stranger.mustBot(t, app, "Eve's bot")
		tests := []struct {
			name, query, field, want string
		}{
			{"StartedFrom", "started_from=soon", "started_from", "Enter a date, like 2026-01-31."},
			{"RangeReversed", "started_from=2026-01-09&started_to=2026-01-05", "started_to", "Must not be before Started from."},
			{"OtherOrganizationsBot", "bot_id=" + theirs, "bot_id", "Select a valid choice."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := org.Owner.Get(list + "?" + tt.query)
				assertStatus(t, p, http.StatusBadRequest)
				if got := fieldError(p, tt.field); got != tt.want {
					t.Fatalf("error beside %s = %q, want %q", tt.field, got, tt.want)
				}
				if len(conversationRows(p)) != 0 {
					t.Fatal("rows shown for a refused filter")
				}
			})
		}
	})
}

func TestConversationsPage_Paging(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	bot := org.mustBot(t, app, "Alpha")
	var ids []string
	for i := range 23 {
		ids = append(ids, org.mustConversation(t, app, fmt.Sprintf(`{"title": "Call %02d", "bot_id": %q}`, i, bot)))
	}
	org.mustConversation(t, app, `{"title": "Without the bot"}`)

	first := org.Owner.Get("/orgs/" + org.ID + "/conversations?bot_id=" + bot)
	assertStatus(t, first, http.StatusOK)
	page1 := conversationRows(first)
	if len(page1) != 20 || page1[0] != ids[22] {
		t.Fatalf("first page = %d rows starting %v", len(page1), page1)
	}
	next := pagerLink(t, first, "next")
	if !strings.Contains(next, "bot_id="+bot) {
		t.Fatalf("next link %q drops the filter", next)
	}
	second := org.Owner.Get(next)
	assertStatus(t, second, http.StatusOK)
	if got, want := strings.Join(conversationRows(second), ","), strings.Join([]string{ids[2], ids[1], ids[0]}, ","); got != want {
		t.Fatalf("second page = %s, want %s", got, want)
	}
	back := org.Owner.Get(pagerLink(t, second, "prev"))
	if got, want := strings.Join(conversationRows(back), ","), strings.Join(page1, ","); got != want {
		t.Fatalf("previous page = %s, want %s", got, want)
	}

	// The bot's page lists its newest conversations and links to the rest.
	p := org.Owner.Get("/orgs/" + org.ID + "/bots/" + bot)
	assertStatus(t, p, http.StatusOK)
	if n := p.Doc.Find("[data-testid=bot-conversations] [data-testid=conversation-row]").Length(); n != 20 {
		t.Fatalf("bot page lists %d conversations, want 20", n)
	}
	if href, _ := p.Doc.Find("a[data-testid=bot-all-conversations]").Attr("href"); href != "/orgs/"+org.ID+"/conversations?bot_id="+bot {
		t.Fatalf("all conversations link = %q", href)
	}
}

func TestConversationPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	bot := org.mustBot(t, app, "Alpha")
	id := org.mustConversation(t, app, `{"title": "Quarterly planning", "bot_id": "`+bot+`",
		"started_at": "2026-01-07T09:00:00Z", "ended_at": "2026-01-07T09:42:30Z", "participants": ["Ada Lovelace", "Grace Hopper"],
		"transcript": [
			{"speaker": "Ada Lovelace", "text": "Shall we start?", "start_ms": 0, "end_ms": 1500},
			{"speaker": "Grace Hopper", "text": "Yes, the numbers first.", "start_ms": 65000, "end_ms": 68000},
			{"speaker": "Ada Lovelace", "text": "After lunch, then.", "start_ms": 3725000, "end_ms": 3727000}
		]}`)
	path := "/orgs/" + org.ID + "/conversations/" + id

	t.Run("OK", func(t *testing.T) {
		p := org.Owner.Get(path)
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("h1"), "Quarterly planning"; got != want {
			t.Fatalf("h1 = %q, want %q", got, want)
		}
		if got, want := strings.Join(strings.Fields(p.Text("[data-testid=breadcrumbs]")), " "), "Conversations › Quarterly planning"; got != want {
			t.Fatalf("breadcrumbs = %q, want %q", got, want)
		}
		link := p.Doc.Find("[data-testid=conversation-bot] a")
		if href, _ := link.Attr("href"); strings.TrimSpace(link.Text()) != "Alpha" || href != "/orgs/"+org.ID+"/bots/"+bot {
			t.Fatalf("bot link = %q -> %q", link.Text(), href)
		}
		if got, want := p.Text("[data-testid=conversation-duration]"), "42 min 30 s"; got != want {
			t.Fatalf("duration = %q, want %q", got, want)
		}
		if got, _ := p.Doc.Find("[data-testid=conversation-started] time").Attr("datetime"); got != "2026-01-07T09:00:00Z" {
			t.Fatalf("started = %q", got)
		}
		if got, _ := p.Doc.Find("[data-testid=conversation-ended] time").Attr("datetime"); got != "2026-01-07T09:42:30Z" {
			t.Fatalf("ended = %q", got)
		}
		var people []string
		p.Doc.Find("[data-testid=participants] li").Each(func(_ int, s *goquerySelection) { people = append(people, strings.TrimSpace(s.Text())) })
		if got, want := strings.Join(people, "|"), "Ada Lovelace|Grace Hopper"; got != want {
			t.Fatalf("participants = %q, want %q", got, want)
		}
		var segs []string
		p.Doc.Find("[data-testid=transcript] [data-testid=transcript-segment]").Each(func(_ int, s *goquerySelection) {
			segs = append(segs, strings.TrimSpace(s.Find("[data-testid=segment-time]").Text())+" "+
				strings.TrimSpace(s.Find("[data-testid=segment-speaker]").Text())+": "+strings.TrimSpace(s.Find("[data-testid=segment-text]").Text()))
		})
		want := "00:00 Ada Lovelace: Shall we start?|01:05 Grace Hopper: Yes, the numbers first.|1:02:05 Ada Lovelace: After lunch, then."
		if got := strings.Join(segs, "|"); got != want {
			t.Fatalf("transcript = %q, want %q", got, want)
		}
	})

	t.Run("OKWithoutBotOrTimes", func(t *testing.T) {
		bare := org.mustConversation(t, app, `{"title": "Hallway chat"}`)
		p := org.Owner.Get("/orgs/" + org.ID + "/conversations/" + bare)
		assertStatus(t, p, http.StatusOK)
		for sel, want := range map[string]string{
			"[data-testid=conversation-bot]":      "None",
			"[data-testid=conversation-duration]": "Unknown",
			"[data-testid=conversation-started]":  "Unknown",
			"[data-testid=participants]":          "None recorded",
			"[data-testid=transcript-empty]":      "No transcript was recorded.",
		} {
			if got := p.Text(sel); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		stranger := mustBotOrg(t, app, "Eve", "eve@example.com")
		theirs := stranger.mustConversation(t, app, `{"title": "Eve's call"}`)
		assertStatus(t, org.Owner.Get("/orgs/"+org.ID+"/conversations/"+theirs), http.StatusNotFound)
		assertStatus(t, stranger.Owner.Get(path), http.StatusNotFound)
		assertStatus(t, org.Owner.Post("/orgs/"+org.ID+"/conversations/"+theirs+"/delete", nil), http.StatusNotFound)
		assertStatus(t, stranger.Owner.Get("/orgs/"+stranger.ID+"/conversations/"+theirs), http.StatusOK)
	})
}

func TestConversationActions(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	member := MustAddMember(t, app, org.ID, "Mia", "mia@example.com", keygate.RoleMember)
	base := "/orgs/" + org.ID + "/conversations/"

	t.Run("ErrForbiddenForMembers", func(t *testing.T) {
		id := org.mustConversation(t, app, `{"title": "Kept"}`)
		p := member.Get(base + id)
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find("[data-testid=conversation-actions]").Length() + p.Doc.Find("main form[method=post]").Length(); n != 0 {
			t.Fatal("Member is offered conversation actions")
		}
		p = member.Post(base+id+"/delete", nil)
		assertStatus(t, p, http.StatusForbidden)
		if got, want := p.Text("[data-testid=error-page] p:not(.error-status)"), "You need the Admin role to manage conversations"; got != want {
			t.Fatalf("403 message = %q, want %q", got, want)
		}
		assertStatus(t, org.Owner.Get(base+id), http.StatusOK)
	})

	t.Run("OKDelete", func(t *testing.T) {
		id := org.mustConversation(t, app, `{"title": "Retro", "transcript": [{"speaker": "Ada", "text": "Hello", "start_ms": 0, "end_ms": 10}]}`)
		p := org.Owner.Get(base + id)
		if href, _ := p.Doc.Find("[data-testid=conversation-actions] a:contains('Delete')").Attr("href"); href != base+id+"/delete" {
			t.Fatalf("Delete links to %q", href)
		}
		assertStatus(t, org.Owner.Get(base+id+"/delete"), http.StatusOK)
		before := app.Count(t, "transcript_segments")
		mustAct(t, org.Owner, base+id+"/delete", "Conversation “Retro” deleted.")
		if got := app.Count(t, "transcript_segments"); got != before-1 {
			t.Fatalf("transcript segments = %d, want %d", got, before-1)
		}
		assertStatus(t, org.Owner.Get(base+id), http.StatusNotFound)
		assertAudit(t, org.Owner, org.ID, "conversation.delete", "deleted by Ada")
	})

	t.Run("OKAPIAudited", func(t *testing.T) {
		id := org.mustConversation(t, app, `{"title": "Via API"}`)
		wantAPI(t, app.API(t, http.MethodDelete, "/api/v1/conversations/"+id, "Token "+org.Key, ""), http.StatusNoContent, "", "")
		got := auditRows(t, org.Owner, org.ID, "conversation.delete")
		if len(got) != 2 || !strings.HasPrefix(got[0], "deleted by key “bots” (key_") {
			t.Fatalf("conversation.delete summaries = %q", got)
		}
	})

}
