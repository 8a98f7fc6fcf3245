package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/keygate/keygate/internal/apikey"
)

// Shape of TestCrashSIGKILL: how often the server is killed, how long the
// load runs before each kill, and how many writers of each kind there are.
const (
	crashKills      = 20
	crashMinLoad    = 100 * time.Millisecond
	crashMaxLoad    = 600 * time.Millisecond
	crashAPIWriters = 3
	crashUIWriters  = 1
)

// crashEnv lifts the limits that a burst of writes from one key and one
// organization would otherwise reach: the test is about crashes, not quotas.
// The webhook receiver is on loopback, over plain http.
var crashEnv = []string{"KEYGATE_RATE_LIMIT=1000000/h", "KEYGATE_MAX_KEYS_PER_ORG=1000000", "KEYGATE_ALLOW_PRIVATE_DESTINATIONS=true"}

// ackedKey is an API key whose creation the server acknowledged.
type ackedKey struct {
	id     string // public id; "" for keys made through the dashboard
	name   string
	secret string
}

// crashLedger records every acknowledged write: a 2xx response read to its
// end. Writes cut by a kill are unknown and not recorded. Safe for
// concurrent use.
type crashLedger struct {
	mu      sync.Mutex
	keys    []ackedKey
	revoked []string // public ids
	bots    []string // public ids
}

func (l *crashLedger) addKey(k ackedKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, k)
}

func (l *crashLedger) addRevoked(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revoked = append(l.revoked, id)
}

func (l *crashLedger) addBot(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bots = append(l.bots, id)
}

func (l *crashLedger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys) + len(l.revoked) + len(l.bots)
}

// crashTarget is the running server the writers of one round talk to.
type crashTarget struct {
	ctx    context.Context
	srv    *server
	client *http.Client
	admin  string // admin API key
	orgID  string
	acked  func() // called after each acknowledged write
}

// send sends a request and reads the whole answer; ok is false when the
// request did not complete (the kill cut it) and its outcome is unknown.
func (c crashTarget) send(req *http.Request) (status int, body []byte, ok bool) {
	resp, err := c.client.Do(req.WithContext(c.ctx))
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return 0, nil, false
	}
	return resp.StatusCode, b.Bytes(), true
}

// api sends a JSON API request with the admin key and decodes the answer
// into v. ok is false when the outcome is unknown; a complete answer with
// an unexpected status is returned as an error.
func (c crashTarget) api(method, path, body string, want int, v any) (ok bool, err error) {
	req, err := http.NewRequest(method, c.srv.url(path), strings.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.admin)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	status, b, ok := c.send(req)
	if !ok {
		return false, nil
	}
	if status != want {
		return false, fmt.Errorf("%s %s: status %d, want %d: %.300s", method, path, status, want, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return false, fmt.Errorf("%s %s: %v: %.300s", method, path, err, b)
		}
	}
	return true, nil
}

// apiWriter creates keys and bots through the API and revokes some of the
// keys it made. Its state outlives the rounds.
type apiWriter struct {
	n       int
	seq     int
	ledger  *crashLedger
	revokes []string // acknowledged keys of this writer not yet revoked
}

// run writes until ctx ends; it returns the first unexpected answer.
func (w *apiWriter) run(c crashTarget) error {
	for c.ctx.Err() == nil {
		w.seq++
		var err error
		switch {
		case w.seq%3 == 0:
			err = w.createBot(c)
		case w.seq%3 == 1 && len(w.revokes) > 0:
			err = w.revoke(c)
		default:
			err = w.createKey(c)
		}
		if err != nil && c.ctx.Err() == nil {
			return err
		}
	}
	return nil
}

func (w *apiWriter) createKey(c crashTarget) error {
	name := fmt.Sprintf("api-%d-%d", w.n, w.seq)
	var v struct{ ID, Key string }
	ok, err := c.api(http.MethodPost, "/api/v1/keys",
		`{"name": "`+name+`", "environment": "production", "scopes": ["read"]}`, http.StatusCreated, &v)
	if !ok {
		return err
	}
	if v.ID == "" || !strings.HasPrefix(v.Key, "kg_") {
		return fmt.Errorf("POST /api/v1/keys: no id or key in %+v", v)
	}
	w.ledger.addKey(ackedKey{id: v.ID, name: name, secret: v.Key})
	c.acked()
	w.revokes = append(w.revokes, v.ID)
	return nil
}

