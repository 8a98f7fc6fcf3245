package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

// withPasskeyHost names the listener by "localhost": browsers (and the
// WebAuthn library) refuse an IP address as the relying party.
func withPasskeyHost(c *web.Config, _ *App) {
	c.ListenURL = strings.Replace(c.ListenURL, "127.0.0.1", "localhost", 1)
}

// passkeyOrigin is the origin a browser at app's "localhost" name shows.
func passkeyOrigin(app *App) string { return strings.Replace(app.URL, "127.0.0.1", "localhost", 1) }

var b64 = base64.RawURLEncoding

// softKey is a software authenticator: one ES256 passkey, answering
// WebAuthn options the way a browser passes them on, with "none"
// attestation.
type softKey struct {
	tb         testing.TB
	rpID       string
	origin     string
	key        *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	count      uint32
}

func newSoftKey(tb testing.TB, app *App) *softKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{tb: tb, rpID: "localhost", origin: passkeyOrigin(app), key: key, credID: id}
}

// cbor encodes the few CBOR items attestation needs: unsigned and
// negative integers, byte and text strings, and maps of them.
func cborHead(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	}
}

func cborInt(n int) []byte {
	if n >= 0 {
		return cborHead(0, n)
	}
	return cborHead(1, -1-n)
}

func cborBytes(b []byte) []byte { return append(cborHead(2, len(b)), b...) }
func cborText(s string) []byte  { return append(cborHead(3, len(s)), s...) }
func cborMap(pairs ...[]byte) []byte {
	out := cborHead(5, len(pairs)/2)
	for _, p := range pairs {
		out = append(out, p...)
	}
	return out
}

// authData is the authenticator data for flags, with attested credential
// data when attested.
func (k *softKey) authData(flags byte, attested bool) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	if attested {
		// The uncompressed point: 0x04, then X and Y.
		point, err := k.key.PublicKey.Bytes()
		if err != nil {
			k.tb.Fatal(err)
		}
		x, y := point[1:33], point[33:]
		cose := cborMap(cborInt(1), cborInt(2), cborInt(3), cborInt(-7), cborInt(-1), cborInt(1), cborInt(-2), cborBytes(x), cborInt(-3), cborBytes(y))
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.credID)))
		out = append(out, k.credID...)
		out = append(out, cose...)
	}
	return out
}

// webauthnOptions are the parts of the server's options a test reads.
type webauthnOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
	} `json:"publicKey"`
}

func parseOptions(tb testing.TB, p *Page) webauthnOptions {
	tb.Helper()
	assertStatus(tb, p, http.StatusOK)
	var o webauthnOptions
	if err := json.Unmarshal([]byte(p.Body), &o); err != nil || o.PublicKey.Challenge == "" {
		tb.Fatalf("options = %.300s (%v)", p.Body, err)
	}
	return o
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// create answers creation options with a new credential, as JSON.
func (k *softKey) create(o webauthnOptions) string {
	k.tb.Helper()
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		k.tb.Fatal(err)
	}
	k.userHandle = handle
	att := cborMap(cborText("fmt"), cborText("none"), cborText("attStmt"), cborMap(), cborText("authData"), cborBytes(k.authData(0x45, true)))
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.credID), "rawId": b64.EncodeToString(k.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"}}})
	return string(out)
}

// get answers request options with a signed assertion, as JSON.
func (k *softKey) get(o webauthnOptions) string {
	k.tb.Helper()
	k.count++
	ad := k.authData(0x05, false)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.tb.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.credID), "rawId": b64.EncodeToString(k.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.userHandle)}})
	return string(out)
}

// mustAddPasskey adds k as c's passkey named name through Settings >
// Security and returns the page that answered.
func (c *Client) mustAddPasskey(k *softKey, name string) *Page {
	c.tb.Helper()
	o := parseOptions(c.tb, c.Post("/settings/security/passkeys/begin", url.Values{"name": {name}}))
	p := c.Post("/settings/security/passkeys", url.Values{"name": {name}, "credential": {k.create(o)}})
	assertStatus(c.tb, p, http.StatusOK)
	return p
}

