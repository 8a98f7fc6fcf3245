package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/mailer"
)

// mustOpenResetApp starts Keygate with a mail sink and Ada's account,
// logged in on the returned client.
func mustOpenResetApp(t *testing.T) (*App, *mailer.Sink, *Client) {
	t.Helper()
	sink, err := mailer.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	m, _ := mailer.New(sink.URL(), "keygate@keygate.test")
	app := MustOpenAppWithMailer(t, m)
	ada := app.NewClient(t)
	ada.MustSignup("Ada", "ada@example.com", "Org A")
	return app, sink, ada
}

// forgot asks for a link for email and waits for the mail it sends.
func forgot(t *testing.T, app *App, c *Client, email string) *Page {
	t.Helper()
	p := c.Post("/password/forgot", url.Values{"email": {email}})
	app.Web.WaitBackground()
	return p
}

var resetLinkRE = regexp.MustCompile(`https://\S+/password/reset/[A-Za-z0-9_-]{43}`)

// resetLinks returns the reset links mailed to to.
func resetLinks(sink *mailer.Sink, to string) []string {
	var out []string
	for _, m := range sink.Messages() {
		if m.To == to {
			out = append(out, resetLinkRE.FindAllString(m.Data, -1)...)
		}
	}
	return out
}

func TestForgotPassword(t *testing.T) {
	t.Parallel()
	t.Run("OKLinkOnLoginPage", func(t *testing.T) {
		app, _, _ := mustOpenResetApp(t)
		p := app.NewClient(t).Get("/login")
		assertStatus(t, p, http.StatusOK)
		if href, _ := p.Doc.Find("[data-testid=forgot-password]").Attr("href"); href != "/password/forgot" {
			t.Fatalf("forgot link = %q", href)
		}
		p = app.NewClient(t).Get("/password/forgot")
		assertStatus(t, p, http.StatusOK)
		if p.Doc.Find("label[for=f-email]").Length() != 1 {
			t.Fatal("no Email field")
		}
	})

	t.Run("OKSameAnswerNoMailForUnknownEmail", func(t *testing.T) {
		app, sink, _ := mustOpenResetApp(t)
		c := app.NewClient(t)
		known := forgot(t, app, c, "Ada@Example.com")
		unknown := forgot(t, app, c, "nobody@example.com")
		assertStatus(t, known, http.StatusOK)
		assertStatus(t, unknown, http.StatusOK)
		want := "If an account exists for that address, we've sent a link to reset its password. The link works once, for 1 hour."
		if known.Text("[data-testid=reset-sent]") != want || unknown.Text("[data-testid=reset-sent]") != want {
			t.Fatalf("answers: %q, %q", known.Text("[data-testid=reset-sent]"), unknown.Text("[data-testid=reset-sent]"))
		}
		msgs := sink.Messages()
		if len(msgs) != 1 || msgs[0].To != "ada@example.com" || len(resetLinks(sink, "ada@example.com")) != 1 {
			t.Fatalf("emails = %+v", msgs)
		}
		if !strings.HasPrefix(resetLinks(sink, "ada@example.com")[0], app.URL+"/password/reset/") {
			t.Fatalf("link = %q", resetLinks(sink, "ada@example.com")[0])
		}
		if strings.Contains(app.Logs.String(), strings.TrimPrefix(resetLinks(sink, "ada@example.com")[0], app.URL+"/password/reset/")) {
			t.Fatal("the token was logged")
		}
		assertAuditActions(t, app, keygate.AuditPasswordResetRequested)
	})

	t.Run("ErrEmailInvalid", func(t *testing.T) {
		app, sink, _ := mustOpenResetApp(t)
		p := forgot(t, app, app.NewClient(t), "not an email")
		assertStatus(t, p, http.StatusBadRequest)
		if fieldError(p, "email") == "" {
			t.Fatal("no message beside Email")
		}
		if v, _ := p.Doc.Find("#f-email").Attr("value"); v != "not an email" {
			t.Fatalf("input lost: %q", v)
		}
		if len(sink.Messages()) != 0 {
			t.Fatal("mail sent")
		}
	})

	t.Run("OKAccountLimitSameAnswer", func(t *testing.T) {
		app, sink, _ := mustOpenResetApp(t)
		c := app.NewClient(t)
		for i := range 4 {
			p := forgot(t, app, c, "ada@example.com")
			assertStatus(t, p, http.StatusOK)
			if p.Doc.Find("[data-testid=reset-sent]").Length() != 1 {
				t.Fatalf("request %d: not the usual answer", i+1)
			}
		}
		if got := len(resetLinks(sink, "ada@example.com")); got != 3 {
			t.Fatalf("emails = %d, want 3 an hour", got)
		}
	})

	t.Run("ErrAddressLimit", func(t *testing.T) {
		app, _, _ := mustOpenResetApp(t)
		c := app.NewClient(t)
		for i := range 5 {
			assertStatus(t, forgot(t, app, c, "someone"+itoa(i)+"@example.com"), http.StatusOK)
		}
		p := forgot(t, app, c, "more@example.com")
		assertStatus(t, p, http.StatusTooManyRequests)
		if p.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		app.Clock.Advance(15 * time.Minute)
		assertStatus(t, forgot(t, app, c, "later@example.com"), http.StatusOK)
	})

	t.Run("OKPasswordlessAccountGetsNoLink", func(t *testing.T) {
		app, sink, _ := mustOpenResetApp(t)
		if _, err := app.DB.WriteConn().Exec(`UPDATE users SET password_hash = NULL WHERE email = 'ada@example.com'`); err != nil {
			t.Fatal(err)
		}
		assertStatus(t, forgot(t, app, app.NewClient(t), "ada@example.com"), http.StatusOK)
		msgs := sink.Messages()
		if len(msgs) != 1 || len(resetLinks(sink, "ada@example.com")) != 0 || !strings.Contains(msgs[0].Data, "single sign-on provider") {
			t.Fatalf("emails = %+v", msgs)
		}
	})

	t.Run("OKWithoutMail", func(t *testing.T) {
		app := MustOpenApp(t)
		p := app.NewClient(t).Get("/password/forgot")
		assertStatus(t, p, http.StatusOK)
		if !strings.Contains(p.Text("[data-testid=reset-no-mail]"), "Ask its administrator") {
			t.Fatalf("page: %.300s", p.Body)
		}
	})
}

