package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// detailText returns the text of the log detail's field marked testid.
func detailText(p *Page, testid string) string {
	return normText(p.Doc.Find("[data-testid=" + testid + "]"))
}

func TestAPILogDetail(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	secret, k := app.MustKey(t, app.MustUser(t, "ada@example.com"), orgID, keygate.APIKeyCreate{Name: "CI", Scopes: []keygate.Scope{keygate.ScopeRead}})
	req, _ := http.NewRequest("GET", app.URL+"/api/v1/bots/bot_missing", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("User-Agent", "python-requests/2.34.0")
	resp := app.Do(t, req)
	wantAPI(t, resp, http.StatusNotFound, "", "not_found")
	requestID := resp.Header.Get("X-Request-Id")
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusOK, "", "")
	// A key pasted into a path is logged as its hint.
	wantAPI(t, app.API(t, "GET", "/api/v1/bots/"+secret, "Token "+secret, ""), http.StatusNotFound, "", "not_found")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := "/orgs/" + orgID + "/logs"

	list := c.Get(base)
	assertStatus(t, list, http.StatusOK)
	if strings.Contains(list.Body, secret) {
		t.Fatal("the logs page shows a key")
	}
	if !strings.Contains(normText(list.Doc.Find("[data-testid=request-log]")), "GET /api/v1/bots/"+k.Hint) {
		t.Fatalf("the path holding a key is not shown as its hint: %q", normText(list.Doc.Find("[data-testid=request-log]")))
	}
	row := list.Doc.Find("[data-testid=log-row]").FilterFunction(func(_ int, s *goquerySelection) bool {
		return strings.Contains(s.Text(), "GET /api/v1/bots/bot_missing")
	})
	if row.Length() != 1 {
		t.Fatalf("no row shows the real path: %q", normText(list.Doc.Find("[data-testid=request-log]")))
	}
	if got := normText(row.Find("[data-testid=log-code]")); got != "not_found" {
		t.Fatalf("row code = %q", got)
	}
	href, ok := row.Find("[data-testid=log-detail-link]").Attr("href")
	if !ok {
		t.Fatal("the row does not open its detail")
	}

	p := c.Get(href)
	assertStatus(t, p, http.StatusOK)
	for testid, want := range map[string]string{
		"detail-request-id":     requestID,
		"detail-path":           "GET /api/v1/bots/bot_missing",
		"detail-status":         "404",
		"detail-code":           "not_found",
		"detail-key":            "CI (" + k.Hint + ")",
		"detail-ip":             "127.0.0.1",
		"detail-client":         "Python requests",
		"detail-raw-user-agent": "python-requests/2.34.0",
	} {
		if got := detailText(p, testid); got != want {
			t.Errorf("%s = %q, want %q", testid, got, want)
		}
	}
	if href, _ := p.Doc.Find("[data-testid=detail-key] a").Attr("href"); href != "/orgs/"+orgID+"/api-keys/"+k.PublicID {
		t.Errorf("key link = %q", href)
	}
	if got := detailText(p, "detail-latency"); !regexp.MustCompile(`^[0-9.]+ (µs|ms)$`).MatchString(got) {
		t.Errorf("latency = %q", got)
	}
	utc, iso := detailText(p, "detail-time-utc"), detailText(p, "detail-time-iso")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$`).MatchString(utc) {
		t.Errorf("UTC time = %q", utc)
	}
	at, err := time.Parse(time.RFC3339Nano, iso)
	if err != nil || !strings.HasSuffix(iso, "Z") || at.Sub(app.Clock.Now()).Abs() > time.Minute {
		t.Errorf("ISO time = %q (%v)", iso, err)
	}
	if got, _ := p.Doc.Find("[data-testid=detail-time-local] time").Attr("datetime"); got != iso {
		t.Errorf("local time's datetime = %q, want %q", got, iso)
	}

	t.Run("SearchByRequestID", func(t *testing.T) {
		p := c.Get(base + "?request_id=" + strings.ToUpper(requestID))
		assertStatus(t, p, http.StatusOK)
		rows := p.Doc.Find("[data-testid=log-row]")
		if rows.Length() != 1 || !strings.Contains(rows.Text(), "/api/v1/bots/bot_missing") {
			t.Fatalf("search found %d rows: %q", rows.Length(), normText(rows))
		}
		if got, _ := p.Doc.Find("#log-request-id").Attr("value"); !strings.EqualFold(got, requestID) {
			t.Fatalf("search field = %q", got)
		}
	})
	t.Run("SearchUnknownRequestID", func(t *testing.T) {
		p := c.Get(base + "?request_id=0123456789abcdef")
		assertStatus(t, p, http.StatusOK)
		if n := p.Doc.Find("[data-testid=log-row]").Length(); n != 0 {
			t.Fatalf("rows = %d, want 0", n)
		}
	})
	t.Run("ErrRequestID", func(t *testing.T) {
		p := c.Get(base + "?request_id=" + url.QueryEscape("not an id"))
		assertStatus(t, p, http.StatusBadRequest)
		if got, want := p.Text("#log-request-id-error"), "Enter a request ID: 16 characters, 0-9 and a-f, as in the X-Request-Id header."; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
		if got, _ := p.Doc.Find("#log-request-id").Attr("aria-describedby"); got != "log-request-id-error" {
			t.Fatalf("the field is not tied to its message: %q", got)
		}
		if got, _ := p.Doc.Find("#log-request-id").Attr("value"); got != "not an id" {
			t.Fatalf("the input is lost: %q", got)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for _, path := range []string{base + "/999999999", base + "/abc", base + "/-1"} {
			assertStatus(t, c.Get(path), http.StatusNotFound)
		}
	})
	t.Run("ErrForbiddenMember", func(t *testing.T) {
		member := MustAddMember(t, app, orgID, "Mia", "mia@example.com", keygate.RoleMember)
		assertStatus(t, member.Get(href), http.StatusForbidden)
	})
	t.Run("CSV", func(t *testing.T) {
		req, _ := http.NewRequest("GET", app.URL+base+".csv?request_id="+requestID, nil)
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		if len(lines) != 2 || !strings.HasSuffix(lines[0], "path,code,request_id,service") || !strings.HasSuffix(lines[1], "/api/v1/bots/bot_missing,not_found,"+requestID+",") {
			t.Fatalf("csv = %q", lines)
		}
	})
}

func TestAPILogDetailOtherOrganization(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	a := app.NewClient(t)
	orgA := a.MustSignup("Ada", "ada@example.com", "Org A")
	secret, _ := app.MustKey(t, app.MustUser(t, "ada@example.com"), orgA, keygate.APIKeyCreate{Scopes: []keygate.Scope{keygate.ScopeRead}})
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusOK, "", "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	href, _ := a.Get("/orgs/" + orgA + "/logs").Doc.Find("[data-testid=log-detail-link]").Attr("href")
	id := href[strings.LastIndex(href, "/")+1:]
	b := app.NewClient(t)
	orgB := b.MustSignup("Bob", "bob@example.com", "Org B")
	assertStatus(t, b.Get("/orgs/"+orgB+"/logs/"+id), http.StatusNotFound)
	assertStatus(t, b.Get(href), http.StatusNotFound)
}

// latencyOf reads a latency cell ("120 µs", "1.5 ms") in microseconds.
func latencyOf(tb testing.TB, s string) float64 {
	tb.Helper()
	v, unit, _ := strings.Cut(s, " ")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		tb.Fatalf("latency %q: %v", s, err)
	}
	if unit == "ms" {
		f *= 1000
	}
	return f
}

func TestAPILogsSortAndPages(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, WithRateLimit(ratelimit.Limit{Count: 1000, Period: time.Minute}))
	c := app.NewClient(t)
	orgID := c.MustSignup("Ada", "ada@example.com", "Org A")
	owner := app.MustUser(t, "ada@example.com")
	secret, k := app.MustKey(t, owner, orgID, keygate.APIKeyCreate{Name: "busy", Scopes: []keygate.Scope{keygate.ScopeRead}})
	other, _ := app.MustKey(t, owner, orgID, keygate.APIKeyCreate{Name: "other", Scopes: []keygate.Scope{keygate.ScopeRead}})
	for i := range 60 {
		if i%4 == 0 {
			wantAPI(t, app.API(t, "GET", "/api/v1/bots/bot_"+strconv.Itoa(i), "Token "+secret, ""), http.StatusNotFound, "", "")
		} else {
			wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+secret, ""), http.StatusOK, "", "")
		}
	}
	wantAPI(t, app.API(t, "POST", "/api/v1/bots", "Token "+secret, `{}`), http.StatusForbidden, "", "insufficient_scope")
	wantAPI(t, app.API(t, "GET", "/api/v1/me", "Token "+other, ""), http.StatusOK, "", "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := "/orgs/" + orgID + "/logs"
	statuses := func(p *Page) []int {
		var out []int
		p.Doc.Find("[data-testid=log-status]").Each(func(_ int, s *goquerySelection) {
			n, _ := strconv.Atoi(strings.TrimSpace(s.Text()))
			out = append(out, n)
		})
		return out
	}

	t.Run("ByStatus", func(t *testing.T) {
		p := c.Get(base + "?key=" + k.PublicID)
		assertStatus(t, p, http.StatusOK)
		href, _ := p.Doc.Find("[data-testid=sort-status]").Attr("href")
		u, _ := url.Parse(href)
		if u.Query().Get("sort") != "-status" || u.Query().Get("key") != k.PublicID {
			t.Fatalf("status header links to %q: want the sort, with the key filter kept", href)
		}
		p = c.Get(href)
		assertStatus(t, p, http.StatusOK)
		got := statuses(p)
		if len(got) != 50 || got[0] != 404 || got[len(got)-1] != 200 {
			t.Fatalf("sorted by status, first page = %v", got)
		}
		if dir, _ := p.Doc.Find("th:has([data-testid=sort-status])").Attr("aria-sort"); dir != "descending" {
			t.Fatalf("aria-sort = %q", dir)
		}
		// Walking the pages sees every request of the key once, in order.
		var all []int
		next := href
		for pages := 0; next != ""; pages++ {
			if pages > 3 {
				t.Fatal("too many pages")
			}
			p := c.Get(next)
			assertStatus(t, p, http.StatusOK)
			all = append(all, statuses(p)...)
			next, _ = p.Doc.Find("a[rel=next]").Attr("href")
			if next != "" {
				if q, _ := url.Parse(next); q.Query().Get("sort") != "-status" || q.Query().Get("key") != k.PublicID {
					t.Fatalf("next page %q drops the sort or the filter", next)
				}
			}
		}
		if len(all) != 61 {
			t.Fatalf("walked %d rows, want 61", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i] > all[i-1] {
				t.Fatalf("statuses out of order at %d: %v", i, all)
			}
		}
		// Clicking the header again sorts the other way.
		href2, _ := c.Get(href).Doc.Find("[data-testid=sort-status]").Attr("href")
		if q, _ := url.Parse(href2); q.Query().Get("sort") != "status" {
			t.Fatalf("second click links to %q", href2)
		}
		if got := statuses(c.Get(href2)); got[0] != 200 {
			t.Fatalf("ascending starts with %d", got[0])
		}
	})
	t.Run("ByLatency", func(t *testing.T) {
		p := c.Get(base + "?sort=-latency&class=2xx")
		assertStatus(t, p, http.StatusOK)
		var prev float64 = -1
		p.Doc.Find("[data-testid=log-row]").Each(func(i int, s *goquerySelection) {
			v := latencyOf(t, strings.TrimSpace(s.Find("td").Eq(4).Text()))
			if prev >= 0 && v > prev {
				t.Errorf("row %d: latency %v after %v", i, v, prev)
			}
			prev = v
		})
		if got, want := p.Text("[data-testid=sort-note]"), "Sorted among the newest 10,000 requests that match the filters. Choose dates to sort an earlier period."; got != want {
			t.Fatalf("note = %q, want %q", got, want)
		}
		if got, _ := p.Doc.Find("input[name=sort]").Attr("value"); got != "-latency" {
			t.Fatalf("the filter form drops the sort: %q", got)
		}
		if got, _ := p.Doc.Find("#log-class option[selected]").Attr("value"); got != "2xx" {
			t.Fatalf("class filter = %q", got)
		}
	})
	t.Run("ByTime", func(t *testing.T) {
		p := c.Get(base + "?sort=time")
		assertStatus(t, p, http.StatusOK)
		if dir, _ := p.Doc.Find("th:has([data-testid=sort-time])").Attr("aria-sort"); dir != "ascending" {
			t.Fatalf("aria-sort = %q", dir)
		}
		if got := normText(p.Doc.Find("[data-testid=log-row]").First()); !strings.Contains(got, "/api/v1/bots/bot_0") {
			t.Fatalf("oldest first starts with %q", got)
		}
	})
}
