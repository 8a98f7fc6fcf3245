// Package web is Keygate's HTTP layer: the dashboard (HTML, session cookie,
// same-origin checks) and, beside it, the JSON API (API keys). Every route is
// listed in routes.go.
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/securecookie"
	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sso"
	"github.com/keygate/keygate/internal/usage"
)

// Config holds what the web layer is told at start-up.
type Config struct {
	// BaseURL is the public https URL, used in links and redirects. Empty
	// means "the host the request came to".
	BaseURL string
	// HTTPSPort is the port of the HTTPS listener, for redirects from plain
	// HTTP when BaseURL is empty.
	HTTPSPort string
	// ListenURL is the HTTPS listener's URL as configured
	// (https://localhost:8443): links that leave the request, such as
	// emailed invitations, name it when BaseURL is empty, rather than a
	// Host header anyone can set.
	ListenURL string
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies []*net.IPNet
	// SessionKey signs the session cookie.
	SessionKey []byte
	// SignupMode is the --signup flag (open, invite, closed). Pages ask
	// UserService.CurrentSignupMode, which a superuser's setting overrides.
	SignupMode string
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// RateLimit is each API key's default limit (--rate-limit).
	RateLimit ratelimit.Limit
	// SignupRateLimit limits signups per client address
	// (--signup-rate-limit); zero means 10/h.
	SignupRateLimit ratelimit.Limit
	// MetricsToken, if set, serves /metrics on the main listener to
	// requests with "Authorization: Bearer MetricsToken".
	MetricsToken string
	// SSO holds the single sign-on providers offered on the login page;
	// nil offers none.
	SSO *sso.Registry
	// DNS looks up the TXT records that prove an organization's email
	// domain, and the addresses of an organization's issuer; nil means
	// the system resolver.
	DNS DNSResolver
	// AllowPrivateDestinations lets requests to destinations an
	// organization configures (its identity provider) reach private and
	// loopback addresses, and plain http:// on loopback
	// (--allow-private-destinations). Off, they reach public https only.
	AllowPrivateDestinations bool
	// TLSMode is how the HTTPS listener got its certificate: "self-signed",
	// "files" or "acme" ("" when unknown). With "self-signed", the
	// examples people copy trust TLSCertFile explicitly.
	TLSMode string
	// TLSCertFile is the absolute path of the certificate in use, when it
	// is a file (self-signed or files mode).
	TLSCertFile string
}

// Server holds the services and builds the handlers.
type Server struct {
	cfg Config
	// apiExact holds the API's handlers of fixed paths, by path (apiFast).
	apiExact map[string]http.HandlerFunc
	baseURL  *url.URL
	logger   *slog.Logger
	now      func() time.Time

	users         keygate.UserService
	orgs          keygate.OrganizationService
	sessions      keygate.SessionService
	apiKeys       keygate.APIKeyService
	audit         keygate.AuditService
	bots          keygate.BotService
	conversations keygate.ConversationService
	analytics     AnalyticsService
	verifier      *apikey.Verifier
	exposer       KeyExposer
	limiter       ratelimit.Limiter
	usage         *usage.Buffer
	metrics       *Metrics
	db            Pinger
	storage       storageFull
	listener      ListenerStatus
	monitoring    keygate.MonitoringService
	memberships   keygate.MembershipService
	mailer        Mailer
	resets        keygate.PasswordResetService
	emailChanges  keygate.EmailChangeService
	recovery      *recovery
	leaks         keygate.LeakService
	keyPolicies   keygate.KeyPolicyService
	admin         keygate.AdminService
	integrations  keygate.IntegrationService
	permissions   keygate.PermissionService
	store         *SessionStore
	identities    keygate.IdentityService
	orgSSO        keygate.OrgSSOService
	orgProviders  *orgProviderCache
	// flowCodec encrypts and signs the single sign-on flow cookie.
	flowCodec *securecookie.SecureCookie
	// dns answers domain verification lookups, and the early check of
	// an organization's issuer.
	dns DNSResolver
	// outbound guards requests to destinations organizations configure.
	outbound      outbound.Policy
	loginAccounts ratelimit.Throttler
	loginIPs      ratelimit.Throttler
	loginDevices  ratelimit.Throttler
	signups       ratelimit.Limiter
	deviceCodec   *securecookie.SecureCookie
	// idem answers retried API requests (api_idempotency.go).
	idem *idempotency
	// twoFactor keeps authenticators and recovery codes; nil hides
	// two-step verification. pendingCodec seals the cookie of a login
	// waiting for its second step (ui_login_verify.go).
	twoFactor    keygate.TwoFactorService
	pendingCodec *securecookie.SecureCookie
	// passkeys keeps WebAuthn credentials and webAuthn checks them; either
	// nil hides passkeys (passkeys.go, ui_passkeys.go).
	passkeys keygate.PasskeyService
	webAuthn *webauthn.WebAuthn
	// stepUpCodec seals the form a "Confirm it's you" dialog carries.
	stepUpCodec *securecookie.SecureCookie
	// webhooks keeps webhook endpoints; nil hides them. keyEvents
	// queues events about keys, rateLimited when each key was last told
	// of (api_webhooks.go).
	webhooks    keygate.WebhookService
	keyEvents   KeyEventQueue
	rateLimited sync.Map
	// notifications keeps what people are told of (the bell); nil hides
	// it.
	notifications keygate.NotificationService

	handler http.Handler
}

