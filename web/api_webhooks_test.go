package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/internal/ratelimit"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/webhook"
	"github.com/keygate/keygate/web"
)

// withPrivateDestinations is --allow-private-destinations.
func withPrivateDestinations(c *web.Config, _ *App) { c.AllowPrivateDestinations = true }

// hookReceiver is a webhook endpoint on loopback that keeps every body.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newHookReceiver(tb testing.TB) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.mu.Unlock()
	}))
	tb.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) events(tb testing.TB) []map[string]any {
	tb.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, b := range h.bodies {
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			tb.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// deliverWebhooks runs a delivery worker over app's database once, as
// serve's would.
func deliverWebhooks(tb testing.TB, app *App) {
	tb.Helper()
	w := webhook.New(sqlstore.NewWebhookService(app.DB, app.SecretBox), outbound.Policy{AllowPrivate: true}, nil, nil)
	w.Now = app.Clock.Now
	if _, err := w.Tick(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

func TestAPIWebhooks_KeyCreatedPayloadIsTheAPIsKey(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPrivateDestinations)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ad := "Token " + org.Admin
	recv := newHookReceiver(t)
	r := app.API(t, "POST", "/api/v1/webhooks", ad, `{"url": "`+recv.URL+`/in", "events": ["key.created"]}`)
	wantAPI(t, r, 201, "", "")
	created := app.API(t, "POST", "/api/v1/keys", ad, `{"name": "CI", "scopes": ["read"]}`)
	wantAPI(t, created, 201, "", "")
	deliverWebhooks(t, app)
	events := recv.events(t)
	if len(events) != 1 || events[0]["type"] != "key.created" || events[0]["organization"] != org.ID {
		t.Fatalf("received %v", events)
	}
	got := app.API(t, "GET", "/api/v1/keys/"+created.JSON["id"].(string), ad, "")
	data, _ := json.Marshal(events[0]["data"])
	want, _ := json.Marshal(got.JSON)
	if string(data) != string(want) {
		t.Fatalf("event data\n %s\nwant the API's key\n %s", data, want)
	}
	if strings.Contains(string(data), created.JSON["key"].(string)) {
		t.Fatal("the event holds the key's secret")
	}
}

func TestAPIWebhooks_Create(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ad := "Token " + org.Admin

	t.Run("OK", func(t *testing.T) {
		r := app.API(t, "POST", "/api/v1/webhooks", ad, `{"url": "https://203.0.113.10/hooks", "events": ["key.created"], "description": "Sync"}`)
		wantAPI(t, r, 201, "", "")
		secret, _ := r.JSON["secret"].(string)
		if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+32 {
			t.Fatalf("secret = %q", secret)
		}
		got := app.API(t, "GET", "/api/v1/webhooks/"+r.JSON["id"].(string), ad, "")
		wantAPI(t, got, 200, "", "")
		if _, ok := got.JSON["secret"]; ok || strings.Contains(got.Raw, secret) {
			t.Fatalf("GET shows the secret: %s", got.Raw)
		}
		if n := len(app.orgAuditEvents(t, org.Owner, org.ID, keygate.AuditWebhookCreate)); n != 1 {
			t.Fatalf("%d webhook.create audit events, want 1", n)
		}
	})
	for _, tc := range []struct{ name, body, field, want string }{
		{"ErrPlainHTTP", `{"url": "http://203.0.113.10/hooks", "events": ["key.created"]}`, "url", "over https:// only"},
		{"ErrInternalAddress", `{"url": "https://10.0.0.7/hooks", "events": ["key.created"]}`, "url", outbound.FlagName},
		{"ErrLoopback", `{"url": "https://127.0.0.1:9/hooks", "events": ["key.created"]}`, "url", "loopback"},
		{"ErrMetadata", `{"url": "https://169.254.169.254/latest", "events": ["key.created"]}`, "url", "link-local"},
		{"ErrUnknownEvent", `{"url": "https://203.0.113.10/hooks", "events": ["key.created", "key.eaten"]}`, "events", "Valid types: key.created, key.updated"},
		{"ErrNoEvents", `{"url": "https://203.0.113.10/hooks", "events": []}`, "events", "Choose at least one event type."},
		{"ErrURLRequired", `{"events": ["key.created"]}`, "url", "This field is required."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := app.API(t, "POST", "/api/v1/webhooks", ad, tc.body)
			wantAPI(t, r, 400, "", "invalid")
			msgs, _ := r.JSON[tc.field].([]any)
			if len(msgs) != 1 || !strings.Contains(msgs[0].(string), tc.want) {
				t.Fatalf("%s = %v, want a message with %q", tc.field, r.JSON[tc.field], tc.want)
			}
		})
	}
	t.Run("ErrLimit", func(t *testing.T) {
		other := mustAPIOrg(t, app, "Bo", "bo@example.com")
		for i := range keygate.MaxWebhookEndpoints {
			wantAPI(t, app.API(t, "POST", "/api/v1/webhooks", "Token "+other.Admin, `{"url": "https://203.0.113.10/`+strconv.Itoa(i)+`", "events": ["key.created"]}`), 201, "", "")
		}
		r := app.API(t, "POST", "/api/v1/webhooks", "Token "+other.Admin, `{"url": "https://203.0.113.10/21", "events": ["key.created"]}`)
		wantAPI(t, r, 400, "", "invalid")
		if msgs, _ := r.JSON["url"].([]any); len(msgs) != 1 || !strings.Contains(msgs[0].(string), "at most 20") {
			t.Fatalf("url = %v", r.JSON["url"])
		}
	})
	t.Run("ErrScope", func(t *testing.T) {
		wantAPI(t, app.API(t, "POST", "/api/v1/webhooks", "Token "+org.Write, `{"url": "https://203.0.113.10/x", "events": ["key.created"]}`), 403, "", "insufficient_scope")
	})
}

func TestAPIWebhooks_PrivateDestinationsFlag(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPrivateDestinations)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	wantAPI(t, app.API(t, "POST", "/api/v1/webhooks", "Token "+org.Admin, `{"url": "http://127.0.0.1:9/hooks", "events": ["key.created"]}`), 201, "", "")
	// Link-local (cloud metadata) stays refused, and plain http beyond loopback.
	wantAPI(t, app.API(t, "POST", "/api/v1/webhooks", "Token "+org.Admin, `{"url": "https://169.254.169.254/x", "events": ["key.created"]}`), 400, "", "invalid")
	wantAPI(t, app.API(t, "POST", "/api/v1/webhooks", "Token "+org.Admin, `{"url": "http://10.0.0.7/x", "events": ["key.created"]}`), 400, "", "invalid")
}

func TestAPIWebhooks_RollAndDisable(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t)
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	ad := "Token " + org.Admin
	r := app.API(t, "POST", "/api/v1/webhooks", ad, `{"url": "https://203.0.113.10/hooks", "events": ["key.created"]}`)
	wantAPI(t, r, 201, "", "")
	id, first := r.JSON["id"].(string), r.JSON["secret"].(string)
	rolled := app.API(t, "POST", "/api/v1/webhooks/"+id+"/roll-secret", ad, "")
	wantAPI(t, rolled, 200, "", "")
	if s, _ := rolled.JSON["secret"].(string); s == first || !strings.HasPrefix(s, "whsec_") || rolled.JSON["previous_secret_expires_at"] == nil {
		t.Fatalf("roll = %s", rolled.Raw)
	}
	off := app.API(t, "PATCH", "/api/v1/webhooks/"+id, ad, `{"disabled": true}`)
	wantAPI(t, off, 200, "", "")
	if off.JSON["state"] != "disabled" {
		t.Fatalf("state = %v", off.JSON["state"])
	}
	on := app.API(t, "PATCH", "/api/v1/webhooks/"+id, ad, `{"disabled": false}`)
	if on.JSON["state"] != "active" || on.JSON["disabled_at"] != nil {
		t.Fatalf("re-enabled = %s", on.Raw)
	}
	if n := len(app.orgAuditEvents(t, org.Owner, org.ID, keygate.AuditWebhookSecretRoll)); n != 1 {
		t.Fatalf("%d secret roll audit events, want 1", n)
	}
	if n := len(app.orgAuditEvents(t, org.Owner, org.ID, keygate.AuditWebhookUpdate)); n != 2 {
		t.Fatalf("%d update audit events, want 2", n)
	}
	wantAPI(t, app.API(t, "DELETE", "/api/v1/webhooks/"+id, ad, ""), 204, "", "")
	if n := len(app.orgAuditEvents(t, org.Owner, org.ID, keygate.AuditWebhookDelete)); n != 1 {
		t.Fatalf("%d delete audit events, want 1", n)
	}
}

