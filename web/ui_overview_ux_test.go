package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// normText is a selection's text with its whitespace collapsed.
func normText(s *goquerySelection) string { return strings.Join(strings.Fields(s.Text()), " ") }

// detailOf returns the text of the <dd> after the <dt> labelled label.
func detailOf(p *Page, label string) string {
	var out string
	p.Doc.Find("dl.details dt").EachWithBreak(func(_ int, dt *goquerySelection) bool {
		if strings.TrimSpace(dt.Text()) == label {
			out = normText(dt.Next())
			return false
		}
		return true
	})
	return out
}

func TestOverviewForMembers(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithRateLimit(ratelimit.Limit{Count: 10, Period: time.Minute}))
	owner := app.NewClient(t)
	orgID := owner.MustSignup("Ada", "ada@example.com", "Org A")
	used, _ := app.MustKey(t, app.MustUser(t, "ada@example.com"), orgID, keygate.APIKeyCreate{Name: "busy", Scopes: []keygate.Scope{keygate.ScopeWrite}})
	member := MustAddMember(t, app, orgID, "Mia", "mia@example.com", keygate.RoleMember)

	t.Run("NoTraffic", func(t *testing.T) {
		p := member.Get("/orgs/" + orgID)
		assertStatus(t, p, http.StatusOK)
		if got, want := stats(p)["Requests, 30 days"], "0"; got != want {
			t.Fatalf("requests = %q, want %q", got, want)
		}
		if got, want := stats(p)["Error rate"], "—"; got != want {
			t.Fatalf("error rate without traffic = %q, want %q", got, want)
		}
	})

	seedTraffic(t, app, used)
	p := member.Get("/orgs/" + orgID)
	assertStatus(t, p, http.StatusOK)
	if strings.Contains(p.Body, "Nothing has called the API yet") {
		t.Fatal("a Member's overview says nothing called the API, though it was called 12 times")
	}
	got := stats(p)
	for label, want := range map[string]string{"Requests today": "12", "Requests, 30 days": "12", "Error rate": "25.0%", "Throttled": "2"} {
		if got[label] != want {
			t.Errorf("%s = %q, want %q (all: %v)", label, got[label], want, got)
		}
	}
	if n := p.Doc.Find("[data-testid=chart-requests] table tbody tr").Length(); n != 30 {
		t.Fatalf("chart days = %d, want 30", n)
	}
	main := p.Doc.Find("main")
	if n := main.Find("a[href*='/api-keys'], a[href*='/logs'], [data-revoke]").Length(); n != 0 {
		t.Fatalf("the Member's overview links to %d pages Members cannot open", n)
	}
	for _, action := range []string{"Roll key", "Revoke"} {
		if main.Find("a:contains('"+action+"'), button:contains('"+action+"')").Length() != 0 {
			t.Fatalf("the Member's overview offers %q", action)
		}
	}
}

func TestOverviewNoKeysNoTraffic(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	p := c.Get("/orgs/" + orgID)
	assertStatus(t, p, http.StatusOK)
	if got, want := stats(p)["Error rate"], "—"; got != want {
		t.Errorf("error rate without traffic = %q, want %q", got, want)
	}
	hygiene := normText(p.Doc.Find("section[aria-labelledby=hygiene-heading]"))
	if strings.Contains(hygiene, "every active key is in use") {
		t.Errorf("with no keys, hygiene says %q", hygiene)
	}
	if got, want := p.Text("[data-testid=hygiene-no-keys]"), "No active API keys, so nothing to check."; got != want {
		t.Errorf("hygiene = %q, want %q", got, want)
	}
}

