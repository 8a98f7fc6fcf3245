package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// unsafeNames hold a right-to-left override (which shows "Alice Owne"
// reversed) and control characters.
var unsafeNames = []struct{ name, value string }{
	{"ErrBidiOverride", "Alice \u202eenwO\u202c"},
	{"ErrControlCharacters", "Alice\x00\x07Owner"},
	{"ErrIsolate", "Alice \u2067Owner\u2069"},
	{"ErrArabicLetterMark", "Alice\u061cOwner"},
}

const msgUnsafeName = "Names cannot contain control characters or text-direction marks."

// TestUnsafeNames: user, organization, API key and bot names refuse
// text-direction marks and control characters, in the dashboard (the form
// again, with the message beside the field) and in the API (a field map).
func TestUnsafeNames(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	c := app.NewClient(t)
	c.MustLogin("ada@example.com", testPassword)

	for i, tt := range unsafeNames {
		eve := "eve" + itoa(i) + "@example.com" // a signup that got through would take the email
		t.Run("UserName/"+tt.name, func(t *testing.T) {
			p := c.Post("/settings/profile", url.Values{"name": {tt.value}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "name"); got != msgUnsafeName {
				t.Fatalf("error = %q, want %q", got, msgUnsafeName)
			}
			if got := app.MustUser(t, "ada@example.com").Name; got != "Ada" {
				t.Fatalf("name saved as %q", got)
			}
		})
		t.Run("SignupName/"+tt.name, func(t *testing.T) {
			p := app.NewClient(t).Post("/signup", url.Values{"name": {tt.value}, "email": {eve}, "password": {testPassword}, "organization": {"Eve Org"}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "name"); got != msgUnsafeName {
				t.Fatalf("error = %q, want %q", got, msgUnsafeName)
			}
		})
		t.Run("OrganizationName/"+tt.name, func(t *testing.T) {
			p := c.Post("/orgs", url.Values{"name": {tt.value}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "name"); got != msgUnsafeName {
				t.Fatalf("create: error = %q, want %q", got, msgUnsafeName)
			}
			p = c.Post("/orgs/"+org.ID+"/settings", url.Values{"name": {tt.value}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "name"); got != msgUnsafeName {
				t.Fatalf("rename: error = %q, want %q", got, msgUnsafeName)
			}
			p = app.NewClient(t).Post("/signup", url.Values{"name": {"Eve"}, "email": {eve}, "password": {testPassword}, "organization": {tt.value}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "organization"); got != msgUnsafeName {
				t.Fatalf("signup: error = %q, want %q", got, msgUnsafeName)
			}
		})
		t.Run("APIKeyName/"+tt.name, func(t *testing.T) {
			p := c.Post("/orgs/"+org.ID+"/api-keys", keyForm(tt.value, "production", []string{"read"}, "none"))
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "name"); got != msgUnsafeName {
				t.Fatalf("dashboard: error = %q, want %q", got, msgUnsafeName)
			}
			body, _ := json.Marshal(map[string]any{"name": tt.value, "scopes": []string{"read"}})
			r := app.API(t, "POST", "/api/v1/keys", "Token "+org.Admin, string(body))
			wantAPI(t, r, http.StatusBadRequest, "Invalid input.", "invalid")
			if got := r.JSON["name"]; !sameMessages(got, msgUnsafeName) {
				t.Fatalf("API: name = %v", got)
			}
			read := app.keyByName(t, org.Owner, org.ID, "read", "active")
			p = c.Post("/orgs/"+org.ID+"/api-keys/"+read.PublicID, url.Values{"name": {tt.value}, "environment": {"production"}})
			assertStatus(t, p, http.StatusBadRequest)
			if got := fieldError(p, "name"); got != msgUnsafeName {
				t.Fatalf("rename: error = %q, want %q", got, msgUnsafeName)
			}
		})
		t.Run("BotName/"+tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"meeting_url": "https://zoom.us/j/1", "bot_name": tt.value})
			r := app.API(t, "POST", "/api/v1/bots", "Token "+org.Write, string(body))
			wantAPI(t, r, http.StatusBadRequest, "Invalid input.", "invalid")
			if got := r.JSON["bot_name"]; !sameMessages(got, msgUnsafeName) {
				t.Fatalf("bot_name = %v", got)
			}
			bot := app.API(t, "POST", "/api/v1/bots", "Token "+org.Write, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "Notes"}`)
			wantAPI(t, bot, http.StatusCreated, "", "")
			patch, _ := json.Marshal(map[string]any{"bot_name": tt.value})
			r = app.API(t, "PATCH", "/api/v1/bots/"+bot.JSON["id"].(string), "Token "+org.Write, string(patch))
			wantAPI(t, r, http.StatusBadRequest, "Invalid input.", "invalid")
			if got := r.JSON["bot_name"]; !sameMessages(got, msgUnsafeName) {
				t.Fatalf("update: bot_name = %v", got)
			}
		})
	}

	t.Run("OKOrdinaryNames", func(t *testing.T) {
		p := c.Post("/settings/profile", url.Values{"name": {"Zoë O’Brien-שלום"}})
		assertStatus(t, p, http.StatusSeeOther)
		if got := app.MustUser(t, "ada@example.com").Name; got != "Zoë O’Brien-שלום" {
			t.Fatalf("name = %q", got)
		}
	})
}

// sameMessages reports whether a decoded field map entry is [msg].
func sameMessages(v any, msg string) bool {
	list, ok := v.([]any)
	return ok && len(list) == 1 && list[0] == msg
}
