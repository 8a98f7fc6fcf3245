package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/mailer"
	"github.com/keygate/keygate/web"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpCodeAt is the code an authenticator app with secret shows at t.
func totpCodeAt(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	code, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// wrongCode is a 6-digit code that is not code.
func wrongCode(code string) string {
	if code == "123456" {
		return "654321"
	}
	return "123456"
}

var recoveryCodeFormat = regexp.MustCompile(`^[a-z2-9]{4}-[a-z2-9]{4}$`)

// recoveryCodes returns the codes a page shows, or none.
func recoveryCodes(p *Page) []string {
	return strings.Fields(p.Doc.Find("#recovery-codes").Text())
}

// MustEnrollTOTP turns on two-step verification for c's user through the
// Security page and returns the secret and the recovery codes.
func (c *Client) MustEnrollTOTP() (string, []string) {
	c.tb.Helper()
	p := c.Post("/settings/security/totp/begin", nil)
	assertStatus(c.tb, p, http.StatusOK)
	secret := strings.ReplaceAll(p.Doc.Find("#totp-secret").AttrOr("value", ""), " ", "")
	if secret == "" {
		c.tb.Fatalf("no secret on the page: %.500s", p.Body)
	}
	p = c.Post("/settings/security/totp/confirm", url.Values{"code": {totpCodeAt(c.tb, secret, c.app.Clock.Now())}})
	assertStatus(c.tb, p, http.StatusOK)
	codes := recoveryCodes(p)
	if len(codes) != 10 {
		c.tb.Fatalf("recovery codes = %q, want 10", codes)
	}
	// Two windows on: the enrollment's code and the one before it are
	// both spent or stale, and the previous window is a fresh one.
	c.app.Clock.Advance(60 * time.Second)
	return secret, codes
}

// mustPassword posts the login form and expects the second step.
func (c *Client) mustPassword(email, next string) {
	c.tb.Helper()
	p := c.Post("/login", url.Values{"email": {email}, "password": {testPassword}, "next": {next}})
	assertStatus(c.tb, p, http.StatusSeeOther)
	if loc := location(c.tb, p); loc.Path != "/login/verify" {
		c.tb.Fatalf("login redirected to %s, want /login/verify", loc)
	}
}

// mustPasswordOnly logs in with the password and expects no second step.
func (c *Client) mustPasswordOnly(email string) {
	c.tb.Helper()
	p := c.Post("/login", url.Values{"email": {email}, "password": {testPassword}})
	assertStatus(c.tb, p, http.StatusSeeOther)
	if loc := location(c.tb, p); loc.Path == "/login/verify" {
		c.tb.Fatal("asked for a second step")
	}
	if got := c.LoggedInAs(); got != email {
		c.tb.Fatalf("logged in as %q", got)
	}
}

func TestTwoFactor_Enroll(t *testing.T) {
	app := MustOpenApp(t)
	c := app.NewClient(t)
	c.MustSignup("Ada", "ada@example.com", "Acme")

	if href := c.Get("/settings").Doc.Find("[data-testid=security-link]").AttrOr("href", ""); href != "/settings/security" {
		t.Fatalf("settings link = %q", href)
	}
	p := c.Get("/settings/security")
	assertStatus(t, p, http.StatusOK)
	if got := p.Text("[data-testid=totp-status]"); got != "Off." {
		t.Fatalf("status = %q, want Off.", got)
	}

	p = c.Post("/settings/security/totp/begin", nil)
	assertStatus(t, p, http.StatusOK)
	qr := p.Doc.Find("[data-testid=totp-qr]")
	if src := qr.AttrOr("src", ""); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("QR src = %.60q", src)
	}
	if alt := qr.AttrOr("alt", ""); !strings.Contains(alt, "ada@example.com") {
		t.Fatalf("QR alt = %q", alt)
	}
	shown := p.Doc.Find("#totp-secret").AttrOr("value", "")
	if !regexp.MustCompile(`^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$`).MatchString(shown) {
		t.Fatalf("secret shown as %q, want groups of 4", shown)
	}
	secret := strings.ReplaceAll(shown, " ", "")
	if strings.Contains(app.Logs.String(), secret) {
		t.Fatal("the secret is in the log")
	}

	t.Run("ErrWrongCode", func(t *testing.T) {
		p := c.Post("/settings/security/totp/confirm", url.Values{"code": {wrongCode(totpCodeAt(t, secret, app.Clock.Now()))}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "code"); !strings.Contains(got, "not right") {
			t.Fatalf("code error = %q", got)
		}
		if got := strings.ReplaceAll(p.Doc.Find("#totp-secret").AttrOr("value", ""), " ", ""); got != secret {
			t.Fatalf("secret after an error = %q, want the same one", got)
		}
	})
	t.Run("OK", func(t *testing.T) {
		p := c.Post("/settings/security/totp/confirm", url.Values{"code": {totpCodeAt(t, secret, app.Clock.Now())}})
		assertStatus(t, p, http.StatusOK)
		if got := p.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q", got)
		}
		codes := recoveryCodes(p)
		seen := map[string]bool{}
		for _, code := range codes {
			if !recoveryCodeFormat.MatchString(code) || seen[code] {
				t.Fatalf("recovery code %q: bad format or repeated", code)
			}
			seen[code] = true
		}
		if len(codes) != 10 {
			t.Fatalf("codes = %d, want 10", len(codes))
		}
		if href := p.Doc.Find(`a[download]`).AttrOr("href", ""); !strings.HasPrefix(href, "data:text/plain") || !strings.Contains(href, codes[0]) {
			t.Fatalf("download = %.80q", href)
		}
		if got := p.Text("[data-testid=totp-status]"); got != "On" {
			t.Fatalf("status = %q, want On", got)
		}
		// Shown once: not on the page's next visit.
		p = c.Get("/settings/security")
		if got := recoveryCodes(p); len(got) != 0 {
			t.Fatalf("codes shown again: %q", got)
		}
		if got := p.Text("[data-testid=recovery-left]"); !strings.HasPrefix(got, "10 of 10") {
			t.Fatalf("left = %q", got)
		}
		if n := app.Count(t, "user_recovery_codes"); n != 10 {
			t.Fatalf("stored codes = %d", n)
		}
	})
}

