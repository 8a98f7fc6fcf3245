package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sso"
	"github.com/keygate/keygate/views"
)

// ssoFlowCookie carries a single sign-on flow in progress, encrypted and
// signed, between sending someone to a provider and their return. Kept in
// the browser rather than in a stored session, so that anonymous traffic
// to the begin routes creates no rows. SameSite=Lax: the provider's
// redirect back is a top-level navigation from another site.
const ssoFlowCookie = "__Host-keygate_sso"

// ssoFlowTTL bounds how long a person may take at the provider.
const ssoFlowTTL = 10 * time.Minute

// newFlowCodec returns the codec of the flow cookie: AES-256 and
// HMAC-SHA256 under keys derived from the session key, so the PKCE
// verifier and nonce it carries are unreadable as well as unforgeable.
func newFlowCodec(sessionKey []byte) *securecookie.SecureCookie {
	derive := func(label string) []byte {
		mac := hmac.New(sha256.New, sessionKey)
		mac.Write([]byte(label))
		return mac.Sum(nil)
	}
	codec := securecookie.New(derive("sso-flow-mac"), derive("sso-flow-aes"))
	codec.MaxAge(int(ssoFlowTTL / time.Second))
	return codec
}

// Intents of a flow.
const (
	ssoIntentLogin = "login"
	ssoIntentLink  = "link"
	// ssoIntentStepUp signs the logged-in person in again to confirm a
	// dangerous action (ui_stepup.go).
	ssoIntentStepUp = "stepup"
)

// ssoFlow is what Keygate keeps, in the browser's encrypted flow cookie,
// between sending someone to a provider and their return: nothing of it is
// ever taken from the callback request.
type ssoFlow struct {
	Provider string
	State    string
	Session  string // the provider's flow session: nonce, PKCE verifier
	Intent   string
	UserID   int64 // who is linking, for the link intent
	Next     string
	Expires  time.Time
}

func (f *ssoFlow) values() map[string]string {
	return map[string]string{
		"provider": f.Provider, "state": f.State, "session": f.Session, "intent": f.Intent,
		"uid": strconv.FormatInt(f.UserID, 10), "next": f.Next, "exp": strconv.FormatInt(f.Expires.UnixMilli(), 10),
	}
}

func flowFromValues(m map[string]string) *ssoFlow {
	uid, _ := strconv.ParseInt(m["uid"], 10, 64)
	exp, err := strconv.ParseInt(m["exp"], 10, 64)
	if err != nil {
		return nil
	}
	return &ssoFlow{Provider: m["provider"], State: m["state"], Session: m["session"], Intent: m["intent"],
		UserID: uid, Next: m["next"], Expires: time.UnixMilli(exp)}
}

// ssoProvider returns the provider named in the path, if single sign-on is
// on and it is configured.
func (s *Server) ssoProvider(r *http.Request) *sso.Provider {
	if s.identities == nil {
		return nil
	}
	return s.cfg.SSO.Get(r.PathValue("provider"))
}

// ssoButtons lists the configured providers for the login and signup pages.
func (s *Server) ssoButtons(r *http.Request) []views.SSOButton {
	if s.identities == nil {
		return nil
	}
	var out []views.SSOButton
	next := safeNext(r.URL.Query().Get("next"))
	for _, p := range s.cfg.SSO.All() {
		u := "/auth/" + p.Key
		if next != "" {
			u += "?next=" + url.QueryEscape(next)
		}
		out = append(out, views.SSOButton{Key: p.Key, Name: p.Name, URL: u})
	}
	return out
}

// handleSSOBegin sends someone to a provider to log in or sign up.
func (s *Server) handleSSOBegin(w http.ResponseWriter, r *http.Request) {
	p := s.ssoProvider(r)
	if p == nil {
		s.notFound(w, r)
		return
	}
	if pageFrom(r).user != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.beginSSO(w, r, p, &ssoFlow{Intent: ssoIntentLogin, Next: safeNext(r.URL.Query().Get("next"))})
}

// handleSSOLinkBegin sends the logged-in user to a provider to link an
// account there. It is a POST, behind the same-origin check.
func (s *Server) handleSSOLinkBegin(w http.ResponseWriter, r *http.Request) {
	p := s.ssoProvider(r)
	if p == nil {
		s.notFound(w, r)
		return
	}
	s.beginSSO(w, r, p, &ssoFlow{Intent: ssoIntentLink, UserID: pageFrom(r).user.ID})
}