func (w *apiWriter) revoke(c crashTarget) error {
	id := w.revokes[0]
	// Whatever the outcome, the key is not tried again: a revoke cut by the
	// kill may or may not have happened.
	w.revokes = w.revokes[1:]
	ok, err := c.api(http.MethodDelete, "/api/v1/keys/"+id, "", http.StatusNoContent, nil)
	if ok {
		w.ledger.addRevoked(id)
		c.acked()
	}
	return err
}

func (w *apiWriter) createBot(c crashTarget) error {
	var v struct{ ID string }
	ok, err := c.api(http.MethodPost, "/api/v1/bots",
		fmt.Sprintf(`{"meeting_url": "https://zoom.us/j/%d", "bot_name": "Bot %d-%d"}`, 100000000+w.seq, w.n, w.seq),
		http.StatusCreated, &v)
	if !ok {
		return err
	}
	if v.ID == "" {
		return fmt.Errorf("POST /api/v1/bots: no id in %+v", v)
	}
	w.ledger.addBot(v.ID)
	c.acked()
	return nil
}

// uiWriter creates keys through the dashboard's form, as a signed-in
// browser does.
type uiWriter struct {
	n      int
	seq    int
	ledger *crashLedger
}

func (w *uiWriter) run(c crashTarget) error {
	for c.ctx.Err() == nil {
		if err := w.createKey(c); err != nil && c.ctx.Err() == nil {
			return err
		}
	}
	return nil
}