// DNSResolver looks up TXT records and addresses; *net.Resolver is one.
type DNSResolver interface {
	keygate.TXTResolver
	outbound.IPResolver
}

// Services are the domain services the server calls.
type Services struct {
	Users    keygate.UserService
	Orgs     keygate.OrganizationService
	Sessions keygate.SessionService
	APIKeys  keygate.APIKeyService
	Audit    keygate.AuditService

	Bots          keygate.BotService
	Conversations keygate.ConversationService
	Analytics     AnalyticsService
	// Verifier resolves API keys; Exposer marks keys seen over plain HTTP.
	Verifier *apikey.Verifier
	Exposer  KeyExposer
	// Limiter counts API requests per key; nil means an in-memory GCRA.
	Limiter ratelimit.Limiter
	// Usage buffers API usage; nil records none.
	Usage *usage.Buffer
	// DB answers the readiness probe.
	DB Pinger
	// Monitoring reads usage for the overview, key pages and API logs.
	Monitoring keygate.MonitoringService
	// Admin is the superusers' instance administration; nil hides /admin.
	Admin keygate.AdminService
	// Memberships manages members and invitations.
	Memberships keygate.MembershipService
	// Mailer sends invitation emails; nil without --smtp-url.
	Mailer Mailer
	// PasswordResets makes and uses password reset links; nil hides
	// "Forgot your password?".
	PasswordResets keygate.PasswordResetService
	// EmailChanges confirms changes of email from the new address; nil
	// keeps emails as they are.
	EmailChanges keygate.EmailChangeService
	// Leaks takes reports of leaked keys; nil answers them and does nothing.
	Leaks keygate.LeakService
	// KeyPolicies keeps the organizations' key policies; nil hides
	// Settings > Key policy.
	KeyPolicies keygate.KeyPolicyService
	// Identities links single sign-on identities to users; nil disables
	// single sign-on.
	Identities keygate.IdentityService
	// Integrations stores the organizations' third-party credentials,
	// encrypted; nil hides Settings > Integrations.
	Integrations keygate.IntegrationService
	// Permissions are the organizations' own permission names for keys.
	Permissions keygate.PermissionService
	// OrgSSO stores organizations' own single sign-on providers; nil hides
	// Settings > Single sign-on and "Sign in with SSO".
	OrgSSO keygate.OrgSSOService
	// Idempotency keeps the answers to API requests made with an
	// Idempotency-Key; nil ignores the header.
	Idempotency keygate.IdempotencyService
	// Throttles keeps the login and signup throttles where every replica
	// sees them; nil keeps them in this process, enough for one.
	Throttles ThrottleStore
	// IdempotencyClaims marks API requests with an Idempotency-Key in
	// flight where every replica sees them; nil keeps the marks in this
	// process, enough for one.
	IdempotencyClaims IdempotencyClaims
	// Listener tells this process of the other replicas' changes to keys
	// (PostgreSQL); nil on SQLite, where there are none.
	Listener ListenerStatus
	// TwoFactor keeps authenticator apps and recovery codes; nil hides
	// two-step verification.
	TwoFactor keygate.TwoFactorService
	// Passkeys keeps people's passkeys; nil hides them.
	Passkeys keygate.PasskeyService
	// Webhooks keeps organizations' webhook endpoints; nil hides
	// Settings > Webhooks and answers 404 to /api/v1/webhooks.
	Webhooks keygate.WebhookService
	// Notifications keeps what people are told of: the bell and Settings
	// > Notifications; nil hides them.
	Notifications keygate.NotificationService
	// KeyEvents queues webhook events about keys (key.rate_limited); nil
	// queues none.
	KeyEvents KeyEventQueue
}