func TestAPIWebhooks_RateLimitedAndExposed(t *testing.T) {
	t.Parallel()
	app := MustOpenApp(t, withPrivateDestinations, WithRateLimit(ratelimit.Limit{Count: 1, Period: time.Minute}))
	org := mustAPIOrg(t, app, "Ada", "ada@example.com")
	recv := newHookReceiver(t)
	wantAPI(t, app.API(t, "POST", "/api/v1/webhooks", "Token "+org.Admin, `{"url": "`+recv.URL+`/in", "events": ["key.rate_limited", "key.exposed"]}`), 201, "", "")
	for range 4 {
		app.API(t, "GET", "/api/v1/me", "Token "+org.Read, "")
	}
	// Sent over plain HTTP, twice.
	plain := httptest.NewServer(app.Web.PlainHandler())
	defer plain.Close()
	for range 2 {
		req, _ := http.NewRequest("GET", plain.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Token "+org.Write)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The rate_limited event is queued in the background.
	received := func() []string {
		var types []string
		for _, ev := range recv.events(t) {
			types = append(types, ev["type"].(string)+" "+ev["data"].(map[string]any)["name"].(string))
		}
		slices.Sort(types)
		return types
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(received()) < 2; time.Sleep(20 * time.Millisecond) {
		deliverWebhooks(t, app)
	}
	// Then nothing more: one event of each.
	time.Sleep(50 * time.Millisecond)
	deliverWebhooks(t, app)
	types := received()
	if got, want := strings.Join(types, ", "), "key.exposed write, key.rate_limited read"; got != want {
		t.Fatalf("received %s, want %s", got, want)
	}
}
