package sso_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sso"
)

// TestProvider_Complete_RequestContext: a callback whose request ends
// (the browser went away, the server shuts down) stops waiting for the
// provider's token endpoint at once, not after the exchange's timeout.
func TestProvider_Complete_RequestContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	release := make(chan struct{})
	var exchanges atomic.Int32
	mux := http.NewServeMux()
	mux.Handle("/.well-known/openid-configuration", discovery(issuer, issuer))
	hit := make(chan struct{}, 1)
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		exchanges.Add(1)
		select {
		case hit <- struct{}{}:
		default:
		}
		select { // hangs
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	defer close(release)

	p, err := sso.NewOIDC(sso.OIDCConfig{Issuer: issuer, ClientID: "x", CallbackURL: "https://keygate.example/auth/oidc/callback"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	prov := p.Provider()
	_, session, err := prov.Begin("the-state")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := prov.Complete(ctx, session, "the-code")
		done <- err
	}()
	select { // the exchange is in flight
	case <-hit:
	case <-time.After(10 * time.Second):
		t.Fatal("the token endpoint was not called")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Complete = %v, want %v", err, context.Canceled)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Complete still waits for the token endpoint 5 s after its context ended")
	}

	// A request already over does not reach the provider at all.
	before := exchanges.Load()
	if _, err := prov.Complete(ctx, session, "the-code"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Complete after the end = %v, want %v", err, context.Canceled)
	}
	if got := exchanges.Load(); got != before {
		t.Fatalf("%d token requests after the context ended", got-before)
	}
}
