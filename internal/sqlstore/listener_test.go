package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// replica is one Keygate process on a shared PostgreSQL database: its own
// pool, key cache and Listener.
type replica struct {
	db       *sqlstore.DB
	keys     *sqlstore.APIKeyService
	verifier *apikey.Verifier
	listener *sqlstore.Listener
	done     chan struct{}
}

// skipUnlessPostgres skips a test of PostgreSQL itself on the SQLite run.
func skipUnlessPostgres(tb testing.TB) {
	tb.Helper()
	if !onPostgres() {
		tb.Skip("tests PostgreSQL itself: runs with KEYGATE_TEST_ENGINE=postgres")
	}
}

// newSharedDatabase returns the URL of a fresh, migrated PostgreSQL
// database for replicas to share.
func newSharedDatabase(tb testing.TB) string {
	tb.Helper()
	s := pgServer(tb)
	ctx := context.Background()
	templateOnce.Do(func() { templateErr = migrateTemplate(ctx, s) })
	if templateErr != nil {
		tb.Fatal(templateErr)
	}
	url, err := s.CreateDatabase(ctx, templateDB)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.DropDatabase(context.Background(), url) })
	return url
}

// startReplica opens the database at url as a replica does and starts its
// Listener, waiting until it listens. setup may adjust the Listener first.
func startReplica(tb testing.TB, url string, setup func(*sqlstore.Listener)) *replica {
	tb.Helper()
	r := &replica{db: sqlstore.NewPostgresDB(url), done: make(chan struct{})}
	if err := r.db.Open(); err != nil {
		tb.Fatal(err)
	}
	r.keys = sqlstore.NewAPIKeyService(r.db)
	r.verifier = apikey.NewVerifier(r.keys)
	r.listener = sqlstore.NewListener(url, r.verifier, nil)
	if setup != nil {
		setup(r.listener)
	}
	r.db.Bus = r.listener
	r.db.OnKeysChanged = r.verifier.Invalidate
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		r.listener.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-r.done
		r.db.Close()
	})
	waitFor(tb, "the listener to listen", r.listener.Connected)
	return r
}

// waitFor polls cond for up to 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// twoReplicas starts replicas a and b on one database, with an Owner and
// a key of theirs created through a.
func twoReplicas(t *testing.T, setupB func(*sqlstore.Listener)) (a, b *replica, owner *keygate.User, org *keygate.Organization) {
	t.Helper()
	url := newSharedDatabase(t)
	a = startReplica(t, url, nil)
	b = startReplica(t, url, setupB)
	owner, org = mustSignup(t, sqlstore.NewUserService(a.db, testHasher), "Olivia Owner", "owner@example.com", "Acme")
	return a, b, owner, org
}

func mustCreateKey(tb testing.TB, r *replica, owner *keygate.User, org *keygate.Organization) (*keygate.APIKey, apikey.Key) {
	tb.Helper()
	key, secret, err := r.keys.CreateAPIKey(userCtx(owner), org.PublicID, &keygate.APIKeyCreate{
		Name: "Deploy", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeAdmin},
	})
	if err != nil {
		tb.Fatal(err)
	}
	k, err := apikey.Parse(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return key, k
}

func mustVerifyOn(tb testing.TB, r *replica, k apikey.Key) *apikey.Record {
	tb.Helper()
	rec, err := r.verifier.Verify(context.Background(), k)
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	return rec
}

// TestListener_RevokeReachesOtherReplica: B answers a key from its cache
// until A revokes it, and refuses it from then on.
func TestListener_RevokeReachesOtherReplica(t *testing.T) {
	t.Parallel()
	skipUnlessPostgres(t)
	a, b, owner, org := twoReplicas(t, nil)
	key, k := mustCreateKey(t, a, owner, org)
	mustVerifyOn(t, b, k)
	hits, _ := b.verifier.Stats()
	mustVerifyOn(t, b, k)
	if h, _ := b.verifier.Stats(); h != hits+1 {
		t.Fatalf("B's second lookup was not a cache hit: the test shows nothing")
	}

	notified := b.listener.Notifications()
	if _, err := a.keys.RevokeAPIKey(userCtx(owner), org.PublicID, key.PublicID); err != nil {
		t.Fatal(err)
	}
	// A answers once every listener has heard the change: B at once,
	// without waiting for anything.
	if got, want := b.listener.Notifications(), notified+1; got != want {
		t.Errorf("when A answered, B had heard %d notifications, want %d", got, want)
	}
	if rec := mustVerifyOn(t, b, k); rec.RevokedAt == nil {
		t.Fatal("B still answers the revoked key from its cache")
	}
	if got, want := a.listener.Notifications(), notified+1; got != want {
		t.Errorf("A heard %d notifications, want %d (its own, once)", got, want)
	}
}