func (w *uiWriter) createKey(c crashTarget) error {
	w.seq++
	name := fmt.Sprintf("dashboard-%d-%d", w.n, w.seq)
	form := url.Values{
		"name": {name}, "environment": {"development"}, "scopes": {"read"}, "expiration": {"30"},
		"form_token": {fmt.Sprintf("crash-%d-%d", w.n, w.seq)}, "from": {"page"},
	}
	req, err := http.NewRequest(http.MethodPost, c.srv.url("/orgs/"+c.orgID+"/api-keys"), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// What a browser sends with a same-origin form post.
	req.Header.Set("Origin", c.srv.url(""))
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	status, body, ok := c.send(req)
	if !ok {
		return nil
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST api-keys form: status %d: %.300s", status, body)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return err
	}
	secret := doc.Find("#new-api-key").AttrOr("value", "")
	if !strings.HasPrefix(secret, "kg_") {
		return fmt.Errorf("POST api-keys form: no new key in the page: %.300s", body)
	}
	w.ledger.addKey(ackedKey{name: name, secret: secret})
	c.acked()
	return nil
}

// TestCrashSIGKILL kills the real binary with SIGKILL at random moments
// while API clients and a dashboard user write, restarts it on the same
// data directory each time, and checks that the database is intact, holds
// every acknowledged write and no half-done one, and that a webhook
// endpoint receives the event of every acknowledged key.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := mustBuild(t)
	began := time.Now()
	dataDir := filepath.Join(t.TempDir(), "data")
	dbPath := filepath.Join(dataDir, "keygate.db")
	cert := filepath.Join(dataDir, "tls", "selfsigned-cert.pem")

	srv := mustStartWith(t, bin, dataDir, crashEnv)
	browser, _ := newClient(t, cert, nil)
	orgID := mustBeOverview(t, mustPostForm(t, browser, srv.url("/signup"), url.Values{
		"name": {testName}, "email": {testEmail}, "password": {testPassword}, "organization": {testOrg},
	}))
	admin := mustNewKey(t, mustPostForm(t, browser, srv.url("/orgs/"+orgID+"/api-keys"), url.Values{
		"name": {"crash admin"}, "environment": {"production"}, "scopes": {"admin"}, "expiration": {"none"},
		"form_token": {"crash-admin"}, "from": {"page"},
	}))
	apiClient, _ := newClient(t, cert, nil)

	// Every key created is told to a webhook endpoint, whose events are
	// written with the keys: none may be lost to a kill.
	recv := newCrashReceiver(t)
	var endpoint struct{ Secret string }
	setup := crashTarget{ctx: context.Background(), srv: srv, client: apiClient, admin: admin, orgID: orgID}
	if ok, err := setup.api(http.MethodPost, "/api/v1/webhooks", `{"url": "`+recv.srv.URL+`/hooks", "events": ["key.created"]}`,
		http.StatusCreated, &endpoint); !ok {
		t.Fatalf("create the webhook endpoint: %v", err)
	}
	recv.setSecret(endpoint.Secret)

	ledger := &crashLedger{}
	var apiWriters []*apiWriter
	for i := range crashAPIWriters {
		apiWriters = append(apiWriters, &apiWriter{n: i, ledger: ledger})
	}
	var uiWriters []*uiWriter
	for i := range crashUIWriters {
		uiWriters = append(uiWriters, &uiWriter{n: i, ledger: ledger})
	}

	for kill := 1; kill <= crashKills; kill++ {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel) // stops the writers of a round that failed
		var wg sync.WaitGroup
		errs := make(chan error, crashAPIWriters+crashUIWriters)
		// The random moment counts from when every writer has had a write
		// acknowledged: a slow start (-race) then still kills under load.
		var ready sync.WaitGroup
		target := func(client *http.Client) crashTarget {
			ready.Add(1)
			return crashTarget{ctx: ctx, srv: srv, client: client, admin: admin, orgID: orgID, acked: sync.OnceFunc(ready.Done)}
		}
		for _, w := range apiWriters {
			c := target(apiClient)
			wg.Go(func() { errs <- w.run(c) })
		}
		for _, w := range uiWriters {
			c := target(browser)
			wg.Go(func() { errs <- w.run(c) })
		}
		mustAllWrite(t, &ready, srv, errs, kill)

		load := crashMinLoad + rand.N(crashMaxLoad-crashMinLoad)
		<-time.After(load)
		if err := srv.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-srv.done:
		case <-time.After(stopDeadline):
			t.Fatalf("kill %d: keygate still running %v after SIGKILL", kill, stopDeadline)
		}
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("kill %d: %v", kill, err)
			}
		}

		mustBeConsistent(t, dbPath, ledger, fmt.Sprintf("after kill %d (load %v)", kill, load.Round(time.Millisecond)))
		srv = mustStartWith(t, bin, dataDir, crashEnv)
	}

	// The restarted server answers as the database says: acknowledged
	// revokes hold and the other acknowledged keys work.
	mustKeysAnswer(t, srv, apiClient, ledger)
	// And every acknowledged key's key.created event is delivered, what
	// a kill cut mid-delivery included.
	recv.mustReceiveAll(t, ledger, 2*time.Minute)
	srv.mustStop(t)
	mustBeConsistent(t, dbPath, ledger, "after the last stop")

	var fromDashboard int
	for _, k := range ledger.keys {
		if k.id == "" {
			fromDashboard++
		}
	}
	t.Logf("%d kills; %d acknowledged writes (%d key creates, %d of them through the dashboard; %d revokes; %d bot creates); %v",
		crashKills, ledger.total(), len(ledger.keys), fromDashboard, len(ledger.revoked), len(ledger.bots), time.Since(began).Round(time.Millisecond))
}

// mustAllWrite waits until every writer of the round has had a write
// acknowledged, failing on a writer's error, the server's exit or the
// deadline.
func mustAllWrite(t *testing.T, ready *sync.WaitGroup, srv *server, errs <-chan error, kill int) {
	t.Helper()
	all := make(chan struct{})
	go func() {
		ready.Wait()
		close(all)
	}()
	select {
	case <-all:
	case err := <-errs:
		t.Fatalf("before kill %d: %v", kill, err)
	case <-srv.done:
		t.Fatalf("before kill %d: keygate exited (%v); log:\n%s", kill, srv.waitErr, srv.log)
	case <-time.After(startDeadline):
		t.Fatalf("before kill %d: not every writer had a write acknowledged after %v", kill, startDeadline)
	}
}