// mustTwoFactorUser starts an app whose user Ada has two-step
// verification on.
func mustTwoFactorUser(t *testing.T) (*App, string, []string) {
	t.Helper()
	app := MustOpenApp(t)
	c := app.NewClient(t)
	c.MustSignup("Ada", "ada@example.com", "Acme")
	secret, codes := c.MustEnrollTOTP()
	return app, secret, codes
}

func TestTwoFactor_Login(t *testing.T) {
	t.Run("NoSessionBeforeSecondStep", func(t *testing.T) {
		app, _, _ := mustTwoFactorUser(t)
		c := app.NewClient(t)
		p := c.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
		assertStatus(t, p, http.StatusSeeOther)
		var pending *http.Cookie
		for _, ck := range p.Cookies() {
			if ck.Name == web.SessionCookieName && ck.MaxAge >= 0 && ck.Value != "" {
				t.Fatal("a session cookie before the second step")
			}
			if ck.Name == web.PendingLoginCookieName {
				pending = ck
			}
		}
		if pending == nil || !pending.HttpOnly || !pending.Secure || pending.SameSite != http.SameSiteLaxMode || pending.MaxAge != 300 {
			t.Fatalf("pending cookie = %+v", pending)
		}
		p = c.Get("/settings")
		assertStatus(t, p, http.StatusSeeOther)
		if loc := location(t, p); loc.Path != "/login" {
			t.Fatalf("/settings redirected to %s, want /login", loc)
		}
		v := c.Get("/login/verify")
		assertStatus(t, v, http.StatusOK)
		in := v.Doc.Find("#f-code")
		if in.AttrOr("autocomplete", "") != "one-time-code" || in.AttrOr("inputmode", "") != "numeric" {
			t.Fatalf("code input: autocomplete %q, inputmode %q", in.AttrOr("autocomplete", ""), in.AttrOr("inputmode", ""))
		}
		if got := v.Doc.Find(`label[for="f-code"]`).Text(); got != "Authentication code" {
			t.Fatalf("label = %q", got)
		}
	})

	for _, tc := range []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"OKCurrentWindow", 0, true},
		{"OKPreviousWindow", -30 * time.Second, true},
		{"ErrNextNextWindow", 60 * time.Second, false},
		{"ErrTwoWindowsAgo", -60 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, secret, _ := mustTwoFactorUser(t)
			c := app.NewClient(t)
			c.mustPassword("ada@example.com", "/settings")
			p := c.Post("/login/verify", url.Values{"code": {totpCodeAt(t, secret, app.Clock.Now().Add(tc.offset))}})
			if !tc.ok {
				assertStatus(t, p, http.StatusUnauthorized)
				if got := fieldError(p, "code"); !strings.Contains(got, "not right") {
					t.Fatalf("code error = %q", got)
				}
				if got := c.LoggedInAs(); got != "" {
					t.Fatalf("logged in as %q", got)
				}
				return
			}
			assertStatus(t, p, http.StatusSeeOther)
			if loc := location(t, p); loc.Path != "/settings" {
				t.Fatalf("redirected to %s, want next", loc)
			}
			if got := c.LoggedInAs(); got != "ada@example.com" {
				t.Fatalf("logged in as %q", got)
			}
			if c.cookie(web.PendingLoginCookieName) != "" {
				t.Fatal("pending cookie kept after login")
			}
		})
	}

	t.Run("ErrReplay", func(t *testing.T) {
		app, secret, _ := mustTwoFactorUser(t)
		code := totpCodeAt(t, secret, app.Clock.Now())
		first := app.NewClient(t)
		first.mustPassword("ada@example.com", "")
		assertStatus(t, first.Post("/login/verify", url.Values{"code": {code}}), http.StatusSeeOther)
		second := app.NewClient(t)
		second.mustPassword("ada@example.com", "")
		p := second.Post("/login/verify", url.Values{"code": {code}})
		assertStatus(t, p, http.StatusUnauthorized)
		if got := fieldError(p, "code"); !strings.Contains(got, "used already") {
			t.Fatalf("code error = %q", got)
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		app, secret, _ := mustTwoFactorUser(t)
		c := app.NewClient(t)
		c.mustPassword("ada@example.com", "")
		app.Clock.Advance(6 * time.Minute)
		p := c.Post("/login/verify", url.Values{"code": {totpCodeAt(t, secret, app.Clock.Now())}})
		assertStatus(t, p, http.StatusSeeOther)
		if loc := location(t, p); loc.Path != "/login" {
			t.Fatalf("redirected to %s, want /login", loc)
		}
	})

	t.Run("ErrThrottledAfterFive", func(t *testing.T) {
		app, secret, _ := mustTwoFactorUser(t)
		c := app.NewClient(t)
		c.mustPassword("ada@example.com", "")
		wrong := wrongCode(totpCodeAt(t, secret, app.Clock.Now()))
		for i := 1; i <= 4; i++ {
			assertStatus(t, c.Post("/login/verify", url.Values{"code": {wrong}}), http.StatusUnauthorized)
		}
		assertThrottled(t, c.Post("/login/verify", url.Values{"code": {wrong}}), "Too many failed login attempts. Try again in 15 minutes.")
		// The right code waits too, and so does the password.
		assertStatus(t, c.Post("/login/verify", url.Values{"code": {totpCodeAt(t, secret, app.Clock.Now())}}), http.StatusTooManyRequests)
		p := app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
		assertStatus(t, p, http.StatusTooManyRequests)
	})

	t.Run("RecoveryCodeOnce", func(t *testing.T) {
		app, _, codes := mustTwoFactorUser(t)
		c := app.NewClient(t)
		c.mustPassword("ada@example.com", "/settings")
		v := c.Get(c.Get("/login/verify").Doc.Find("[data-testid=use-recovery]").AttrOr("href", ""))
		assertStatus(t, v, http.StatusOK)
		if v.Doc.Find("#f-recovery_code").Length() != 1 {
			t.Fatalf("no recovery code field: %.400s", v.Body)
		}
		p := c.Post("/login/verify", url.Values{"method": {"recovery"}, "recovery_code": {strings.ToUpper(codes[3])}})
		assertStatus(t, p, http.StatusSeeOther)
		if got := c.Follow(p).Text(".flash"); !strings.Contains(got, "9 recovery codes left") {
			t.Fatalf("flash = %q", got)
		}
		again := app.NewClient(t)
		again.mustPassword("ada@example.com", "")
		p = again.Post("/login/verify", url.Values{"method": {"recovery"}, "recovery_code": {codes[3]}})
		assertStatus(t, p, http.StatusUnauthorized)
		if got := fieldError(p, "recovery_code"); got == "" {
			t.Fatal("no error beside the recovery code")
		}
	})
}