// passkeyNames lists the passkeys a Security page shows.
func passkeyNames(p *Page) []string {
	var out []string
	p.Doc.Find(`[data-testid="passkey-name"]`).Each(func(_ int, s *goquerySelection) { out = append(out, strings.TrimSpace(s.Text())) })
	return out
}

// assertFormError fails unless p has status and says msg above its form.
func assertFormError(tb testing.TB, p *Page, status int, msg string) {
	tb.Helper()
	assertStatus(tb, p, status)
	if got := p.Text("[data-form-error]"); got != msg {
		tb.Fatalf("message = %q, want %q", got, msg)
	}
}

// assertNameError fails unless p has status and says msg beside the
// passkey's name field.
func assertNameError(tb testing.TB, p *Page, status int, msg string) {
	tb.Helper()
	assertStatus(tb, p, status)
	if got := p.Text("#f-passkey-name-error"); got != msg {
		tb.Fatalf("message = %q, want %q", got, msg)
	}
}

func TestPasskeys_Add(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPasskeyHost)
	c := app.NewClient(t)
	c.MustSignup("Ada Lovelace", "ada@example.com", "Acme")

	p := c.Get("/settings/security")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find(`[data-testid="passkeys"]`).Length() != 1 || p.Text(`[data-testid="passkeys-none"]`) != "No passkeys yet." {
		t.Fatalf("no empty passkeys card: %.600s", p.Body)
	}
	// Without script the form stays hidden and the note says why.
	if _, hidden := p.Doc.Find(`form[data-passkey="create"]`).Attr("hidden"); !hidden || p.Doc.Find(`[data-passkey-unsupported]`).Length() != 1 {
		t.Fatal("the add form is not hidden until script shows it")
	}

	o := parseOptions(t, c.Post("/settings/security/passkeys/begin", url.Values{"name": {"Laptop"}}))
	if o.PublicKey.RP.ID != "localhost" || o.PublicKey.AuthenticatorSelection.ResidentKey != "required" || o.PublicKey.AuthenticatorSelection.UserVerification != "preferred" {
		t.Fatalf("options = %+v", o.PublicKey)
	}
	k := newSoftKey(t, app)
	p = c.Post("/settings/security/passkeys", url.Values{"name": {"Laptop"}, "credential": {k.create(o)}})
	assertStatus(t, p, http.StatusOK)
	if got := passkeyNames(p); len(got) != 1 || got[0] != "Laptop" {
		t.Fatalf("passkeys = %q", got)
	}
	if got := p.Text(`[data-testid="passkey-last-used"]`); got != "Never used" {
		t.Fatalf("dates = %q, want Never used", got)
	}
	if got := recoveryCodes(p); len(got) != 10 {
		t.Fatalf("recovery codes = %d, want 10 with the first factor", len(got))
	}
	if got := p.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control = %q", got)
	}
	// Shown once: not on the next visit.
	p = c.Get("/settings/security")
	if len(recoveryCodes(p)) != 0 || p.Text(`[data-testid="recovery-left"]`) == "" {
		t.Fatalf("codes shown again, or no recovery card: %.400s", p.Text(`[data-testid="recovery-left"]`))
	}

	// A second passkey, with no name: the default; no new codes.
	p = c.mustAddPasskey(newSoftKey(t, app), "")
	if got := passkeyNames(p); len(got) != 2 || got[1] != "Passkey" {
		t.Fatalf("passkeys = %q", got)
	}
	if len(recoveryCodes(p)) != 0 {
		t.Fatal("a second passkey showed new recovery codes")
	}
	if n := app.Count(t, "user_passkeys"); n != 2 {
		t.Fatalf("stored passkeys = %d", n)
	}
}