// mustBeConsistent opens the database of a stopped server read-only and
// checks it: intact, every acknowledged write in it, no write half done.
func mustBeConsistent(t *testing.T, dbPath string, ledger *crashLedger, when string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil {
		t.Fatalf("%s: integrity_check: %v", when, err)
	}
	if integrity != "ok" {
		t.Fatalf("%s: integrity_check = %q, want ok", when, integrity)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatalf("%s: foreign_key_check: %v", when, err)
	}
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s: %s row %v refers to a missing %s", when, table, rowid.Int64, parent)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}

	mustHoldAcked(t, db, ledger, when)
	for _, c := range []struct{ what, query string }{
		{"api keys without their creation in the audit log", `
			SELECT COUNT(*) FROM api_keys k WHERE NOT EXISTS (SELECT 1 FROM audit_events e
			WHERE e.action = 'api_key.create' AND e.target_id = k.public_id AND e.organization_id = k.organization_id)`},
		{"key creations in the audit log without their key", `
			SELECT COUNT(*) FROM audit_events e WHERE e.action = 'api_key.create'
			AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.public_id = e.target_id)`},
		{"revoked keys without their revocation in the audit log", `
			SELECT COUNT(*) FROM api_keys k WHERE k.revoked_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM audit_events e
			WHERE e.action = 'api_key.revoke' AND e.target_id = k.public_id)`},
		{"key revocations in the audit log of keys not revoked", `
			SELECT COUNT(*) FROM audit_events e WHERE e.action = 'api_key.revoke'
			AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.public_id = e.target_id AND k.revoked_at IS NOT NULL)`},
		{"api keys without an organization", `
			SELECT COUNT(*) FROM api_keys k WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = k.organization_id)`},
		{"bots without their state history", `
			SELECT COUNT(*) FROM bots b WHERE NOT EXISTS (SELECT 1 FROM bot_state_changes c WHERE c.bot_id = b.id)`},
		{"bots without an organization", `
			SELECT COUNT(*) FROM bots b WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = b.organization_id)`},
	} {
		var n int
		if err := db.QueryRow(c.query).Scan(&n); err != nil {
			t.Fatalf("%s: count %s: %v", when, c.what, err)
		}
		if n != 0 {
			t.Errorf("%s: %d %s", when, n, c.what)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// mustHoldAcked checks that every acknowledged write is in db.
func mustHoldAcked(t *testing.T, db *sql.DB, ledger *crashLedger, when string) {
	t.Helper()
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	for _, k := range ledger.keys {
		hash := apikey.Hash(k.secret)
		var id, name string
		err := db.QueryRow(`SELECT public_id, name FROM api_keys WHERE secret_hash = ?`, hash[:]).Scan(&id, &name)
		if err != nil {
			t.Errorf("%s: acknowledged key %q: %v", when, k.name, err)
			continue
		}
		if name != k.name || (k.id != "" && id != k.id) {
			t.Errorf("%s: acknowledged key %s %q is stored as %s %q", when, k.id, k.name, id, name)
		}
	}
	for _, id := range ledger.revoked {
		var revoked bool
		if err := db.QueryRow(`SELECT revoked_at IS NOT NULL FROM api_keys WHERE public_id = ?`, id).Scan(&revoked); err != nil {
			t.Errorf("%s: acknowledged revoke of %s: %v", when, id, err)
		} else if !revoked {
			t.Errorf("%s: acknowledged revoke of %s did not last", when, id)
		}
	}
	for _, id := range ledger.bots {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM bots WHERE public_id = ?`, id).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: acknowledged bot %s: %d rows (%v)", when, id, n, err)
		}
	}
}

// mustKeysAnswer checks GET /api/v1/me with a sample of the acknowledged
// keys: 401 for revoked ones, 200 for the others unless an unacknowledged
// revoke may have reached them.
func mustKeysAnswer(t *testing.T, srv *server, c *http.Client, ledger *crashLedger) {
	t.Helper()
	revoked := map[string]bool{}
	for _, id := range ledger.revoked {
		revoked[id] = true
	}
	const sample = 20
	var nRevoked, nLive int
	for _, k := range ledger.keys {
		switch {
		case revoked[k.id] && nRevoked < sample:
			nRevoked++
			mustMeStatus(t, srv, c, k.secret, http.StatusUnauthorized)
		case k.id == "" && nLive < sample:
			// Dashboard keys: nothing revokes them.
			nLive++
			mustMeStatus(t, srv, c, k.secret, http.StatusOK)
		}
	}
	if nRevoked == 0 || nLive == 0 {
		t.Fatalf("checked %d revoked and %d live keys through the API, want some of each", nRevoked, nLive)
	}
}

func mustMeStatus(t *testing.T, srv *server, c *http.Client, secret string, want int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.url("/api/v1/me"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if p := mustDo(t, c, req); p.StatusCode != want {
		t.Fatalf("GET /api/v1/me with key %s: status %d, want %d: %.300s", secret[:12], p.StatusCode, want, p.body)
	}
}
