package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/webhook"
)

// clock is the tests' clock, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an organization with an endpoint on a local receiver, and a
// worker on the injected clock.
type env struct {
	path     string
	db       *sqlstore.DB
	box      *secretbox.Box
	clock    *clock
	hooks    *sqlstore.WebhookService
	keys     *sqlstore.APIKeyService
	ctx      context.Context
	org      *keygate.Organization
	endpoint *keygate.WebhookEndpoint
	secret   string
	recv     *receiver
	worker   *webhook.Worker
}

// mustEnv opens a database, signs up an Owner and creates an endpoint
// subscribed to events on a receiver answering status.
func mustEnv(tb testing.TB, events []string, mailer webhook.Mailer) *env {
	tb.Helper()
	e := &env{path: filepath.Join(tb.TempDir(), "keygate.db"), clock: &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	e.box = box
	e.open(tb, mailer)
	users := sqlstore.NewUserService(e.db, password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0))
	user, org, err := users.Signup(context.Background(), &keygate.Signup{Name: "Ada", Email: "ada@example.com",
		Password: "correct horse battery staple", OrganizationName: "Acme"})
	if err != nil {
		tb.Fatal(err)
	}
	e.org, e.ctx = org, keygate.NewContextWithUser(context.Background(), user)
	e.recv = newReceiver(tb)
	url := e.recv.srv.URL + "/hook"
	e.endpoint, e.secret, err = e.hooks.CreateWebhookEndpoint(e.ctx, org.PublicID, &keygate.WebhookEndpointInput{URL: &url, Events: &events})
	if err != nil {
		tb.Fatal(err)
	}
	e.recv.secrets = []string{e.secret}
	return e
}

// open opens (or reopens) the database and the worker.
func (e *env) open(tb testing.TB, mailer webhook.Mailer) {
	tb.Helper()
	e.db = sqlstore.NewDB(e.path)
	e.db.Now = e.clock.Now
	if err := e.db.OpenAndMigrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	db := e.db
	tb.Cleanup(func() { db.Close() })
	e.hooks, e.keys = sqlstore.NewWebhookService(e.db, e.box), sqlstore.NewAPIKeyService(e.db)
	e.worker = webhook.New(e.hooks, outbound.Policy{AllowPrivate: true}, mailer, nil)
	e.worker.Now = e.clock.Now
}

// tick runs the worker once.
func (e *env) tick(tb testing.TB) int {
	tb.Helper()
	n, err := e.worker.Tick(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// mustCreateKey creates a key named name.
func (e *env) mustCreateKey(tb testing.TB, name string) *keygate.APIKey {
	tb.Helper()
	k, _, err := e.keys.CreateAPIKey(e.ctx, e.org.PublicID, &keygate.APIKeyCreate{Name: name, Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// received is one request the receiver took.
type received struct {
	ID, Timestamp, Signature, ContentType, UserAgent string
	Body                                             []byte
	Event                                            struct {
		ID           string          `json:"id"`
		Type         string          `json:"type"`
		CreatedAt    time.Time       `json:"created_at"`
		Organization string          `json:"organization"`
		Data         json.RawMessage `json:"data"`
	}
}

// receiver is a webhook endpoint that checks every signature and answers
// with status.
type receiver struct {
	tb      testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	status  int
	secrets []string
}

func newReceiver(tb testing.TB) *receiver {
	r := &receiver{tb: tb, status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rec := received{ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"), ContentType: req.Header.Get("Content-Type"),
		UserAgent: req.Header.Get("User-Agent"), Body: body}
	if err := json.Unmarshal(body, &rec.Event); err != nil {
		r.tb.Errorf("body is not an event: %v: %s", err, body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !verify(r.secrets, rec.ID, rec.Timestamp, body, rec.Signature) {
		r.tb.Errorf("signature %q does not verify for %s", rec.Signature, rec.ID)
	}
	r.got = append(r.got, rec)
	w.WriteHeader(r.status)
	io.WriteString(w, "receiver says "+http.StatusText(r.status))
}

// setStatus makes the receiver answer status from now on.
func (r *receiver) setStatus(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// requests returns what the receiver took so far.
func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// verify checks a Standard Webhooks signature header the way a receiver
// does, written apart from the package's own: some v1 signature must be
// the HMAC-SHA256, under some secret, of "id.timestamp.body".
func verify(secrets []string, id, ts string, body []byte, header string) bool {
	for _, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return false
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "." + string(body)))
		want := mac.Sum(nil)
		for _, sig := range strings.Fields(header) {
			version, b64, ok := strings.Cut(sig, ",")
			got, err := base64.StdEncoding.DecodeString(b64)
			if ok && version == "v1" && err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}