func TestPasskeys_AddErrors(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPasskeyHost)
	c := app.NewClient(t)
	c.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	k := newSoftKey(t, app)

	t.Run("ErrNameTooLong", func(t *testing.T) {
		p := c.Post("/settings/security/passkeys/begin", url.Values{"name": {strings.Repeat("x", 65)}})
		assertStatus(t, p, http.StatusBadRequest)
		var got struct{ Field, Error string }
		if err := json.Unmarshal([]byte(p.Body), &got); err != nil || got.Field != "name" || got.Error != "Use at most 64 characters." {
			t.Fatalf("answer = %s (%v)", p.Body, err)
		}
	})
	t.Run("ErrBadAttestation", func(t *testing.T) {
		parseOptions(t, c.Post("/settings/security/passkeys/begin", url.Values{"name": {"Laptop"}}))
		p := c.Post("/settings/security/passkeys", url.Values{"name": {"Laptop"}, "credential": {`{"id":"garbage"}`}})
		assertNameError(t, p, http.StatusBadRequest, "The passkey was not added: your browser's answer could not be read. Try again.")
		if got := p.Doc.Find("#f-passkey-name").AttrOr("value", ""); got != "Laptop" {
			t.Fatalf("name kept = %q", got)
		}
	})
	t.Run("ErrWrongOrigin", func(t *testing.T) {
		o := parseOptions(t, c.Post("/settings/security/passkeys/begin", url.Values{"name": {"Laptop"}}))
		evil := *k
		evil.origin = "https://evil.example"
		p := c.Post("/settings/security/passkeys", url.Values{"name": {"Laptop"}, "credential": {evil.create(o)}})
		assertNameError(t, p, http.StatusBadRequest, "The passkey was not added: it could not be checked. Try again.")
	})
	t.Run("ErrChallengeUsedOnce", func(t *testing.T) {
		o := parseOptions(t, c.Post("/settings/security/passkeys/begin", url.Values{"name": {"Laptop"}}))
		cred := k.create(o)
		assertStatus(t, c.Post("/settings/security/passkeys", url.Values{"name": {"Laptop"}, "credential": {cred}}), http.StatusOK)
		p := c.Post("/settings/security/passkeys", url.Values{"name": {"Laptop"}, "credential": {cred}})
		assertNameError(t, p, http.StatusBadRequest, "This passkey request has expired or was used already. Try again.")
	})
	t.Run("ErrChallengeExpired", func(t *testing.T) {
		o := parseOptions(t, c.Post("/settings/security/passkeys/begin", url.Values{"name": {"Phone"}}))
		app.Clock.Advance(5*time.Minute + time.Second)
		p := c.Post("/settings/security/passkeys", url.Values{"name": {"Phone"}, "credential": {newSoftKey(t, app).create(o)}})
		assertNameError(t, p, http.StatusBadRequest, "This passkey request has expired or was used already. Try again.")
	})
	t.Run("ErrChallengeOfAnotherSession", func(t *testing.T) {
		// A challenge belongs to the session that asked for it.
		o := parseOptions(t, c.Post("/settings/security/passkeys/begin", url.Values{"name": {"Tablet"}}))
		bob := app.NewClient(t)
		bob.MustSignup("Bob", "bob@example.com", "Bobco")
		p := bob.Post("/settings/security/passkeys", url.Values{"name": {"Tablet"}, "credential": {newSoftKey(t, app).create(o)}})
		assertNameError(t, p, http.StatusBadRequest, "This passkey request has expired or was used already. Try again.")
	})
}

