package web_test

import (
	"context"
	"testing"
	"time"
)

// TestAPIAnalyticsRange: a date as `to` takes in that whole UTC day, so a
// one-day range is from=D&to=D; a date-time `to` stays exclusive.
func TestAPIAnalyticsRange(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	w, rd := "Token "+org.Write, "Token "+org.Read
	wantAPI(t, app.API(t, "POST", "/api/v1/bots", w, `{"meeting_url": "https://zoom.us/j/1", "bot_name": "one"}`), 201, "", "")
	bot := app.API(t, "POST", "/api/v1/bots", w, `{"meeting_url": "https://zoom.us/j/2", "bot_name": "two"}`)
	wantAPI(t, app.API(t, "POST", "/api/v1/bots/"+bot.JSON["id"].(string)+"/leave", w, ""), 200, "", "")
	wantAPI(t, app.API(t, "POST", "/api/v1/conversations", w,
		`{"title": "Standup", "transcript": [{"speaker": "Ada", "text": "Hello", "start_ms": 0, "end_ms": 90000}]}`), 201, "", "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	now := app.Clock.Now().UTC()
	today, yesterday := now.Format(time.DateOnly), now.AddDate(0, 0, -1).Format(time.DateOnly)
	midnight := now.Truncate(24 * time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		query             string
		joining, ended    float64
		conversations     float64
		minutes           float64
		days              int
		requestsOnLastDay float64
		wantFrom, wantTo  string
	}{
		{"from=" + today + "&to=" + today, 1, 1, 1, 1.5, 1, 4, today + "T00:00:00Z", now.AddDate(0, 0, 1).Format(time.DateOnly) + "T00:00:00Z"},
		{"from=" + yesterday + "&to=" + today, 1, 1, 1, 1.5, 2, 4, yesterday + "T00:00:00Z", now.AddDate(0, 0, 1).Format(time.DateOnly) + "T00:00:00Z"},
		{"from=" + yesterday + "&to=" + yesterday, 0, 0, 0, 0, 1, 0, yesterday + "T00:00:00Z", midnight},
		{"from=" + yesterday + "&to=" + midnight, 0, 0, 0, 0, 1, 0, yesterday + "T00:00:00Z", midnight},
		{"", 1, 1, 1, 1.5, 30, 4, "", ""},
	} {
		r := app.API(t, "GET", "/api/v1/analytics?"+tc.query, rd, "")
		wantAPI(t, r, 200, "", "")
		states, _ := r.JSON["bots_by_state"].(map[string]any)
		days, _ := r.JSON["requests_per_day"].([]any)
		if states["joining"] != tc.joining || states["ended"] != tc.ended || r.JSON["conversations"] != tc.conversations ||
			r.JSON["transcript_minutes"] != tc.minutes || len(days) != tc.days {
			t.Fatalf("%s: %s", tc.query, r.Raw)
		}
		last, _ := days[len(days)-1].(map[string]any)
		if last["total"] != tc.requestsOnLastDay {
			t.Fatalf("%s: last day %v, want %v requests", tc.query, last, tc.requestsOnLastDay)
		}
		if tc.wantFrom != "" && (r.JSON["from"] != tc.wantFrom || r.JSON["to"] != tc.wantTo) {
			t.Fatalf("%s: range %v to %v, want %s to %s", tc.query, r.JSON["from"], r.JSON["to"], tc.wantFrom, tc.wantTo)
		}
	}
}
