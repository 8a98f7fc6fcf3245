package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// logCodes counts the logs page's rows by status and error code.
func logCodes(p *Page) map[string]int {
	out := map[string]int{}
	p.Doc.Find("[data-testid=log-row]").Each(func(_ int, row *goquerySelection) {
		out[strings.TrimSpace(row.Find("[data-testid=log-status]").Text())+" "+strings.TrimSpace(row.Find("[data-testid=log-code]").Text())]++
	})
	return out
}

func TestRefusedRequestsAreLogged(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	ada := app.MustUser(t, "ada@example.com")
	ctx := keygate.NewContextWithUser(context.Background(), ada)
	revokedSecret, revoked := app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "Old deploy", Scopes: []keygate.Scope{keygate.ScopeRead}})
	expires := app.Clock.Now().Add(time.Hour)
	expiredSecret, expired := app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "Short", Scopes: []keygate.Scope{keygate.ScopeRead}, ExpiresAt: &expires})
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+revokedSecret, ""), http.StatusOK, "", "")
	if _, err := app.Keys.RevokeAPIKey(ctx, orgID, revoked.PublicID); err != nil {
		t.Fatal(err)
	}
	app.Clock.Advance(2 * time.Hour)
	unknown := apikey.MustGenerate()

	for range 5 {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+revokedSecret, ""), http.StatusUnauthorized, "", "token_revoked")
	}
	wantAPI(t, app.API(t, "GET", "/api/v1/bots", "Bearer "+expiredSecret, ""), http.StatusUnauthorized, "", "token_expired")
	for range 10 {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+unknown.String(), ""), http.StatusUnauthorized, "", "invalid_token")
	}
	for range 5 {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", "", ""), http.StatusUnauthorized, "", "not_authenticated")
	}
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token a b", ""), http.StatusUnauthorized, "", "invalid_token_header")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	t.Run("InTheLogs", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/logs?class=4xx")
		assertStatus(t, p, http.StatusOK)
		got := logCodes(p)
		if got["401 token_revoked"] != 5 || got["401 token_expired"] != 1 || len(got) != 2 {
			t.Fatalf("4xx rows by status and code = %v, want 5 token_revoked and 1 token_expired", got)
		}
		row := p.Doc.Find("[data-testid=log-row]").FilterFunction(func(_ int, s *goquerySelection) bool {
			return strings.Contains(s.Text(), "token_expired")
		})
		if href, _ := row.Find("a[href*='/api-keys/']").Attr("href"); !strings.HasSuffix(href, "/api-keys/"+expired.PublicID) {
			t.Fatalf("the expired key's row links to %q", href)
		}
		if !strings.Contains(normText(row), "GET /api/v1/bots") {
			t.Fatalf("row = %q", normText(row))
		}
	})
	t.Run("NotAttributableOnlyInServerLog", func(t *testing.T) {
		logs := app.Logs.String()
		for _, want := range []string{"code=invalid_token", "code=not_authenticated", "code=invalid_token_header", "presented=" + unknown.Hint()} {
			if !strings.Contains(logs, want) {
				t.Errorf("server log lacks %q", want)
			}
		}
		for _, secret := range []string{unknown.String(), revokedSecret, expiredSecret} {
			if strings.Contains(logs, secret) {
				t.Fatal("the server log holds a key")
			}
		}
		if n := app.Count(t, "request_log WHERE api_key_id IS NULL"); n != 0 {
			t.Fatalf("%d unattributed requests in the request log", n)
		}
	})
	t.Run("RevokedKeyPage", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/api-keys/" + revoked.PublicID)
		assertStatus(t, p, http.StatusOK)
		want := "This key was revoked but is still being used: 5 requests refused in the last 24 hours, the last from 127.0.0.1 just now."
		if got := normText(p.Doc.Find("[data-testid=key-refused-alert]")); got != want {
			t.Errorf("alert = %q, want %q", got, want)
		}
		if got := detailOf(p, "Last used"); !strings.HasPrefix(got, "2 hours ago") {
			t.Errorf("last used = %q, want the last successful request, 2 hours ago", got)
		}
		if got := detailOf(p, "Last attempt"); !strings.HasPrefix(got, "just now from 127.0.0.1") {
			t.Errorf("last attempt = %q", got)
		}
		if got, want := stats(p)["Refused"], "5"; got != want {
			t.Errorf("refused = %q, want %q", got, want)
		}
	})
	t.Run("ExpiredKeyPage", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/api-keys/" + expired.PublicID)
		assertStatus(t, p, http.StatusOK)
		want := "This key expired but is still being used: 1 request refused in the last 24 hours, the last from 127.0.0.1 just now."
		if got := normText(p.Doc.Find("[data-testid=key-refused-alert]")); got != want {
			t.Errorf("alert = %q, want %q", got, want)
		}
		if got := detailOf(p, "Last used"); got != "Never" {
			t.Errorf("last used = %q, want Never", got)
		}
	})
	t.Run("KeysList", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID + "/api-keys?state=revoked")
		assertStatus(t, p, http.StatusOK)
		row := p.Doc.Find("[data-testid=api-key-row][data-key-id=" + revoked.PublicID + "]")
		if got := normText(row.Find("[data-testid=key-last-used]")); !strings.HasPrefix(got, "2 hours ago") {
			t.Errorf("last used = %q", got)
		}
		if got, want := normText(row.Find("[data-testid=key-last-attempt]")), "Last attempt: just now from 127.0.0.1 Refused"; got != want {
			t.Errorf("last attempt = %q, want %q", got, want)
		}
	})
	t.Run("Overview", func(t *testing.T) {
		p := c.Get("/orgs/" + orgID)
		assertStatus(t, p, http.StatusOK)
		if strings.Contains(p.Body, "Nothing has called the API yet") {
			t.Fatal("the overview says nothing called the API, though revoked and expired keys were used")
		}
		if got, want := stats(p)["Refused"], "6"; got != want {
			t.Fatalf("refused = %q, want %q", got, want)
		}
	})
	t.Run("NoAlertLater", func(t *testing.T) {
		app.Clock.Advance(25 * time.Hour)
		c := app.NewClient(t) // the first session has expired
		c.MustLogin("ada@example.com", testPassword)
		p := c.Get("/orgs/" + orgID + "/api-keys/" + revoked.PublicID)
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find("[data-testid=key-refused-alert]").Length(); n != 0 {
			t.Fatalf("alert shown a day after the last refused request: %q", p.Text("[data-testid=key-refused-alert]"))
		}
	})
}

