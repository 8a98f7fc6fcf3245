package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
	kgapp "github.com/keygate/keygate/internal/app"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/web"
)

// mustWriteScanFile writes content to dir/name, making its directories.
func mustWriteScanFile(tb testing.TB, dir, name string, content []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// badChecksum is key with its last character changed.
func badChecksum(key string) string {
	last := key[len(key)-1]
	c := byte('A')
	if last == 'A' {
		c = 'B'
	}
	return key[:len(key)-1] + string(c)
}

// mustScanTree writes a tree holding key on line 3 of app/.env, and
// things that must not be reported.
func mustScanTree(tb testing.TB, key string) string {
	tb.Helper()
	dir := tb.TempDir()
	mustWriteScanFile(tb, dir, "app/.env", []byte("# settings\nDEBUG=1\nKEYGATE_KEY="+key+"\n"))
	mustWriteScanFile(tb, dir, "app/fake.txt", []byte("token: "+badChecksum(key)+"\nother: kg_"+strings.Repeat("x", 38)+"\n"))
	mustWriteScanFile(tb, dir, "app/longer.txt", []byte("x"+key+"Z\n"))
	mustWriteScanFile(tb, dir, "app/blob.bin", append([]byte{0, 1, 2, '\n'}, key...))
	mustWriteScanFile(tb, dir, ".git/config", []byte(key))
	mustWriteScanFile(tb, dir, "node_modules/dep/index.js", []byte(key))
	return dir
}

func TestRunScan(t *testing.T) {
	t.Parallel()
	key := apikey.MustGenerate()
	t.Run("Found", func(t *testing.T) {
		t.Parallel()
		dir := mustScanTree(t, key.String())
		r := runCmd(t, "", "scan", dir).mustCode(t, 1)
		want := filepath.Join(dir, "app/.env") + ":3: key " + key.Hint() + "\n"
		if r.stdout != want {
			t.Fatalf("stdout = %q, want %q", r.stdout, want)
		}
		if strings.Contains(r.stdout+r.stderr, key.String()) {
			t.Fatal("scan printed the whole key")
		}
	})
	t.Run("NoneFound", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustWriteScanFile(t, dir, "fake.txt", []byte(badChecksum(key.String())))
		r := runCmd(t, "", "scan", dir).mustCode(t, 0)
		if r.stdout != "" {
			t.Fatalf("stdout = %q", r.stdout)
		}
	})
	t.Run("ErrMissingPath", func(t *testing.T) {
		t.Parallel()
		r := runCmd(t, "", "scan", filepath.Join(t.TempDir(), "nope")).mustCode(t, 2)
		if !strings.Contains(r.stderr, "no such file") {
			t.Fatalf("stderr = %q", r.stderr)
		}
	})
	t.Run("ErrFlag", func(t *testing.T) {
		t.Parallel()
		runCmd(t, "", "scan", "--nope").mustCode(t, 2)
	})
}

// mustLeakServer starts Keygate over TLS with one organization's key and
// returns its URL, the key and the store to check it in.
func mustLeakServer(tb testing.TB) (string, string, *keygate.APIKey, *kgapp.App, *keygate.User) {
	tb.Helper()
	db := sqlstore.NewDB(filepath.Join(tb.TempDir(), "keygate.db"))
	if err := db.OpenAndMigrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	a := kgapp.New(db, kgapp.Options{Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)})
	ctx := context.Background()
	user, org, err := a.Users.CreateUser(ctx, &keygate.Signup{Name: "Ada", Email: "ada@example.com", Password: "correct horse battery staple", OrganizationName: "Acme"}, false)
	if err != nil {
		tb.Fatal(err)
	}
	k, secret, err := a.Keys.CreateAPIKey(keygate.NewContextWithUser(ctx, user), org.PublicID, &keygate.APIKeyCreate{
		Name: "Deploy", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := web.NewServer(web.Config{SessionKey: bytes.Repeat([]byte("k"), 64)}, a.Services, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return ts.URL, secret, k, a, user
}

func TestRunScanReport(t *testing.T) {
	t.Parallel()
	url, secret, k, a, user := mustLeakServer(t)
	dir := mustScanTree(t, secret)
	findKey := func() *keygate.APIKey {
		got, err := a.Keys.FindAPIKeyByID(keygate.NewContextWithUser(context.Background(), user), orgOf(t, a, user), k.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("ErrCertificate", func(t *testing.T) {
		r := runCmd(t, "", "scan", "--report", url, dir).mustCode(t, 2)
		if !strings.Contains(r.stderr, "certificate") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		if findKey().ExposedAt != nil {
			t.Fatal("key marked exposed without a report")
		}
	})
	t.Run("OK", func(t *testing.T) {
		r := runCmd(t, "", "scan", "--report", url+"/", "--insecure", dir).mustCode(t, 1)
		if !strings.Contains(r.stderr, "Reported 1 keys") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		got := findKey()
		wantURL := "file://" + filepath.ToSlash(filepath.Join(dir, "app/.env")) + ":3"
		if got.ExposedAt == nil || got.ExposedURL != wantURL || got.ExposedSource != "keygate scan" {
			t.Fatalf("key exposed at %v, url %q, source %q; want url %q", got.ExposedAt, got.ExposedURL, got.ExposedSource, wantURL)
		}
	})
}

// orgOf returns the public id of user's only organization.
func orgOf(tb testing.TB, a *kgapp.App, user *keygate.User) string {
	tb.Helper()
	orgs, err := a.Orgs.FindOrganizations(keygate.NewContextWithUser(context.Background(), user))
	if err != nil || len(orgs) != 1 {
		tb.Fatalf("organizations = %v, %v", orgs, err)
	}
	return orgs[0].PublicID
}