func TestPasskeys_Remove(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPasskeyHost)
	ada := app.NewClient(t)
	ada.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	p := ada.mustAddPasskey(newSoftKey(t, app), "Laptop")
	action := p.Doc.Find(`dialog[id^="remove-passkey-"] form`).AttrOr("action", "")
	if !strings.HasPrefix(action, "/settings/security/passkeys/") {
		t.Fatalf("remove action = %q", action)
	}
	// Without script, the Remove link opens the question.
	link := p.Doc.Find(`[data-testid="passkey"] a`).AttrOr("href", "")
	q := ada.Get(link)
	if _, open := q.Doc.Find(`dialog[id^="remove-passkey-"]`).Attr("open"); !open {
		t.Fatalf("GET %s does not open the question", link)
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		bob := app.NewClient(t)
		bob.MustSignup("Bob", "bob@example.com", "Bobco")
		assertStatus(t, bob.Post(action, nil), http.StatusNotFound)
		assertStatus(t, bob.Post("/settings/security/passkeys/not-a-number/remove", nil), http.StatusNotFound)
		if n := app.Count(t, "user_passkeys"); n != 1 {
			t.Fatalf("passkeys = %d after someone else's remove", n)
		}
	})
	t.Run("OK", func(t *testing.T) {
		p := ada.Post(action, nil)
		assertStatus(t, p, http.StatusSeeOther)
		p = ada.Follow(p)
		if len(passkeyNames(p)) != 0 || p.Doc.Find(`[data-testid="recovery-left"]`).Length() != 0 {
			t.Fatal("passkey or recovery codes left after removing the last factor")
		}
		if !strings.Contains(p.Body, "Passkey removed.") {
			t.Fatal("no flash")
		}
		if n := app.Count(t, "user_recovery_codes"); n != 0 {
			t.Fatalf("recovery codes = %d", n)
		}
	})
}

// mustPasskeyStep logs c in with the password and expects the passkey
// step.
func mustPasskeyStep(tb testing.TB, c *Client, email, next string) *Page {
	tb.Helper()
	c.mustPassword(email, next)
	p := c.Get("/login/verify")
	assertStatus(tb, p, http.StatusOK)
	if p.Doc.Find(`form[action="/login/verify/passkey"] button`).Text() != "Use your passkey" {
		tb.Fatalf("the second step does not offer the passkey: %.600s", p.Body)
	}
	return p
}

// mustAppWithPasskey opens an app where Ada has signed up and added k as
// her passkey "Laptop".
func mustAppWithPasskey(t *testing.T) (*App, *softKey) {
	t.Helper()
	app := MustOpenApp(t, withPasskeyHost)
	c := app.NewClient(t)
	c.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	k := newSoftKey(t, app)
	c.mustAddPasskey(k, "Laptop")
	return app, k
}

func TestPasskeys_SecondStep(t *testing.T) {
	t.Parallel()
	app, k := mustAppWithPasskey(t)

	t.Run("OK", func(t *testing.T) {
		c := app.NewClient(t)
		p := mustPasskeyStep(t, c, "ada@example.com", "/settings")
		if p.Doc.Find(`a[href="/login/verify?method=app"]`).Length() != 0 || p.Doc.Find(`[data-testid="use-recovery"]`).Length() != 1 {
			t.Fatal("want no app link (there is no app) and a recovery link")
		}
		o := parseOptions(t, c.Post("/login/verify/passkey/begin", nil))
		if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != b64.EncodeToString(k.credID) {
			t.Fatalf("allowCredentials = %+v", o.PublicKey.AllowCredentials)
		}
		p = c.Post("/login/verify/passkey", url.Values{"credential": {k.get(o)}})
		assertStatus(t, p, http.StatusSeeOther)
		if loc := location(t, p); loc.Path != "/settings" {
			t.Fatalf("redirect = %s", loc)
		}
		p = c.Get("/settings/security")
		assertStatus(t, p, http.StatusOK)
		if got := p.Text(`[data-testid="passkey-last-used"]`); got != "just now" {
			t.Fatalf("last used = %q, want just now", got)
		}
	})
	t.Run("ErrBadSignature", func(t *testing.T) {
		c := app.NewClient(t)
		mustPasskeyStep(t, c, "ada@example.com", "")
		o := parseOptions(t, c.Post("/login/verify/passkey/begin", nil))
		wrong := *k
		wrong.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p := c.Post("/login/verify/passkey", url.Values{"credential": {wrong.get(o)}})
		assertFormError(t, p, http.StatusUnauthorized, "That passkey could not be checked. Try again, or use another way to verify.")
		// Still the second step: no session.
		assertStatus(t, c.Get("/settings/security"), http.StatusSeeOther)
	})
	t.Run("ErrNoChallenge", func(t *testing.T) {
		c := app.NewClient(t)
		mustPasskeyStep(t, c, "ada@example.com", "")
		p := c.Post("/login/verify/passkey", url.Values{"credential": {k.get(webauthnOptions{})}})
		assertFormError(t, p, http.StatusUnauthorized, "This passkey request has expired or was used already. Try again.")
	})
	t.Run("ErrNoPendingLogin", func(t *testing.T) {
		c := app.NewClient(t)
		assertStatus(t, c.Post("/login/verify/passkey/begin", nil), http.StatusUnauthorized)
		assertStatus(t, c.Post("/login/verify/passkey", nil), http.StatusSeeOther)
	})
}