func TestResetPassword(t *testing.T) {
	t.Parallel()
	t.Run("OKOnceAndSessionsEnd", func(t *testing.T) {
		app, sink, ada := mustOpenResetApp(t)
		assertStatus(t, ada.Get("/settings"), http.StatusOK)
		c := app.NewClient(t)
		forgot(t, app, c, "ada@example.com")
		forgot(t, app, c, "ada@example.com")
		links := resetLinks(sink, "ada@example.com")
		if len(links) != 2 {
			t.Fatalf("links = %v", links)
		}
		path := app.path(links[0])

		p := c.Get(path)
		assertStatus(t, p, http.StatusOK)
		if p.Header.Get("Referrer-Policy") != "no-referrer" || p.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("headers = %v", p.Header)
		}
		if p.Doc.Find("label[for=f-new_password]").Text() != "New password" || p.Doc.Find("label[for=f-confirm_password]").Text() != "Confirm new password" {
			t.Fatalf("form: %.500s", p.Body)
		}

		p = c.Post(path, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a different passphrase"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "confirm_password"); got != "The passwords do not match." {
			t.Fatalf("confirm error = %q", got)
		}
		p = c.Post(path, url.Values{"new_password": {"short"}, "confirm_password": {"short"}})
		assertStatus(t, p, http.StatusBadRequest)
		if fieldError(p, "new_password") == "" {
			t.Fatal("no message beside New password")
		}

		p = c.Post(path, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
		assertStatus(t, p, http.StatusSeeOther)
		if loc, _ := p.Location(); loc.Path != "/login" {
			t.Fatalf("redirect to %s", loc)
		}
		login := c.Follow(p)
		if !strings.Contains(login.Text(".flash"), "Your password has been changed. Log in with your new password.") {
			t.Fatalf("flash: %q", login.Text(".flash"))
		}
		// The old browser's session is over.
		if p := ada.Get("/settings"); p.StatusCode == http.StatusOK {
			t.Fatal("the old session still works")
		}
		// Single use, and the other link went with it.
		for _, l := range links {
			p := c.Get(app.path(l))
			assertStatus(t, p, http.StatusGone)
			if got := p.Text("[data-testid=reset-gone]"); got != "This link has expired or was already used. Ask for a new one." {
				t.Fatalf("gone page: %q", got)
			}
			if href, _ := p.Doc.Find("a[href='/password/forgot']").Attr("href"); href == "" {
				t.Fatal("no link to ask again")
			}
		}
		if p := app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}); p.StatusCode != http.StatusUnauthorized {
			t.Fatalf("old password: status %d", p.StatusCode)
		}
		app.NewClient(t).MustLogin("ada@example.com", "a brand new passphrase")
		assertAuditActions(t, app, keygate.AuditPasswordReset)
	})

	t.Run("ErrExpiredAfterAnHour", func(t *testing.T) {
		app, sink, _ := mustOpenResetApp(t)
		c := app.NewClient(t)
		forgot(t, app, c, "ada@example.com")
		path := app.path(resetLinks(sink, "ada@example.com")[0])
		app.Clock.Advance(59 * time.Minute)
		assertStatus(t, c.Get(path), http.StatusOK)
		app.Clock.Advance(time.Minute)
		assertStatus(t, c.Get(path), http.StatusGone)
		p := c.Post(path, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}})
		assertStatus(t, p, http.StatusGone)
	})

	t.Run("OKClearsLoginThrottle", func(t *testing.T) {
		app, sink, _ := mustOpenResetApp(t)
		c := app.NewClient(t)
		for range 5 {
			c.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {"wrong guess number"}})
		}
		if p := c.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}); p.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("account not throttled: %d", p.StatusCode)
		}
		forgot(t, app, c, "ada@example.com")
		path := app.path(resetLinks(sink, "ada@example.com")[0])
		assertStatus(t, c.Post(path, url.Values{"new_password": {"a brand new passphrase"}, "confirm_password": {"a brand new passphrase"}}), http.StatusSeeOther)
		app.NewClient(t).MustLogin("ada@example.com", "a brand new passphrase")
	})

	t.Run("ErrUnknownToken", func(t *testing.T) {
		app, _, _ := mustOpenResetApp(t)
		assertStatus(t, app.NewClient(t).Get("/password/reset/not-a-token"), http.StatusGone)
	})
}

