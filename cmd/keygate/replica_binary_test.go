package main_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
)

// replicaSet is keygate serve replicas on one PostgreSQL database, each
// with a data directory of its own and the same secret key.
type replicaSet struct {
	dbURL   string
	env     []string
	servers []*server
	clients []*http.Client // one per replica, sharing one cookie jar
	jar     http.CookieJar
}

// startReplicas starts n replicas on dbURL at once and waits until each
// says it is running.
func startReplicas(t *testing.T, bin, dbURL string, n int) *replicaSet {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := &replicaSet{dbURL: dbURL, jar: jar,
		env: []string{"KEYGATE_DATABASE=" + dbURL, "KEYGATE_SECRET_KEY=" + newSecretKey(), "KEYGATE_METRICS_TOKEN=" + replicaMetricsToken}}
	dirs := make([]string, n)
	for i := range n {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("replica-%d", i))
		rs.servers = append(rs.servers, startServe(t, bin, dirs[i], rs.env))
	}
	for i, s := range rs.servers {
		s.mustBeRunning(t)
		// Each replica made its own certificate; one jar holds the
		// cookies of all, as a browser's does behind one host name.
		c, _ := newClient(t, filepath.Join(dirs[i], "tls", "selfsigned-cert.pem"), jar)
		rs.clients = append(rs.clients, c)
	}
	// Revocations reach every replica at once while each listens, which
	// it starts to do just after it says it is running.
	for _, s := range rs.servers {
		waitListening(t, dbURL, s)
	}
	return rs
}

// replicaMetricsToken serves the replicas' /metrics, where the tests
// read what each replica's listener heard.
const replicaMetricsToken = "replica-test-metrics-token"

// metric returns the value of the metric name on replica i.
func (rs *replicaSet) metric(t *testing.T, i int, name string) float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rs.servers[i].url("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+replicaMetricsToken)
	p := mustDo(t, rs.clients[i], req)
	if p.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics on replica %d: status %d", i, p.StatusCode)
	}
	for _, line := range strings.Split(p.body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, line)
			}
			return f
		}
	}
	t.Fatalf("replica %d has no metric %s", i, name)
	return 0
}

