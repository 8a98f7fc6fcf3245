package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/outbound"
	"github.com/keygate/keygate/internal/sqlstore"
	"github.com/keygate/keygate/internal/webhook"
)

// BenchmarkAPIWebhookSlowReceiver renames a key through PATCH
// /api/v1/keys/{id}, each call writing a key.updated event, with the
// webhook worker running beside it and an endpoint subscribed to every key
// event: on a receiver that answers at once ("fast-receiver") and on one
// that takes 2 seconds ("slow-receiver"). The API's req/s must not depend
// on the receiver: the worker holds nothing the API needs while it waits
// on the network. "no-endpoint" and "no-worker" (an endpoint, nothing
// delivering) price the outbox itself, the event and delivery rows each
// call writes in its own transaction.
//
//	go test -run '^$' -bench BenchmarkAPIWebhookSlowReceiver -benchtime 3s ./web/
func BenchmarkAPIWebhookSlowReceiver(b *testing.B) {
	b.Run("no-endpoint", func(b *testing.B) {
		h, admin, key := mustWebhookBench(b, nil, true)
		benchRenameKey(b, h, admin, key)
	})
	b.Run("no-worker", func(b *testing.B) {
		url := "https://hooks.example.com/in"
		h, admin, key := mustWebhookBench(b, &url, false)
		benchRenameKey(b, h, admin, key)
	})
	for _, r := range []struct {
		name  string
		delay time.Duration
	}{{"fast-receiver", 0}, {"slow-receiver", 2 * time.Second}} {
		b.Run(r.name, func(b *testing.B) {
			var received atomic.Int64
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				received.Add(1)
				select {
				case <-time.After(r.delay):
				case <-req.Context().Done():
				}
			}))
			b.Cleanup(recv.Close)
			h, admin, key := mustWebhookBench(b, &recv.URL, true)
			benchRenameKey(b, h, admin, key)
			// The worker polls once a second: its first request is due by now.
			for deadline := time.Now().Add(5 * time.Second); received.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			if received.Load() == 0 {
				b.Fatal("the receiver got no delivery: the worker did not run")
			}
			b.ReportMetric(float64(received.Load()), "deliveries")
		})
	}
}

// benchRenameKey renames key through the handler and reports req/s.
func benchRenameKey(b *testing.B, h http.Handler, admin, key string) {
	i := 0
	for b.Loop() {
		i++
		req := httptest.NewRequest(http.MethodPatch, "https://127.0.0.1/api/v1/keys/"+key,
			strings.NewReader(`{"name": "bench `+strconv.Itoa(i)+`"}`))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// mustWebhookBench starts an App as mustBenchApp does, with an endpoint
// subscribed to every key event at recvURL unless it is nil, and the
// webhook worker running as serve runs it if worker is set. It returns the
// handler, an admin key and the public id of a key to rename.
func mustWebhookBench(b *testing.B, recvURL *string, worker bool) (http.Handler, string, string) {
	b.Helper()
	app, o := mustBenchApp(b)
	ctx := keygate.NewContextWithUser(context.Background(), o.Owner)
	hooks := sqlstore.NewWebhookService(app.DB, app.SecretBox)
	if recvURL != nil {
		events := []string{keygate.WebhookKeyCreated, keygate.WebhookKeyUpdated, keygate.WebhookKeyRolled,
			keygate.WebhookKeyRevoked, keygate.WebhookKeyExposed, keygate.WebhookKeyRateLimited}
		if _, _, err := hooks.CreateWebhookEndpoint(ctx, o.ID, &keygate.WebhookEndpointInput{URL: recvURL, Events: &events}); err != nil {
			b.Fatal(err)
		}
	}
	_, k := app.MustKey(b, o.Owner, o.ID, keygate.APIKeyCreate{Name: "renamed", Scopes: []keygate.Scope{keygate.ScopeRead}})
	if !worker {
		return app.Web.Handler(), o.Admin, k.PublicID
	}

	w := webhook.New(hooks, outbound.Policy{AllowPrivate: true}, nil, nil)
	w.Now = app.Clock.Now
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(wctx)
	}()
	b.Cleanup(func() { cancel(); <-done })
	return app.Web.Handler(), o.Admin, k.PublicID
}
