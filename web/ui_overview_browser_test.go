package web_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/keygate/keygate/internal/keygate"
)

// statTile is one stat tile as laid out: its box, its value's top and how
// many lines its value takes.
type statTile struct {
	Label      string  `json:"label"`
	Top        float64 `json:"top"`
	ValueTop   float64 `json:"valueTop"`
	ValueLines int     `json:"valueLines"`
	LabelLines int     `json:"labelLines"`
}

// statTilesJS measures the page's stat tiles.
const statTilesJS = `Array.from(document.querySelectorAll("[data-testid=stat]")).map(function (s) {
	function lines(el) {
		var r = document.createRange(); r.selectNodeContents(el);
		var tops = {}; Array.from(r.getClientRects()).forEach(function (q) { if (q.width > 0) tops[Math.round(q.top)] = true });
		return Object.keys(tops).length;
	}
	var dt = s.querySelector("dt"), dd = s.querySelector("dd");
	return {label: dt.textContent.trim(), top: s.getBoundingClientRect().top, valueTop: dd.getBoundingClientRect().top,
		valueLines: lines(dd), labelLines: lines(dt)};
})`

// checkStatTiles fails unless every value fits on one line and the values
// of the tiles in one row line up, whatever their labels wrap to.
func checkStatTiles(t *testing.T, b *Browser, page string, width int64) (wrapped bool) {
	t.Helper()
	b.Viewport(width)
	var tiles []statTile
	b.Eval(statTilesJS, &tiles)
	if len(tiles) == 0 {
		t.Fatalf("%s at %dpx: no stat tiles", page, width)
	}
	rows := map[int][]statTile{}
	for _, s := range tiles {
		if s.ValueLines != 1 {
			t.Errorf("%s at %dpx: the value of %q takes %d lines", page, width, s.Label, s.ValueLines)
		}
		wrapped = wrapped || s.LabelLines > 1
		rows[int(math.Round(s.Top))] = append(rows[int(math.Round(s.Top))], s)
	}
	for _, row := range rows {
		for _, s := range row[1:] {
			if math.Abs(s.ValueTop-row[0].ValueTop) > 1 {
				t.Errorf("%s at %dpx: the value of %q is at y=%.0f, that of %q at y=%.0f", page, width, s.Label, s.ValueTop, row[0].Label, row[0].ValueTop)
			}
		}
	}
	return wrapped
}

// browserOrgWithTraffic signs Ada up in the browser, makes a key and calls
// path with it, and returns the organization's page and the key.
func browserOrgWithTraffic(t *testing.T, path string, status int) (*App, *Browser, string, *keygate.APIKey) {
	t.Helper()
	app := MustOpenApp(t)
	b := NewBrowser(t, app)
	b.Signup("Ada Lovelace", "ada@example.com", "Analytical Engines")
	var org string
	b.Eval(`location.pathname`, &org)
	secret, k := app.MustKey(t, app.MustUser(t, "ada@example.com"), org[len("/orgs/"):], keygate.APIKeyCreate{Name: "Deploy", Scopes: []keygate.Scope{keygate.ScopeRead}})
	for range 3 {
		wantAPI(t, app.API(t, "GET", path, "Token "+secret, ""), status, "", "")
	}
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return app, b, org, k
}

func TestBrowserStatTilesAlign(t *testing.T) {
	_, b, path, k := browserOrgWithTraffic(t, "/api/v1/me", 200)

	wrapped := false
	b.Visit(path)
	b.WaitVisible(Heading("Overview"))
	for _, w := range []int64{1280, 1100, 900, 390} {
		wrapped = checkStatTiles(t, b, "overview", w) || wrapped
	}
	b.Viewport(1280)
	b.Visit(path + "/api-keys/" + k.PublicID)
	b.WaitVisible(Heading("Usage"))
	for _, w := range []int64{1280, 1100, 900, 390} {
		wrapped = checkStatTiles(t, b, "key page", w) || wrapped
	}
	if !wrapped {
		t.Fatal("no stat label wrapped at any width: the alignment was not tested")
	}
}

func TestBrowserLogDetail(t *testing.T) {
	_, b, path, _ := browserOrgWithTraffic(t, "/api/v1/bots/bot_gone", 404)
	b.Run(emulation.SetTimezoneOverride("Asia/Tokyo"))

	b.Visit(path + "/logs")
	b.WaitVisible(Heading("API Logs"))
	b.CheckA11y("API logs")
	b.Click(`//a[@data-testid="log-detail-link"]`)
	b.WaitVisible(Heading("API request"))
	local := b.Text(`//*[@data-testid="detail-time-local"]`)
	if !strings.Contains(local, "(Asia/Tokyo)") {
		t.Fatalf("local time = %q, want it in the browser's zone", local)
	}
	utc := b.Text(`//*[@data-testid="detail-time-utc"]`)
	if local == utc {
		t.Fatal("the local time is the UTC time")
	}
	if got := b.Text(`//*[@data-testid="detail-path"]`); got != "GET /api/v1/bots/bot_gone" {
		t.Fatalf("path = %q", got)
	}
	b.CheckA11y("API request")
}
