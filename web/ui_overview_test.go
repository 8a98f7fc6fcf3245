package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// seedTraffic makes twelve API requests with one key, whose outcomes are
// known: 7 × 2xx, 3 × 4xx, 2 × 429; 9 on /api/v1/me, 2 on
// /api/v1/bots/{id}, 1 on /api/v1/bots. Then it flushes the usage.
func seedTraffic(t *testing.T, app *App, key string) {
	t.Helper()
	auth := "Token " + key
	for i := 0; i < 6; i++ {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", auth, ""), 200, "", "")
	}
	for i := 0; i < 2; i++ {
		wantAPI(t, app.API(t, "GET", "/api/v1/bots/bot_missing", auth, ""), 404, "", "")
	}
	wantAPI(t, app.API(t, "POST", "/api/v1/bots", auth, `{"bot_name": "x"}`), 400, "", "")
	wantAPI(t, app.API(t, "GET", "/api/v1/me", auth, ""), 200, "", "")
	for i := 0; i < 2; i++ {
		wantAPI(t, app.API(t, "GET", "/api/v1/me", auth, ""), 429, "", "throttled")
	}
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// stats reads the overview figures by label.
func stats(p *Page) map[string]string {
	out := map[string]string{}
	p.Doc.Find("[data-testid=stat]").Each(func(_ int, s *goquerySelection) {
		out[strings.TrimSpace(s.Find("dt").Text())] = strings.TrimSpace(s.Find("dd").First().Text())
	})
	return out
}

func TestOverviewNumbers(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithRateLimit(ratelimit.Limit{Count: 10, Period: time.Minute}))
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	owner := app.MustUser(t, "ada@example.com")
	used, usedKey := app.MustKey(t, owner, orgID, keygate.APIKeyCreate{Name: "busy", Scopes: []keygate.Scope{keygate.ScopeWrite}})
	app.MustKey(t, owner, orgID, keygate.APIKeyCreate{Name: "idle", Scopes: []keygate.Scope{keygate.ScopeRead}})
	soon := app.Clock.Now().Add(11 * 24 * time.Hour)
	app.MustKey(t, owner, orgID, keygate.APIKeyCreate{Name: "short-lived", Scopes: []keygate.Scope{keygate.ScopeAdmin}, ExpiresAt: &soon})
	// Keys are "unused" from 7 days old.
	app.Clock.Advance(8 * 24 * time.Hour)
	c = app.NewClient(t)
	c.MustLogin("ada@example.com", testPassword)
	seedTraffic(t, app, used)

	p := c.Get("/orgs/" + orgID)
	assertStatus(t, p, http.StatusOK)
	got := stats(p)
	for label, want := range map[string]string{
		"Requests today": "12", "Requests, 30 days": "12", "Error rate": "25.0%", "Throttled": "2",
	} {
		if got[label] != want {
			t.Errorf("%s = %q, want %q (all: %v)", label, got[label], want, got)
		}
	}
	if !strings.HasPrefix(got["Latency p50"], "≤ ") || !strings.HasPrefix(got["Latency p99"], "≤ ") {
		t.Errorf("latency = %q / %q", got["Latency p50"], got["Latency p99"])
	}
	// Today's bar in the 30-day chart, stacked by class.
	chart := p.Doc.Find("[data-testid=chart-requests]")
	if n := chart.Find("table tbody tr").Length(); n != 30 {
		t.Fatalf("chart days = %d, want 30", n)
	}
	today := app.Clock.Now().UTC().Format("Jan 2")
	for class, n := range map[string]string{"2xx": "7", "4xx": "3", "429": "2"} {
		title := today + " · " + class + ": " + n
		if chart.Find("rect title:contains('"+title+"')").Length() != 1 {
			t.Errorf("no bar titled %q", title)
		}
	}
	if chart.Find("rect").Length() != 3 {
		t.Errorf("bars = %d, want 3 (one day with three classes)", chart.Find("rect").Length())
	}
	// The range switch.
	if n := c.Get("/orgs/" + orgID + "?days=7").Doc.Find("[data-testid=chart-requests] table tbody tr").Length(); n != 7 {
		t.Fatalf("7-day chart has %d days", n)
	}
	// Hygiene: the idle and short-lived keys are unused, the short-lived one
	// expires soon and carries Admin; the busy one is in none of those.
	for group, names := range map[string][]string{
		"unused": {"idle", "short-lived"}, "expiring": {"short-lived"}, "admin": {"short-lived"},
	} {
		text := p.Text("[data-testid=hygiene-" + group + "]")
		for _, n := range names {
			if !strings.Contains(text, n) {
				t.Errorf("hygiene %s lacks %q: %q", group, n, text)
			}
		}
		if strings.Contains(text, "busy") {
			t.Errorf("hygiene %s lists the busy key", group)
		}
	}
	if href, _ := p.Doc.Find("[data-testid=hygiene-expiring] a:contains('Roll key')").Attr("href"); !strings.HasSuffix(href, "/roll") {
		t.Errorf("expiring action = %q", href)
	}
	if _, ok := p.Doc.Find("[data-testid=hygiene-unused] a:contains('Revoke')").Attr("data-revoke"); !ok {
		t.Error("unused keys have no one-click revoke")
	}

	// The key's page: its own figures, top routes and IPs, recent requests.
	p = c.Get("/orgs/" + orgID + "/api-keys/" + usedKey.PublicID)
	assertStatus(t, p, http.StatusOK)
	if s := stats(p); s["Requests, 30 days"] != "12" || s["Throttled"] != "2" || s["Error rate"] != "25.0%" {
		t.Fatalf("key stats = %v", s)
	}
	routes := p.Doc.Find("[data-testid=top-routes] tbody tr")
	if routes.Length() != 3 || !strings.Contains(routes.First().Text(), "/api/v1/me") || !strings.Contains(routes.First().Text(), "9") {
		t.Fatalf("top routes = %q", routes.Text())
	}
	if ips := p.Text("[data-testid=top-ips] tbody tr"); !strings.Contains(ips, "127.0.0.1") || !strings.Contains(ips, "12") {
		t.Fatalf("top IPs = %q", ips)
	}
	if n := p.Doc.Find("[data-testid=log-row]").Length(); n != 12 {
		t.Fatalf("recent requests = %d", n)
	}
	if !strings.Contains(p.Text(".details"), "127.0.0.1") || !strings.Contains(p.Text(".details"), "Go HTTP client") {
		t.Fatalf("last use details = %q", p.Text(".details"))
	}
}