func TestAdminResetLink(t *testing.T) {
	t.Parallel()
	app, _, admin := mustOpenResetApp(t)
	bob := app.NewClient(t)
	bob.MustSignup("Bob", "bob@example.com", "Org B")
	bobID := app.MustUser(t, "bob@example.com").PublicID
	adaID := app.MustUser(t, "ada@example.com").PublicID

	t.Run("OK", func(t *testing.T) {
		users := admin.Get("/admin/users")
		assertStatus(t, users, http.StatusOK)
		if users.Doc.Find("[data-id="+bobID+"] form[action='/admin/users/"+bobID+"/reset-link'] button").Length() != 1 {
			t.Fatal("no Make a password reset link button in Bob's row")
		}
		p := admin.Post("/admin/users/"+bobID+"/reset-link", nil)
		assertStatus(t, p, http.StatusOK)
		if p.Header.Get("Cache-Control") != "no-store" || p.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("headers = %v", p.Header)
		}
		link, _ := p.Doc.Find("#reset-link-value").Attr("value")
		if !strings.HasPrefix(link, app.URL+"/password/reset/") {
			t.Fatalf("link = %q", link)
		}
		if !strings.Contains(p.Text("[data-testid=reset-link]"), "only time") {
			t.Fatal("the page does not say the link is shown once")
		}
		page := bob.Get(app.path(link))
		assertStatus(t, page, http.StatusOK)
		if !strings.Contains(page.Text("[data-testid=reset-email]"), "bob@example.com") {
			t.Fatalf("link for %q", page.Text("[data-testid=reset-email]"))
		}
		assertAuditActions(t, app, keygate.AuditPasswordResetLink)
	})

	t.Run("ErrNotSuperuser", func(t *testing.T) {
		p := bob.Post("/admin/users/"+adaID+"/reset-link", nil)
		assertStatus(t, p, http.StatusNotFound)
	})
}
