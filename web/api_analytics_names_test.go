package web_test

import (
	"context"
	"regexp"
	"testing"
)

// TestAPIAnalyticsFieldNames: each day's counts have names that are valid
// identifiers, and the old names stay as deprecated aliases with the same
// values.
func TestAPIAnalyticsFieldNames(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	rd := "Token " + org.Read
	wantAPI(t, app.API(t, "GET", "/api/v1/me", rd, ""), 200, "", "")
	wantAPI(t, app.API(t, "GET", "/api/v1/bots/bot_missing", rd, ""), 404, "", "")
	if err := app.Usage.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := app.API(t, "GET", "/api/v1/analytics", rd, "")
	wantAPI(t, r, 200, "", "")
	days := r.JSON["requests_per_day"].([]any)
	today := days[len(days)-1].(map[string]any)
	identifier := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, tc := range []struct {
		name, alias string
		want        float64
	}{
		{"requests_2xx", "2xx", 1},
		{"requests_4xx", "4xx", 1},
		{"requests_5xx", "5xx", 0},
		{"requests_429", "429", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !identifier.MatchString(tc.name) {
				t.Fatalf("%s is not an identifier", tc.name)
			}
			if today[tc.name] != tc.want || today[tc.alias] != tc.want {
				t.Fatalf("%s = %v, %s = %v, want %v", tc.name, today[tc.name], tc.alias, today[tc.alias], tc.want)
			}
		})
	}
	if today["total"] != 2.0 {
		t.Fatalf("total = %v", today["total"])
	}
}
