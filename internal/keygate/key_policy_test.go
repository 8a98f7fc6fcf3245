package keygate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

func TestKeyPolicy_Breaches(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	p := keygate.KeyPolicy{MaxLifetimeDays: 90, NoteRequired: true}
	for _, tt := range []struct {
		name string
		key  keygate.APIKey
		want string
	}{
		{"OK", keygate.APIKey{ExpiresAt: in(90 * 24 * time.Hour), Note: "CI"}, ""},
		{"NoExpiry", keygate.APIKey{Note: "CI"}, "no-expiry"},
		{"TooLate", keygate.APIKey{ExpiresAt: in(91 * 24 * time.Hour), Note: "CI"}, "expiry"},
		{"NoNote", keygate.APIKey{ExpiresAt: in(time.Hour), Note: " "}, "note"},
		{"Both", keygate.APIKey{}, "no-expiry note"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(p.Breaches(&tt.key, now), " "); got != tt.want {
				t.Fatalf("breaches = %q, want %q", got, tt.want)
			}
		})
	}
	if got := (keygate.KeyPolicy{}).Breaches(&keygate.APIKey{}, now); len(got) != 0 {
		t.Errorf("the empty policy finds %v", got)
	}
}

func TestKeyPolicy_Changes(t *testing.T) {
	old := keygate.KeyPolicy{MaxLifetimeDays: 90, Leak: keygate.LeakPolicyNotify}
	if got := old.Changes(old); got != "" {
		t.Errorf("no change = %q", got)
	}
	p := keygate.KeyPolicy{RevokeUnusedDays: 30, Leak: keygate.LeakPolicyRevoke}
	if got, want := p.Changes(old), "maximum lifetime no limit, unused keys revoked after 30 days, exposed keys: revoke the key"; got != want {
		t.Errorf("changes = %q, want %q", got, want)
	}
}