func TestPasskeys_SignIn(t *testing.T) {
	t.Parallel()
	app, k := mustAppWithPasskey(t)

	t.Run("OK", func(t *testing.T) {
		c := app.NewClient(t)
		p := c.Get("/login?next=/settings")
		if p.Doc.Find(`form[data-testid="passkey-signin"] input[name="next"]`).AttrOr("value", "") != "/settings" {
			t.Fatalf("no passkey sign-in form carrying next: %.600s", p.Body)
		}
		o := parseOptions(t, c.Post("/login/passkey/begin", nil))
		if len(o.PublicKey.AllowCredentials) != 0 {
			t.Fatal("a discoverable sign-in lists credentials")
		}
		p = c.Post("/login/passkey", url.Values{"credential": {k.get(o)}, "next": {"/settings"}})
		assertStatus(t, p, http.StatusSeeOther)
		if loc := location(t, p); loc.Path != "/settings" {
			t.Fatalf("redirect = %s", loc)
		}
		assertStatus(t, c.Get("/settings/security"), http.StatusOK)
	})
	t.Run("UnsafeNext", func(t *testing.T) {
		c := app.NewClient(t)
		o := parseOptions(t, c.Post("/login/passkey/begin", nil))
		p := c.Post("/login/passkey", url.Values{"credential": {k.get(o)}, "next": {"//evil.example/"}})
		assertStatus(t, p, http.StatusSeeOther)
		if loc := location(t, p); strings.Contains(loc.String(), "evil") || loc.Path != "/" {
			t.Fatalf("redirect = %s", loc)
		}
	})
	t.Run("ErrUnknownPasskey", func(t *testing.T) {
		c := app.NewClient(t)
		o := parseOptions(t, c.Post("/login/passkey/begin", nil))
		stranger := newSoftKey(t, app)
		stranger.userHandle = k.userHandle
		p := c.Post("/login/passkey", url.Values{"credential": {stranger.get(o)}})
		assertFormError(t, p, http.StatusUnauthorized, "That passkey did not sign you in. Try again, or log in with your email and password.")
	})
	t.Run("ErrChallengeUsedOnce", func(t *testing.T) {
		// A failed attempt spends the challenge: a good answer to it
		// afterwards is refused too.
		c := app.NewClient(t)
		o := parseOptions(t, c.Post("/login/passkey/begin", nil))
		assertStatus(t, c.Post("/login/passkey", url.Values{"credential": {"{}"}}), http.StatusUnauthorized)
		p := c.Post("/login/passkey", url.Values{"credential": {k.get(o)}})
		assertFormError(t, p, http.StatusBadRequest, "This passkey request has expired or was used already. Try again.")
	})
	t.Run("ErrChallengeExpired", func(t *testing.T) {
		c := app.NewClient(t)
		o := parseOptions(t, c.Post("/login/passkey/begin", nil))
		app.Clock.Advance(5*time.Minute + time.Second)
		assertStatus(t, c.Post("/login/passkey", url.Values{"credential": {k.get(o)}}), http.StatusBadRequest)
	})
	t.Run("ErrDisabled", func(t *testing.T) {
		bob := app.NewClient(t)
		bob.MustSignup("Bob", "bob@example.com", "Bobco")
		bk := newSoftKey(t, app)
		bob.mustAddPasskey(bk, "Bob's key")
		if _, err := app.DB.WriteConn().Exec(`UPDATE users SET disabled_at = 1 WHERE email = 'bob@example.com'`); err != nil {
			t.Fatal(err)
		}
		c := app.NewClient(t)
		o := parseOptions(t, c.Post("/login/passkey/begin", nil))
		assertStatus(t, c.Post("/login/passkey", url.Values{"credential": {bk.get(o)}}), http.StatusUnauthorized)
	})
}

