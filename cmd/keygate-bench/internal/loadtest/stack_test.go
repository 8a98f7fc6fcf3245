package loadtest

import (
	"path/filepath"
	"testing"
	"time"
)

// TestStackWiring checks that the benchmark's server has every service
// serve gives its own: a page or check left unwired would cost nothing
// here and make the benchmark flatter the server.
func TestStackWiring(t *testing.T) {
	dir := t.TempDir()
	lt, err := newLoopbackTLS(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := openStack(t.Context(), filepath.Join(dir, "db"), 3, 1, time.Second, lt.server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	svc := s.services
	for name, missing := range map[string]bool{
		"Monitoring": svc.Monitoring == nil, "Integrations": svc.Integrations == nil,
		"Identities": svc.Identities == nil, "OrgSSO": svc.OrgSSO == nil,
		"Verifier": svc.Verifier != s.verifier, "Usage": svc.Usage != s.usage,
	} {
		if missing {
			t.Errorf("the benchmark's server lacks %s", name)
		}
	}
	if got, want := len(s.keys), 3; got != want {
		t.Fatalf("seeded %d keys, want %d", got, want)
	}
}

// TestOptionsRotateDefault checks that a small -keys without -rotate runs,
// rotating over every key, while an explicit -rotate past -keys is refused.
func TestOptionsRotateDefault(t *testing.T) {
	t.Run("OKFewerKeysThanDefault", func(t *testing.T) {
		o, err := Options{Keys: 100}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o.Rotate, 100; got != want {
			t.Fatalf("Rotate = %d, want %d", got, want)
		}
	})
	t.Run("OKDefault", func(t *testing.T) {
		o, err := Options{}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := o.Rotate, 1000; got != want {
			t.Fatalf("Rotate = %d, want %d", got, want)
		}
	})
	t.Run("ErrRotatePastKeys", func(t *testing.T) {
		_, err := Options{Keys: 100, Rotate: 101}.withDefaults()
		if err == nil || err.Error() != "rotate must be between 1 and keys (100)" {
			t.Fatalf("err = %v", err)
		}
	})
}
