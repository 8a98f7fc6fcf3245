// Package app wires Keygate's services over one database. The server, the
// benchmark and the web tests all start Keygate from New, so that a service
// added here reaches each of them and what is measured or tested is what
// runs.
package app

import (
	"log/slog"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/usage"
	"github.com/keygate/keygate/web"
)

// Options are what differs between the places Keygate is started from.
type Options struct {
	// Hasher hashes passwords; nil uses password.DefaultParams. Tests and
	// the benchmark pass cheap parameters: they only sign up to seed.
	Hasher *password.Hasher
	// SecretBox seals the stored credentials of integrations and of
	// organizations' single sign-on; nil leaves both unwired (hidden).
	SecretBox *secretbox.Box
	// Mailer sends invitation emails; nil sends none.
	Mailer web.Mailer
	// SignupMode is open, invite or closed; "" keeps the service's default.
	SignupMode string
	// MaxKeysPerOrg caps each organization's active API keys; 0 keeps the
	// service's default.
	MaxKeysPerOrg int
	// Logger receives the warnings of the listener and of the shared rate
	// limiter on PostgreSQL; nil discards them.
	Logger *slog.Logger
}

// App is Keygate's services over one database, ready for web.NewServer,
// with the concrete services its callers seed, sweep or inspect.
type App struct {
	// Services is what web.NewServer takes.
	Services web.Services

	Users        *sqlstore.UserService
	Orgs         *sqlstore.OrganizationService
	Sessions     *sqlstore.SessionService
	Keys         *sqlstore.APIKeyService
	Bots         *sqlstore.BotService
	Idempotency  *sqlstore.IdempotencyService
	Integrations *sqlstore.IntegrationService // nil without Options.SecretBox
	// Webhooks keeps organizations' webhook endpoints and the outbox the
	// delivery worker (internal/webhook) sends; nil without
	// Options.SecretBox, which seals their secrets.
	Webhooks *sqlstore.WebhookService
	// KeyPolicies keeps the organizations' key policies; its sweep of
	// unused keys is a background job.
	KeyPolicies *sqlstore.KeyPolicyService
	// Notifications keeps what people are told of; its sweep of keys'
	// reminders is a background job.
	Notifications *sqlstore.NotificationService
	// UsageStore is where Usage flushes to, and the request log's sweeper.
	UsageStore *sqlstore.UsageStore
	// RateLimits holds what replicas share of rate limits and throttles,
	// and what the sweeper deletes of it.
	RateLimits *sqlstore.RateLimitStore
	// Verifier caches API keys; every committed change to keys empties it.
	Verifier *apikey.Verifier
	// Usage buffers API usage; the caller runs or flushes it.
	Usage *usage.Buffer
	// Listener keeps Verifier in step with the other replicas on
	// PostgreSQL; nil on SQLite. It is the DB's Bus; the caller runs it.
	Listener *sqlstore.Listener
}

// New builds every service over db, which must be open. On PostgreSQL,
// where several replicas may share db, it also makes the listener and puts
// rate limits, throttles and Idempotency-Key claims in the database, so
// that a client cannot tell which replica answered; on SQLite the one
// process keeps them in memory.
func New(db *sqlstore.DB, o Options) *App {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hasher := o.Hasher
	if hasher == nil {
		hasher = password.NewHasher(password.DefaultParams, 0)
	}
	a := &App{
		Users: sqlstore.NewUserService(db, hasher), Orgs: sqlstore.NewOrganizationService(db),
		Sessions: sqlstore.NewSessionService(db), Keys: sqlstore.NewAPIKeyService(db), Bots: sqlstore.NewBotService(db),
		Idempotency: sqlstore.NewIdempotencyService(db), UsageStore: sqlstore.NewUsageStore(db),
		RateLimits: sqlstore.NewRateLimitStore(db), KeyPolicies: sqlstore.NewKeyPolicyService(db),
		Notifications: sqlstore.NewNotificationService(db),
	}
	if o.SignupMode != "" {
		a.Users.SignupMode = o.SignupMode
	}
	if o.MaxKeysPerOrg > 0 {
		a.Keys.MaxKeysPerOrg = o.MaxKeysPerOrg
	}
	a.Verifier = apikey.NewVerifier(a.Keys)
	db.OnKeysChanged = a.Verifier.Invalidate
	a.Usage = usage.NewBuffer(a.UsageStore)
	a.Services = web.Services{
		Users: a.Users, Orgs: a.Orgs, Sessions: a.Sessions, APIKeys: a.Keys, Audit: sqlstore.NewAuditService(db),
		Bots: a.Bots, Conversations: sqlstore.NewConversationService(db), Analytics: sqlstore.NewAnalyticsService(db),
		Verifier: a.Verifier, Exposer: a.Keys, Usage: a.Usage, DB: db,
		Monitoring: sqlstore.NewMonitoringService(db), Admin: sqlstore.NewAdminService(db, a.Users),
		Memberships: sqlstore.NewMembershipService(db), Identities: sqlstore.NewIdentityService(db, a.Users),
		Idempotency: a.Idempotency, Permissions: sqlstore.NewPermissionService(db), Leaks: sqlstore.NewLeakService(db),
		KeyPolicies: a.KeyPolicies, PasswordResets: sqlstore.NewPasswordResetService(db, hasher),
		EmailChanges: sqlstore.NewEmailChangeService(db, hasher), Notifications: a.Notifications,
	}
	// A typed nil in the interface would look like a mailer to web.
	if o.Mailer != nil {
		a.Services.Mailer = o.Mailer
	}
	if o.SecretBox != nil {
		a.Integrations = sqlstore.NewIntegrationService(db, o.SecretBox)
		a.Services.Integrations = a.Integrations
		a.Services.OrgSSO = sqlstore.NewOrgSSOService(db, o.SecretBox)
		twoFactor := sqlstore.NewTwoFactorService(db, o.SecretBox, hasher)
		a.Services.TwoFactor, a.Services.Passkeys = twoFactor, twoFactor
		a.Webhooks = sqlstore.NewWebhookService(db, o.SecretBox)
		a.Services.Webhooks, a.Services.KeyEvents = a.Webhooks, a.Webhooks
	}
	if db.Engine() == sqlstore.EnginePostgres {
		a.sharePostgres(db, logger)
	}
	return a
}

// sharePostgres wires what replicas on one PostgreSQL database share. Until
// the listener listens, the key cache reads through.
func (a *App) sharePostgres(db *sqlstore.DB, logger *slog.Logger) {
	a.Listener = sqlstore.NewListener(db.DSN, a.Verifier, logger)
	db.Bus = a.Listener
	limiter := ratelimit.NewShared(a.RateLimits)
	// A failed trip makes the replica limit on its own for a second; the
	// log says so at most once a second as well.
	limiter.OnError = func(err error) {
		logger.Warn("rate limits: the database failed, limiting in this replica alone", "error", err.Error())
	}
	a.Services.Listener = a.Listener
	a.Services.Limiter, a.Services.Throttles, a.Services.IdempotencyClaims = limiter, a.RateLimits, a.Idempotency
}