func TestPasskeys_SignInThrottled(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPasskeyHost)
	c := app.NewClient(t)
	stranger := newSoftKey(t, app)
	stranger.userHandle = []byte("usr_nobody")
	var last *Page
	for range 60 {
		o := parseOptions(t, c.Post("/login/passkey/begin", nil))
		if last = c.Post("/login/passkey", url.Values{"credential": {stranger.get(o)}}); last.StatusCode == http.StatusTooManyRequests {
			break
		}
		assertStatus(t, last, http.StatusUnauthorized)
	}
	assertStatus(t, last, http.StatusTooManyRequests)
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestPasskeys_UnavailableOnIPAddress(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t) // https://127.0.0.1:PORT
	c := app.NewClient(t)
	c.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	p := c.Get("/settings/security")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find(`[data-testid="passkeys-unavailable"]`).Length() != 1 || p.Doc.Find(`form[data-passkey]`).Length() != 0 {
		t.Fatal("the card does not say why passkeys are unavailable, or offers a dead form")
	}
	assertStatus(t, c.Post("/settings/security/passkeys/begin", url.Values{"name": {"x"}}), http.StatusNotFound)
	if app.NewClient(t).Get("/login").Doc.Find(`[data-testid="passkey-signin"]`).Length() != 0 {
		t.Fatal("the login page offers passkeys")
	}
	assertStatus(t, app.NewClient(t).Post("/login/passkey/begin", nil), http.StatusNotFound)
}

func TestPasskeys_WithApp(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPasskeyHost)
	c := app.NewClient(t)
	c.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	c.MustEnrollTOTP()
	k := newSoftKey(t, app)
	if p := c.mustAddPasskey(k, "Laptop"); len(recoveryCodes(p)) != 0 {
		t.Fatal("a passkey after the app showed new recovery codes")
	}

	t.Run("SecondStepOffersBoth", func(t *testing.T) {
		c := app.NewClient(t)
		p := mustPasskeyStep(t, c, "ada@example.com", "")
		if p.Doc.Find(`a[href="/login/verify?method=app"]`).Text() != "Use your authenticator app" {
			t.Fatal("no link to the app")
		}
		p = c.Get("/login/verify?method=app")
		if p.Doc.Find("#f-code").Length() != 1 || p.Doc.Find(`a[href="/login/verify?method=passkey"]`).Text() != "Use your passkey" {
			t.Fatalf("the app's step lacks its field or the way back to the passkey: %.600s", p.Body)
		}
	})
	t.Run("ErrSomeoneElsesPasskey", func(t *testing.T) {
		bob := app.NewClient(t)
		bob.MustSignup("Bob", "bob@example.com", "Bobco")
		bk := newSoftKey(t, app)
		bob.mustAddPasskey(bk, "Bob's key")
		c := app.NewClient(t)
		mustPasskeyStep(t, c, "ada@example.com", "")
		o := parseOptions(t, c.Post("/login/verify/passkey/begin", nil))
		p := c.Post("/login/verify/passkey", url.Values{"credential": {bk.get(o)}})
		assertFormError(t, p, http.StatusUnauthorized, "That passkey could not be checked. Try again, or use another way to verify.")
	})
	t.Run("DisableAppKeepsCodes", func(t *testing.T) {
		p := c.Post("/settings/security/totp/disable", url.Values{"disable-password": {testPassword}})
		assertStatus(t, p, http.StatusSeeOther)
		p = c.Follow(p)
		if !strings.Contains(p.Body, "The authenticator app is removed. Your passkeys still protect your account.") {
			t.Fatal("no flash saying the passkeys remain")
		}
		if got := p.Text(`[data-testid="recovery-left"]`); !strings.HasPrefix(got, "10 of 10") {
			t.Fatalf("recovery left = %q", got)
		}
		// Regenerating works with the passkey alone, by password.
		p = c.Post("/settings/security/recovery-codes", url.Values{"regenerate-password": {testPassword}})
		assertStatus(t, p, http.StatusOK)
		if got := recoveryCodes(p); len(got) != 10 {
			t.Fatalf("regenerated codes = %d", len(got))
		}
	})
}