// waitMetric waits, 5 seconds at most, until ok holds for the metric name
// on replica i.
func (rs *replicaSet) waitMetric(t *testing.T, i int, name string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(rs.metric(t, i, name)) {
		if time.Now().After(deadline) {
			t.Fatalf("replica %d: %s = %v after 5s", i, name, rs.metric(t, i, name))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// api sends an API request to replica i with secret and returns the
// status and the decoded JSON body.
func (rs *replicaSet) api(t *testing.T, i int, method, path, secret, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, rs.servers[i].url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	p := mustDo(t, rs.clients[i], req)
	var v map[string]any
	if p.body != "" {
		if err := json.Unmarshal([]byte(p.body), &v); err != nil {
			t.Fatalf("%s %s: not JSON: %.300s", method, path, p.body)
		}
	}
	return p.StatusCode, v, p.Header
}

// createKey creates a key on replica i with the admin key and returns its
// id and secret.
func (rs *replicaSet) createKey(t *testing.T, i int, admin, name string) (id, secret string) {
	t.Helper()
	status, v, _ := rs.api(t, i, http.MethodPost, "/api/v1/keys", admin,
		`{"name": "`+name+`", "environment": "production", "scopes": ["read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/keys on replica %d: status %d: %v", i, status, v)
	}
	id, _ = v["id"].(string)
	secret, _ = v["key"].(string)
	if !strings.HasPrefix(secret, "kg_") {
		t.Fatalf("POST /api/v1/keys: no key in %v", v)
	}
	return id, secret
}

// mustMe checks the status of GET /api/v1/me on replica i with secret.
func (rs *replicaSet) mustMe(t *testing.T, i int, secret string, want int) {
	t.Helper()
	if got, v, _ := rs.api(t, i, http.MethodGet, "/api/v1/me", secret, ""); got != want {
		t.Fatalf("GET /api/v1/me on replica %d: status %d, want %d: %v", i, got, want, v)
	}
}

// mustRevoke revokes key id on replica i.
func (rs *replicaSet) mustRevoke(t *testing.T, i int, admin, id string) {
	t.Helper()
	if got, v, _ := rs.api(t, i, http.MethodDelete, "/api/v1/keys/"+id, admin, ""); got != http.StatusNoContent {
		t.Fatalf("DELETE /api/v1/keys/%s on replica %d: status %d: %v", id, i, got, v)
	}
}

// mustSeedOwner creates, through the services, the first user of the
// database at dbURL (migrating it) with an admin key, and returns the
// key's secret.
func mustSeedOwner(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	db := mustOpenMigrated(t, sqlstore.NewPostgresDB(dbURL))
	defer db.Close()
	user, org, err := sqlstore.NewUserService(db, testHasher()).CreateUser(ctx,
		&keygate.Signup{Name: testName, Email: testEmail, Password: testPassword, OrganizationName: testOrg}, true)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := sqlstore.NewAPIKeyService(db).CreateAPIKey(keygate.NewContextWithUser(ctx, user), org.PublicID,
		&keygate.APIKeyCreate{Name: "admin", Environment: keygate.EnvProduction, Scopes: keygate.Scopes{keygate.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestBinaryReplicas runs two keygate serve processes on one PostgreSQL
// database, each on its own ports and data directory, and checks that a
// client cannot tell them apart.
func TestBinaryReplicas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dbURL := mustCreatePGDatabase(t)
	admin := mustSeedOwner(t, dbURL)
	rs := startReplicas(t, bin, dbURL, 2)
	const a, b = 0, 1

	t.Run("OKCreateOnAUseOnB", func(t *testing.T) {
		_, secret := rs.createKey(t, a, admin, "made on A")
		rs.mustMe(t, b, secret, http.StatusOK)
	})

	t.Run("ErrRevokedOnAOnB", func(t *testing.T) {
		id, secret := rs.createKey(t, a, admin, "revoked on A")
		rs.mustMe(t, b, secret, http.StatusOK) // B caches it
		// A answers once every replica's listener has dropped its cache:
		// B's very next request is refused.
		rs.mustRevoke(t, a, admin, id)
		rs.mustMe(t, b, secret, http.StatusUnauthorized)
	})

	t.Run("ErrRevokedWhileBReconnects", func(t *testing.T) {
		id, secret := rs.createKey(t, a, admin, "revoked during a reconnect")
		rs.mustMe(t, b, secret, http.StatusOK)
		reconnects := rs.metric(t, b, "keygate_listener_reconnects_total")
		if n := terminateListener(t, dbURL, rs.servers[b]); n != 1 {
			t.Fatalf("terminated %d listener connections of replica B, want 1", n)
		}
		// B has noticed: it is not listening, or listens again.
		rs.waitMetric(t, b, "keygate_listener_reconnects_total", func(v float64) bool {
			return v > reconnects || rs.metric(t, b, "keygate_listener_connected") == 0
		})
		rs.mustRevoke(t, a, admin, id)
		rs.mustMe(t, b, secret, http.StatusUnauthorized)
		// And once B listens again.
		waitListening(t, dbURL, rs.servers[b])
		rs.mustMe(t, b, secret, http.StatusUnauthorized)
	})

	t.Run("OKSharedRateLimit", func(t *testing.T) {
		_, secret := rs.createKey(t, a, admin, "limited")
		const n = 1500
		limit := ratelimit.Limit{Count: 1000, Period: time.Hour}
		slack := ratelimit.Slack(limit)
		allowed := 0
		for i := range n {
			status, v, h := rs.api(t, i%2, http.MethodGet, "/api/v1/me", secret, "")
			switch status {
			case http.StatusOK:
				allowed++
			case http.StatusTooManyRequests:
				if h.Get("Retry-After") == "" {
					t.Fatalf("request %d: 429 without Retry-After", i)
				}
			default:
				t.Fatalf("request %d on replica %d: status %d: %v", i, i%2, status, v)
			}
			if rem, err := strconv.Atoi(h.Get("X-RateLimit-Remaining")); err != nil || rem < 0 ||
				rem > limit.Count-allowed+slack || rem < limit.Count-allowed-slack {
				t.Fatalf("request %d on replica %d: X-RateLimit-Remaining %q after %d allowed (slack %d)", i, i%2, h.Get("X-RateLimit-Remaining"), allowed, slack)
			}
		}
		if allowed > limit.Count+slack || allowed < limit.Count-slack {
			t.Fatalf("two replicas allowed %d of %d requests on a 1000/h key, want %d to %d", allowed, n, limit.Count-slack, limit.Count+slack)
		}
		t.Logf("two replicas allowed %d of %d requests on a 1000/h key (slack %d)", allowed, n, slack)
	})

	t.Run("OKSessionAcrossReplicas", func(t *testing.T) {
		p := mustPostForm(t, rs.clients[a], rs.servers[a].url("/login"), url.Values{"email": {testEmail}, "password": {testPassword}})
		org := mustBeOrgPage(t, p)
		// Every page after it from B, as a round-robin balancer would.
		p = mustGet(t, rs.clients[b], rs.servers[b].url("/orgs/"+org))
		if got := mustBeOrgPage(t, p); got != org {
			t.Fatalf("B showed %s, want %s", got, org)
		}
		p = mustPostForm(t, rs.clients[b], rs.servers[b].url("/orgs/"+org+"/api-keys"), url.Values{
			"name": {"from the dashboard on B"}, "environment": {"development"}, "scopes": {"read"}, "expiration": {"30"},
			"form_token": {"replica-test"}, "from": {"page"},
		})
		rs.mustMe(t, a, mustNewKey(t, p), http.StatusOK)
	})
}

// mustBeOrgPage checks that p is a page of testOrg's dashboard, not the
// login page, and returns the organization's id.
func mustBeOrgPage(t *testing.T, p page) string {
	t.Helper()
	m := orgPathRE.FindStringSubmatch(p.Request.URL.Path)
	if p.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("status %d on %s, want 200 on /orgs/org_...", p.StatusCode, p.Request.URL)
	}
	if !strings.Contains(p.text(t), "Organization: "+testOrg) {
		t.Fatalf("not %s's dashboard: %.300s", testOrg, p.text(t))
	}
	return m[1]
}

// TestBinaryReplicasStartTogether starts three replicas at once on an
// empty database: each migration is applied once, and all three serve.
func TestBinaryReplicasStartTogether(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	dbURL := mustCreatePGDatabase(t)
	rs := startReplicas(t, bin, dbURL, 3)
	for i, s := range rs.servers {
		if p := mustGet(t, rs.clients[i], s.url("/readyz")); p.StatusCode != http.StatusOK {
			t.Errorf("GET /readyz on replica %d: status %d: %s", i, p.StatusCode, p.body)
		}
	}
	var rows, versions int
	if err := mustOpenPG(t, dbURL).QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != versions || rows == 0 {
		t.Fatalf("schema_migrations: %d rows for %d versions", rows, versions)
	}
}

// terminateListener ends the listener connection of replica s (found by
// the local ports of its process's sockets) and returns how many
// connections it ended.
func terminateListener(t *testing.T, dbURL string, s *server) int {
	t.Helper()
	pids := listenerBackends(t, mustOpenPG(t, dbURL), s)
	db := mustOpenPG(t, dbURL)
	for _, pid := range pids {
		if _, err := db.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
	}
	return len(pids)
}

// waitListening waits until replica s has a listener connection again.
func waitListening(t *testing.T, dbURL string, s *server) {
	t.Helper()
	db := mustOpenPG(t, dbURL)
	deadline := time.Now().Add(15 * time.Second)
	for len(listenerBackends(t, db, s)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("replica has not listened again in 15s; log:\n%s", s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listenerBackends returns the server pids of replica s's listener
// connections: those named keygate-listener whose client port is one of
// the process's sockets.
func listenerBackends(t *testing.T, db *sql.DB, s *server) []int {
	t.Helper()
	ports := socketPorts(t, s.cmd.Process.Pid)
	rows, err := db.Query(`SELECT pid, client_port FROM pg_stat_activity WHERE application_name = $1`, sqlstore.ListenerApplicationName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid, port int
		if err := rows.Scan(&pid, &port); err != nil {
			t.Fatal(err)
		}
		if ports[port] {
			pids = append(pids, pid)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pids
}

// socketPorts returns the local TCP ports of process pid's sockets, read
// from /proc (Linux).
func socketPorts(t *testing.T, pid int) map[int]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("read the replica's sockets: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			_, portHex, ok := strings.Cut(fields[1], ":")
			if port, err := strconv.ParseInt(portHex, 16, 32); ok && err == nil {
				ports[int(port)] = true
			}
		}
		f.Close()
	}
	return ports
}
