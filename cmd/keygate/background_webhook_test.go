package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/app"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// TestBackgroundDeliversWebhooks checks that serve's background sends
// webhook deliveries, through --allow-private-destinations to a loopback
// receiver.
func TestBackgroundDeliversWebhooks(t *testing.T) {
	got := make(chan string, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	defer recv.Close()
	db := sqlstore.NewDB(filepath.Join(t.TempDir(), "keygate.db"))
	if err := db.OpenAndMigrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	a := app.New(db, app.Options{SecretBox: box, Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)})
	user, org, err := a.Users.Signup(context.Background(), &keygate.Signup{Name: "Ada", Email: "ada@example.com",
		Password: "correct horse battery staple", OrganizationName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := keygate.NewContextWithUser(context.Background(), user)
	url, events := recv.URL+"/in", []string{keygate.WebhookKeyCreated}
	if _, _, err := a.Webhooks.CreateWebhookEndpoint(ctx, org.PublicID, &keygate.WebhookEndpointInput{URL: &url, Events: &events}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Keys.CreateAPIKey(ctx, org.PublicID, &keygate.APIKeyCreate{Name: "CI", Environment: keygate.EnvProduction,
		Scopes: []keygate.Scope{keygate.ScopeRead}}); err != nil {
		t.Fatal(err)
	}
	b := startBackground(context.Background(), &Config{AllowPrivateDestinations: true, RequestLogRetention: time.Hour}, db, a, slog.New(slog.DiscardHandler))
	defer b.stop()
	select {
	case id := <-got:
		if id == "" {
			t.Fatal("delivery without a webhook-id")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve's background sent no webhook")
	}
}
