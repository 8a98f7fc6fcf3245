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

var confirmLinkRE = regexp.MustCompile(`https://\S+/email/confirm/[A-Za-z0-9_-]{43}`)

// mailTo returns the emails sent to to.
func mailTo(sink *mailer.Sink, to string) []mailer.Message {
	var out []mailer.Message
	for _, m := range sink.Messages() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

func TestEmailChange(t *testing.T) {
	t.Parallel()
	t.Run("OKConfirmedFromNewAddress", func(t *testing.T) {
		app, sink, ada := mustOpenResetApp(t)
		p := ada.Get("/settings")
		assertStatus(t, p, http.StatusOK)
		if p.Doc.Find("form[action='/settings/profile'] label[for=f-profile_password]").Text() != "Current password" {
			t.Fatalf("no Current password on the profile form: %.300s", p.Doc.Find("form[action='/settings/profile']").Text())
		}
		p = ada.Post("/settings/profile", url.Values{"name": {"Ada"}, "email": {"Ada@New.example"}, "profile_password": {testPassword}})
		assertStatus(t, p, http.StatusSeeOther)
		app.Web.WaitBackground()
		settings := ada.Follow(p)
		if !strings.Contains(settings.Text(".flash"), "We sent a link to ada@new.example") {
			t.Fatalf("flash = %q", settings.Text(".flash"))
		}
		if v, _ := settings.Doc.Find("#f-email").Attr("value"); v != "ada@example.com" {
			t.Fatalf("email changed before confirmation: %q", v)
		}
		notice := mailTo(sink, "ada@example.com")
		if len(notice) != 1 || !strings.Contains(notice[0].Data, "Your Keygate email is being changed to ada@new.example") || confirmLinkRE.MatchString(notice[0].Data) {
			t.Fatalf("old address got %+v", notice)
		}
		confirm := mailTo(sink, "ada@new.example")
		if len(confirm) != 1 {
			t.Fatalf("new address got %+v", confirm)
		}
		path := app.path(confirmLinkRE.FindString(confirm[0].Data))

		c := app.NewClient(t)
		page := c.Get(path)
		assertStatus(t, page, http.StatusOK)
		if page.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(page.Text("[data-testid=confirm-email]"), "ada@new.example") {
			t.Fatalf("confirm page: %v %q", page.Header, page.Text("[data-testid=confirm-email]"))
		}
		if app.MustUser(t, "ada@example.com") == nil {
			t.Fatal("a GET changed the email")
		}
		p = c.Post(path, nil)
		assertStatus(t, p, http.StatusSeeOther)
		if !strings.Contains(c.Follow(p).Text(".flash"), "Your email is now ada@new.example.") {
			t.Fatal("no confirmation message")
		}
		app.NewClient(t).MustLogin("ada@new.example", testPassword)
		assertStatus(t, c.Get(path), http.StatusGone)
		assertAuditActions(t, app, keygate.AuditEmailChanged)
	})

	t.Run("ErrCurrentPassword", func(t *testing.T) {
		app, sink, ada := mustOpenResetApp(t)
		p := ada.Post("/settings/profile", url.Values{"name": {"Ada"}, "email": {"ada@new.example"}, "profile_password": {"not my password"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "profile_password"); got != "Current password is incorrect." {
			t.Fatalf("password error = %q", got)
		}
		if fieldError(p, "current_password") != "" {
			t.Fatal("the message went to the password form")
		}
		if v, _ := p.Doc.Find("#f-email").Attr("value"); v != "ada@new.example" {
			t.Fatalf("input lost: %q", v)
		}
		app.Web.WaitBackground()
		if len(sink.Messages()) != 0 {
			t.Fatal("mail sent")
		}
	})

	t.Run("ErrEmailTaken", func(t *testing.T) {
		app, _, ada := mustOpenResetApp(t)
		app.NewClient(t).MustSignup("Bob", "bob@example.com", "Org B")
		p := ada.Post("/settings/profile", url.Values{"name": {"Ada"}, "email": {"bob@example.com"}, "profile_password": {testPassword}})
		assertStatus(t, p, http.StatusConflict)
		if fieldError(p, "email") == "" {
			t.Fatal("no message beside Email")
		}
	})

	t.Run("OKNameOnly", func(t *testing.T) {
		app, sink, ada := mustOpenResetApp(t)
		p := ada.Post("/settings/profile", url.Values{"name": {"Ada L."}, "email": {"ada@example.com"}})
		assertStatus(t, p, http.StatusSeeOther)
		app.Web.WaitBackground()
		if len(sink.Messages()) != 0 || app.MustUser(t, "ada@example.com").Name != "Ada L." {
			t.Fatal("a name change asked for an email change")
		}
	})

	t.Run("ErrExpiredAfterADay", func(t *testing.T) {
		app, sink, ada := mustOpenResetApp(t)
		ada.Post("/settings/profile", url.Values{"name": {"Ada"}, "email": {"ada@new.example"}, "profile_password": {testPassword}})
		app.Web.WaitBackground()
		path := app.path(confirmLinkRE.FindString(mailTo(sink, "ada@new.example")[0].Data))
		app.Clock.Advance(24 * time.Hour)
		assertStatus(t, app.NewClient(t).Post(path, nil), http.StatusGone)
	})

	t.Run("OKReadOnlyWithoutMail", func(t *testing.T) {
		app := MustOpenApp(t)
		ada := app.NewClient(t)
		ada.MustSignup("Ada", "ada@example.com", "Org A")
		p := ada.Get("/settings")
		if _, ok := p.Doc.Find("#f-email").Attr("readonly"); !ok {
			t.Fatal("the email is editable without email to confirm it")
		}
	})
}
