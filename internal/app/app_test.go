package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/internal/testenv"

	"github.com/keygate/keygate/internal/app"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/testpg"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testpg.StopShared()
	os.Exit(code)
}

// MustOpenDB opens and migrates a fresh SQLite database.
func MustOpenDB(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	db := sqlstore.NewDB(filepath.Join(tb.TempDir(), "keygate.db"))
	if err := db.OpenAndMigrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustBox returns a secret box with a random key.
func MustBox(tb testing.TB) *secretbox.Box {
	tb.Helper()
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return box
}

var cheapHasher = password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)

func TestNew(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		a := app.New(db, app.Options{Hasher: cheapHasher, SecretBox: MustBox(t), SignupMode: keygate.SignupInvite, MaxKeysPerOrg: 7})
		svc := a.Services
		for name, missing := range map[string]bool{
			"Users": svc.Users == nil, "Orgs": svc.Orgs == nil, "Sessions": svc.Sessions == nil, "APIKeys": svc.APIKeys == nil,
			"Audit": svc.Audit == nil, "Bots": svc.Bots == nil, "Conversations": svc.Conversations == nil,
			"Analytics": svc.Analytics == nil, "Verifier": svc.Verifier == nil, "Exposer": svc.Exposer == nil,
			"Usage": svc.Usage == nil, "DB": svc.DB == nil, "Monitoring": svc.Monitoring == nil, "Admin": svc.Admin == nil,
			"Memberships": svc.Memberships == nil, "Identities": svc.Identities == nil, "Integrations": svc.Integrations == nil,
			"OrgSSO": svc.OrgSSO == nil, "Idempotency": svc.Idempotency == nil,
		} {
			if missing {
				t.Errorf("Services.%s is not wired", name)
			}
		}
		if got, want := a.Users.SignupMode, keygate.SignupInvite; got != want {
			t.Errorf("SignupMode = %q, want %q", got, want)
		}
		if got, want := a.Keys.MaxKeysPerOrg, 7; got != want {
			t.Errorf("MaxKeysPerOrg = %d, want %d", got, want)
		}
		if svc.Verifier != a.Verifier || svc.Usage != a.Usage {
			t.Error("Services does not hold the App's verifier and usage buffer")
		}
	})
	t.Run("OKSQLiteKeepsStateInProcess", func(t *testing.T) {
		a := app.New(MustOpenDB(t), app.Options{Hasher: cheapHasher})
		if a.Listener != nil || a.Services.Listener != nil {
			t.Error("a listener on SQLite")
		}
		if a.Services.Limiter != nil || a.Services.Throttles != nil || a.Services.IdempotencyClaims != nil {
			t.Error("database-backed limits on SQLite, want them in the process")
		}
	})
	t.Run("OKPostgresSharesState", func(t *testing.T) {
		srv, err := testpg.Shared()
		if err != nil {
			testenv.SkipUnlessCI(t, "PostgreSQL could not be started: "+err.Error())
		}
		dsn, err := srv.CreateDatabase(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.DropDatabase(context.Background(), dsn) })
		db := sqlstore.NewPostgresDB(dsn)
		if err := db.OpenAndMigrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		a := app.New(db, app.Options{Hasher: cheapHasher})
		if a.Listener == nil || a.Services.Listener == nil || db.Bus == nil {
			t.Fatal("no listener on PostgreSQL")
		}
		if a.Verifier.Trusted() {
			t.Error("key cache trusted before the listener listens")
		}
		if a.Services.Limiter == nil || a.Services.Throttles == nil || a.Services.IdempotencyClaims == nil {
			t.Error("rate limits, throttles or claims kept in the process on PostgreSQL")
		}
	})
	t.Run("OKNoSecretBoxHidesIntegrations", func(t *testing.T) {
		a := app.New(MustOpenDB(t), app.Options{Hasher: cheapHasher})
		if a.Services.Integrations != nil || a.Services.OrgSSO != nil {
			t.Error("Integrations or OrgSSO wired without a secret box")
		}
	})
	t.Run("OKKeyChangeEmptiesCache", func(t *testing.T) {
		db := MustOpenDB(t)
		a := app.New(db, app.Options{Hasher: cheapHasher})
		ctx := context.Background()
		user, org, err := a.Users.CreateUser(ctx, &keygate.Signup{
			Name: "Ada", Email: "ada@example.com", Password: "correct horse battery staple", OrganizationName: "Acme",
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		uctx := keygate.NewContextWithUser(ctx, user)
		key, _, err := a.Keys.CreateAPIKey(uctx, org.PublicID, &keygate.APIKeyCreate{
			Name: "ci", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead},
		})
		if err != nil {
			t.Fatal(err)
		}
		before := a.Verifier.Flushes()
		if _, err := a.Keys.RevokeAPIKey(uctx, org.PublicID, key.PublicID); err != nil {
			t.Fatal(err)
		}
		if got := a.Verifier.Flushes(); got <= before {
			t.Fatalf("Flushes = %d after revoking a key, want more than %d", got, before)
		}
	})
}
