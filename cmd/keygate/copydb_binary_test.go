package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// copyFixture is what fillSQLite stored: the keys' secrets and the ids
// the comparison goes through.
type copyFixture struct {
	orgs    []string // org_...
	users   []*keygate.User
	live    []string // secrets of keys that work
	revoked string   // the secret of a revoked key
}

// testHasher is a cheap Argon2id: the binary reads its parameters from
// each hash.
func testHasher() *password.Hasher {
	return password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
}

// fillSQLite fills a fresh SQLite database at path through the services:
// two users with an organization each, keys (one revoked), an SSO
// identity, integrations, instance settings and, through all that, audit
// events.
func fillSQLite(t *testing.T, path string, key []byte) *copyFixture {
	t.Helper()
	ctx := context.Background()
	db := mustOpenMigrated(t, sqlstore.NewDB(path))
	defer db.Close()
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	users := sqlstore.NewUserService(db, testHasher())
	keys := sqlstore.NewAPIKeyService(db)
	f := &copyFixture{}
	for i, s := range []keygate.Signup{
		{Name: testName, Email: testEmail, Password: testPassword, OrganizationName: testOrg},
		{Name: "Grace Hopper", Email: "grace@example.com", Password: testPassword, OrganizationName: "Compilers"},
	} {
		user, org, err := users.CreateUser(ctx, &s, i == 0)
		if err != nil {
			t.Fatal(err)
		}
		f.orgs, f.users = append(f.orgs, org.PublicID), append(f.users, user)
		uctx := keygate.NewContextWithUser(ctx, user)
		for _, in := range []keygate.APIKeyCreate{
			{Name: "admin", Environment: keygate.EnvProduction, Scopes: keygate.Scopes{keygate.ScopeAdmin}, Note: "copied"},
			{Name: "reader", Environment: keygate.EnvDevelopment, Scopes: keygate.Scopes{keygate.ScopeRead}},
		} {
			_, secret, err := keys.CreateAPIKey(uctx, org.PublicID, &in)
			if err != nil {
				t.Fatal(err)
			}
			f.live = append(f.live, secret)
		}
		if i == 0 {
			k, secret, err := keys.CreateAPIKey(uctx, org.PublicID, &keygate.APIKeyCreate{Name: "old", Environment: keygate.EnvProduction, Scopes: keygate.Scopes{keygate.ScopeRead}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keys.RevokeAPIKey(uctx, org.PublicID, k.PublicID); err != nil {
				t.Fatal(err)
			}
			f.revoked = secret
			ext := &keygate.ExternalIdentity{Provider: "github", Issuer: "https://github.com", Subject: "1815", Email: testEmail, Name: testName, EmailTrusted: true}
			if _, err := sqlstore.NewIdentityService(db, users).LinkIdentity(uctx, ext); err != nil {
				t.Fatal(err)
			}
			integrations := sqlstore.NewIntegrationService(db, box)
			for _, in := range []keygate.IntegrationSave{
				{Kind: keygate.IntegrationZoom, ClientID: "zoom-id", Secret: copyZoomSecret},
				{Kind: keygate.IntegrationOther, Name: "Stripe", Secret: copyOtherSecret},
			} {
				if _, err := integrations.SaveIntegration(uctx, org.PublicID, &in); err != nil {
					t.Fatal(err)
				}
			}
			admin := sqlstore.NewAdminService(db, users)
			if _, err := admin.SetSettings(uctx, keygate.InstanceSettings{SignupMode: "invite", DefaultPlan: keygate.PlanProfessional}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// Secrets of the copied integrations: long and recognisable.
const (
	copyZoomSecret  = "copy-zoom-secret-4f9a1c7e3b5d2f8a6c0e4b2d9f7a1c3e"
	copyOtherSecret = "copy-other-secret-sk_live_TUVWXYZabcdefghijk"
)

// storeView is what a person sees of a store through its services.
type storeView struct {
	Users         []*keygate.AdminUser
	Organizations []*keygate.AdminOrganization
	Settings      *keygate.InstanceSettings
	Identities    []*keygate.Identity
	Keys          map[string][]*keygate.APIKey
	Audit         map[string][]*keygate.AuditEvent
	Usage         map[string]*keygate.UsageSummary
	Integrations  map[string][]*keygate.Integration
}

// readView reads everything fillSQLite and the API calls stored, as the
// organizations' Owners and the superuser see it.
func readView(t *testing.T, db *sqlstore.DB, key []byte, f *copyFixture) *storeView {
	t.Helper()
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	users := sqlstore.NewUserService(db, testHasher())
	admin := sqlstore.NewAdminService(db, users)
	ctx := keygate.NewContextWithUser(context.Background(), f.users[0])
	v := &storeView{Keys: map[string][]*keygate.APIKey{}, Audit: map[string][]*keygate.AuditEvent{},
		Usage: map[string]*keygate.UsageSummary{}, Integrations: map[string][]*keygate.Integration{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	v.Users, err = admin.ListUsers(ctx)
	must(err)
	v.Organizations, err = admin.ListOrganizations(ctx)
	must(err)
	v.Settings, err = admin.Settings(ctx)
	must(err)
	v.Identities, err = sqlstore.NewIdentityService(db, users).FindIdentities(ctx)
	must(err)
	for i, org := range f.orgs {
		uctx := keygate.NewContextWithUser(context.Background(), f.users[i])
		for _, state := range []keygate.KeyState{"", keygate.KeyRevoked} {
			keys, _, err := sqlstore.NewAPIKeyService(db).FindAPIKeys(uctx, keygate.APIKeyFilter{OrgPublicID: org, State: state, Limit: 100})
			must(err)
			v.Keys[org] = append(v.Keys[org], keys...)
		}
		v.Audit[org], _, err = sqlstore.NewAuditService(db).FindAuditEvents(uctx, keygate.AuditFilter{OrgPublicID: org, Limit: 100})
		must(err)
		v.Usage[org], err = sqlstore.NewMonitoringService(db).Summary(uctx, org, "")
		must(err)
		v.Integrations[org], err = sqlstore.NewIntegrationService(db, box).FindIntegrations(uctx, org)
		must(err)
	}
	return v
}

// callMe calls GET /api/v1/me with each secret and returns the statuses.
func callMe(t *testing.T, c *http.Client, srv *server, secrets ...string) []int {
	t.Helper()
	var out []int
	for _, s := range secrets {
		req, err := http.NewRequest(http.MethodGet, srv.url("/api/v1/me"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s)
		out = append(out, mustDo(t, c, req).StatusCode)
	}
	return out
}

// TestBinaryCopyDB fills an SQLite instance through the services and its
// API, copies it with the real copy-db into PostgreSQL, and finds the same
// instance there: through the services, and through the binary, whose API
// takes the old keys.
func TestBinaryCopyDB(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dbURL := withPassword(t, mustCreatePGDatabase(t), "postgres", pgPassword)
	dataDir := filepath.Join(t.TempDir(), "data")
	key := secretbox.GenerateKey()
	env := []string{"KEYGATE_SECRET_KEY=" + secretbox.EncodeKey(key)}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dataDir, "keygate.db")
	f := fillSQLite(t, src, key)

	// Usage and last-used come from real API calls on SQLite.
	srv := mustStartWith(t, bin, dataDir, env)
	c, _ := newClient(t, filepath.Join(dataDir, "tls", "selfsigned-cert.pem"), nil)
	if got, want := callMe(t, c, srv, append(f.live, f.live[0], f.revoked)...), []int{200, 200, 200, 200, 200, 401}; !reflect.DeepEqual(got, want) {
		t.Fatalf("GET /api/v1/me on SQLite: %v, want %v", got, want)
	}
	srv.mustStop(t)

	sqliteDB := sqlstore.NewDB(src)
	if err := sqliteDB.Open(); err != nil {
		t.Fatal(err)
	}
	defer sqliteDB.Close()
	want := readView(t, sqliteDB, key, f)
	if got := want.Usage[f.orgs[0]].RequestsToday; got < 3 {
		t.Fatalf("usage on SQLite: %d requests today, want at least 3", got)
	}

	out, code := runBinary(t, bin, env, "copy-db", "--data-dir", dataDir, "--to", dbURL)
	if code != 0 {
		t.Fatalf("copy-db: exit %d: %s", code, out)
	}
	if strings.Contains(out, pgPassword) {
		t.Fatalf("copy-db printed the password: %s", out)
	}
	t.Logf("copy-db:\n%s", out)
	head := "Copied " + src + " to " + sqlstore.RedactDSN(dbURL) + " (schema version "
	if !strings.HasPrefix(out, head) {
		t.Fatalf("copy-db output %q does not start with %q", out, head)
	}
	for _, row := range []string{`users\s+2`, `organizations\s+2`, `api_keys\s+5`, `identities\s+1`, `integrations\s+2`} {
		if !regexp.MustCompile(`(?m)^\s+` + row + `$`).MatchString(out) {
			t.Errorf("copy-db output lacks a line %q:\n%s", row, out)
		}
	}
	if !strings.Contains(out, "Row counts match table by table: ") {
		t.Errorf("copy-db output does not confirm the counts:\n%s", out)
	}

	t.Run("ErrNotEmpty", func(t *testing.T) {
		out, code := runBinary(t, bin, env, "copy-db", "--data-dir", dataDir, "--to", dbURL)
		if code != 1 || !strings.Contains(out, "keygate: copy-db: the target database is not empty: table ") {
			t.Fatalf("second copy-db: exit %d: %s", code, out)
		}
	})

	pg := sqlstore.NewPostgresDB(dbURL)
	if err := pg.Open(); err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	t.Run("OKSameThroughServices", func(t *testing.T) {
		got := readView(t, pg, key, f)
		for _, field := range []string{"Users", "Organizations", "Settings", "Identities", "Keys", "Audit", "Usage", "Integrations"} {
			g, w := reflect.ValueOf(got).Elem().FieldByName(field).Interface(), reflect.ValueOf(want).Elem().FieldByName(field).Interface()
			if !reflect.DeepEqual(g, w) {
				gj, _ := json.MarshalIndent(g, "", " ")
				wj, _ := json.MarshalIndent(w, "", " ")
				t.Errorf("%s on PostgreSQL:\n%s\nwant (SQLite):\n%s", field, gj, wj)
			}
		}
	})

	t.Run("OKServeOnPostgres", func(t *testing.T) {
		srv := mustStartWith(t, bin, dataDir, append(env, "KEYGATE_DATABASE="+dbURL))
		defer srv.mustStop(t)
		c, _ := newClient(t, filepath.Join(dataDir, "tls", "selfsigned-cert.pem"), nil)
		if got, want := callMe(t, c, srv, append(f.live, f.revoked)...), []int{200, 200, 200, 200, 401}; !reflect.DeepEqual(got, want) {
			t.Fatalf("GET /api/v1/me on PostgreSQL with the old keys: %v, want %v", got, want)
		}
		// A new key gets an id past every copied one.
		req, err := http.NewRequest(http.MethodPost, srv.url("/api/v1/keys"), strings.NewReader(`{"name": "after the move", "environment": "production", "scopes": ["read"]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+f.live[0])
		req.Header.Set("Content-Type", "application/json")
		if p := mustDo(t, c, req); p.StatusCode != http.StatusCreated {
			t.Fatalf("POST /api/v1/keys on PostgreSQL: status %d: %s", p.StatusCode, p.body)
		}
		// The password set on SQLite logs in.
		p := mustPostForm(t, c, srv.url("/login"), map[string][]string{"email": {testEmail}, "password": {testPassword}})
		if got, want := p.Request.URL.Path, "/orgs/"+f.orgs[0]; p.StatusCode != http.StatusOK || got != want {
			t.Fatalf("log in on PostgreSQL: status %d on %s, want 200 on %s", p.StatusCode, got, want)
		}
	})
}
