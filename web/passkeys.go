package web

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/keygate/keygate/internal/keygate"
)

// passkeyChallengeTTL is how long a WebAuthn challenge stays good.
const passkeyChallengeTTL = 5 * time.Minute

// Purposes of a challenge: each has its own slot in the session, so that a
// challenge made for one ceremony never completes another.
const (
	challengeRegister = "passkey:register"
	challengeVerify   = "passkey:verify"
	challengeSignIn   = "passkey:signin"
	challengeConfirm  = "passkey:confirm"
)

// newWebAuthn returns the relying party of this instance: the host of the
// base URL, else of the listener's configured URL, never of a request's
// Host header. An instance reached by an IP address has none: browsers
// refuse passkeys there.
func (s *Server) newWebAuthn() *webauthn.WebAuthn {
	u := s.baseURL
	if u == nil {
		var err error
		if u, err = url.Parse(s.cfg.ListenURL); err != nil {
			return nil
		}
	}
	host := u.Hostname()
	if host == "" || net.ParseIP(host) != nil || u.Scheme != "https" {
		return nil
	}
	timeout := webauthn.TimeoutConfig{Timeout: passkeyChallengeTTL, TimeoutUVD: passkeyChallengeTTL}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: "Keygate",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		// Discoverable, so that a passkey also signs in without an email.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		// Expiry is checked on the server's clock (takeChallenge).
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		s.logger.Warn("passkeys are off", "error", err.Error())
		return nil
	}
	return w
}

// passkeyUser is a person as WebAuthn sees them. The user handle is the
// public id: random, stable, and no personal data.
type passkeyUser struct {
	user  *keygate.User
	creds []webauthn.Credential
	keys  []*keygate.Passkey
}

func newPasskeyUser(u *keygate.User, keys []*keygate.Passkey) *passkeyUser {
	pu := &passkeyUser{user: u, keys: keys}
	for _, k := range keys {
		var transports []protocol.AuthenticatorTransport
		for _, t := range k.Transports {
			transports = append(transports, protocol.AuthenticatorTransport(t))
		}
		pu.creds = append(pu.creds, webauthn.Credential{
			ID: k.CredentialID, PublicKey: k.PublicKey, AttestationType: k.AttestationType, Transport: transports,
			Flags:         webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(k.Flags)),
			Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
		})
	}
	return pu
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(u.user.PublicID) }
func (u *passkeyUser) WebAuthnName() string                       { return u.user.Email }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.user.Name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// passkeyOf returns the stored passkey a validated credential is.
func (u *passkeyUser) passkeyOf(c *webauthn.Credential) *keygate.Passkey {
	for _, k := range u.keys {
		if string(k.CredentialID) == string(c.ID) {
			return k
		}
	}
	return nil
}

// passkeyChallenge is a ceremony in progress, kept in the server-side
// session (never in a cookie of its own) until its finish takes it.
type passkeyChallenge struct {
	At     int64 // Unix seconds on the server's clock
	UserID int64
	Data   webauthn.SessionData
}

// saveChallenge keeps data for the ceremony purpose in the request's
// session, replacing an earlier one of the same purpose.
func (s *Server) saveChallenge(w http.ResponseWriter, r *http.Request, purpose string, userID int64, data *webauthn.SessionData) error {
	sess := pageFrom(r).session
	if sess == nil {
		return errors.New("save challenge: no session")
	}
	raw, err := json.Marshal(passkeyChallenge{At: s.now().Unix(), UserID: userID, Data: *data})
	if err != nil {
		return err
	}
	sess.Values[purpose] = string(raw)
	return sess.Save(r, w)
}

// takeChallenge removes the session's challenge for purpose and returns it
// if it is younger than passkeyChallengeTTL and made for userID. Taken
// once, it is gone, whatever the outcome: a challenge is good once.
func (s *Server) takeChallenge(w http.ResponseWriter, r *http.Request, purpose string, userID int64) (*webauthn.SessionData, error) {
	sess := pageFrom(r).session
	if sess == nil {
		return nil, errChallenge
	}
	raw, ok := sess.Values[purpose].(string)
	if !ok {
		return nil, errChallenge
	}
	delete(sess.Values, purpose)
	if err := sess.Save(r, w); err != nil {
		return nil, err
	}
	var c passkeyChallenge
	if err := json.Unmarshal([]byte(raw), &c); err != nil || c.UserID != userID {
		return nil, errChallenge
	}
	if age := s.now().Sub(time.Unix(c.At, 0)); age < 0 || age > passkeyChallengeTTL {
		return nil, errChallenge
	}
	return &c.Data, nil
}

// errChallenge is a finish without its begin: none, used or expired.
var errChallenge = keygate.Errorf(keygate.EINVALID, "This passkey request has expired or was used already. Try again.")

