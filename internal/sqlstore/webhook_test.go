package sqlstore_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// webhookFixture is an organization with an Owner and a Member, and the
// services a webhook test uses.
type webhookFixture struct {
	db         *sqlstore.DB
	clock      *botClock
	hooks      *sqlstore.WebhookService
	keys       *sqlstore.APIKeyService
	owner      context.Context
	member     context.Context
	org        *keygate.Organization
	memberUser *keygate.User
}

func mustWebhookFixture(tb testing.TB) *webhookFixture {
	tb.Helper()
	db, clock := mustOpenDB(tb)
	users := sqlstore.NewUserService(db, testHasher)
	owner, org := mustSignup(tb, users, "Ada", "ada@example.com", "Acme")
	member, _ := mustSignup(tb, users, "Bob", "bob@example.com", "Bob's")
	mustAddMember(tb, sqlstore.NewOrganizationService(db), org, member, keygate.RoleMember)
	return &webhookFixture{db: db, clock: clock, hooks: sqlstore.NewWebhookService(db, mustBox(tb)), keys: sqlstore.NewAPIKeyService(db),
		owner: userCtx(owner), member: userCtx(member), org: org, memberUser: member}
}

// mustEndpoint creates an endpoint subscribed to events.
func (f *webhookFixture) mustEndpoint(tb testing.TB, events ...string) (*keygate.WebhookEndpoint, string) {
	tb.Helper()
	url := "https://hooks.example.com/in"
	e, secret, err := f.hooks.CreateWebhookEndpoint(f.owner, f.org.PublicID, &keygate.WebhookEndpointInput{URL: &url, Events: &events})
	if err != nil {
		tb.Fatal(err)
	}
	return e, secret
}

// eventTypes lists the types of the deliveries pending for endpoint e,
// oldest first.
func (f *webhookFixture) eventTypes(tb testing.TB, e *keygate.WebhookEndpoint) []string {
	tb.Helper()
	return deliveredTypes(tb, f.hooks, f.owner, f.org.PublicID, e.PublicID)
}

// deliveredTypes lists the event types of an endpoint's deliveries,
// oldest first, as ctx's user sees them.
func deliveredTypes(tb testing.TB, hooks *sqlstore.WebhookService, ctx context.Context, orgID, endpointID string) []string {
	tb.Helper()
	list, _, err := hooks.FindWebhookDeliveries(ctx, orgID, endpointID, keygate.Page{Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i].EventType)
	}
	return out
}

