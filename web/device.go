package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/keygate/keygate/internal/keygate"
)

// DeviceCookieName is the login device cookie (OWASP "device cookies"): a
// browser that once logged in to an account with its password keeps it, and
// its later password attempts for that account are throttled per device, so
// that someone who locks the account out by guessing never locks out the
// browsers its owner uses. The __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain.
const DeviceCookieName = "__Host-keygate_device"

// deviceCookieMaxAge is how long a browser stays known after a login.
const deviceCookieMaxAge = 365 * 24 * time.Hour

// deviceCookie is the signed content of a device cookie.
type deviceCookie struct {
	// Account is accountDigest of the account's email: the cookie binds
	// one account without naming it, and is checked without a database
	// lookup, before the throttle.
	Account string `json:"a"`
	// Nonce names this browser: its throttle key is "device:" + Nonce.
	Nonce string `json:"n"`
}

// newDeviceCodec returns the codec that signs device cookies, with a key of
// its own derived from the session key, so that no session cookie value is
// ever a valid device cookie or the other way round.
func newDeviceCodec(sessionKey []byte) *securecookie.SecureCookie {
	mac := hmac.New(sha256.New, sessionKey)
	mac.Write([]byte("device-cookie"))
	codec := securecookie.New(mac.Sum(nil), nil)
	codec.MaxAge(int(deviceCookieMaxAge / time.Second))
	codec.SetSerializer(securecookie.JSONEncoder{})
	return codec
}

// accountDigest is the hex SHA-256 of an email, normalized.
func accountDigest(email string) string {
	sum := sha256.Sum256([]byte(keygate.NormalizeEmail(email)))
	return hex.EncodeToString(sum[:])
}

// knownDevice returns the nonce of the request's device cookie if the
// cookie is genuine and was issued for email's account. A missing, forged,
// expired or other account's cookie yields "", false: that browser is
// unknown for this account.
func (s *Server) knownDevice(r *http.Request, email string) (nonce string, ok bool) {
	c, err := r.Cookie(DeviceCookieName)
	if err != nil {
		return "", false
	}
	var d deviceCookie
	if err := s.deviceCodec.Decode(DeviceCookieName, c.Value, &d); err != nil || d.Nonce == "" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(d.Account), []byte(accountDigest(email))) != 1 {
		return "", false
	}
	return d.Nonce, true
}

// setDeviceCookie makes this browser known for email's account, with a new
// nonce. It replaces the cookie of any other account: a browser is known
// for the account that last logged in with it.
func (s *Server) setDeviceCookie(w http.ResponseWriter, email string) error {
	value, err := s.deviceCodec.Encode(DeviceCookieName, deviceCookie{Account: accountDigest(email), Nonce: rand.Text()})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: DeviceCookieName, Value: value, Path: "/",
		MaxAge: int(deviceCookieMaxAge / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return nil
}