// writeOptions answers a begin with the options for the browser.
func writeOptions(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, v)
}

// writeBeginError answers a begin that cannot start with a message for the
// field named field.
func writeBeginError(w http.ResponseWriter, status int, field, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"field": field, "error": msg})
}

// parseAssertion reads the assertion the browser posted in the form field
// "credential".
func parseAssertion(r *http.Request) (*protocol.ParsedCredentialAssertionData, error) {
	return protocol.ParseCredentialRequestResponseBytes([]byte(r.PostFormValue("credential")))
}

// beginUserAssertion starts an assertion for user restricted to their
// passkeys, and keeps its challenge under purpose. ENOTFOUND when they
// have none.
func (s *Server) beginUserAssertion(w http.ResponseWriter, r *http.Request, purpose string, user *keygate.User) ([]byte, error) {
	if s.webAuthn == nil || s.passkeys == nil {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "Passkeys are not available here.")
	}
	keys, err := s.passkeys.UserPasskeys(r.Context(), user.ID)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "You have no passkey.")
	}
	options, data, err := s.webAuthn.BeginLogin(newPasskeyUser(user, keys))
	if err != nil {
		return nil, err
	}
	if err := s.saveChallenge(w, r, purpose, user.ID, data); err != nil {
		return nil, err
	}
	return json.Marshal(options)
}

// finishUserAssertion checks the posted assertion against user's passkeys
// and the challenge kept under purpose, and records the use. It returns
// EUNAUTHORIZED with a message for a failed check, other codes for
// failures of the service.
func (s *Server) finishUserAssertion(w http.ResponseWriter, r *http.Request, purpose string, user *keygate.User) error {
	if s.webAuthn == nil || s.passkeys == nil {
		return keygate.Errorf(keygate.ENOTFOUND, "Passkeys are not available here.")
	}
	data, err := s.takeChallenge(w, r, purpose, user.ID)
	if err != nil {
		return err
	}
	parsed, err := parseAssertion(r)
	if err != nil {
		return errPasskeyRefused
	}
	keys, err := s.passkeys.UserPasskeys(r.Context(), user.ID)
	if err != nil {
		return err
	}
	pu := newPasskeyUser(user, keys)
	cred, err := s.webAuthn.ValidateLogin(pu, *data, parsed)
	if err != nil {
		return errPasskeyRefused
	}
	return s.recordPasskeyUse(r, pu, cred, false)
}

// errPasskeyRefused is an assertion that did not check out.
var errPasskeyRefused = keygate.Errorf(keygate.EUNAUTHORIZED, "That passkey could not be checked. Try again, or use another way to verify.")

// recordPasskeyUse stores the new signature counter and the time of use,
// and with signIn a login event.
func (s *Server) recordPasskeyUse(r *http.Request, pu *passkeyUser, cred *webauthn.Credential, signIn bool) error {
	k := pu.passkeyOf(cred)
	if k == nil {
		return errPasskeyRefused
	}
	return s.passkeys.UsePasskey(r.Context(), k.ID, cred.Authenticator.SignCount, signIn)
}

// BeginPasskeyConfirmation starts a passkey assertion for the logged-in
// user, for a "Confirm it's you" step before a sensitive action. It keeps
// the single-use challenge in the user's session (good for five minutes)
// and returns the options to hand to navigator.credentials.get, as JSON:
// a POST route answers them with writeOptions(w, json.RawMessage(opts)).
// static/passkey.js does the rest: a form with data-passkey="get",
// data-begin naming that route, a hidden input "credential" and a submit
// button fetches the options, asks the browser, and submits the form with
// the assertion in "credential". It returns ENOTFOUND when the user has no
// passkey or passkeys are not available, EUNAUTHORIZED without a
// logged-in user.
func (s *Server) BeginPasskeyConfirmation(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	user := pageFrom(r).user
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	return s.beginUserAssertion(w, r, challengeConfirm, user)
}

// CheckPasskeyConfirmation checks the assertion posted in the form field
// "credential" against the logged-in user's passkeys and the challenge
// BeginPasskeyConfirmation kept, and records the passkey's use. The
// challenge is consumed whatever the outcome. It returns nil when the
// person confirmed with one of their passkeys; EUNAUTHORIZED (with a
// message to show) when the assertion does not check out, EINVALID when
// the challenge is missing, used or expired, other codes for failures of
// the service. Callers count failures against the login throttle.
func (s *Server) CheckPasskeyConfirmation(w http.ResponseWriter, r *http.Request) error {
	user := pageFrom(r).user
	if user == nil {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	return s.finishUserAssertion(w, r, challengeConfirm, user)
}
