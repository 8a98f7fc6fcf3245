package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// botOrg is an organization with its Owner's logged-in client and an API
// key with the write scope, the way an application sends bots.
type botOrg struct {
	ID    string
	Owner *Client
	Key   string
}

// mustBotOrg signs name up with an organization and a write key.
func mustBotOrg(tb testing.TB, app *App, name, email string) botOrg {
	tb.Helper()
	c := app.NewClient(tb)
	id := c.MustSignup(name, email, name+" Org")
	key, _ := app.MustKey(tb, app.MustUser(tb, email), id, keygate.APIKeyCreate{Name: "bots", Scopes: []keygate.Scope{keygate.ScopeWrite}})
	return botOrg{ID: id, Owner: c, Key: key}
}

// mustAPIBot creates a bot through the API with body's fields and returns
// its id.
func (o botOrg) mustAPIBot(tb testing.TB, app *App, body string) string {
	tb.Helper()
	r := app.API(tb, http.MethodPost, "/api/v1/bots", "Token "+o.Key, body)
	wantAPI(tb, r, http.StatusCreated, "", "")
	return r.JSON["id"].(string)
}

// mustBot creates a bot named name that joins at once.
func (o botOrg) mustBot(tb testing.TB, app *App, name string) string {
	tb.Helper()
	return o.mustAPIBot(tb, app, fmt.Sprintf(`{"meeting_url": "https://meet.example.com/%s", "bot_name": %q}`, url.PathEscape(name), name))
}

// mustLeave makes a bot leave through the API.
func (o botOrg) mustLeave(tb testing.TB, app *App, id string) {
	tb.Helper()
	wantAPI(tb, app.API(tb, http.MethodPost, "/api/v1/bots/"+id+"/leave", "Token "+o.Key, ""), http.StatusOK, "", "")
}

// botRows returns the ids of the rows of a bots list, in order.
func botRows(p *Page) []string {
	var ids []string
	p.Doc.Find("[data-testid=bots] [data-testid=bot-row]").Each(func(_ int, s *goquerySelection) {
		id, _ := s.Attr("data-bot-id")
		ids = append(ids, id)
	})
	return ids
}

// assertEmptyState gets path and checks the heading of its empty state,
// marked testid.
func assertEmptyState(tb testing.TB, c *Client, path, testid, want string) *Page {
	tb.Helper()
	p := c.Get(path)
	assertStatus(tb, p, http.StatusOK)
	if got := p.Text("[data-testid=" + testid + "] h2"); got != want {
		tb.Fatalf("%s: empty state = %q, want %q", path, got, want)
	}
	return p
}

// pagerLink returns the path of the pager's link with rel, or "".
func pagerLink(tb testing.TB, p *Page, rel string) string {
	tb.Helper()
	href, ok := p.Doc.Find("nav.pager a[rel=" + rel + "]").Attr("href")
	if !ok {
		return ""
	}
	u, err := url.Parse(href)
	if err != nil {
		tb.Fatal(err)
	}
	return u.RequestURI()
}

func TestBotsPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	list := "/orgs/" + org.ID + "/bots"

	t.Run("OKNone", func(t *testing.T) {
		p := assertEmptyState(t, org.Owner, list, "bots-empty", "No bots yet")
		if p.Doc.Find("form.filters").Length() != 0 {
			t.Fatal("filters shown for an organization without bots")
		}
	})

	// 12 bots: the first 3 created three days before the other 9.
	var ids []string
	for i := range 12 {
		if i == 3 {
			app.Clock.Advance(72 * time.Hour)
		}
		ids = append(ids, org.mustBot(t, app, fmt.Sprintf("Notetaker %02d", i)))
	}
	org.mustLeave(t, app, ids[0])
	org.mustLeave(t, app, ids[5])
	scheduled := org.mustAPIBot(t, app, `{"meeting_url": "https://meet.example.com/later", "bot_name": "Later", "join_at": "`+
		app.Clock.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)+`"}`)
	ids = append(ids, scheduled)
	// Three days passed: the session has ended.
	org.Owner.MustLogin("ada@example.com", testPassword)
	today := app.Clock.Now().UTC().Format(time.DateOnly)
	earlier := app.Clock.Now().Add(-72 * time.Hour).UTC().Format(time.DateOnly)

	t.Run("OK", func(t *testing.T) {
		p := org.Owner.Get(list)
		assertStatus(t, p, http.StatusOK)
		got := botRows(p)
		if len(got) != 13 {
			t.Fatalf("rows = %d, want 13; body: %.300s", len(got), p.Body)
		}
		if got[0] != scheduled || got[12] != ids[0] {
			t.Fatalf("rows not newest first: %v", got)
		}
		if p.Doc.Find("[data-testid=bots-empty]").Length() != 0 || strings.Contains(p.Body, "No bots yet") {
			t.Fatal("empty state beside a list")
		}
		row := p.Doc.Find("[data-testid=bot-row][data-bot-id=" + ids[5] + "]")
		if got, want := strings.TrimSpace(row.Find("th a").Text()), "Notetaker 05"; got != want {
			t.Fatalf("name = %q, want %q", got, want)
		}
		if href, _ := row.Find("th a").Attr("href"); href != list+"/"+ids[5] {
			t.Fatalf("link = %q", href)
		}
		if got, want := strings.TrimSpace(row.Find("[data-testid=bot-state]").Text()), "Ended"; got != want {
			t.Fatalf("state = %q, want %q", got, want)
		}
		if got, want := strings.TrimSpace(row.Find("[data-testid=bot-meeting-url]").Text()), "https://meet.example.com/Notetaker%2005"; got != want {
			t.Fatalf("meeting URL = %q, want %q", got, want)
		}
	})

	t.Run("OKFilters", func(t *testing.T) {
		tests := []struct {
			name  string
			query url.Values
			want  []string
		}{
			{"StateEnded", url.Values{"state": {"ended"}}, []string{ids[5], ids[0]}},
			{"StateScheduled", url.Values{"state": {"scheduled"}}, []string{scheduled}},
			{"CreatedFromToday", url.Values{"created_from": {today}, "state": {"joining"}},
				[]string{ids[11], ids[10], ids[9], ids[8], ids[7], ids[6], ids[4], ids[3]}},
			{"CreatedToEarlier", url.Values{"created_to": {earlier}}, []string{ids[2], ids[1], ids[0]}},
			{"CreatedOnEarlierDay", url.Values{"created_from": {earlier}, "created_to": {earlier}, "state": {"ended"}}, []string{ids[0]}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := org.Owner.Get(list + "?" + tt.query.Encode())
				assertStatus(t, p, http.StatusOK)
				if got := botRows(p); strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("rows = %v, want %v", got, tt.want)
				}
				for name, v := range tt.query {
					if name == "state" {
						if got, _ := p.Doc.Find("#f-state option[selected]").Attr("value"); got != v[0] {
							t.Fatalf("state filter shows %q, want %q", got, v[0])
						}
					} else if got, _ := p.Doc.Find("#f-" + name).Attr("value"); got != v[0] {
						t.Fatalf("%s shows %q, want %q", name, got, v[0])
					}
				}
			})
		}
	})

	t.Run("OKNoMatch", func(t *testing.T) {
		p := assertEmptyState(t, org.Owner, list+"?state=scheduled&created_to="+earlier, "bots-empty", "No bots match")
		if p.Doc.Find("form.filters").Length() != 1 {
			t.Fatal("filters hidden when nothing matches")
		}
	})

	t.Run("ErrInvalidFilter", func(t *testing.T) {
		tests := []struct {
			name, query, field, want string
		}{
			{"State", "state=flying", "state", "Select a valid choice."},
			{"CreatedFrom", "created_from=yesterday", "created_from", "Enter a date, like 2026-01-31."},
			{"CreatedTo", "created_to=2026-02-30", "created_to", "Enter a date, like 2026-01-31."},
			{"RangeReversed", "created_from=" + today + "&created_to=" + earlier, "created_to", "Must not be before Created from."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := org.Owner.Get(list + "?" + tt.query)
				assertStatus(t, p, http.StatusBadRequest)
				if got := fieldError(p, tt.field); got != tt.want {
					t.Fatalf("error beside %s = %q, want %q", tt.field, got, tt.want)
				}
				if len(botRows(p)) != 0 {
					t.Fatal("rows shown for a refused filter")
				}
			})
		}
	})

	t.Run("ErrInvalidCursor", func(t *testing.T) {
		p := org.Owner.Get(list + "?cursor=garbage")
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := p.Text("[role=alert]"), "This page link is not valid. Start again from the first page."; got != want {
			t.Fatalf("error = %q, want %q", got, want)
		}
	})
}

