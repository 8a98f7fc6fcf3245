package web_test

import (
	"strings"
	"testing"
	"time"
)

// TestAPIBotReadsSeeEveryChange: bot reads are answered from memory on
// SQLite, and each change made through the API shows in the next read of
// the bot and of the list, as does a scheduled bot's join once its time
// has come.
func TestAPIBotReadsSeeEveryChange(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	other := mustAPIOrg(t, app, "Bob", "bob@example.com")
	w, rd := "Token "+org.Write, "Token "+org.Read

	get := func(id string) map[string]any {
		t.Helper()
		r := app.API(t, "GET", "/api/v1/bots/"+id, rd, "")
		wantAPI(t, r, 200, "", "")
		return r.JSON
	}
	list := func(query string) string {
		t.Helper()
		r := app.API(t, "GET", "/api/v1/bots"+query, rd, "")
		wantAPI(t, r, 200, "", "")
		var got []string
		for _, b := range r.JSON["results"].([]any) {
			b := b.(map[string]any)
			got = append(got, b["bot_name"].(string)+":"+b["state"].(string))
		}
		return strings.Join(got, " ")
	}
	want := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %q, want %q", what, got, want)
		}
	}

	joinAt := app.Clock.Now().Add(20 * time.Second).UTC().Format(time.RFC3339)
	a := app.API(t, "POST", "/api/v1/bots", w, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "one", "join_at": "`+joinAt+`"}`)
	wantAPI(t, a, 201, "", "")
	id := a.JSON["id"].(string)
	want("bot", get(id)["state"].(string), "scheduled")
	want("list", list(""), "one:scheduled")

	wantAPI(t, app.API(t, "PATCH", "/api/v1/bots/"+id, w, `{"bot_name": "renamed"}`), 200, "", "")
	want("bot after rename", get(id)["bot_name"].(string), "renamed")
	want("list after rename", list(""), "renamed:scheduled")

	b := app.API(t, "POST", "/api/v1/bots", w, `{"meeting_url": "https://zoom.us/j/2", "bot_name": "two"}`)
	wantAPI(t, b, 201, "", "")
	want("list after create", list(""), "two:joining renamed:scheduled")
	want("first page of one", list("?limit=1"), "two:joining")

	app.Clock.Advance(21 * time.Second)
	want("bot at its join time", get(id)["state"].(string), "joining")
	want("list at its join time", list(""), "two:joining renamed:joining")
	want("joining list", list("?state=joining"), "two:joining renamed:joining")

	want("ended list before leaving", list("?state=ended"), "")
	wantAPI(t, app.API(t, "POST", "/api/v1/bots/"+id+"/leave", w, ""), 200, "", "")
	want("bot after leaving", get(id)["state"].(string), "ended")
	want("ended list after leaving", list("?state=ended"), "renamed:ended")

	wantAPI(t, app.API(t, "DELETE", "/api/v1/bots/"+b.JSON["id"].(string), w, ""), 204, "", "")
	wantAPI(t, app.API(t, "GET", "/api/v1/bots/"+b.JSON["id"].(string), rd, ""), 404, "", "")
	want("list after delete", list(""), "renamed:ended")

	// Another organization reads none of it, cached or not.
	wantAPI(t, app.API(t, "GET", "/api/v1/bots/"+id, "Token "+other.Read, ""), 404, "", "")
	r := app.API(t, "GET", "/api/v1/bots", "Token "+other.Read, "")
	wantAPI(t, r, 200, "", "")
	if n := len(r.JSON["results"].([]any)); n != 0 {
		t.Fatalf("another organization lists %d bots", n)
	}
}