// TestPasskeys_SignInBeginLimited: each begin from a visitor without a
// session makes one, so an address may start only so many.
func TestPasskeys_SignInBeginLimited(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPasskeyHost)
	var last *Page
	for range 301 {
		if last = app.NewClient(t).Post("/login/passkey/begin", nil); last.StatusCode != http.StatusOK {
			break
		}
	}
	assertStatus(t, last, http.StatusTooManyRequests)
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// A visitor who has a session already is not counted.
	c := app.NewClient(t)
	c.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	parseOptions(t, c.Post("/login/passkey/begin", nil))
}

// TestPasskeys_StoredButUnavailable: a person whose passkeys this instance
// cannot check any more (it is now reached by an IP address) still gets a
// second step, by recovery code, and still sees and can remove them.
func TestPasskeys_StoredButUnavailable(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t) // https://127.0.0.1:PORT: no passkeys
	ada := app.NewClient(t)
	ada.MustSignup("Ada Lovelace", "ada@example.com", "Acme")
	svc := sqlstore.NewTwoFactorService(app.DB, app.SecretBox, nil)
	_, err := svc.AddPasskey(keygate.NewContextWithUser(context.Background(), app.MustUser(t, "ada@example.com")),
		&keygate.Passkey{Name: "Old laptop", CredentialID: []byte("cred"), PublicKey: []byte("key")}, [][]byte{[]byte("h")})
	if err != nil {
		t.Fatal(err)
	}
	c := app.NewClient(t)
	c.mustPassword("ada@example.com", "")
	p := c.Get("/login/verify")
	assertStatus(t, p, http.StatusOK)
	if p.Doc.Find("#f-recovery_code").Length() != 1 || p.Doc.Find(`form[data-passkey]`).Length() != 0 {
		t.Fatalf("want the recovery code step and no passkey button: %.600s", p.Body)
	}

	p = ada.Get("/settings/security")
	if got := passkeyNames(p); len(got) != 1 || got[0] != "Old laptop" {
		t.Fatalf("passkeys = %q", got)
	}
	if p.Doc.Find(`[data-testid="passkeys-unavailable"]`).Length() != 1 || !strings.HasPrefix(p.Text(`[data-testid="recovery-left"]`), "1 of 10") {
		t.Fatal("no note on why passkeys cannot be added, or no recovery card")
	}
	p = ada.Post(p.Doc.Find(`dialog[id^="remove-passkey-"] form`).AttrOr("action", ""), nil)
	assertStatus(t, p, http.StatusSeeOther)
	if n := app.Count(t, "user_passkeys"); n != 0 {
		t.Fatalf("passkeys = %d after removing", n)
	}
}