// TestListener_RolledBackChangeIsNoNews: a transaction that rolls back
// sends nothing.
func TestListener_RolledBackChangeIsNoNews(t *testing.T) {
	t.Parallel()
	skipUnlessPostgres(t)
	a, b, owner, org := twoReplicas(t, nil)
	key, _ := mustCreateKey(t, a, owner, org)
	before := b.listener.Notifications()
	other, _ := mustSignup(t, sqlstore.NewUserService(a.db, testHasher), "Oscar", "oscar@example.com", "Globex")
	if _, err := a.keys.RevokeAPIKey(userCtx(other), org.PublicID, key.PublicID); err == nil {
		t.Fatal("an outsider revoked the key")
	}
	// A change that commits after it is heard; the refused one never was.
	if _, err := a.keys.RevokeAPIKey(userCtx(owner), org.PublicID, key.PublicID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to hear the revoke", func() bool { return b.listener.Notifications() > before })
	// Nothing to poll for: a second notification, if any, would arrive
	// right behind the first.
	time.Sleep(50 * time.Millisecond)
	if got, want := b.listener.Notifications(), before+1; got != want {
		t.Errorf("B heard %d notifications, want %d", got, want)
	}
}

// TestListener_ReconnectMissesNothing: B's listening connection is
// terminated and a key revoked on A while B connects again. B refuses the
// key at its very next lookup, reading the database while it is not
// listening, and listens again with its cache flushed.
func TestListener_ReconnectMissesNothing(t *testing.T) {
	t.Parallel()
	skipUnlessPostgres(t)
	a, b, owner, org := twoReplicas(t, func(l *sqlstore.Listener) {
		l.MinBackoff = 2 * time.Second // a reconnect slow enough to revoke during it
	})
	key, k := mustCreateKey(t, a, owner, org)
	mustVerifyOn(t, b, k) // cached on B

	admin, err := pgServer(t).Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var dbName string
	if err := b.db.WriteConn().QueryRow(`SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	var terminated int
	if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = $2`, sqlstore.ListenerApplicationName, dbName).Scan(&terminated); err != nil {
		t.Fatal(err)
	}
	if terminated != 2 {
		t.Fatalf("terminated %d listener connections, want 2 (A's and B's)", terminated)
	}
	waitFor(t, "B to notice", func() bool { return !b.listener.Connected() })
	if b.verifier.Trusted() {
		t.Fatal("B trusts its cache while not listening")
	}

	if _, err := a.keys.RevokeAPIKey(userCtx(owner), org.PublicID, key.PublicID); err != nil {
		t.Fatal(err)
	}
	if b.listener.Connected() {
		t.Fatal("B listens again already: the revoke was not made during the reconnect")
	}
	if rec := mustVerifyOn(t, b, k); rec.RevokedAt == nil {
		t.Fatal("B answered the revoked key from its cache while not listening")
	}

	waitFor(t, "B to listen again", b.listener.Connected)
	if got := b.listener.Reconnects(); got != 1 {
		t.Errorf("B reconnects = %d, want 1", got)
	}
	if !b.verifier.Trusted() {
		t.Error("B does not trust its cache after listening again")
	}
	if rec := mustVerifyOn(t, b, k); rec.RevokedAt == nil {
		t.Fatal("B answers the revoked key after listening again")
	}
}

// TestListener_ConcurrentRevokes: of two replicas revoking one key at
// once, one wins, and both caches drop the key.
func TestListener_ConcurrentRevokes(t *testing.T) {
	t.Parallel()
	skipUnlessPostgres(t)
	a, b, owner, org := twoReplicas(t, nil)
	key, k := mustCreateKey(t, a, owner, org)
	mustVerifyOn(t, a, k)
	mustVerifyOn(t, b, k)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*replica{a, b} {
		wg.Go(func() { _, errs[i] = r.keys.RevokeAPIKey(userCtx(owner), org.PublicID, key.PublicID) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errors = %v, %v: want exactly one revoke to succeed", errs[0], errs[1])
	}
	for _, err := range errs {
		var kerr *keygate.Error
		if err != nil && (!errors.As(err, &kerr) || kerr.Code != keygate.EINVALID) {
			t.Errorf("losing revoke: %v, want EINVALID", err)
		}
	}
	for name, r := range map[string]*replica{"A": a, "B": b} {
		waitFor(t, name+" to hear the revoke", func() bool { return r.listener.Notifications() > 0 })
		if rec := mustVerifyOn(t, r, k); rec.RevokedAt == nil {
			t.Errorf("%s answers the revoked key", name)
		}
	}
}

// TestListener_PingsKeepListening: a quiet connection is pinged, not
// dropped, and still hears changes afterwards.
func TestListener_PingsKeepListening(t *testing.T) {
	t.Parallel()
	skipUnlessPostgres(t)
	a, b, owner, org := twoReplicas(t, func(l *sqlstore.Listener) {
		l.PingInterval, l.PingTimeout = 20*time.Millisecond, time.Second
	})
	// Not a wait for work: the connection must stay up through about 15
	// ping intervals.
	time.Sleep(300 * time.Millisecond)
	if !b.listener.Connected() || b.listener.Reconnects() != 0 {
		t.Fatalf("connected %v, reconnects %d after pings", b.listener.Connected(), b.listener.Reconnects())
	}
	key, k := mustCreateKey(t, a, owner, org)
	mustVerifyOn(t, b, k)
	if _, err := a.keys.RevokeAPIKey(userCtx(owner), org.PublicID, key.PublicID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to hear the revoke", func() bool { return b.listener.Notifications() > 0 })
	if rec := mustVerifyOn(t, b, k); rec.RevokedAt == nil {
		t.Fatal("B answers the revoked key")
	}
}
