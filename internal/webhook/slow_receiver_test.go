package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// TestWorker_SlowReceiverHoldsNoWrite: while the worker waits on a
// receiver that has not answered, the database takes writes (a key is
// created, with its event) at once.
func TestWorker_SlowReceiverHoldsNoWrite(t *testing.T) {
	e := mustEnv(t, []string{keygate.WebhookKeyCreated}, nil)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	url := slow.URL + "/hook"
	if _, err := e.hooks.UpdateWebhookEndpoint(e.ctx, e.org.PublicID, e.endpoint.PublicID, &keygate.WebhookEndpointInput{URL: &url}); err != nil {
		t.Fatal(err)
	}
	e.mustCreateKey(t, "first")

	ticked := make(chan error, 1)
	go func() {
		_, err := e.worker.Tick(context.Background())
		ticked <- err
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker sent nothing")
	}

	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := e.keys.CreateAPIKey(ctx, e.org.PublicID, &keygate.APIKeyCreate{Name: "second", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		t.Fatalf("a write while a delivery waits: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a write while a delivery waits took %v", took)
	}

	release <- struct{}{}
	if err := <-ticked; err != nil {
		t.Fatal(err)
	}
}