func TestBotsPage_Paging(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	var ids []string
	for i := range 25 {
		ids = append(ids, org.mustBot(t, app, fmt.Sprintf("Bot %02d", i)))
	}
	ended := org.mustBot(t, app, "Ended")
	org.mustLeave(t, app, ended)
	list := "/orgs/" + org.ID + "/bots?state=joining"

	first := org.Owner.Get(list)
	assertStatus(t, first, http.StatusOK)
	page1 := botRows(first)
	if len(page1) != 20 || page1[0] != ids[24] {
		t.Fatalf("first page = %d rows starting %v", len(page1), page1)
	}
	if pagerLink(t, first, "prev") != "" {
		t.Fatal("first page links to a previous one")
	}
	next := pagerLink(t, first, "next")
	if !strings.Contains(next, "state=joining") || !strings.Contains(next, "cursor=") {
		t.Fatalf("next link %q drops the filter or has no cursor", next)
	}

	second := org.Owner.Get(next)
	assertStatus(t, second, http.StatusOK)
	if got, want := strings.Join(botRows(second), ","), strings.Join([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}, ","); got != want {
		t.Fatalf("second page = %s, want %s", got, want)
	}
	if pagerLink(t, second, "next") != "" {
		t.Fatal("last page links to a next one")
	}
	prev := pagerLink(t, second, "prev")
	if !strings.Contains(prev, "state=joining") {
		t.Fatalf("previous link %q drops the filter", prev)
	}

	back := org.Owner.Get(prev)
	assertStatus(t, back, http.StatusOK)
	if got, want := strings.Join(botRows(back), ","), strings.Join(page1, ","); got != want {
		t.Fatalf("previous page = %s, want the first page %s", got, want)
	}
	if pagerLink(t, back, "prev") != "" || pagerLink(t, back, "next") == "" {
		t.Fatal("the first page reached by Previous has the wrong links")
	}
}

func TestBotPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	joinAt := app.Clock.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r := app.API(t, http.MethodPost, "/api/v1/bots", "Token "+org.Key, `{"meeting_url": "https://meet.example.com/abc-defg-hij", "bot_name": "Standup notes",
		"join_at": "`+joinAt.Format(time.RFC3339)+`", "metadata": {"team": "platform", "sprint": 42}}`)
	wantAPI(t, r, http.StatusCreated, "", "")
	id := r.JSON["id"].(string)
	created := apiTime(t, r.JSON["created_at"])
	conv := app.API(t, http.MethodPost, "/api/v1/conversations", "Token "+org.Key, `{"title": "Daily standup", "bot_id": "`+id+`"}`)
	wantAPI(t, conv, http.StatusCreated, "", "")
	other := app.API(t, http.MethodPost, "/api/v1/conversations", "Token "+org.Key, `{"title": "Unrelated"}`)
	wantAPI(t, other, http.StatusCreated, "", "")
	path := "/orgs/" + org.ID + "/bots/" + id

	history := func(p *Page) []string {
		var out []string
		p.Doc.Find("[data-testid=state-history] [data-testid=state-change]").Each(func(_ int, s *goquerySelection) {
			state, _ := s.Attr("data-state")
			at, _ := s.Find("time").Attr("datetime")
			out = append(out, state+"@"+at)
		})
		return out
	}

	t.Run("OKScheduled", func(t *testing.T) {
		p := org.Owner.Get(path)
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("h1"), "Standup notes"; got != want {
			t.Fatalf("h1 = %q, want %q", got, want)
		}
		if got, want := strings.Join(strings.Fields(p.Text("[data-testid=breadcrumbs]")), " "), "Bots › Standup notes"; got != want {
			t.Fatalf("breadcrumbs = %q, want %q", got, want)
		}
		if href, _ := p.Doc.Find("[data-testid=breadcrumbs] a").Attr("href"); href != "/orgs/"+org.ID+"/bots" {
			t.Fatalf("breadcrumb link = %q", href)
		}
		for sel, want := range map[string]string{
			"[data-testid=bot-meeting-url]": "https://meet.example.com/abc-defg-hij",
			"[data-testid=bot-name]":        "Standup notes",
			"[data-testid=bot-state]":       "Scheduled",
			"[data-testid=bot-leave-time]":  "Not yet",
		} {
			if got := p.Text(sel); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		if got, _ := p.Doc.Find("[data-testid=bot-join-time] time").Attr("datetime"); got != joinAt.Format(time.RFC3339) {
			t.Errorf("join time = %q, want %q", got, joinAt.Format(time.RFC3339))
		}
		if got, want := strings.Join(strings.Fields(p.Text("[data-testid=bot-metadata]")), " "), `{ "team": "platform", "sprint": 42 }`; got != want {
			t.Errorf("metadata = %q, want %q", got, want)
		}
		if got, want := strings.Join(history(p), ","), "scheduled@"+created.UTC().Format(time.RFC3339); got != want {
			t.Errorf("history = %s, want %s", got, want)
		}
		convs := p.Doc.Find("[data-testid=bot-conversations] [data-testid=conversation-row]")
		if convs.Length() != 1 || strings.TrimSpace(convs.Find("a").First().Text()) != "Daily standup" {
			t.Errorf("bot's conversations = %q", convs.Text())
		}
	})

	t.Run("OKJoinedAndLeft", func(t *testing.T) {
		app.Clock.Advance(2 * time.Hour)
		r := app.API(t, http.MethodPost, "/api/v1/bots/"+id+"/leave", "Token "+org.Key, "")
		wantAPI(t, r, http.StatusOK, "", "")
		left := apiTime(t, r.JSON["ended_at"])
		p := org.Owner.Get(path)
		assertStatus(t, p, http.StatusOK)
		if got, want := p.Text("[data-testid=bot-state]"), "Ended"; got != want {
			t.Fatalf("state = %q, want %q", got, want)
		}
		want := strings.Join([]string{
			"scheduled@" + created.UTC().Format(time.RFC3339),
			"joining@" + joinAt.Format(time.RFC3339),
			"ended@" + left.UTC().Format(time.RFC3339),
		}, ",")
		if got := strings.Join(history(p), ","); got != want {
			t.Fatalf("history = %s, want %s", got, want)
		}
		if got, _ := p.Doc.Find("[data-testid=bot-leave-time] time").Attr("datetime"); got != left.UTC().Format(time.RFC3339) {
			t.Fatalf("leave time = %q", got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		stranger := mustBotOrg(t, app, "Eve", "eve@example.com")
		theirs := stranger.mustBot(t, app, "Eve's bot")
		assertStatus(t, org.Owner.Get("/orgs/"+org.ID+"/bots/"+theirs), http.StatusNotFound)
		assertStatus(t, stranger.Owner.Get(path), http.StatusNotFound)
		assertStatus(t, org.Owner.Get("/orgs/"+org.ID+"/bots/bot_missing"), http.StatusNotFound)
	})
}

// apiTime parses a time of an API response.
func apiTime(tb testing.TB, v any) time.Time {
	tb.Helper()
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("time %v: %v", v, err)
	}
	return t
}

// mustAct posts an action's form and checks the success message of the
// page it leads to, which it returns.
func mustAct(tb testing.TB, c *Client, path, flash string) *Page {
	tb.Helper()
	p := c.Post(path, nil)
	assertStatus(tb, p, http.StatusSeeOther)
	next := c.Follow(p)
	if got := next.Text(".flash-success"); got != flash {
		tb.Fatalf("after POST %s: flash = %q, want %q", path, got, flash)
	}
	return next
}

// assertAudit checks the summaries of the organization's events of action,
// newest first.
func assertAudit(tb testing.TB, c *Client, orgID, action string, want ...string) {
	tb.Helper()
	if got := auditRows(tb, c, orgID, action); strings.Join(got, "|") != strings.Join(want, "|") {
		tb.Fatalf("%s events = %q, want %q", action, got, want)
	}
}

// auditRows returns the summaries of the audit log's events of action.
func auditRows(tb testing.TB, c *Client, orgID, action string) []string {
	tb.Helper()
	p := c.Get("/orgs/" + orgID + "/audit-log?action=" + url.QueryEscape(action))
	assertStatus(tb, p, http.StatusOK)
	var out []string
	p.Doc.Find("[data-testid=audit-row]").Each(func(_ int, s *goquerySelection) {
		out = append(out, strings.TrimSpace(s.Find("[data-testid=audit-summary]").Text()))
	})
	return out
}

func TestBotActions(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada", "ada@example.com")
	member := MustAddMember(t, app, org.ID, "Mia", "mia@example.com", keygate.RoleMember)
	admin := MustAddMember(t, app, org.ID, "Al", "al@example.com", keygate.RoleAdmin)
	base := "/orgs/" + org.ID + "/bots/"

	t.Run("ErrForbiddenForMembers", func(t *testing.T) {
		id := org.mustBot(t, app, "Kept")
		p := member.Get(base + id)
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find("[data-testid=bot-actions]").Length() + p.Doc.Find("main form[method=post]").Length(); n != 0 {
			t.Fatal("Member is offered bot actions")
		}
		for _, action := range []string{"leave", "delete"} {
			p := member.Post(base+id+"/"+action, nil)
			assertStatus(t, p, http.StatusForbidden)
			if got, want := p.Text("[data-testid=error-page] p:not(.error-status)"), "You need the Admin role to manage bots"; got != want {
				t.Fatalf("403 message = %q, want %q", got, want)
			}
			assertStatus(t, member.Get(base+id+"/"+action), http.StatusForbidden)
		}
		if got := org.Owner.Get(base + id).Text("[data-testid=bot-state]"); got != "Joining" {
			t.Fatalf("state after a Member's POSTs = %q", got)
		}
	})

	t.Run("OKLeave", func(t *testing.T) {
		id := org.mustBot(t, app, "Leaver")
		p := admin.Get(base + id)
		assertStatus(t, p, http.StatusOK)
		leave := p.Doc.Find("[data-testid=bot-actions] a:contains('Leave meeting')")
		if href, _ := leave.Attr("href"); href != base+id+"/leave" {
			t.Fatalf("Leave meeting links to %q", href)
		}
		if action, _ := p.Doc.Find("#leave-bot-dialog form[method=post]").Attr("action"); action != base+id+"/leave" {
			t.Fatalf("leave dialog posts to %q", action)
		}
		confirm := admin.Get(base + id + "/leave")
		assertStatus(t, confirm, http.StatusOK)
		if got := strings.TrimSpace(confirm.Doc.Find("main form[method=post] button[type=submit]").Text()); got != "Leave meeting" {
			t.Fatalf("confirm button = %q", got)
		}

		p = mustAct(t, admin, base+id+"/leave", "Bot “Leaver” left the meeting.")
		if got := p.Text("[data-testid=bot-state]"); got != "Ended" {
			t.Fatalf("state = %q, want Ended", got)
		}
		if p.Doc.Find("[data-testid=bot-actions] a:contains('Leave meeting')").Length() != 0 {
			t.Fatal("an ended bot is offered Leave meeting")
		}
		assertAudit(t, org.Owner, org.ID, "bot.leave", "removed from the meeting by Al")

		// Leaving again explains itself; nothing else changes.
		p = admin.Post(base+id+"/leave", nil)
		assertStatus(t, p, http.StatusSeeOther)
		if got, want := admin.Follow(p).Text(".flash-info"), "The bot has already left the meeting."; got != want {
			t.Fatalf("flash = %q, want %q", got, want)
		}
		assertAudit(t, org.Owner, org.ID, "bot.leave", "removed from the meeting by Al")
	})

	t.Run("OKDelete", func(t *testing.T) {
		id := org.mustBot(t, app, "Doomed")
		before := app.Count(t, "bots")
		p := mustAct(t, org.Owner, base+id+"/delete", "Bot “Doomed” deleted.")
		if got := p.Request.URL.Path; got != "/orgs/"+org.ID+"/bots" {
			t.Fatalf("deleting leads to %s", got)
		}
		if got := app.Count(t, "bots"); got != before-1 {
			t.Fatalf("bots = %d, want %d", got, before-1)
		}
		assertStatus(t, org.Owner.Get(base+id), http.StatusNotFound)
		assertAudit(t, org.Owner, org.ID, "bot.delete", "deleted by Ada")
	})

	t.Run("ErrNotFoundInOtherOrganization", func(t *testing.T) {
		stranger := mustBotOrg(t, app, "Eve", "eve@example.com")
		theirs := stranger.mustBot(t, app, "Eve's bot")
		for _, action := range []string{"leave", "delete"} {
			assertStatus(t, org.Owner.Post(base+theirs+"/"+action, nil), http.StatusNotFound)
			assertStatus(t, stranger.Owner.Post("/orgs/"+org.ID+"/bots/"+theirs+"/"+action, nil), http.StatusNotFound)
		}
		if got := stranger.Owner.Get("/orgs/" + stranger.ID + "/bots/" + theirs).Text("[data-testid=bot-state]"); got != "Joining" {
			t.Fatalf("the other organization's bot = %q", got)
		}
	})

	t.Run("OKAPIAudited", func(t *testing.T) {
		id := org.mustBot(t, app, "Through the API")
		org.mustLeave(t, app, id)
		wantAPI(t, app.API(t, http.MethodDelete, "/api/v1/bots/"+id, "Token "+org.Key, ""), http.StatusNoContent, "", "")
		leaves := auditRows(t, org.Owner, org.ID, "bot.leave")
		deletes := auditRows(t, org.Owner, org.ID, "bot.delete")
		if len(leaves) == 0 || !strings.HasPrefix(leaves[0], "removed from the meeting by key “bots” (key_") {
			t.Fatalf("bot.leave summaries = %q", leaves)
		}
		if len(deletes) == 0 || !strings.HasPrefix(deletes[0], "deleted by key “bots” (key_") {
			t.Fatalf("bot.delete summaries = %q", deletes)
		}
	})
}