// AnalyticsService sums up an organization's usage (internal/sqlstore).
type AnalyticsService interface {
	Analytics(ctx context.Context, from, to time.Time) (*keygate.Analytics, error)
}

// KeyExposer marks a key that arrived over plain HTTP.
type KeyExposer interface {
	MarkExposed(ctx context.Context, keyID int64) error
}

// NewServer builds a Server. logger may be nil.
func NewServer(cfg Config, svc Services, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, logger: logger, now: time.Now,
		users: svc.Users, orgs: svc.Orgs, sessions: svc.Sessions, apiKeys: svc.APIKeys, audit: svc.Audit,
		bots: svc.Bots, conversations: svc.Conversations, analytics: svc.Analytics,
		verifier: svc.Verifier, exposer: svc.Exposer, limiter: svc.Limiter, usage: svc.Usage, metrics: NewMetrics(), db: svc.DB, monitoring: svc.Monitoring,
		memberships: svc.Memberships, mailer: svc.Mailer, listener: svc.Listener, leaks: svc.Leaks, keyPolicies: svc.KeyPolicies,
		resets: svc.PasswordResets, emailChanges: svc.EmailChanges, recovery: newRecovery(cfg.Now, svc.Throttles, logger),
		admin:         svc.Admin,
		identities:    svc.Identities,
		integrations:  svc.Integrations,
		permissions:   svc.Permissions,
		orgSSO:        svc.OrgSSO,
		orgProviders:  newOrgProviderCache(),
		flowCodec:     newFlowCodec(cfg.SessionKey),
		dns:           cfg.DNS,
		outbound:      outbound.Policy{AllowPrivate: cfg.AllowPrivateDestinations},
		loginAccounts: newLoginThrottle(loginAccountFailures, cfg.Now, svc.Throttles, logger),
		loginIPs:      newLoginThrottle(loginIPFailures, cfg.Now, svc.Throttles, logger),
		loginDevices:  newLoginThrottle(loginDeviceFailures, cfg.Now, svc.Throttles, logger),
		signups:       newSignupLimiter(cfg.Now, svc.Throttles, logger),
		deviceCodec:   newDeviceCodec(cfg.SessionKey),
		idem:          newIdempotency(svc.Idempotency, svc.IdempotencyClaims),
	}
	s.twoFactor, s.pendingCodec = svc.TwoFactor, newPendingLoginCodec(cfg.SessionKey)
	s.stepUpCodec = newStepUpCodec(cfg.SessionKey)
	s.webhooks, s.keyEvents = svc.Webhooks, svc.KeyEvents
	s.notifications = svc.Notifications
	if cfg.Now != nil {
		s.now = cfg.Now
	}
	if s.dns == nil {
		s.dns = net.DefaultResolver
	}
	if s.limiter == nil {
		g := ratelimit.NewGCRA()
		g.Now = s.now
		s.limiter = g
	}
	if s.cfg.RateLimit.Count == 0 {
		s.cfg.RateLimit = ratelimit.Limit{Count: 1000, Period: time.Hour}
	}
	if s.cfg.SignupRateLimit.Count == 0 {
		s.cfg.SignupRateLimit = defaultSignupRateLimit
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil {
			return nil, err
		}
		s.baseURL = u
	}
	s.passkeys, s.webAuthn = svc.Passkeys, s.newWebAuthn()
	codec := securecookie.New(cfg.SessionKey, nil)
	codec.MaxAge(int(keygate.SessionAbsoluteTimeout / time.Second))
	s.store = NewSessionStore(svc.Sessions, codec)
	s.registerServiceMetrics()
	s.registerStorageMetrics()
	s.handler = s.routes()
	return s, nil
}

// Handler returns the handler for the HTTPS listener.
func (s *Server) Handler() http.Handler { return s.handler }

// publicBaseURL is the URL clients reach this instance at: the configured
// base URL, or the scheme and host of the request.
func (s *Server) publicBaseURL(r *http.Request) string {
	if s.baseURL != nil {
		return strings.TrimSuffix(s.baseURL.String(), "/")
	}
	return "https://" + r.Host
}

// linkBaseURL is the URL of links sent away from the request, such as
// invitation links (shown, returned and emailed): the configured base URL,
// else the listener's configured address, never the request's Host
// header, which would let anyone who can send a request have a link point
// elsewhere. Without either it is "" and links are paths.
func (s *Server) linkBaseURL() string {
	if s.baseURL != nil {
		return strings.TrimSuffix(s.baseURL.String(), "/")
	}
	return strings.TrimSuffix(s.cfg.ListenURL, "/")
}