func TestRefusedCreatorDisabledKey(t *testing.T) {
	t.Parallel()
	a := mustAdminApp(t)
	secret, k := a.MustKey(t, a.BobUser, a.BobOrg, keygate.APIKeyCreate{Name: "Bob's job", Scopes: []keygate.Scope{keygate.ScopeRead}})
	ada := a.MustUser(t, "ada@example.com")
	if err := a.Orgs.AddMember(context.Background(), a.BobOrg, ada.ID, keygate.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	admin := sqlstore.NewAdminService(a.DB, a.Users)
	if _, err := admin.DisableUser(keygate.NewContextWithUser(context.Background(), ada), a.BobUser.PublicID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		wantAPI(t, a.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusUnauthorized, "", "invalid_token")
	}
	if err := a.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := a.Ada.Get("/orgs/" + a.BobOrg + "/logs?key=" + k.PublicID)
	assertStatus(t, p, http.StatusOK)
	if got := logCodes(p); got["401 invalid_token"] != 2 || len(got) != 1 {
		t.Fatalf("rows = %v, want 2 × 401 invalid_token", got)
	}
	p = a.Ada.Get("/orgs/" + a.BobOrg + "/api-keys/" + k.PublicID)
	assertStatus(t, p, http.StatusOK)
	want := "This key stopped working when its creator was disabled, but is still being used: 2 requests refused in the last 24 hours, the last from 127.0.0.1 just now."
	if got := normText(p.Doc.Find("[data-testid=key-refused-alert]")); got != want {
		t.Errorf("alert = %q, want %q", got, want)
	}
}
