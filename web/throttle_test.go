package web_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/web"
)

// deviceCookieName is the login device cookie (OWASP "device cookies").
const deviceCookieName = "__Host-keygate_device"

// errorText returns the message of an error page.
func errorText(p *Page) string {
	return strings.TrimSpace(p.Doc.Find("[data-testid=error-page] h1").NextFiltered("p").Text())
}

// assertThrottled fails unless p is the 429 page with a Retry-After and the
// given message.
func assertThrottled(tb testing.TB, p *Page, wantMsg string) {
	tb.Helper()
	assertStatus(tb, p, http.StatusTooManyRequests)
	if got := errorText(p); got != wantMsg {
		tb.Fatalf("429 page says %q, want %q", got, wantMsg)
	}
	if ra := p.Header.Get("Retry-After"); ra == "" || ra == "0" {
		tb.Fatalf("Retry-After = %q, want seconds", ra)
	}
}

// cookie returns the value of the client's cookie name, or "".
func (c *Client) cookie(name string) string {
	u, _ := url.Parse(c.app.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookie gives the client a cookie, as a browser that holds it would.
func (c *Client) setCookie(name, value string) {
	u, _ := url.Parse(c.app.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true}})
}

// tamper changes one character in the middle of a cookie value.
func tamper(v string) string {
	i := len(v) / 2
	c := byte('A')
	if v[i] == c {
		c = 'B'
	}
	return v[:i] + string(c) + v[i+1:]
}

