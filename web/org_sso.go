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
	p, err := sso.NewOIDC(sso.OIDCConfig{Key: orgProviderPrefix + conf.OrgPublicID, Name: conf.OrgName, Issuer: conf.Issuer,
		ClientID: conf.ClientID, ClientSecret: conf.ClientSecret, CallbackURL: callback, Now: s.now})
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

// renderOrgSSOSettings shows Settings > Single sign-on; a nil form is
// filled from the saved settings.
func (s *Server) renderOrgSSOSettings(w http.ResponseWriter, r *http.Request, status int, form *views.Form) {
	l := s.layout(r, "Single sign-on", "settings")
	saved, err := s.orgSSO.FindOrgSSO(r.Context(), l.Org.ID)
	if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		s.Error(w, r, err)
		return
	}
	p := views.OrgSSOSettings{
		Nav: views.SettingsNav{SettingsURL: l.Org.URL("settings"), APIKeysURL: l.Org.URL("api-keys"), AuditURL: l.Org.URL("audit-log"),
			SSOURL: l.Org.URL("settings/sso"), Active: "sso"},
		Action: l.Org.URL("settings/sso"), CallbackURL: s.publicBaseURL(r) + orgSSOCallbackPath,
	}
	if s.integrations != nil {
		p.Nav.IntegrationsURL = l.Org.URL("settings/integrations")
	}
	if saved != nil {
		p.Saved = &views.SavedOrgSSO{Issuer: saved.Issuer, ClientID: saved.ClientID, Masked: saved.MaskedSecret(), Domains: saved.Domains,
			RequireSSO: saved.RequireSSO, Updated: views.Time{At: saved.UpdatedAt, Now: s.now()}, UpdatedBy: saved.UpdatedByName}
	}
	switch {
	case form != nil:
		p.Form = *form
	case saved != nil:
		p.Form.Values = map[string]string{"issuer": saved.Issuer, "client_id": saved.ClientID, "domains": strings.Join(saved.Domains, "\n")}
		if saved.RequireSSO {
			p.Form.Values["require_sso"] = "1"
		}
	}
	s.render(w, r, status, views.OrgSSOSettingsPage(l, p))
}

func (s *Server) handleOrgSSOSettings(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	s.renderOrgSSOSettings(w, r, http.StatusOK, nil)
}

// handleSaveOrgSSO saves the organization's provider. The client secret is
// read once and handed to the service; it never goes back into a page.
func (s *Server) handleSaveOrgSSO(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil {
		s.notFound(w, r)
		return
	}
	org := pageFrom(r).org
	f := formOf(r, "issuer", "client_id", "domains", "require_sso")
	_, err := s.orgSSO.SaveOrgSSO(r.Context(), org.PublicID, &keygate.OrgSSOSave{
		Issuer: f.Value("issuer"), ClientID: f.Value("client_id"), ClientSecret: r.PostFormValue("client_secret"),
		Domains: f.Value("domains"), RequireSSO: f.Value("require_sso") == "1",
	})
	if keygate.ErrorCode(err) == keygate.EINVALID {
		failed := formWithError(f, err)
		s.renderOrgSSOSettings(w, r, http.StatusBadRequest, &failed)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.orgProviders.forget(org.PublicID)
	s.addFlash(w, r, "success", "Single sign-on saved.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings/sso", http.StatusSeeOther)
}

// forget drops an organization's cached provider.
func (c *orgProviderCache) forget(orgPublicID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, orgPublicID)
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
	p, err := s.orgProvider(r.Context(), r, conf)
	if err != nil {
		s.logger.Warn("org sso discovery", "org", conf.OrgPublicID, "error", err.Error())
		s.ssoProblem(w, r, http.StatusServiceUnavailable, views.SSOProblem{Title: conf.OrgName + " single sign-on is unavailable",
			Message: "Your organization's sign-in provider cannot be reached right now. Try again in a minute."})
		return
	}
	s.beginSSO(w, r, p, &ssoFlow{Intent: ssoIntentLogin, Next: next})
}

// handleOrgSSOCallback finishes an organization flow. Which organization
// comes from the flow kept in the session, never from the request; of the
// request it reads only code, state, error and error_description.
func (s *Server) handleOrgSSOCallback(w http.ResponseWriter, r *http.Request) {
	if s.orgSSO == nil || s.identities == nil {
		s.notFound(w, r)
		return
	}
	q := r.URL.Query()
	code, state, errCode, errDesc := q.Get("code"), q.Get("state"), q.Get("error"), q.Get("error_description")
	flow, err := s.takeSSOFlow(w, r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	valid := flow != nil && strings.HasPrefix(flow.Provider, orgProviderPrefix) && flow.Intent == ssoIntentLogin && state != "" &&
		s.now().Before(flow.Expires) && subtle.ConstantTimeCompare([]byte(flow.State), []byte(state)) == 1
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
			Message: conf.OrgName + " single sign-on could not confirm who you are. Start again from the login page."})
		return
	}
	s.finishOrgSSOLogin(w, r, conf, flow, ext)
}

// finishOrgSSOLogin logs in, links or provisions the person the
// organization's provider identified.
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
	if err := s.logIn(w, r, user); err != nil {
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
