package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/internal/sso"
	"github.com/keygate/keygate/views"
)

// orgProviderPrefix starts the provider key of an organization's own
// provider, "org:<org public id>", in flows and identities.
const orgProviderPrefix = "org:"

// orgSSOCallbackPath is the redirect URI every organization registers.
const orgSSOCallbackPath = "/auth/org/callback"

// orgDiscoveryTimeout bounds discovery at an organization's provider,
// which happens on demand, while the person waits.
const orgDiscoveryTimeout = 10 * time.Second

// orgProviderTimeout bounds each request to an organization's provider.
const orgProviderTimeout = 15 * time.Second

// outboundHint is the guard's explanation of err followed by a space, or
// "" when the guard did not refuse it.
func outboundHint(err error) string {
	if msg := outbound.Message(err); msg != "" {
		return msg + " "
	}
	return ""
}

// orgProviderCache keeps each organization's discovered provider, until
// its settings change.
type orgProviderCache struct {
	mu sync.Mutex
	m  map[string]orgProviderEntry
}

type orgProviderEntry struct {
	fingerprint string
	provider    *sso.Provider
}

func newOrgProviderCache() *orgProviderCache {
	return &orgProviderCache{m: map[string]orgProviderEntry{}}
}

// orgProvider returns the organization's provider, discovering it on first
// use or after its settings changed. Like the instance provider it pins
// the issuer, verifies ID tokens and uses a nonce and PKCE.
func (s *Server) orgProvider(ctx context.Context, r *http.Request, conf *keygate.OrgSSO) (*sso.Provider, error) {
	callback := s.publicBaseURL(r) + orgSSOCallbackPath
	sum := sha256.Sum256([]byte(conf.Issuer + "\x00" + conf.ClientID + "\x00" + conf.ClientSecret + "\x00" + callback + "\x00" + conf.OrgName))
	fp := hex.EncodeToString(sum[:])
	c := s.orgProviders
	c.mu.Lock()
	e, ok := c.m[conf.OrgPublicID]
	c.mu.Unlock()
	if ok && e.fingerprint == fp {
		return e.provider, nil
	}
	// Unlike the operator's providers, an organization's is reached only
	// through the outbound guard: https, no redirects, no internal
	// addresses (discovery, keys, token and userinfo alike).
	p, err := sso.NewOIDC(sso.OIDCConfig{Key: orgProviderPrefix + conf.OrgPublicID, Name: conf.OrgName, Issuer: conf.Issuer,
		ClientID: conf.ClientID, ClientSecret: conf.ClientSecret, CallbackURL: callback, Now: s.now,
		HTTPClient: s.outbound.Client(orgProviderTimeout)})
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, orgDiscoveryTimeout)
	defer cancel()
	if err := p.Discover(dctx); err != nil {
		return nil, err
	}
	prov := p.Provider()
	c.mu.Lock()
	c.m[conf.OrgPublicID] = orgProviderEntry{fingerprint: fp, provider: prov}
	c.mu.Unlock()
	return prov, nil
}

// orgSSOLoginURL is the login page's "Sign in with SSO" link, or "".
func (s *Server) orgSSOLoginURL(r *http.Request) string {
	if s.orgSSO == nil || s.identities == nil {
		return ""
	}
	if next := safeNext(r.URL.Query().Get("next")); next != "" {
		return "/login/sso?next=" + url.QueryEscape(next)
	}
	return "/login/sso"
}

// orgSSOSettingsURL links Settings > Single sign-on for Admins, or "".
func (s *Server) orgSSOSettingsURL(org views.Org) string {
	if s.orgSSO == nil || !org.IsAdmin {
		return ""
	}
	return org.URL("settings/sso")
}

// handleOrgSSOLoginPage asks for a work email.
func (s *Server) handleOrgSSOLoginPage(w http.ResponseWriter, r *http.Request) {
	if s.orgSSOLoginURL(r) == "" {
		s.notFound(w, r)
		return
	}
	if pageFrom(r).user != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, views.OrgSSOLoginPage(s.layout(r, "Sign in with SSO", ""), views.Form{}, safeNext(r.URL.Query().Get("next"))))
}

// handleOrgSSOBegin finds the organization by the email's domain and sends
// the person to its provider, with the same state, nonce and PKCE as the
// instance's providers.
func (s *Server) handleOrgSSOBegin(w http.ResponseWriter, r *http.Request) {
	if s.orgSSOLoginURL(r) == "" {
		s.notFound(w, r)
		return
	}
	f := formOf(r, "email")
	next := safeNext(r.PostFormValue("next"))
	email := keygate.NormalizeEmail(f.Value("email"))
	retry := func(msg string) {
		f.Errors = map[string]string{"email": msg}
		s.render(w, r, http.StatusBadRequest, views.OrgSSOLoginPage(s.layout(r, "Sign in with SSO", ""), f, next))
	}
	if msg := keygate.ValidateEmail(email); msg != "" {
		retry(msg)
		return
	}
	conf, err := s.orgSSO.FindOrgSSOByEmail(r.Context(), email)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		retry(keygate.MsgNoOrgSSODomain)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.beginOrgSSO(w, r, conf, &ssoFlow{Intent: ssoIntentLogin, Next: next})
}

// beginOrgSSO sends the person to the organization's provider, with the
// same state, nonce and PKCE as the instance's providers.
func (s *Server) beginOrgSSO(w http.ResponseWriter, r *http.Request, conf *keygate.OrgSSO, flow *ssoFlow) {
	p, err := s.orgProvider(r.Context(), r, conf)
	if err != nil {
		s.logger.Warn("org sso discovery", "org", conf.OrgPublicID, "error", err.Error())
		s.ssoProblem(w, r, http.StatusServiceUnavailable, views.SSOProblem{Title: conf.OrgName + " single sign-on is unavailable",
			Message: "Your organization's sign-in provider cannot be reached right now. " + outboundHint(err) + "Try again in a minute."})
		return
	}
	s.beginSSO(w, r, p, flow)
}