func TestAPILogsPage(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithRateLimit(ratelimit.Limit{Count: 10, Period: time.Minute}))
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	owner := app.MustUser(t, "ada@example.com")
	used, usedKey := app.MustKey(t, owner, orgID, keygate.APIKeyCreate{Name: "busy", Scopes: []keygate.Scope{keygate.ScopeWrite}})
	other, _ := app.MustKey(t, owner, orgID, keygate.APIKeyCreate{Name: "other", Scopes: []keygate.Scope{keygate.ScopeRead}})
	seedTraffic(t, app, used)
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+other, ""), 200, "", "")
	app.Usage.Flush(context.Background())

	base := "/orgs/" + orgID + "/logs"
	count := func(query string) int {
		p := c.Get(base + query)
		assertStatus(t, p, http.StatusOK)
		return p.Doc.Find("[data-testid=log-row]").Length()
	}
	for query, want := range map[string]int{
		"":                                     13,
		"?class=2xx":                           8,
		"?class=4xx":                           3,
		"?class=429":                           2,
		"?route=%2Fapi%2Fv1%2Fme":              10,
		"?route=%2Fapi%2Fv1%2Fbots%2F%7Bid%7D": 2,
		"?key=" + usedKey.PublicID:             12,
		"?key=" + usedKey.PublicID + "&class=2xx":                               7,
		"?from=" + app.Clock.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly): 0,
		"?to=" + app.Clock.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly):  0,
		"?from=" + app.Clock.Now().UTC().Format(time.DateOnly):                  13,
	} {
		if got := count(query); got != want {
			t.Errorf("logs%s rows = %d, want %d", query, got, want)
		}
	}
	p := c.Get(base)
	first := p.Doc.Find("[data-testid=log-row]").First().Text()
	if !strings.Contains(first, "other") || !strings.Contains(first, "GET /api/v1/me") || !strings.Contains(first, "200") {
		t.Fatalf("newest row = %q", first)
	}
	if strings.Contains(p.Body, used) || strings.Contains(p.Body, other) {
		t.Fatal("the logs page shows a key")
	}

	// CSV of the filtered view.
	req, _ := http.NewRequest("GET", app.URL+base+".csv?class=4xx&key="+usedKey.PublicID, nil)
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv response: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	records, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 4 || records[0][0] != "time" || records[0][6] != "status" {
		t.Fatalf("csv = %v", records)
	}
	for _, r := range records[1:] {
		if r[1] != usedKey.PublicID || !strings.HasPrefix(r[6], "4") || r[2] != "busy" {
			t.Fatalf("csv row = %v", r)
		}
	}

	// Keyset pages walk every row once.
	for i := 0; i < 60; i++ {
		app.API(t, "GET", "/api/v1/me", "Token "+other, "")
		if i == 5 {
			app.Clock.Advance(time.Minute) // a fresh rate limit window
		}
	}
	app.Usage.Flush(context.Background())
	seen, next := 0, base
	for pages := 0; next != "" && pages < 10; pages++ {
		p := c.Get(next)
		seen += p.Doc.Find("[data-testid=log-row]").Length()
		next, _ = p.Doc.Find("a[rel=next]").Attr("href")
	}
	if seen != 73 {
		t.Fatalf("walked %d rows, want 73", seen)
	}
	// Members may not read the logs.
	member := MustAddMember(t, app, orgID, "Mia", "mia@example.com", keygate.RoleMember)
	assertStatus(t, member.Get(base), http.StatusForbidden)
	assertStatus(t, member.Get(base+".csv"), http.StatusForbidden)
}
