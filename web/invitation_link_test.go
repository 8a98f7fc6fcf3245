package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/mailer"
	"github.com/keygate/keygate/web"
)

// TestInvitationLinkHost: without --base-url, invitation links (shown in
// the dashboard, returned by the API, emailed) name the listener's
// configured address, never the Host header of the request that made them;
// with --base-url they name the base URL.
func TestInvitationLinkHost(t *testing.T) {
	t.Parallel()
	sink, err := mailer.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m, _ := mailer.New(sink.URL(), "keygate@keygate.test")
	tests := []struct {
		name     string
		opts     []Option
		wantBase func(app *App) string
	}{
		{"OKListenURL", nil, func(app *App) string { return app.URL }},
		{"OKBaseURL", []Option{func(c *web.Config, _ *App) { c.BaseURL = "https://keys.example.com/" }},
			func(*App) string { return "https://keys.example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := MustOpenAppWithMailer(t, m, tt.opts...)
			org := mustAPIOrg(t, app, "Ada", "ada@example.com")
			c := app.NewClient(t)
			c.MustLogin("ada@example.com", testPassword)
			want := tt.wantBase(app) + "/invitations/"

			form := url.Values{"email": {"bob@example.com"}, "role": {"member"}}
			req, _ := http.NewRequest(http.MethodPost, app.URL+"/orgs/"+org.ID+"/invitations", strings.NewReader(form.Encode()))
			req.Host = "evil.example"
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			// The jar keys cookies by the Host header: a browser sent to
			// evil.example by a proxy would still hold its session.
			req.AddCookie(&http.Cookie{Name: web.SessionCookieName, Value: c.SessionCookie()})
			p := c.Do(req)
			assertStatus(t, p, http.StatusOK)
			link, _ := p.Doc.Find("#invite-link").Attr("value")
			if !strings.HasPrefix(link, want) {
				t.Fatalf("dashboard link = %q, want prefix %q", link, want)
			}
			msgs := sink.Messages()
			if len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1].Data, link) || strings.Contains(msgs[len(msgs)-1].Data, "evil.example") {
				t.Fatalf("emailed: %+v", msgs)
			}

			req, _ = http.NewRequest(http.MethodPost, app.URL+"/api/v1/invitations", strings.NewReader(`{"email": "carol@example.com", "role": "member"}`))
			req.Host = "evil.example"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Token "+org.Admin)
			r := app.Do(t, req)
			wantAPI(t, r, http.StatusCreated, "", "")
			if got, _ := r.JSON["link"].(string); !strings.HasPrefix(got, want) {
				t.Fatalf("API link = %q, want prefix %q", got, want)
			}
		})
	}
}
