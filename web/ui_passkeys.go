package web

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/views"
)

// requirePasskeys answers 404 where passkeys are not available: no
// two-step verification, or an instance without a domain name.
func (s *Server) requirePasskeys(next http.HandlerFunc) http.HandlerFunc {
	return s.requireTwoFactor(func(w http.ResponseWriter, r *http.Request) {
		if !s.passkeysOn() {
			s.notFound(w, r)
			return
		}
		next(w, r)
	})
}

// passkeysOn reports whether this instance offers passkeys.
func (s *Server) passkeysOn() bool {
	return s.twoFactor != nil && s.passkeys != nil && s.webAuthn != nil
}

// handlePasskeyBegin starts adding a passkey: the options for
// navigator.credentials.create, as JSON, or the name field's message.
func (s *Server) handlePasskeyBegin(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err := keygate.ValidatePasskeyName(name); err != nil {
		writeBeginError(w, http.StatusBadRequest, "name", nameMessage(err))
		return
	}
	user := pageFrom(r).user
	keys, err := s.passkeys.Passkeys(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	pu := newPasskeyUser(user, keys)
	// The person's other passkeys are excluded: an authenticator holds
	// one passkey per account.
	options, data, err := s.webAuthn.BeginRegistration(pu, webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.saveChallenge(w, r, challengeRegister, user.ID, data); err != nil {
		s.Error(w, r, err)
		return
	}
	writeOptions(w, options)
}

// handlePasskeyAdd checks the new passkey the browser made and stores it;
// the first factor shows the recovery codes, once.
func (s *Server) handlePasskeyAdd(w http.ResponseWriter, r *http.Request) {
	user := pageFrom(r).user
	name := strings.TrimSpace(r.PostFormValue("name"))
	refuse := func(msg string) {
		f := views.Form{Values: map[string]string{"name": name}, Errors: map[string]string{"name": msg}}
		s.renderSecurity(w, r, http.StatusBadRequest, views.Security{AddPasskey: f})
	}
	if err := keygate.ValidatePasskeyName(name); err != nil {
		refuse(nameMessage(err))
		return
	}
	data, err := s.takeChallenge(w, r, challengeRegister, user.ID)
	if keygate.ErrorCode(err) == keygate.EINVALID {
		refuse(keygate.ErrorMessage(err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(r.PostFormValue("credential")))
	if err != nil {
		refuse("The passkey was not added: your browser's answer could not be read. Try again.")
		return
	}
	keys, err := s.passkeys.Passkeys(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	cred, err := s.webAuthn.CreateCredential(newPasskeyUser(user, keys), *data, parsed)
	if err != nil {
		refuse("The passkey was not added: it could not be checked. Try again.")
		return
	}
	if name == "" {
		name = authenticatorName(cred.Authenticator.AAGUID)
	}
	codes, hashes := newRecoveryCodes(keygate.RecoveryCodeCount)
	first, err := s.passkeys.AddPasskey(r.Context(), passkeyFrom(name, cred), hashes)
	if keygate.ErrorCode(err) == keygate.ECONFLICT || keygate.ErrorCode(err) == keygate.EINVALID {
		refuse(nameMessage(err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	vm := views.Security{PasskeyAdded: name}
	if first {
		vm.RecoveryCodes = codes
	}
	s.renderSecurity(w, r, http.StatusOK, vm)
}

// nameMessage is what to say beside the name field about err.
func nameMessage(err error) string {
	if msg := keygate.ErrorFields(err)["name"]; msg != "" {
		return msg
	}
	return keygate.ErrorMessage(err)
}

// passkeyFrom is the passkey to store for a checked credential.
func passkeyFrom(name string, c *webauthn.Credential) *keygate.Passkey {
	p := &keygate.Passkey{Name: name, CredentialID: c.ID, PublicKey: c.PublicKey, SignCount: c.Authenticator.SignCount,
		AAGUID: c.Authenticator.AAGUID, Flags: uint8(c.Flags.ProtocolValue()), AttestationType: c.AttestationType}
	for _, t := range c.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	return p
}

// knownAuthenticators names the passkey providers people use most, by
// AAGUID, for a passkey added without a name.
var knownAuthenticators = map[string]string{
	"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
	"fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
	"adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
	"08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
	"9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
	"6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
	"bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
	"d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
}

// authenticatorName is the default name of a passkey: its provider's, or
// "Passkey".
func authenticatorName(aaguid []byte) string {
	if len(aaguid) != 16 {
		return "Passkey"
	}
	h := hex.EncodeToString(aaguid)
	if name, ok := knownAuthenticators[h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:]]; ok {
		return name
	}
	return "Passkey"
}

// handlePasskeyRemove removes one of the person's passkeys; someone else's
// is not found.
func (s *Server) handlePasskeyRemove(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	if err := s.passkeys.RemovePasskey(r.Context(), id); err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Passkey removed.")
	http.Redirect(w, r, "/settings/security", http.StatusSeeOther)
}

// securityPasskeys fills in the passkeys card of Settings > Security.
func (s *Server) securityPasskeys(r *http.Request, vm *views.Security) error {
	if s.passkeys == nil {
		return nil
	}
	// Stored passkeys are listed, and can be removed, even where none can
	// be added or checked now.
	vm.PasskeysOn, vm.PasskeysUnavailable = s.passkeysOn(), !s.passkeysOn()
	keys, err := s.passkeys.Passkeys(r.Context())
	if err != nil {
		return err
	}
	remove, _ := strconv.ParseInt(r.URL.Query().Get("remove"), 10, 64)
	now := s.now()
	for _, k := range keys {
		row := views.PasskeyRow{ID: strconv.FormatInt(k.ID, 10), Name: k.Name, Created: views.Time{At: k.CreatedAt, Now: now}, Confirm: k.ID == remove}
		if k.LastUsedAt != nil {
			row.LastUsed = views.Time{At: *k.LastUsedAt, Now: now}
		}
		vm.Passkeys = append(vm.Passkeys, row)
	}
	return nil
}

// hasPasskey reports whether userID has a passkey stored, even where this
// instance cannot check one now (its address changed): such a person still
// needs a second step, by recovery code then.
func (s *Server) hasPasskey(r *http.Request, userID int64) (bool, error) {
	if s.passkeys == nil {
		return false, nil
	}
	keys, err := s.passkeys.UserPasskeys(r.Context(), userID)
	return len(keys) > 0, err
}

// handleVerifyPasskeyBegin starts the passkey step of a pending login,
// restricted to the person's passkeys.
func (s *Server) handleVerifyPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	_, user, ok := s.pendingUser(r)
	if !ok || !s.passkeysOn() {
		writeBeginError(w, http.StatusUnauthorized, "", "Your login has expired. Log in again.")
		return
	}
	options, err := s.beginUserAssertion(w, r, challengeVerify, user)
	s.answerAssertionBegin(w, r, options, err)
}

// answerAssertionBegin answers a passkey button with the options for
// navigator.credentials.get, or the message of a person without passkeys.
func (s *Server) answerAssertionBegin(w http.ResponseWriter, r *http.Request, options []byte, err error) {
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		writeBeginError(w, http.StatusNotFound, "", keygate.ErrorMessage(err))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	writeOptions(w, json.RawMessage(options))
}

// handleVerifyPasskey completes a pending login with a passkey, exactly as
// a correct code does, under the same throttle.
func (s *Server) handleVerifyPasskey(w http.ResponseWriter, r *http.Request) {
	p, user, ok := s.pendingUser(r)
	if !ok || !s.passkeysOn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	attempt, retry := s.reserveLogin(r, user.Email)
	if retry > 0 {
		s.throttled(w, r, retry)
		return
	}
	err := s.finishUserAssertion(w, r, challengeVerify, user)
	if code := keygate.ErrorCode(err); code == keygate.EUNAUTHORIZED || code == keygate.EINVALID {
		// A bad assertion is a failed second step; a missing or used
		// challenge is a slip, not a guess.
		if code == keygate.EINVALID {
			attempt.cancel()
		} else if retry := attempt.failed(); retry > 0 {
			s.throttled(w, r, retry)
			return
		}
		s.renderVerifyMethod(w, r, user, http.StatusUnauthorized, views.LoginVerify{Passkey: true, Form: views.Form{Error: keygate.ErrorMessage(err)}})
		return
	} else if err != nil {
		attempt.cancel()
		s.Error(w, r, err)
		return
	}
	attempt.succeeded()
	s.setPendingLogin(w, pendingLogin{}, -1)
	s.completeLogin(w, r, user, p.Next, "")
}

// passkeyBeginLimit bounds the passkey sign-ins a client address starts
// without a session.
var passkeyBeginLimit = ratelimit.Limit{Count: 300, Period: time.Hour}

// handleSignInPasskeyBegin starts a sign-in with a discoverable passkey:
// no email, no list of credentials.
func (s *Server) handleSignInPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	// The challenge needs a session row: a visitor without one gets a new
	// row, so these are limited per client address.
	if sess := pageFrom(r).session; sess == nil || sess.IsNew {
		ip := keygate.RequestInfoFromContext(r.Context()).IP
		if d := s.signups.Allow("passkey-begin:"+ip, passkeyBeginLimit); !d.Allowed {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(d.RetryAfter, time.Second).Seconds())))
			writeBeginError(w, http.StatusTooManyRequests, "", "Too many sign-in attempts from your network. Try again later.")
			return
		}
	}
	options, data, err := s.webAuthn.BeginDiscoverableLogin()
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.saveChallenge(w, r, challengeSignIn, 0, data); err != nil {
		s.Error(w, r, err)
		return
	}
	writeOptions(w, options)
}

// handleSignInPasskey signs a person in with a passkey alone: it counts as
// both factors. Failures count against the client address.
func (s *Server) handleSignInPasskey(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	refuse := func(status int, msg string) {
		s.renderLogin(w, r, status, s.layout(r, "Log in", ""), views.Form{Error: msg}, next)
	}
	ip := keygate.RequestInfoFromContext(r.Context()).IP
	attempt, retry := reserve(throttleKey{s.loginIPs, "passkey-ip:" + ip})
	if retry > 0 {
		s.throttled(w, r, retry)
		return
	}
	user, pu, cred, err := s.checkDiscoverable(w, r)
	if code := keygate.ErrorCode(err); code == keygate.EUNAUTHORIZED {
		if retry := attempt.failed(); retry > 0 {
			s.throttled(w, r, retry)
			return
		}
		refuse(http.StatusUnauthorized, keygate.ErrorMessage(err))
		return
	} else if code == keygate.EINVALID {
		attempt.cancel()
		refuse(http.StatusBadRequest, keygate.ErrorMessage(err))
		return
	} else if err != nil {
		attempt.cancel()
		s.Error(w, r, err)
		return
	}
	if err := s.recordPasskeyUse(r, pu, cred, true); err != nil {
		attempt.cancel()
		s.Error(w, r, err)
		return
	}
	attempt.succeeded()
	s.completeLogin(w, r, user, next, "")
}

// errSignInRefused is a discoverable assertion that did not check out:
// unknown passkey, bad signature, or a disabled account, alike.
var errSignInRefused = keygate.Errorf(keygate.EUNAUTHORIZED, "That passkey did not sign you in. Try again, or log in with your email and password.")

// checkDiscoverable checks a discoverable assertion against the challenge
// of the session and finds whose passkey it is.
func (s *Server) checkDiscoverable(w http.ResponseWriter, r *http.Request) (*keygate.User, *passkeyUser, *webauthn.Credential, error) {
	data, err := s.takeChallenge(w, r, challengeSignIn, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	parsed, err := parseAssertion(r)
	if err != nil {
		return nil, nil, nil, errSignInRefused
	}
	var pu *passkeyUser
	var lookupErr error
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		pu, lookupErr = s.discoverableUser(r, rawID, userHandle)
		if lookupErr != nil {
			return nil, lookupErr
		}
		return pu, nil
	}
	_, cred, err := s.webAuthn.ValidatePasskeyLogin(handler, *data, parsed)
	if lookupErr != nil && keygate.ErrorCode(lookupErr) != keygate.EUNAUTHORIZED {
		return nil, nil, nil, lookupErr
	}
	if err != nil {
		return nil, nil, nil, errSignInRefused
	}
	return pu.user, pu, cred, nil
}

// discoverableUser finds the enabled person whose passkey rawID is, and
// whose user handle the authenticator returned.
func (s *Server) discoverableUser(r *http.Request, rawID, userHandle []byte) (*passkeyUser, error) {
	k, err := s.passkeys.FindPasskey(r.Context(), rawID)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return nil, errSignInRefused
	} else if err != nil {
		return nil, err
	}
	user, err := s.users.FindUserByID(r.Context(), k.UserID)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return nil, errSignInRefused
	} else if err != nil {
		return nil, err
	}
	if user.DisabledAt != nil || subtle.ConstantTimeCompare(userHandle, []byte(user.PublicID)) != 1 {
		return nil, errSignInRefused
	}
	keys, err := s.passkeys.UserPasskeys(r.Context(), user.ID)
	if err != nil {
		return nil, err
	}
	return newPasskeyUser(user, keys), nil
}