// beginSSO starts flow at p: a fresh random state, kept with the
// provider's nonce and PKCE verifier in this browser's flow cookie only.
func (s *Server) beginSSO(w http.ResponseWriter, r *http.Request, p *sso.Provider, flow *ssoFlow) {
	flow.Provider, flow.State, flow.Expires = p.Key, rand.Text()+rand.Text(), s.now().Add(ssoFlowTTL)
	authURL, session, err := p.Begin(flow.State)
	if err != nil {
		s.logger.Warn("sso begin", "provider", p.Key, "error", err.Error())
		s.ssoProblem(w, r, http.StatusServiceUnavailable, views.SSOProblem{Title: p.Name + " is unavailable",
			Message: p.Name + " cannot be reached right now. Try again in a minute, or log in with your email and password."})
		return
	}
	flow.Session = session
	if flow.Intent == ssoIntentStepUp {
		authURL = reauthURL(authURL, p.Key)
	}
	encoded, err := s.flowCodec.Encode(ssoFlowCookie, flow.values())
	if err != nil {
		s.Error(w, r, fmt.Errorf("encode sso flow: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoFlowCookie, Value: encoded, Path: "/", MaxAge: int(ssoFlowTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// takeSSOFlow returns the browser's flow and deletes its cookie: a state is
// good for one callback, whatever that callback's outcome. A missing,
// forged or expired cookie is no flow.
func (s *Server) takeSSOFlow(w http.ResponseWriter, r *http.Request) *ssoFlow {
	c, err := r.Cookie(ssoFlowCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: ssoFlowCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	var m map[string]string
	if err := s.flowCodec.Decode(ssoFlowCookie, c.Value, &m); err != nil {
		return nil
	}
	return flowFromValues(m)
}

var errSSOBadState = views.SSOProblem{Title: "Sign-in did not complete",
	Message: "This sign-in attempt is not valid: it has expired, was already used, or was not started in this browser. Start again from the login page."}

// handleSSOCallback finishes a flow. Of the request it reads only code,
// state, error and error_description.
func (s *Server) handleSSOCallback(w http.ResponseWriter, r *http.Request) {
	p := s.ssoProvider(r)
	if p == nil {
		s.notFound(w, r)
		return
	}
	q := r.URL.Query()
	code, state, errCode, errDesc := q.Get("code"), q.Get("state"), q.Get("error"), q.Get("error_description")
	flow := s.takeSSOFlow(w, r)
	w.Header().Set("Cache-Control", "no-store")
	valid := flow != nil && flow.Provider == p.Key && state != "" && s.now().Before(flow.Expires) &&
		subtle.ConstantTimeCompare([]byte(flow.State), []byte(state)) == 1
	switch {
	case !valid:
		s.ssoProblem(w, r, http.StatusBadRequest, errSSOBadState)
		return
	case errCode != "":
		msg := p.Name + " did not sign you in (" + ssoTruncate(errCode, 64) + ")."
		if errDesc != "" {
			msg += " It said: " + ssoTruncate(errDesc, 300)
		}
		s.ssoProblem(w, r, http.StatusUnauthorized, views.SSOProblem{Title: "Sign-in was cancelled", Message: msg})
		return
	case code == "":
		s.ssoProblem(w, r, http.StatusBadRequest, errSSOBadState)
		return
	}
	ext, err := p.Complete(r.Context(), flow.Session, code)
	if errors.Is(err, sso.ErrNoVerifiedGitHubEmail) {
		s.ssoProblem(w, r, http.StatusUnauthorized, views.SSOProblem{Title: "Sign-in did not complete",
			Message: "Your GitHub account has no verified primary email address. Verify one in GitHub's email settings, then try again."})
		return
	} else if err != nil {
		s.logger.Warn("sso callback", "provider", p.Key, "error", err.Error())
		s.ssoProblem(w, r, http.StatusUnauthorized, views.SSOProblem{Title: "Sign-in did not complete",
			Message: p.Name + " could not confirm who you are. Start again from the login page."})
		return
	}
	switch flow.Intent {
	case ssoIntentLink:
		s.finishSSOLink(w, r, p, flow, ext)
		return
	case ssoIntentStepUp:
		s.finishSSOStepUp(w, r, flow, ext)
		return
	}
	s.finishSSOLogin(w, r, p, flow, ext)
}

// finishSSOLogin logs in (or signs up) the person a provider identified.
func (s *Server) finishSSOLogin(w http.ResponseWriter, r *http.Request, p *sso.Provider, flow *ssoFlow, ext *keygate.ExternalIdentity) {
	user, outcome, err := s.identities.LoginWithIdentity(r.Context(), ext)
	switch keygate.ErrorCode(err) {
	case "":
	case keygate.ECONFLICT:
		s.ssoProblem(w, r, http.StatusConflict, views.SSOProblem{Title: "Link this account first", Message: keygate.ErrorMessage(err), LinkPassword: true})
		return
	case keygate.EFORBIDDEN, keygate.EUNAUTHORIZED, keygate.EINVALID:
		s.ssoProblem(w, r, ErrorStatus(err), views.SSOProblem{Title: "Sign-in with " + p.Name + " refused", Message: keygate.ErrorMessage(err)})
		return
	default:
		s.Error(w, r, err)
		return
	}
	// A new session id, as at password login.
	if err := s.logIn(w, r, user); err != nil {
		s.Error(w, r, err)
		return
	}
	switch outcome {
	case keygate.SSOSignedUp:
		s.addFlash(w, r, "success", "Welcome to Keygate! Your account was created with "+p.Name+".")
	case keygate.SSOLinked:
		s.addFlash(w, r, "success", p.Name+" is now linked to your account.")
	}
	next := flow.Next
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// finishSSOLink links the identity to the user who started the flow, who
// must still be the one logged in.
func (s *Server) finishSSOLink(w http.ResponseWriter, r *http.Request, p *sso.Provider, flow *ssoFlow, ext *keygate.ExternalIdentity) {
	user := pageFrom(r).user
	if user == nil || user.ID != flow.UserID {
		s.ssoProblem(w, r, http.StatusBadRequest, errSSOBadState)
		return
	}
	_, err := s.identities.LinkIdentity(r.Context(), ext)
	if keygate.ErrorCode(err) == keygate.ECONFLICT {
		s.addFlash(w, r, "error", keygate.ErrorMessage(err))
	} else if err != nil {
		s.Error(w, r, err)
		return
	} else {
		s.addFlash(w, r, "success", p.Name+" is now linked to your account.")
	}
	http.Redirect(w, r, "/settings/sign-in-methods", http.StatusSeeOther)
}

func (s *Server) ssoProblem(w http.ResponseWriter, r *http.Request, status int, p views.SSOProblem) {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, views.SSOProblemPage(s.layout(r, p.Title, ""), p))
}

func ssoTruncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