func TestTwoFactor_Settings(t *testing.T) {
	app := MustOpenApp(t)
	c := app.NewClient(t)
	c.MustSignup("Ada", "ada@example.com", "Acme")
	secret, old := c.MustEnrollTOTP()

	t.Run("ErrRegenerateWrongPassword", func(t *testing.T) {
		p := c.Post("/settings/security/recovery-codes", url.Values{"regenerate-password": {"not my password"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "regenerate-password"); got == "" {
			t.Fatalf("no error beside the password: %.400s", p.Body)
		}
	})
	t.Run("RegenerateInvalidatesOld", func(t *testing.T) {
		p := c.Post("/settings/security/recovery-codes", url.Values{"regenerate-password": {testPassword}})
		assertStatus(t, p, http.StatusOK)
		fresh := recoveryCodes(p)
		if len(fresh) != 10 || fresh[0] == old[0] {
			t.Fatalf("new codes = %q", fresh)
		}
		login := app.NewClient(t)
		login.mustPassword("ada@example.com", "")
		assertStatus(t, login.Post("/login/verify", url.Values{"method": {"recovery"}, "recovery_code": {old[0]}}), http.StatusUnauthorized)
		assertStatus(t, login.Post("/login/verify", url.Values{"method": {"recovery"}, "recovery_code": {fresh[0]}}), http.StatusSeeOther)
	})
	t.Run("DisableWithCode", func(t *testing.T) {
		app.Clock.Advance(30 * time.Second)
		p := c.Post("/settings/security/totp/disable", url.Values{"disable-code": {wrongCode(totpCodeAt(t, secret, app.Clock.Now()))}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "disable-code"); got == "" {
			t.Fatal("no error beside the code")
		}
		p = c.Post("/settings/security/totp/disable", url.Values{"disable-code": {totpCodeAt(t, secret, app.Clock.Now())}})
		assertStatus(t, p, http.StatusSeeOther)
		if got := c.Follow(p).Text("[data-testid=totp-status]"); got != "Off." {
			t.Fatalf("status = %q", got)
		}
		// The password alone logs in again.
		app.NewClient(t).mustPasswordOnly("ada@example.com")
	})
}

func TestTwoFactor_SSONotAsked(t *testing.T) {
	app, op := MustOpenAppWithOP(t, "SSO")
	owner := app.NewClient(t)
	owner.MustSignup("Ada", opEmail, "Analytical")
	owner.MustEnrollTOTP()
	owner.mustPassword(opEmail, "") // the password is asked for a code

	c := app.NewClient(t)
	assertStatus(t, c.GetURL(c.MustSSOCallback(op).String()), http.StatusSeeOther)
	if got := c.LoggedInAs(); got != opEmail {
		t.Fatalf("after SSO logged in as %q", got)
	}
}

func TestTwoFactor_AdminReset(t *testing.T) {
	sink, err := mailer.NewSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m, _ := mailer.New(sink.URL(), "keygate@keygate.test")
	app := MustOpenAppWithMailer(t, m)
	admin := app.NewClient(t)
	admin.MustSignup("Ada", "ada@example.com", "Acme") // the first account: superuser
	bob := app.NewClient(t)
	bob.MustSignup("Bob", "bob@example.com", "Bobco")
	bob.MustEnrollTOTP()
	bobUser := app.MustUser(t, "bob@example.com")

	t.Run("ErrNotSuperuser", func(t *testing.T) {
		assertStatus(t, bob.Post("/admin/users/"+bobUser.PublicID+"/reset-2fa", nil), http.StatusNotFound)
	})
	t.Run("OK", func(t *testing.T) {
		p := admin.Get("/admin/users")
		link := p.Doc.Find(`[data-id="` + bobUser.PublicID + `"] [data-testid=reset-2fa]`)
		if link.Length() != 1 {
			t.Fatalf("no reset button for Bob: %.600s", p.Body)
		}
		if n := p.Doc.Find("[data-testid=reset-2fa]").Length(); n != 1 {
			t.Fatalf("reset buttons = %d, want only Bob's", n)
		}
		confirm := admin.Get(link.AttrOr("href", ""))
		action := confirm.Doc.Find("#admin-confirm form").AttrOr("action", "")
		if action != "/admin/users/"+bobUser.PublicID+"/reset-2fa" {
			t.Fatalf("confirm action = %q", action)
		}
		p = admin.Post(action, nil)
		assertStatus(t, p, http.StatusSeeOther)
		if bob.LoggedInAs() != "" {
			t.Fatal("Bob's session survived the reset")
		}
		msgs := sink.Messages()
		if len(msgs) != 1 || msgs[0].To != "bob@example.com" ||
			!strings.Contains(msgs[0].Data, "Two-step verification was turned off for your account by an administrator") {
			t.Fatalf("mail = %+v", msgs)
		}
		// Bob logs in with his password alone.
		app.NewClient(t).mustPasswordOnly("bob@example.com")
		if app.Count(t, "user_totp") != 0 {
			t.Fatal("the authenticator is still stored")
		}
	})
}
