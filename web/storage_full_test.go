package web_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// maxPages sets max_page_count on the app's one SQLite write connection:
// 1 keeps the file as large as it is (SQLite never sets it lower), as on a
// full disk, so a write that needs a new page fails with SQLITE_FULL
// while writes that fit in the pages the file has still succeed.
func maxPages(tb testing.TB, app *App, n int) {
	tb.Helper()
	if _, err := app.DB.WriteConn().Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, n)); err != nil {
		tb.Fatal(err)
	}
}

// mustFillStorage makes the app's storage full and returns a func that
// makes room again.
func mustFillStorage(tb testing.TB, app *App) (makeRoom func()) {
	maxPages(tb, app, 1)
	return func() { maxPages(tb, app, 1<<30-1) }
}

// createKeysUntilRefused creates keys through the API, each with a long
// note, until one is refused, and returns the refusal.
func createKeysUntilRefused(tb testing.TB, app *App, auth string) *APIResponse {
	tb.Helper()
	body := `{"name": "filler", "scopes": ["read"], "note": "` + strings.Repeat("n", 1000) + `"}`
	for range 200 {
		r := app.API(tb, "POST", "/api/v1/keys", auth, body)
		if r.StatusCode != http.StatusCreated {
			return r
		}
	}
	tb.Fatal("200 keys created on a full disk")
	return nil
}

// readyz fetches /readyz.
func readyz(tb testing.TB, app *App) *APIResponse {
	tb.Helper()
	return app.API(tb, "GET", "/readyz", "", "")
}

func TestStorageFull(t *testing.T) {
	t.Parallel()
	t.Run("API", func(t *testing.T) {
		app := MustOpenApp(t)
		org := mustAPIOrg(t, app, "Ada", "ada@example.com")
		mustFillStorage(t, app)

		r := createKeysUntilRefused(t, app, "Bearer "+org.Admin)
		wantAPI(t, r, http.StatusServiceUnavailable,
			"The server's storage is full, so changes cannot be saved. Nothing was changed; try again later.", "storage_full")
		if got, want := r.Header.Get("Retry-After"), "60"; got != want {
			t.Fatalf("Retry-After = %q, want %q", got, want)
		}
		if r.JSON["request_id"] == nil {
			t.Fatalf("no request_id in %s", r.Raw)
		}
		// Reads need no space.
		wantAPI(t, app.API(t, "GET", "/api/v1/keys", "Bearer "+org.Admin, ""), http.StatusOK, "", "")
	})

	t.Run("DashboardPage", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		orgID := c.MustSignup("Ada", "ada@example.com", "Analytical")
		mustFillStorage(t, app)

		var p *Page
		for i := range 200 {
			form := keyForm(fmt.Sprintf("key %d", i), "production", []string{"read"}, "none")
			form.Set("note", strings.Repeat("n", 1000))
			if p = c.Post("/orgs/"+orgID+"/api-keys", form); p.StatusCode != http.StatusOK {
				break
			}
		}
		assertStatus(t, p, http.StatusServiceUnavailable)
		if got, want := p.Header.Get("Retry-After"), "60"; got != want {
			t.Fatalf("Retry-After = %q, want %q", got, want)
		}
		if got, want := p.Text(`[data-testid="error-page"] h1`), "Storage is full"; got != want {
			t.Fatalf("heading = %q, want %q", got, want)
		}
		if msg := p.Text(`[data-testid="error-page"] h1 + p`); !strings.Contains(msg, "not saved") || !strings.Contains(msg, "administrator") {
			t.Fatalf("message = %q, want it to say nothing was saved and to tell the administrator", msg)
		}
	})

	t.Run("ReadyzFailsUntilRoom", func(t *testing.T) {
		app := MustOpenApp(t)
		org := mustAPIOrg(t, app, "Ada", "ada@example.com")
		wantAPI(t, readyz(t, app), http.StatusOK, "", "")
		makeRoom := mustFillStorage(t, app)
		createKeysUntilRefused(t, app, "Bearer "+org.Admin)

		r := readyz(t, app)
		wantAPI(t, r, http.StatusServiceUnavailable, "", "")
		if got, want := r.JSON["database"], "storage_full"; got != want {
			t.Fatalf("database = %v, want %q; body %s", got, want, r.Raw)
		}
		if d, _ := r.JSON["detail"].(string); !strings.Contains(d, "storage is full") {
			t.Fatalf("detail = %q, want it to name the full storage", d)
		}
		// Still full: still not ready.
		wantAPI(t, readyz(t, app), http.StatusServiceUnavailable, "", "")

		// Space comes back; no request but the probe's arrives.
		makeRoom()
		wantAPI(t, readyz(t, app), http.StatusOK, "", "")
		wantAPI(t, readyz(t, app), http.StatusOK, "", "")
	})

	t.Run("LoggedOncePerMinute", func(t *testing.T) {
		app := MustOpenApp(t)
		org := mustAPIOrg(t, app, "Ada", "ada@example.com")
		mustFillStorage(t, app)
		createKeysUntilRefused(t, app, "Bearer "+org.Admin)
		for range 10 {
			createKeysUntilRefused(t, app, "Bearer "+org.Admin)
		}
		if got, want := strings.Count(app.Logs.String(), `msg="storage is full"`), 1; got != want {
			t.Fatalf("%d log lines for 11 refused writes, want %d; log:\n%s", got, want, app.Logs.String())
		}
		if strings.Contains(app.Logs.String(), `msg="internal error"`) {
			t.Fatalf("a refused write was logged as an internal error:\n%s", app.Logs.String())
		}
		app.Clock.Advance(time.Minute)
		createKeysUntilRefused(t, app, "Bearer "+org.Admin)
		if got, want := strings.Count(app.Logs.String(), `msg="storage is full"`), 2; got != want {
			t.Fatalf("%d log lines a minute later, want %d", got, want)
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		app := MustOpenApp(t, WithMetricsToken("scrape-secret"))
		org := mustAPIOrg(t, app, "Ada", "ada@example.com")
		makeRoom := mustFillStorage(t, app)
		for range 3 {
			createKeysUntilRefused(t, app, "Bearer "+org.Admin)
		}
		metrics := func() []string {
			r := app.API(t, "GET", "/metrics", "Bearer scrape-secret", "")
			wantAPI(t, r, http.StatusOK, "", "")
			return strings.Split(r.Raw, "\n")
		}
		for _, want := range []string{"keygate_storage_full_refusals_total 3", "keygate_storage_full 1"} {
			if !slices.Contains(metrics(), want) {
				t.Fatalf("no %q in /metrics", want)
			}
		}
		makeRoom()
		wantAPI(t, readyz(t, app), http.StatusOK, "", "")
		if !slices.Contains(metrics(), "keygate_storage_full 0") {
			t.Fatal("keygate_storage_full is not 0 once there is room")
		}
	})
}
