package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// TestAPIKeyLimit: an organization holds at most --max-keys-per-org active
// keys. Creating one more is refused in the dashboard and the API, with
// nothing created; rolling is allowed while the count after the roll stays
// within the cap; revoked and expired keys do not count.
func TestAPIKeyLimit(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithMaxKeysPerOrg(3))
	org := mustAPIOrg(t, app, "Ada", "ada@example.com") // read, write, admin: at the cap
	c := app.NewClient(t)
	c.MustLogin("ada@example.com", testPassword)
	const msg = "This organization has reached its limit of 3 active API keys. Revoke keys it no longer needs before creating more."
	keysPath := "/orgs/" + org.ID + "/api-keys"

	t.Run("ErrDashboardCreate", func(t *testing.T) {
		for _, from := range []string{"dialog", "page"} {
			form := keyForm("Fourth "+from, "production", []string{"read"}, "none")
			form.Set("from", from)
			p := c.Post(keysPath, form)
			assertStatus(t, p, http.StatusBadRequest)
			if got := p.Text("form [role=alert]"); got != msg {
				t.Fatalf("from %s: form error = %q, want %q", from, got, msg)
			}
			if got, _ := p.Doc.Find("form #f-name").Attr("value"); got != "Fourth "+from {
				t.Fatalf("from %s: name kept = %q", from, got)
			}
		}
		if got, want := app.Count(t, "api_keys"), 3; got != want {
			t.Fatalf("keys = %d, want %d", got, want)
		}
	})

	t.Run("ErrAPICreate", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/keys", "Token "+org.Admin, `{"name": "Fourth", "scopes": ["read"]}`)
		wantAPI(t, r, http.StatusBadRequest, msg, "key_limit_reached")
		if got, want := app.Count(t, "api_keys"), 3; got != want {
			t.Fatalf("keys = %d, want %d", got, want)
		}
	})

	t.Run("ErrRollWithGrace", func(t *testing.T) {
		read := app.keyByName(t, org.Owner, org.ID, "read", keygate.KeyActive)
		r := app.API(t, "POST", "/api/v1/keys/"+read.PublicID+"/roll", "Token "+org.Admin, `{"grace_seconds": 3600}`)
		wantAPI(t, r, http.StatusBadRequest, msg, "key_limit_reached")
		p := c.Post(keysPath+"/"+read.PublicID+"/roll", url.Values{"grace": {"1h"}, "form_token": {"roll-" + time.Now().Format(time.RFC3339Nano)}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "grace"); got != msg {
			t.Fatalf("roll page error = %q, want %q", got, msg)
		}
		if got, want := app.Count(t, "api_keys"), 3; got != want {
			t.Fatalf("keys = %d, want %d", got, want)
		}
	})

	t.Run("OKRollImmediately", func(t *testing.T) {
		read := app.keyByName(t, org.Owner, org.ID, "read", keygate.KeyActive)
		r := app.API(t, "POST", "/api/v1/keys/"+read.PublicID+"/roll", "Token "+org.Admin, `{"grace_seconds": 0}`)
		wantAPI(t, r, http.StatusCreated, "", "")
		write := app.keyByName(t, org.Owner, org.ID, "write", keygate.KeyActive)
		p := c.Post(keysPath+"/"+write.PublicID+"/roll", url.Values{"grace": {"0"}, "form_token": {"roll-" + time.Now().Format(time.RFC3339Nano)}})
		assertStatus(t, p, http.StatusOK)
		_, total, err := app.Keys.FindAPIKeys(keygate.NewContextWithUser(t.Context(), org.Owner), keygate.APIKeyFilter{OrgPublicID: org.ID})
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 {
			t.Fatalf("active keys = %d, want 3", total)
		}
	})

	t.Run("OKAfterRevoke", func(t *testing.T) {
		read := app.keyByName(t, org.Owner, org.ID, "read", keygate.KeyActive)
		wantAPI(t, app.API(t, "DELETE", "/api/v1/keys/"+read.PublicID, "Token "+org.Admin, ""), http.StatusNoContent, "", "")
		c.MustCreateKey(org.ID, keyForm("Short-lived", "production", []string{"read"}, "7"))
		wantAPI(t, app.API(t, "POST", "/api/v1/keys", "Token "+org.Admin, `{"name": "Fifth", "scopes": ["read"]}`), http.StatusBadRequest, msg, "key_limit_reached")
	})

	t.Run("OKAfterExpiry", func(t *testing.T) {
		app.Clock.Advance(8 * 24 * time.Hour)
		r := app.API(t, "POST", "/api/v1/keys", "Token "+org.Admin, `{"name": "Fifth", "scopes": ["read"]}`)
		wantAPI(t, r, http.StatusCreated, "", "")
	})
}
