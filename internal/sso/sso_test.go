package sso_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/sso"
)

func TestValidateIssuer(t *testing.T) {
	for _, tt := range []struct {
		issuer string
		ok     bool
	}{
		{"https://accounts.example.com", true},
		{"https://login.example.com/tenant/v2.0", true},
		{"http://127.0.0.1:9998/", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080/", true},
		{"http://idp.example.com", false},
		{"http://10.0.0.1:8080", false},
		{"ftp://idp.example.com", false},
		{"idp.example.com", false},
		{"https://user:pass@idp.example.com", false},
		{"", false},
	} {
		err := sso.ValidateIssuer(tt.issuer)
		if got := err == nil; got != tt.ok {
			t.Errorf("ValidateIssuer(%q) = %v, want ok=%v", tt.issuer, err, tt.ok)
		}
	}
}

func TestNewOIDC(t *testing.T) {
	t.Run("ErrPlainHTTPIssuer", func(t *testing.T) {
		if _, err := sso.NewOIDC(sso.OIDCConfig{Issuer: "http://idp.example.com", ClientID: "x"}); err == nil {
			t.Fatal("plain http issuer accepted")
		}
	})
	t.Run("ErrNoClientID", func(t *testing.T) {
		if _, err := sso.NewOIDC(sso.OIDCConfig{Issuer: "https://idp.example.com"}); err == nil {
			t.Fatal("no client id accepted")
		}
	})
	t.Run("ErrUnavailableBeforeDiscovery", func(t *testing.T) {
		p, err := sso.NewOIDC(sso.OIDCConfig{Issuer: "https://idp.example.com", ClientID: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Provider().Begin("state"); err == nil {
			t.Fatal("began a flow before discovery")
		}
	})
}

// discovery serves a minimal discovery document for issuer.
func discovery(issuer string, claimed string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": claimed, "authorization_endpoint": issuer + "/authorize",
			"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks"})
	})
	return mux
}

func TestOIDC_Discover(t *testing.T) {
	t.Run("ErrIssuerMismatch", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		issuer := "http://" + ln.Addr().String()
		srv := &http.Server{Handler: discovery(issuer, "https://evil.example")}
		go srv.Serve(ln)
		defer srv.Close()
		p, err := sso.NewOIDC(sso.OIDCConfig{Issuer: issuer, ClientID: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Discover(context.Background()); err == nil || p.Ready() {
			t.Fatal("accepted a discovery document for another issuer")
		}
	})

	t.Run("OKRetriedUntilTheProviderIsUp", func(t *testing.T) {
		// The provider answers 503 until it is "up", on one listener, so no
		// other process can take its port in between.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		issuer := "http://" + ln.Addr().String()
		var up atomic.Bool
		var refused atomic.Int32
		ready := discovery(issuer, issuer)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !up.Load() {
				refused.Add(1)
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			ready.ServeHTTP(w, r)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		p, err := sso.NewOIDC(sso.OIDCConfig{Issuer: issuer, ClientID: "x", CallbackURL: "https://keygate.example/auth/oidc/callback"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p.Start(ctx, nil) // returns at once
		for deadline := time.Now().Add(10 * time.Second); refused.Load() == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("discovery never tried")
			}
		}
		if p.Ready() {
			t.Fatal("ready while the provider is down")
		}
		up.Store(true)
		deadline := time.Now().Add(10 * time.Second)
		for !p.Ready() {
			if time.Now().After(deadline) {
				t.Fatal("discovery not retried")
			}
			time.Sleep(50 * time.Millisecond)
		}
		authURL, session, err := p.Provider().Begin("the-state")
		if err != nil || authURL == "" || session == "" {
			t.Fatalf("Begin = %q, %q, %v", authURL, session, err)
		}
	})
}

func TestRegistry(t *testing.T) {
	var nilReg *sso.Registry
	if nilReg.Get("oidc") != nil || len(nilReg.All()) != 0 {
		t.Fatal("a nil registry offers providers")
	}
	r := sso.NewRegistry()
	r.Add(&sso.Provider{Key: "google", Name: "Google"})
	r.Add(&sso.Provider{Key: "oidc", Name: "SSO"})
	r.Add(&sso.Provider{Key: "google", Name: "Google Workspace"})
	if got := r.All(); len(got) != 2 || got[0].Name != "Google Workspace" || got[1].Key != "oidc" {
		t.Fatalf("All = %+v", got)
	}
	if r.Get("github") != nil {
		t.Fatal("Get of an unknown key")
	}
}
