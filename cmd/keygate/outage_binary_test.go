package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
)

// TestBinaryDatabaseOutage runs the real binary on PostgreSQL, cuts it off
// from its database under load (every connection terminated, new ones
// refused) and gives the database back:
//   - meanwhile a key read in the last 30 seconds keeps working, one not
//     read answers 503 database_unavailable with Retry-After, the dashboard
//     shows a 503 page and /readyz answers 503;
//   - afterwards everything works again, without a restart.
func TestBinaryDatabaseOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dbURL := mustCreatePGDatabase(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := mustStartWith(t, bin, dataDir, []string{"KEYGATE_DATABASE=" + dbURL, "KEYGATE_SECRET_KEY=" + newSecretKey()})
	c, _ := newClient(t, filepath.Join(dataDir, "tls", "selfsigned-cert.pem"), nil)
	c.Timeout = 10 * time.Second
	cached, uncached := mustOutageAccount(t, dbURL)

	mustBeOrgPage(t, mustPostForm(t, c, srv.url("/login"), url.Values{"email": {testEmail}, "password": {testPassword}}))
	if p := apiMe(t, c, srv, cached); p.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/me: status %d: %s", p.StatusCode, p.body)
	}
	waitReady(t, c, srv, "listening")

	// Load: a client calling with the cached key throughout.
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodGet, srv.url("/api/v1/me"), nil)
			req.Header.Set("Authorization", "Bearer "+cached)
			resp, err := c.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode == http.StatusOK {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })

	restore := cutOff(t, dbURL)
	t.Run("CachedKeyWorks", func(t *testing.T) {
		before := ok.Load()
		for range 5 {
			if p := apiMe(t, c, srv, cached); p.StatusCode != http.StatusOK {
				t.Fatalf("GET /api/v1/me with a cached key: status %d: %s", p.StatusCode, p.body)
			}
		}
		// The load's own requests keep succeeding too.
		for deadline := time.Now().Add(5 * time.Second); ok.Load() == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the load's requests stopped succeeding")
			}
		}
	})
	t.Run("UncachedKey503", func(t *testing.T) {
		p := apiMe(t, c, srv, uncached)
		if p.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503: %s", p.StatusCode, p.body)
		}
		var body struct{ Code, Detail string }
		if err := json.Unmarshal([]byte(p.body), &body); err != nil {
			t.Fatal(err)
		}
		if got, want := body.Code, "database_unavailable"; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
		if got, want := body.Detail, "The database is unavailable. Try again in a few seconds."; got != want {
			t.Errorf("detail = %q, want %q", got, want)
		}
		if got, want := p.Header.Get("Retry-After"), "5"; got != want {
			t.Errorf("Retry-After = %q, want %q", got, want)
		}
	})
	t.Run("Dashboard503", func(t *testing.T) {
		p := mustGet(t, c, srv.url("/"))
		if p.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("GET /: status %d, want 503", p.StatusCode)
		}
		if !strings.Contains(p.body, "Keygate cannot reach its database right now.") {
			t.Errorf("GET /: the page does not say why:\n%s", p.body)
		}
	})
	t.Run("NotReady", func(t *testing.T) {
		p := mustGet(t, c, srv.url("/readyz"))
		if p.StatusCode != http.StatusServiceUnavailable || !strings.Contains(p.body, `"database":"unavailable"`) ||
			!strings.Contains(p.body, `"listener":"reconnecting"`) {
			t.Errorf("GET /readyz: status %d: %s", p.StatusCode, p.body)
		}
	})

	restore()
	t.Run("Recovers", func(t *testing.T) {
		waitReady(t, c, srv, "listening")
		if p := apiMe(t, c, srv, uncached); p.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/me with the other key: status %d: %s", p.StatusCode, p.body)
		}
		mustBeOrgPage(t, mustGet(t, c, srv.url("/")))
	})
	if strings.Contains(srv.log.String(), `level=ERROR msg="internal error"`) {
		t.Errorf("the outage was logged as internal errors:\n%s", srv.log)
	}
}

// mustOutageAccount signs up testEmail in the database at dbURL and creates
// two keys of theirs.
func mustOutageAccount(t *testing.T, dbURL string) (cached, uncached string) {
	t.Helper()
	db := sqlstore.NewPostgresDB(dbURL)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	users := sqlstore.NewUserService(db, password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0))
	user, org, err := users.Signup(context.Background(), &keygate.Signup{
		Name: testName, Email: testEmail, Password: testPassword, OrganizationName: testOrg,
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := sqlstore.NewAPIKeyService(db)
	var secrets []string
	for _, name := range []string{"cached", "uncached"} {
		_, secret, err := keys.CreateAPIKey(keygate.NewContextWithUser(context.Background(), user), org.PublicID, &keygate.APIKeyCreate{
			Name: name, Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead},
		})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	return secrets[0], secrets[1]
}

func apiMe(t *testing.T, c *http.Client, srv *server, secret string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.url("/api/v1/me"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	return mustDo(t, c, req)
}

// waitReady waits until /readyz answers 200 with the listener in state.
func waitReady(t *testing.T, c *http.Client, srv *server, state string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		p := mustGet(t, c, srv.url("/readyz"))
		if p.StatusCode == http.StatusOK && strings.Contains(p.body, `"listener":"`+state+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz: status %d: %s", p.StatusCode, p.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cutOff refuses new connections to the database at dbURL and terminates
// the open ones, as a database that went away; restore undoes it.
func cutOff(t *testing.T, dbURL string) (restore func()) {
	t.Helper()
	admin, err := pgServer(t).Admin()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	quoted := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	if _, err := admin.Exec(`ALTER DATABASE ` + quoted + ` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if _, err := admin.Exec(`ALTER DATABASE ` + quoted + ` ALLOW_CONNECTIONS true`); err != nil {
				t.Error(err)
			}
			admin.Close()
		})
	}
	t.Cleanup(restore)
	return restore
}
