package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBrowserBots sends bots through the API, opens them in the dashboard
// and makes one leave its meeting from its page.
func TestBrowserBots(t *testing.T) {
	app := MustOpenApp(t)
	org := mustBotOrg(t, app, "Ada Lovelace", "ada@example.com")
	long := "https://meet.example.com/" + strings.Repeat("averylongmeetingroomnamewithoutanybreaks", 6)
	org.mustAPIBot(t, app, `{"meeting_url": "`+long+`", "bot_name": "`+strings.Repeat("Longname", 12)+`"}`)
	for i := range 4 {
		org.mustBot(t, app, fmt.Sprintf("Notetaker %d", i))
	}
	id := org.mustAPIBot(t, app, `{"meeting_url": "https://meet.example.com/weekly", "bot_name": "Weekly sync", "metadata": {"team": "platform"}}`)
	org.mustConversation(t, app, `{"title": "`+strings.Repeat("Retrospective", 10)+`", "participants": ["`+strings.Repeat("Participant", 10)+`"]}`)
	org.mustConversation(t, app, `{"title": "Weekly sync, week 2", "bot_id": "`+id+`", "started_at": "2026-01-07T09:00:00Z",
		"transcript": [{"speaker": "Ada", "text": "Welcome.", "start_ms": 0, "end_ms": 900}]}`)

	b := NewBrowser(t, app)
	b.Login("ada@example.com")
	b.Click(mainNav + Link("Bots"))
	row := `//tr[@data-testid="bot-row"]`
	b.WaitVisible(row)
	var rows int
	b.Eval(`document.querySelectorAll('[data-testid="bot-row"]').length`, &rows)
	if rows != 6 {
		t.Fatalf("the list shows %d bots, want 6", rows)
	}
	b.assertTableFits("bots")
	b.CheckA11y("bots")

	b.Click(row + `//a[normalize-space()="Weekly sync"]`)
	b.WaitVisible(Heading("Weekly sync"))
	if got, want := strings.Join(strings.Fields(b.Text(`//nav[@data-testid="breadcrumbs"]`)), " "), "Bots › Weekly sync"; got != want {
		t.Fatalf("breadcrumbs = %q, want %q", got, want)
	}
	b.CheckA11y("bot")

	b.Click(Button("Leave meeting"))
	dialog := Dialog("Leave meeting?")
	b.WaitVisible(dialog)
	var modal bool
	b.Eval(`document.getElementById("leave-bot-dialog").matches(":modal")`, &modal)
	if !modal {
		t.Fatal("the Leave meeting dialog is not modal")
	}
	b.Click(dialog + `//button[normalize-space()="Leave meeting"]`)
	b.WaitVisible(`//*[@role="status" and normalize-space()="Bot “Weekly sync” left the meeting."]`)
	if got := b.Text(`//*[@data-testid="bot-state"]`); got != "Ended" {
		t.Fatalf("state after leaving = %q, want Ended", got)
	}
	r := app.API(t, http.MethodGet, "/api/v1/bots/"+id, "Token "+org.Key, "")
	if r.JSON["state"] != "ended" {
		t.Fatalf("the API says the bot is %v", r.JSON["state"])
	}

	b.Click(`//*[@data-testid="bot-conversations"]//a[normalize-space()="Weekly sync, week 2"]`)
	b.WaitVisible(Heading("Weekly sync, week 2"))
	b.CheckA11y("conversation")
	b.Click(`//nav[@data-testid="breadcrumbs"]//a[normalize-space()="Conversations"]`)
	b.WaitVisible(`//tr[@data-testid="conversation-row"]`)
	b.assertTableFits("conversations")
	b.CheckA11y("conversations")
}

// assertTableFits fails if the table marked testid scrolls sideways in its
// wrapper on a desktop window (1024 and 1280 pixels wide).
func (b *Browser) assertTableFits(testid string) {
	b.tb.Helper()
	for _, width := range []int64{1024, 1280} {
		b.Viewport(width)
		var got struct{ Scroll, Client int }
		b.Eval(`(function(){var w=document.querySelector('[data-testid="`+testid+`"]').closest(".table-wrap");
			return {Scroll: w.scrollWidth, Client: w.clientWidth}})()`, &got)
		if got.Client == 0 || got.Scroll > got.Client {
			b.tb.Fatalf("at %d px the %s table is %d px wide in a %d px wrapper: it scrolls sideways", width, testid, got.Scroll, got.Client)
		}
	}
	b.Viewport(1280)
}