// handleOrgSSOCallback finishes an organization flow. Which organization
// comes from the flow kept in the browser's flow cookie, never from the
// request; of the request it reads only code, state, error and
// error_description.
func (s *Server) handleOrgSSOCallback(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil || s.identities == nil {
		s.notFound(w, r)
		return
	}
	q := r.URL.Query()
	code, state, errCode, errDesc := q.Get("code"), q.Get("state"), q.Get("error"), q.Get("error_description")
	flow := s.takeSSOFlow(w, r)
	w.Header().Set("Cache-Control", "no-store")
	valid := flow != nil && strings.HasPrefix(flow.Provider, orgProviderPrefix) && (flow.Intent == ssoIntentLogin || flow.Intent == ssoIntentLink) &&
		state != "" && s.now().Before(flow.Expires) && subtle.ConstantTimeCompare([]byte(flow.State), []byte(state)) == 1
	if !valid || (errCode == "" && code == "") {
		s.ssoProblem(w, r, http.StatusBadRequest, errSSOBadState)
		return
	}
	conf, err := s.orgSSO.FindOrgSSOForLogin(r.Context(), strings.TrimPrefix(flow.Provider, orgProviderPrefix))
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		s.ssoProblem(w, r, http.StatusBadRequest, errSSOBadState)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	if errCode != "" {
		msg := conf.OrgName + " single sign-on did not sign you in (" + ssoTruncate(errCode, 64) + ")."
		if errDesc != "" {
			msg += " It said: " + ssoTruncate(errDesc, 300)
		}
		s.ssoProblem(w, r, http.StatusUnauthorized, views.SSOProblem{Title: "Sign-in was cancelled", Message: msg})
		return
	}
	p, err := s.orgProvider(r.Context(), r, conf)
	var ext *keygate.ExternalIdentity
	if err == nil {
		ext, err = p.Complete(r.Context(), flow.Session, code)
	}
	if err != nil {
		s.logger.Warn("org sso callback", "org", conf.OrgPublicID, "error", err.Error())
		s.ssoProblem(w, r, http.StatusUnauthorized, views.SSOProblem{Title: "Sign-in did not complete",
			Message: conf.OrgName + " single sign-on could not confirm who you are. " + outboundHint(err) + "Start again from the login page."})
		return
	}
	if flow.Intent == ssoIntentLink {
		s.finishOrgSSOLink(w, r, conf, flow, ext)
		return
	}
	s.finishOrgSSOLogin(w, r, conf, flow, ext)
}

// finishOrgSSOLogin logs in or provisions the person the organization's
// provider identified. The session remembers that it came through this
// organization's provider, which is what a Require SSO organization's
// pages ask for.
func (s *Server) finishOrgSSOLogin(w http.ResponseWriter, r *http.Request, conf *keygate.OrgSSO, flow *ssoFlow, ext *keygate.ExternalIdentity) {
	user, outcome, err := s.orgSSO.LoginWithOrgIdentity(r.Context(), conf.OrgPublicID, ext)
	switch keygate.ErrorCode(err) {
	case "":
	case keygate.ECONFLICT:
		s.ssoProblem(w, r, http.StatusConflict, views.SSOProblem{Title: "Link this account first", Message: keygate.ErrorMessage(err), LinkPassword: true})
		return
	case keygate.EFORBIDDEN, keygate.EUNAUTHORIZED, keygate.EINVALID, keygate.ENOTFOUND:
		s.ssoProblem(w, r, ErrorStatus(err), views.SSOProblem{Title: "Sign-in with " + conf.OrgName + " refused", Message: keygate.ErrorMessage(err)})
		return
	default:
		s.Error(w, r, err)
		return
	}
	// A new session id, as at password login.
	if err := s.logInThroughOrg(w, r, user, conf.OrgPublicID); err != nil {
		s.Error(w, r, err)
		return
	}
	switch outcome {
	case keygate.SSOSignedUp:
		s.addFlash(w, r, "success", "Welcome to Keygate! You joined "+conf.OrgName+" through its single sign-on.")
	case keygate.SSOLinked:
		s.addFlash(w, r, "success", conf.OrgName+" single sign-on is now linked to your account.")
	}
	next := flow.Next
	if next == "" {
		next = "/orgs/" + conf.OrgPublicID
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// finishOrgSSOLink links the identity to the member who started the flow
// from Settings > Sign-in methods, who must still be the one logged in.
func (s *Server) finishOrgSSOLink(w http.ResponseWriter, r *http.Request, conf *keygate.OrgSSO, flow *ssoFlow, ext *keygate.ExternalIdentity) {
	user := pageFrom(r).user
	if user == nil || user.ID != flow.UserID {
		s.ssoProblem(w, r, http.StatusBadRequest, errSSOBadState)
		return
	}
	_, err := s.orgSSO.LinkOrgIdentity(r.Context(), conf.OrgPublicID, ext)
	switch keygate.ErrorCode(err) {
	case "":
		if err := s.logInThroughOrg(w, r, user, conf.OrgPublicID); err != nil {
			s.Error(w, r, err)
			return
		}
		s.addFlash(w, r, "success", conf.OrgName+" single sign-on is now linked to your account.")
	case keygate.ECONFLICT, keygate.EFORBIDDEN, keygate.ENOTFOUND, keygate.EINVALID:
		s.addFlash(w, r, "error", keygate.ErrorMessage(err))
	default:
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/sign-in-methods", http.StatusSeeOther)
}