func TestHygieneRolledAndNewKeys(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	ada := app.MustUser(t, "ada@example.com")
	_, old := app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "Webhook relay", Scopes: []keygate.Scope{keygate.ScopeRead}})
	_, stale := app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "Stale", Scopes: []keygate.Scope{keygate.ScopeRead}})
	app.Clock.Advance(8 * 24 * time.Hour)
	_, fresh := app.MustKey(t, ada, orgID, keygate.APIKeyCreate{Name: "Fresh", Scopes: []keygate.Scope{keygate.ScopeRead}})
	ctx := keygate.NewContextWithUser(context.Background(), ada)
	successor, _, _, err := app.Keys.RollAPIKey(ctx, orgID, old.PublicID, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if successor == nil {
		t.Fatal("roll returned no new key")
	}
	app.Clock.Advance(2 * time.Minute)
	c = app.NewClient(t) // the first session has expired
	c.MustLogin("ada@example.com", testPassword)

	p := c.Get("/orgs/" + orgID)
	assertStatus(t, p, http.StatusOK)
	unused := p.Doc.Find("[data-testid=hygiene-unused]")
	if !strings.Contains(unused.Text(), stale.Name) {
		t.Errorf("a key unused for 8 days is not listed as unused: %q", normText(unused))
	}
	if strings.Contains(unused.Text(), fresh.Name) {
		t.Errorf("a key created 2 minutes ago is listed as unused: %q", normText(unused))
	}
	expiring := p.Doc.Find("[data-testid=hygiene-expiring] li").FilterFunction(func(_ int, s *goquerySelection) bool {
		href, _ := s.Find("a.key-name").Attr("href")
		return strings.HasSuffix(href, "/"+old.PublicID)
	})
	if expiring.Length() != 1 {
		t.Fatalf("the rolled key is not listed as expiring: %q", normText(p.Doc.Find("[data-testid=hygiene-expiring]")))
	}
	if expiring.Find("a:contains('Roll key')").Length() != 0 {
		t.Error("hygiene offers to roll a key that was already rolled")
	}
	want := "Expires in 58 minutes — replaced by Webhook relay (" + successor.Hint + ")"
	if got := normText(expiring.Find("[data-testid=hygiene-detail]")); got != want {
		t.Errorf("state = %q, want %q", got, want)
	}
	if href, _ := expiring.Find("[data-testid=hygiene-detail] a").Attr("href"); !strings.HasSuffix(href, "/api-keys/"+successor.PublicID) {
		t.Errorf("replacement link = %q", href)
	}
}

func TestKeyPageLastUseAndClient(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	secret, k := app.MustKey(t, app.MustUser(t, "ada@example.com"), orgID, keygate.APIKeyCreate{Name: "Node app", Scopes: []keygate.Scope{keygate.ScopeRead}})
	for _, tc := range []struct{ ua, want string }{
		{"node", "Node.js"},
		{"undici", "Node.js"},
		{"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "Node.js"},
		{"curl/8.5.0", "curl"},
		{"python-requests/2.34.0", "Python requests"},
		{"Go-http-client/2.0", "Go HTTP client"},
	} {
		t.Run(tc.want+"/"+strings.Fields(tc.ua)[0], func(t *testing.T) {
			req, _ := http.NewRequest("GET", app.URL+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Token "+secret)
			req.Header.Set("User-Agent", tc.ua)
			wantAPI(t, app.Do(t, req), http.StatusOK, "", "")
			if err := app.Usage.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			p := c.Get("/orgs/" + orgID + "/api-keys/" + k.PublicID)
			assertStatus(t, p, http.StatusOK)
			if got := detailOf(p, "Last client"); got != tc.want {
				t.Errorf("last client = %q, want %q", got, tc.want)
			}
			if got := p.Doc.Find("[data-testid=last-client]").AttrOr("title", ""); got != tc.ua {
				t.Errorf("last client's title = %q, want the raw user agent %q", got, tc.ua)
			}
			if got, want := detailOf(p, "Last used"), "just now from 127.0.0.1"; got != want {
				t.Errorf("last used = %q, want %q", got, want)
			}
		})
	}
}

func TestKeyHintEndsWithTheKeysEnd(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	secret, k := app.MustKey(t, app.MustUser(t, "ada@example.com"), orgID, keygate.APIKeyCreate{Name: "CI", Scopes: []keygate.Scope{keygate.ScopeRead}})
	p := c.Get("/orgs/" + orgID + "/api-keys")
	assertStatus(t, p, http.StatusOK)
	hint := p.Text("[data-testid=api-key-row][data-key-id=" + k.PublicID + "] [data-testid=key-hint]")
	head, tail, ok := strings.Cut(hint, "…")
	if !ok || !strings.HasPrefix(secret, head) || !strings.HasSuffix(secret, tail) || len(tail) < 4 {
		t.Fatalf("hint %q does not show the key's first and last characters", hint)
	}
	if len(head)+len(tail) > 10 {
		t.Fatalf("hint %q shows too much of the key", hint)
	}
	me := app.API(t, "GET", "/api/v1/me", "Token "+secret, "")
	wantAPI(t, me, http.StatusOK, "", "")
	if got := me.JSON["key"].(map[string]any)["hint"]; got != hint {
		t.Fatalf("/me hint = %v, want %q", got, hint)
	}
}
