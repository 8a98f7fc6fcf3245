package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

// mustReplica starts another Keygate server on app's database, as a
// second replica with the same session key. With shared, it keeps its
// throttles and Idempotency-Key claims in the database, as replicas on
// PostgreSQL do; without, in its own memory, as a single SQLite instance.
// opts change its configuration.
func mustReplica(tb testing.TB, app *App, shared bool, opts ...Option) *App {
	tb.Helper()
	db := app.DB
	var svc web.Services
	if shared {
		svc.Throttles = sqlstore.NewRateLimitStore(db)
		svc.IdempotencyClaims = sqlstore.NewIdempotencyService(db)
	}
	svc.Users, svc.Orgs, svc.Sessions, svc.APIKeys = app.Users, app.Orgs, app.Sessions, app.Keys
	svc.Audit, svc.Bots, svc.Conversations = sqlstore.NewAuditService(db), sqlstore.NewBotService(db), sqlstore.NewConversationService(db)
	svc.Analytics, svc.Verifier, svc.Exposer, svc.Usage, svc.DB = sqlstore.NewAnalyticsService(db), app.Verifier, app.Keys, app.Usage, db
	svc.Admin, svc.Memberships, svc.Monitoring = sqlstore.NewAdminService(db, app.Users), sqlstore.NewMembershipService(db), sqlstore.NewMonitoringService(db)
	svc.Identities, svc.Integrations = sqlstore.NewIdentityService(db, app.Users), app.Integrations
	svc.OrgSSO, svc.Idempotency = sqlstore.NewOrgSSOService(db, app.SecretBox), sqlstore.NewIdempotencyService(db)

	srv := httptest.NewUnstartedServer(nil)
	tb.Cleanup(srv.Close)
	cfg := web.Config{SessionKey: bytes.Repeat([]byte("k"), 64), SignupMode: "open", Now: app.Clock.Now,
		SignupRateLimit: ratelimit.Limit{Count: 10000, Period: time.Hour}, ListenURL: "https://" + srv.Listener.Addr().String()}
	r := *app
	for _, o := range opts {
		o(&cfg, &r)
	}
	w, err := web.NewServer(cfg, svc, slog.New(slog.NewTextHandler(app.Logs, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	srv.Config.Handler = w.Handler()
	srv.StartTLS()
	r.Server, r.Web = srv, w
	return &r
}

// TestLoginThrottleAcrossReplicas spreads five wrong passwords for one
// account over two replicas: with shared throttles the account is locked
// for unknown browsers on both; with throttles in each replica's memory,
// it is not, which is why replicas on PostgreSQL share them.
func TestLoginThrottleAcrossReplicas(t *testing.T) {
	t.Parallel()
	bad := url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}
	good := url.Values{"email": {"ada@example.com"}, "password": {testPassword}}
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"OKSharedLocksOnBoth", true}, {"InMemoryLocksNeither", false}} {
		t.Run(tc.name, func(t *testing.T) {
			app := MustOpenApp(t)
			app.NewClient(t).MustSignup("Ada", "ada@example.com", "Org A")
			replicas := []*App{mustReplica(t, app, tc.shared), mustReplica(t, app, tc.shared)}
			for i := range 4 {
				assertStatus(t, replicas[i%2].NewClient(t).Post("/login", bad), http.StatusUnauthorized)
			}
			fifth := replicas[0].NewClient(t).Post("/login", bad)
			if !tc.shared {
				assertStatus(t, fifth, http.StatusUnauthorized)
				assertStatus(t, replicas[1].NewClient(t).Post("/login", good), http.StatusSeeOther)
				return
			}
			assertThrottled(t, fifth, lockedOut)
			for _, r := range replicas {
				assertThrottled(t, r.NewClient(t).Post("/login", good), lockedOut)
			}
			app.Clock.Advance(15 * time.Minute)
			assertStatus(t, replicas[1].NewClient(t).Post("/login", good), http.StatusSeeOther)
		})
	}
}

// TestAPIIdempotencyKeyInUseOnAnotherReplica: while one replica serves a
// request with an Idempotency-Key (its claim held in the database), a
// retry on another replica is refused; once the claim is released, the
// retry is served.
func TestAPIIdempotencyKeyInUseOnAnotherReplica(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	// The claim is keyed by the organization's internal id, which only
	// the storage knows.
	var orgID int64
	if err := app.DB.WriteConn().QueryRow(`SELECT id FROM organizations WHERE public_id = $1`, org.ID).Scan(&orgID); err != nil {
		t.Fatal(err)
	}
	claims := sqlstore.NewIdempotencyService(app.DB)
	ctx := context.Background()
	token, ok, err := claims.ClaimIdempotencyKey(ctx, orgID, "POST", "/api/v1/bots", "in-flight", time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	b := mustReplica(t, app, true)
	body := `{"meeting_url": "https://zoom.us/j/1", "bot_name": "Elsewhere"}`
	send := func() *APIResponse {
		return apiWith(t, b, "POST", "/api/v1/bots", "Token "+org.Write, body, idem("in-flight"))
	}
	wantAPI(t, send(), 409, "A request with this Idempotency-Key is still being processed. Retry once it has finished.", "idempotency_key_in_use")
	if err := claims.ReleaseIdempotencyKey(ctx, orgID, "POST", "/api/v1/bots", "in-flight", token); err != nil {
		t.Fatal(err)
	}
	wantAPI(t, send(), 201, "", "")
	if n := app.Count(t, "idempotency_claims"); n != 0 {
		t.Errorf("%d claims left after the request, want 0", n)
	}
}

// TestSignupLimitAcrossReplicas signs up from one address on two replicas
// sharing a limit of 3/h: the fourth signup is refused on either.
func TestSignupLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	limit := WithSignupRateLimit(ratelimit.Limit{Count: 3, Period: time.Hour})
	replicas := []*App{mustReplica(t, app, true, limit), mustReplica(t, app, true, limit)}
	for i := range 3 {
		replicas[i%2].NewClient(t).MustSignup("User", "user"+itoa(i)+"@example.com", "Org")
	}
	signup := url.Values{"name": {"User"}, "email": {"user9@example.com"}, "password": {testPassword}, "organization": {"Org"}}
	for _, r := range replicas {
		assertThrottled(t, r.NewClient(t).Post("/signup", signup), "Too many signups from your network. Try again in 20 minutes.")
	}
}