// auditCount returns the number of audit events with action. Failed logins
// belong to no organization, so no service lists them: they are counted
// with SQL.
func (a *App) auditCount(tb testing.TB, action string) int {
	tb.Helper()
	var n int
	if err := a.DB.WriteConn().QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = ?`, action).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// auditCountBefore returns the number of audit events with action recorded
// before the first event with action first.
func (a *App) auditCountBefore(tb testing.TB, action, first string) int {
	tb.Helper()
	var n int
	err := a.DB.WriteConn().QueryRow(`SELECT COUNT(*) FROM audit_events WHERE action = ?
		AND id < (SELECT MIN(id) FROM audit_events WHERE action = ?)`, action, first).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

const lockedOut = "Too many failed login attempts. Try again in 15 minutes."

func TestLoginDeviceCookie(t *testing.T) {
	t.Parallel()
	// setup: Ada logged in once in browser A and logged out; an attacker
	// then made 5 wrong attempts for her account, which is locked for
	// every browser she has not logged in with.
	setup := func(t *testing.T) (app *App, browserA *Client) {
		app = MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		browserA = app.NewClient(t)
		browserA.MustLogin("ada@example.com", testPassword)
		assertStatus(t, browserA.Post("/logout", nil), http.StatusSeeOther)

		attacker := app.NewClient(t)
		bad := url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}
		for range 4 {
			assertStatus(t, attacker.Post("/login", bad), http.StatusUnauthorized)
		}
		assertThrottled(t, attacker.Post("/login", bad), lockedOut)
		// The account is locked for unknown browsers, even with the right password.
		assertThrottled(t, app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}), lockedOut)
		return app, browserA
	}

	t.Run("OKKnownBrowserLogsInDuringLockOut", func(t *testing.T) {
		_, a := setup(t)
		p := a.Post("/login", url.Values{"email": {"Ada@Example.com "}, "password": {testPassword}})
		assertStatus(t, p, http.StatusSeeOther)
		if a.SessionCookie() == "" {
			t.Fatal("no session after login")
		}
	})

	t.Run("ErrKnownBrowserThrottledAfterFive", func(t *testing.T) {
		app, a := setup(t)
		bad := url.Values{"email": {"ada@example.com"}, "password": {"still not the password"}}
		for range 4 {
			assertStatus(t, a.Post("/login", bad), http.StatusUnauthorized)
		}
		assertThrottled(t, a.Post("/login", bad), lockedOut)
		assertThrottled(t, a.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}), lockedOut)
		// The device's own window passes.
		app.Clock.Advance(15 * time.Minute)
		assertStatus(t, a.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}), http.StatusSeeOther)
	})

	t.Run("OKSuccessResetsDevice", func(t *testing.T) {
		_, a := setup(t)
		bad := url.Values{"email": {"ada@example.com"}, "password": {"still not the password"}}
		for range 4 {
			assertStatus(t, a.Post("/login", bad), http.StatusUnauthorized)
		}
		a.MustLogin("ada@example.com", testPassword)
		assertStatus(t, a.Post("/logout", nil), http.StatusSeeOther)
		for range 4 {
			assertStatus(t, a.Post("/login", bad), http.StatusUnauthorized)
		}
	})

	t.Run("ErrForgedCookie", func(t *testing.T) {
		app, a := setup(t)
		forger := app.NewClient(t)
		value := a.cookie(deviceCookieName)
		if value == "" {
			t.Fatal("login set no device cookie")
		}
		for name, forged := range map[string]string{
			"Garbage":  "not-a-device-cookie",
			"Tampered": tamper(value),
		} {
			t.Run(name, func(t *testing.T) {
				forger.setCookie(deviceCookieName, forged)
				p := forger.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
				assertThrottled(t, p, lockedOut)
			})
		}
	})

	t.Run("ErrOtherAccountsCookie", func(t *testing.T) {
		app, _ := setup(t)
		// Mallory has her own account and a device cookie for it.
		mallory := app.NewClient(t)
		mallory.MustSignup("Mallory", "mallory@example.com", "Org M")
		mallory.MustLogin("mallory@example.com", testPassword)
		if mallory.cookie(deviceCookieName) == "" {
			t.Fatal("no device cookie")
		}
		p := mallory.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {"a guess at it"}})
		assertThrottled(t, p, lockedOut)
		p = mallory.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
		assertThrottled(t, p, lockedOut)
	})

	t.Run("OKSignupBrowserKnown", func(t *testing.T) {
		// The browser that signed up chose the password: it is known too.
		app := MustOpenApp(t)
		owner := app.NewClient(t)
		owner.MustSignup("Ada", "ada@example.com", "Org A")
		assertStatus(t, owner.Post("/logout", nil), http.StatusSeeOther)
		attacker := app.NewClient(t)
		for range 5 {
			attacker.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {"not the password"}})
		}
		assertThrottled(t, attacker.Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}), lockedOut)
		owner.MustLogin("ada@example.com", testPassword)
	})

	t.Run("OKCookieFlags", func(t *testing.T) {
		app := MustOpenApp(t)
		app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
		p := app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
		assertStatus(t, p, http.StatusSeeOther)
		var found bool
		for _, ck := range p.Cookies() {
			if ck.Name != deviceCookieName {
				continue
			}
			found = true
			if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
				t.Fatalf("cookie = %+v", ck)
			}
			if ck.MaxAge < 300*24*3600 || ck.MaxAge > 400*24*3600 {
				t.Fatalf("MaxAge = %d, want about a year", ck.MaxAge)
			}
			if strings.Contains(ck.Value, "ada") {
				t.Fatal("cookie shows the email")
			}
			if strings.Contains(app.Logs.String(), ck.Value) {
				t.Fatal("device cookie logged")
			}
		}
		if !found {
			t.Fatal("no device cookie set")
		}
	})
}

// postStatus posts a login form from a new browser and returns the status;
// it is safe to call from any goroutine.
func postStatus(app *App, form url.Values) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, app.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", app.URL)
	client := &http.Client{Transport: app.Server.Client().Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestLoginConcurrentGuesses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		withPassword bool // the right password is among the guesses
	}{
		{"ErrWrongPasswords", false},
		{"ErrRightPasswordAmongThem", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := MustOpenApp(t)
			app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
			forms := make([]url.Values, 20)
			for i := range forms {
				forms[i] = url.Values{"email": {"ada@example.com"}, "password": {"wrong guess " + itoa(i)}}
			}
			if tt.withPassword {
				forms = append(forms, url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
			}
			statuses := make([]int, len(forms))
			errs := make([]error, len(forms))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, f := range forms {
				wg.Go(func() {
					<-start
					statuses[i], errs[i] = postStatus(app, f)
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// Each checked password left an audit event: count the wrong
			// ones checked before the right one (a success resets the
			// account's counter, so later ones may be checked again).
			failed := app.auditCount(t, "user.login_failed")
			loggedIn := 0
			for _, s := range statuses {
				if s == http.StatusSeeOther {
					loggedIn++
				}
			}
			if loggedIn > 0 {
				failed = app.auditCountBefore(t, "user.login_failed", "user.login")
			}
			if checked := failed + loggedIn; checked > 5 || checked < 1 {
				t.Fatalf("%d passwords checked (%d wrong, %d right), want at most 5; statuses %v", checked, failed, loggedIn, statuses)
			}
			if loggedIn == 0 {
				// The account is locked now, also for the right password.
				status, err := postStatus(app, url.Values{"email": {"ada@example.com"}, "password": {testPassword}})
				if err != nil {
					t.Fatal(err)
				}
				if status != http.StatusTooManyRequests {
					t.Fatalf("right password after the guesses: status %d, want 429", status)
				}
			}
		})
	}
}

func TestChangePasswordThrottle(t *testing.T) {
	t.Parallel()
	const newPassword = "a brand new passphrase"
	bad := url.Values{"current_password": {"not the password"}, "new_password": {newPassword}}
	good := url.Values{"current_password": {testPassword}, "new_password": {newPassword}}

	t.Run("ErrSixthWrongPassword", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		c.MustSignup("Ada", "ada@example.com", "Org A")
		for i := range 5 {
			p := c.Post("/settings/password", bad)
			assertStatus(t, p, http.StatusBadRequest)
			if got, want := fieldError(p, "current_password"), "Current password is incorrect."; got != want {
				t.Fatalf("attempt %d: error = %q, want %q", i+1, got, want)
			}
		}
		assertThrottled(t, c.Post("/settings/password", bad), lockedOut)
		// Not even the right password is checked now.
		assertThrottled(t, c.Post("/settings/password", good), lockedOut)
		// Nor can it log in from a new browser.
		assertThrottled(t, app.NewClient(t).Post("/login", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}), lockedOut)

		app.Clock.Advance(15 * time.Minute)
		// The session is too old for a password change by now: a fresh
		// login (possible again) makes it recent.
		c.MustLogin("ada@example.com", testPassword)
		assertStatus(t, c.Post("/settings/password", good), http.StatusSeeOther)
		app.NewClient(t).MustLogin("ada@example.com", newPassword)
	})

	t.Run("OKRightPasswordResets", func(t *testing.T) {
		app := MustOpenApp(t)
		c := app.NewClient(t)
		c.MustSignup("Ada", "ada@example.com", "Org A")
		for range 4 {
			assertStatus(t, c.Post("/settings/password", bad), http.StatusBadRequest)
		}
		// The right current password with a new one too short: refused, but
		// the session holder has shown they know the password.
		p := c.Post("/settings/password", url.Values{"current_password": {testPassword}, "new_password": {"short"}})
		assertStatus(t, p, http.StatusBadRequest)
		if got := fieldError(p, "current_password"); got != "" {
			t.Fatalf("current password error = %q", got)
		}
		for range 4 {
			assertStatus(t, c.Post("/settings/password", bad), http.StatusBadRequest)
		}
		assertStatus(t, c.Post("/settings/password", good), http.StatusSeeOther)
	})
}

// trustLoopbackProxy makes 127.0.0.1 a trusted proxy, so that a request
// from it with X-Forwarded-For comes from another client address.
func trustLoopbackProxy(c *web.Config, _ *App) {
	_, n, _ := net.ParseCIDR("127.0.0.1/32")
	c.TrustedProxies = append(c.TrustedProxies, n)
}

// postFrom submits a form as a same-origin browser behind the trusted
// proxy at forwardedFor.
func (c *Client) postFrom(forwardedFor, path string, form url.Values) *Page {
	c.tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.app.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.app.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-Forwarded-For", forwardedFor)
	return c.Do(req)
}

func TestSignupRateLimit(t *testing.T) {
	t.Parallel()
	// The zero limit is the server's default, 10/h.
	app := MustOpenApp(t, trustLoopbackProxy, WithSignupRateLimit(ratelimit.Limit{}))
	signup := func(email string) url.Values {
		return url.Values{"name": {"User"}, "email": {email}, "password": {testPassword}, "organization": {"Org"}}
	}
	app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A") // 1

	// Below the limit an existing email still says so.
	p := app.NewClient(t).Post("/signup", signup("ada@example.com")) // 2
	assertStatus(t, p, http.StatusConflict)
	if got, want := fieldError(p, "email"), "An account with this email already exists. Log in instead."; got != want {
		t.Fatalf("email error = %q, want %q", got, want)
	}
	// Failed validation counts too.
	assertStatus(t, app.NewClient(t).Post("/signup", url.Values{}), http.StatusBadRequest) // 3
	for i := 4; i <= 10; i++ {
		app.NewClient(t).MustSignup("User", "user"+itoa(i)+"@example.com", "Org")
	}
	users := app.Count(t, "users")

	const over = "Too many signups from your network. Try again in 6 minutes."
	assertThrottled(t, app.NewClient(t).Post("/signup", signup("user11@example.com")), over)
	// Probing for existing emails is behind the limit too.
	assertThrottled(t, app.NewClient(t).Post("/signup", signup("ada@example.com")), over)
	if got := app.Count(t, "users"); got != users {
		t.Fatalf("users = %d after throttled signups, want %d", got, users)
	}

	// Another client address is not limited.
	p = app.NewClient(t).postFrom("198.51.100.7", "/signup", signup("other@example.com"))
	assertStatus(t, p, http.StatusSeeOther)

	// Time frees the address again.
	app.Clock.Advance(6 * time.Minute)
	app.NewClient(t).MustSignup("User", "later@example.com", "Org")
}