func (f *webhookFixture) mustKey(tb testing.TB, name string) *keygate.APIKey {
	tb.Helper()
	k, _, err := f.keys.CreateAPIKey(f.owner, f.org.PublicID, &keygate.APIKeyCreate{Name: name, Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestWebhookService_EnqueueInTheChangesTransaction(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	keysOnly, _ := f.mustEndpoint(t, keygate.WebhookKeyCreated, keygate.WebhookKeyUpdated, keygate.WebhookKeyRolled, keygate.WebhookKeyRevoked)
	members, _ := f.mustEndpoint(t, keygate.WebhookMemberRoleChanged, keygate.WebhookMemberRemoved, keygate.WebhookInvitationCreated)
	off, _ := f.mustEndpoint(t, keygate.WebhookKeyCreated)
	yes := true
	if _, err := f.hooks.UpdateWebhookEndpoint(f.owner, f.org.PublicID, off.PublicID, &keygate.WebhookEndpointInput{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}

	k := f.mustKey(t, "CI")
	name := "CI 2"
	if _, err := f.keys.UpdateAPIKey(f.owner, f.org.PublicID, k.PublicID, keygate.APIKeyUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.keys.RollAPIKey(f.owner, f.org.PublicID, k.PublicID, 0, ""); err != nil {
		t.Fatal(err)
	}
	ms := sqlstore.NewMembershipService(f.db)
	if _, _, err := ms.Invite(f.owner, f.org.PublicID, "cy@example.com", keygate.RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := ms.ChangeRole(f.owner, f.org.PublicID, f.memberUser.PublicID, keygate.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.RemoveMember(f.owner, f.org.PublicID, f.memberUser.PublicID, false); err != nil {
		t.Fatal(err)
	}

	if got, want := f.eventTypes(t, keysOnly), []string{"key.created", "key.updated", "key.revoked", "key.rolled"}; !slices.Equal(got, want) {
		t.Fatalf("key endpoint got %v, want %v", got, want)
	}
	if got, want := f.eventTypes(t, members), []string{"invitation.created", "member.role_changed", "member.removed"}; !slices.Equal(got, want) {
		t.Fatalf("member endpoint got %v, want %v", got, want)
	}
	if got := f.eventTypes(t, off); len(got) != 0 {
		t.Fatalf("disabled endpoint got %v", got)
	}
}

func TestWebhookService_RolledBackChangeWritesNothing(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	e, _ := f.mustEndpoint(t, keygate.WebhookKeyCreated)
	f.keys.MaxKeysPerOrg = 1
	f.mustKey(t, "one")
	if _, _, err := f.keys.CreateAPIKey(f.owner, f.org.PublicID, &keygate.APIKeyCreate{Name: "two", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}}); err == nil {
		t.Fatal("created a key over the limit")
	}
	if got := f.eventTypes(t, e); len(got) != 1 {
		t.Fatalf("deliveries %v, want the first key's only", got)
	}
	if n := countQuery(t, f.db, `SELECT COUNT(*) FROM webhook_events`); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

func TestWebhookService_RateLimitedOncePerHourExposedOnce(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	e, _ := f.mustEndpoint(t, keygate.WebhookKeyRateLimited, keygate.WebhookKeyExposed)
	k := f.mustKey(t, "busy")
	for i, want := range []bool{true, false, false} {
		got, err := f.hooks.EnqueueKeyEvent(context.Background(), k.ID, keygate.WebhookKeyRateLimited)
		if err != nil || got != want {
			t.Fatalf("enqueue %d = %v, %v; want %v", i, got, err, want)
		}
		f.clock.Advance(20 * time.Minute)
	}
	f.clock.Advance(time.Minute) // an hour and a minute after the first
	if got, err := f.hooks.EnqueueKeyEvent(context.Background(), k.ID, keygate.WebhookKeyRateLimited); err != nil || !got {
		t.Fatalf("enqueue after an hour = %v, %v", got, err)
	}
	// Exposure is written with the key's mark, once.
	for range 2 {
		if err := f.keys.MarkExposed(context.Background(), k.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.eventTypes(t, e), []string{"key.rate_limited", "key.rate_limited", "key.exposed"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
}

func TestWebhookService_LeakReportIsAnExposure(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	e, _ := f.mustEndpoint(t, keygate.WebhookKeyExposed)
	_, secret, err := f.keys.CreateAPIKey(f.owner, f.org.PublicID, &keygate.APIKeyCreate{Name: "leaked", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	leaks := sqlstore.NewLeakService(f.db)
	// Reported twice at one place, then at another: two events.
	for _, url := range []string{"https://example.com/a", "https://example.com/a", "https://example.com/b"} {
		if _, err := leaks.ReportLeak(context.Background(), keygate.LeakReport{Hash: apikey.Hash(secret), URL: url, Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.eventTypes(t, e), []string{"key.exposed", "key.exposed"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
}

func TestWebhookService_SecretSealed(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	e, secret := f.mustEndpoint(t, keygate.WebhookKeyCreated)
	_, next, err := f.hooks.RollWebhookSecret(f.owner, f.org.PublicID, e.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	var cur, prev []byte
	if err := f.db.WriteConn().QueryRow(`SELECT secret, previous_secret FROM webhook_endpoints WHERE public_id = $1`, e.PublicID).Scan(&cur, &prev); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{secret, next} {
		if bytes.Contains(cur, []byte(plain)) || bytes.Contains(prev, []byte(plain)) {
			t.Fatal("a webhook secret is stored in clear")
		}
	}
	f.mustKey(t, "k")
	due, err := f.hooks.ClaimDueDeliveries(context.Background(), f.clock.Now(), 10, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || !slices.Equal(due[0].Secrets, []string{next, secret}) {
		t.Fatalf("claimed %d with secrets %v, want the new and the old", len(due), due)
	}
}

func TestWebhookService_ConcurrentClaimsSendEachOnce(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	f.mustEndpoint(t, keygate.WebhookKeyCreated)
	for range 20 {
		f.mustKey(t, "k")
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			due, err := f.hooks.ClaimDueDeliveries(context.Background(), f.clock.Now(), 100, 100, time.Minute)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range due {
				seen[d.ID]++
			}
		}()
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Fatalf("claimed %d deliveries, want 20", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("delivery %d claimed %d times", id, n)
		}
	}
}

func TestWebhookService_Access(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	e, _ := f.mustEndpoint(t, keygate.WebhookKeyCreated)
	if _, err := f.hooks.FindWebhookEndpoints(f.member, f.org.PublicID); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
		t.Fatalf("member list: %v", err)
	}
	if err := f.hooks.DeleteWebhookEndpoint(f.member, f.org.PublicID, e.PublicID); keygate.ErrorCode(err) != keygate.EFORBIDDEN {
		t.Fatalf("member delete: %v", err)
	}
	if _, err := f.hooks.FindWebhookEndpoint(f.owner, f.org.PublicID, "whk_nope"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Fatalf("unknown endpoint: %v", err)
	}
	if n := countAudit(t, f.db, f.org.ID, keygate.AuditWebhookCreate); n != 1 {
		t.Fatalf("%d create audit events", n)
	}
}

func TestWebhookService_RotateSecretKey(t *testing.T) {
	t.Parallel()
	db, _ := mustOpenDB(t)
	users := sqlstore.NewUserService(db, testHasher)
	owner, org := mustSignup(t, users, "Ada", "ada@example.com", "Acme")
	from, to := mustBox(t), mustBox(t)
	hooks := sqlstore.NewWebhookService(db, from)
	url, events := "https://hooks.example.com/in", []string{keygate.WebhookKeyCreated}
	if _, _, err := hooks.CreateWebhookEndpoint(userCtx(owner), org.PublicID, &keygate.WebhookEndpointInput{URL: &url, Events: &events}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.NewIntegrationService(db, from).RotateSecretKey(context.Background(), from, to); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sqlstore.NewAPIKeyService(db).CreateAPIKey(userCtx(owner), org.PublicID, &keygate.APIKeyCreate{Name: "k",
		Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}}); err != nil {
		t.Fatal(err)
	}
	due, err := sqlstore.NewWebhookService(db, to).ClaimDueDeliveries(context.Background(), db.Now(), 10, 10, time.Minute)
	if err != nil || len(due) != 1 {
		t.Fatalf("claim under the new key: %d, %v", len(due), err)
	}
}

func TestWebhookService_DeleteWebhookHistoryBefore(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	e, _ := f.mustEndpoint(t, keygate.WebhookKeyCreated)
	f.mustKey(t, "delivered")
	f.mustKey(t, "still pending")
	due, err := f.hooks.ClaimDueDeliveries(context.Background(), f.clock.Now(), 1, 1, time.Minute)
	if err != nil || len(due) != 1 {
		t.Fatalf("claim: %d, %v", len(due), err)
	}
	if _, err := f.hooks.RecordDeliveryAttempt(context.Background(), due[0], sqlstore.DeliveryResult{OK: true, ResponseCode: 200}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(keygate.WebhookHistoryRetention + time.Hour)
	f.mustKey(t, "recent")
	n, err := f.hooks.DeleteWebhookHistoryBefore(context.Background(), f.clock.Now().Add(-keygate.WebhookHistoryRetention), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the delivered delivery and its event
		t.Fatalf("deleted %d rows, want 2", n)
	}
	if got, want := f.eventTypes(t, e), []string{"key.created", "key.created"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want the pending and the recent deliveries", got)
	}
	if n := countQuery(t, f.db, `SELECT COUNT(*) FROM webhook_events`); n != 2 {
		t.Fatalf("%d events left, want 2", n)
	}
}

func TestWebhookService_OneKeysDeliveriesGoOneAtATime(t *testing.T) {
	t.Parallel()
	f := mustWebhookFixture(t)
	f.mustEndpoint(t, keygate.WebhookKeyCreated, keygate.WebhookKeyUpdated)
	k := f.mustKey(t, "k")
	for i := range 3 {
		name := "k" + strconv.Itoa(i)
		if _, err := f.keys.UpdateAPIKey(f.owner, f.org.PublicID, k.PublicID, keygate.APIKeyUpdate{Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	other := f.mustKey(t, "other")
	claim := func() []*sqlstore.DueDelivery {
		t.Helper()
		f.clock.Advance(time.Hour) // past any retry delay and lease
		due, err := f.hooks.ClaimDueDeliveries(context.Background(), f.clock.Now(), 100, 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return due
	}
	record := func(d *sqlstore.DueDelivery, ok bool) {
		t.Helper()
		if _, err := f.hooks.RecordDeliveryAttempt(context.Background(), d, sqlstore.DeliveryResult{OK: ok, ResponseCode: 200}, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(due []*sqlstore.DueDelivery) []string {
		var out []string
		for _, d := range due {
			out = append(out, d.OrderingKey)
		}
		return out
	}
	// The first of each key: k's key.created and other's.
	due := claim()
	if got, want := keys(due), []string{k.PublicID, other.PublicID}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want %v", got, want)
	}
	// A failed attempt keeps the rest of k waiting.
	record(due[0], false)
	record(due[1], true)
	due = claim()
	if len(due) != 1 || due[0].OrderingKey != k.PublicID || due[0].Attempts != 1 {
		t.Fatalf("after a failure: %+v, want k's first again", due)
	}
	first := due[0].ID
	record(due[0], true)
	// Then each goes once the one before it is delivered.
	for i := range 3 {
		due = claim()
		if len(due) != 1 || due[0].OrderingKey != k.PublicID || due[0].ID <= first {
			t.Fatalf("update %d: claimed %+v", i, due)
		}
		first = due[0].ID
		record(due[0], true)
	}
	if due := claim(); len(due) != 0 {
		t.Fatalf("all delivered, claimed %d", len(due))
	}
	// A delivery left blocked with nothing before it (two replicas'
	// writes at once on PostgreSQL) is unblocked by the minute's sweep.
	name := "k again"
	if _, err := f.keys.UpdateAPIKey(f.owner, f.org.PublicID, k.PublicID, keygate.APIKeyUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.WriteConn().Exec(`UPDATE webhook_deliveries SET blocked = 1 WHERE state = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if due := claim(); len(due) != 0 {
		t.Fatalf("blocked, claimed %d", len(due))
	}
	if n, err := f.hooks.UnblockDeliveries(context.Background()); err != nil || n != 1 {
		t.Fatalf("unblocked %d, %v; want 1", n, err)
	}
	if due := claim(); len(due) != 1 {
		t.Fatalf("after unblocking, claimed %d, want 1", len(due))
	}
}
