package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

const day = 24 * time.Hour

// keyPolicyFixture is an organization with the key policy p.
func mustKeyPolicyFixture(tb testing.TB, p keygate.KeyPolicy) (*busFixture, *sqlstore.KeyPolicyService) {
	tb.Helper()
	f := mustBusFixture(tb)
	svc := sqlstore.NewKeyPolicyService(f.db)
	if p.Leak == "" {
		p.Leak = keygate.LeakPolicyNotify
	}
	if _, err := svc.SetKeyPolicy(f.ctx(asAdmin), f.org.PublicID, p); err != nil {
		tb.Fatal(err)
	}
	return f, svc
}

func TestKeyPolicyService_SetKeyPolicy(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		want := keygate.KeyPolicy{MaxLifetimeDays: 90, NoteRequired: true, RevokeUnusedDays: 60, Leak: keygate.LeakPolicyRevoke}
		f, svc := mustKeyPolicyFixture(t, want)
		got, err := svc.KeyPolicy(f.ctx(asOwner), f.org.PublicID)
		if err != nil || *got != want {
			t.Fatalf("policy = %+v, %v; want %+v", got, err, want)
		}
		events, _, err := sqlstore.NewAuditService(f.db).FindAuditEvents(f.ctx(asOwner), keygate.AuditFilter{
			OrgPublicID: f.org.PublicID, Action: keygate.AuditOrganizationKeyPolicy})
		if err != nil || len(events) != 1 {
			t.Fatalf("events = %+v, %v", events, err)
		}
		if got, want := events[0].TargetName, "maximum lifetime 90 days, note required, unused keys revoked after 60 days, exposed keys: revoke the key"; got != want {
			t.Errorf("audit target = %q, want %q", got, want)
		}
		// Saving the same policy again records nothing.
		if _, err := svc.SetKeyPolicy(f.ctx(asOwner), f.org.PublicID, want); err != nil {
			t.Fatal(err)
		}
		if events, _, _ := sqlstore.NewAuditService(f.db).FindAuditEvents(f.ctx(asOwner), keygate.AuditFilter{
			OrgPublicID: f.org.PublicID, Action: keygate.AuditOrganizationKeyPolicy}); len(events) != 1 {
			t.Errorf("%d events after an unchanged save, want 1", len(events))
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		f := mustOrgFixture(t)
		_, err := sqlstore.NewKeyPolicyService(f.db).SetKeyPolicy(f.ctx(asOwner), f.org.PublicID,
			keygate.KeyPolicy{MaxLifetimeDays: 45, RevokeUnusedDays: 7, Leak: "shred"})
		assertFields(t, err, map[string]string{
			"max_lifetime_days":  "Choose a maximum lifetime from the list.",
			"revoke_unused_days": "Choose after how long unused keys are revoked from the list.",
			"leak_policy":        "Choose what happens to an exposed key.",
		})
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		t.Parallel()
		f := mustOrgFixture(t)
		_, err := sqlstore.NewKeyPolicyService(f.db).SetKeyPolicy(f.ctx(asMember), f.org.PublicID, keygate.KeyPolicy{Leak: keygate.LeakPolicyNotify})
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}

func TestKeyPolicyService_Enforcement(t *testing.T) {
	t.Parallel()
	create := func(f *busFixture, in keygate.APIKeyCreate) (*keygate.APIKey, error) {
		in.Environment, in.Scopes = keygate.EnvProduction, []keygate.Scope{keygate.ScopeRead}
		k, _, err := f.keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, &in)
		return k, err
	}
	t.Run("ErrNoExpiry", func(t *testing.T) {
		t.Parallel()
		f, _ := mustKeyPolicyFixture(t, keygate.KeyPolicy{MaxLifetimeDays: 90})
		_, err := create(f, keygate.APIKeyCreate{Name: "Forever"})
		assertFields(t, err, map[string]string{"expiration": "Your organization's key policy allows keys to live at most 90 days."})
		_, err = create(f, keygate.APIKeyCreate{Name: "Long", ExpiresAt: f.clock.After(91 * day)})
		assertFields(t, err, map[string]string{"expiration": "Your organization's key policy allows keys to live at most 90 days."})
		if _, err := create(f, keygate.APIKeyCreate{Name: "OK", ExpiresAt: f.clock.After(90 * day)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DefaultExpiryCapped", func(t *testing.T) {
		t.Parallel()
		f, _ := mustKeyPolicyFixture(t, keygate.KeyPolicy{MaxLifetimeDays: 30})
		k, err := create(f, keygate.APIKeyCreate{Name: "Default", DefaultExpiry: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := k.ExpiresAt.Sub(f.clock.Now()), 30*day; got != want {
			t.Fatalf("lifetime = %v, want %v", got, want)
		}
	})
	t.Run("ErrNoteRequired", func(t *testing.T) {
		t.Parallel()
		f, _ := mustKeyPolicyFixture(t, keygate.KeyPolicy{NoteRequired: true})
		_, err := create(f, keygate.APIKeyCreate{Name: "No note", Note: "  "})
		assertFields(t, err, map[string]string{"note": keygate.MsgKeyNoteRequired})
		empty := ""
		_, err = f.keys.UpdateAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, keygate.APIKeyUpdate{Note: &empty})
		assertFields(t, err, map[string]string{"note": keygate.MsgKeyNoteRequired})
	})
	t.Run("RollCapsExpiry", func(t *testing.T) {
		t.Parallel()
		// The fixture's key never expires; the policy came later.
		f, _ := mustKeyPolicyFixture(t, keygate.KeyPolicy{MaxLifetimeDays: 30})
		next, _, _, err := f.keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if next.ExpiresAt == nil || next.ExpiresAt.Sub(f.clock.Now()) != 30*day {
			t.Fatalf("rolled key expires %v, want in 30 days", next.ExpiresAt)
		}
	})
	t.Run("BreakingAndFix", func(t *testing.T) {
		t.Parallel()
		f, svc := mustKeyPolicyFixture(t, keygate.KeyPolicy{MaxLifetimeDays: 90})
		keys, _, err := svc.FindKeysBreakingPolicy(f.ctx(asOwner), f.org.PublicID)
		if err != nil || len(keys) != 1 || keys[0].PublicID != f.key.PublicID {
			t.Fatalf("breaking = %v, %v; want the fixture's key", keys, err)
		}
		k, err := svc.SetPolicyExpiry(f.ctx(asAdmin), f.org.PublicID, f.key.PublicID)
		if err != nil || k.ExpiresAt == nil || k.ExpiresAt.Sub(f.clock.Now()) != 90*day {
			t.Fatalf("key = %+v, %v", k, err)
		}
		if keys, _, _ := svc.FindKeysBreakingPolicy(f.ctx(asOwner), f.org.PublicID); len(keys) != 0 {
			t.Errorf("still breaking: %v", keys)
		}
	})
	t.Run("ExposedReadOnly", func(t *testing.T) {
		t.Parallel()
		f, _ := mustKeyPolicyFixture(t, keygate.KeyPolicy{Leak: keygate.LeakPolicyReadOnly})
		if err := f.keys.MarkExposed(context.Background(), f.key.ID); err != nil {
			t.Fatal(err)
		}
		k, err := f.keys.FindAPIKeyByID(f.ctx(asOwner), f.org.PublicID, f.key.PublicID)
		if err != nil || k.Scopes.String() != "read" || k.RevokedAt != nil {
			t.Fatalf("key = %+v, %v; want read only", k, err)
		}
	})
}

func TestKeyPolicyService_SweepUnusedKeys(t *testing.T) {
	t.Parallel()
	f, svc := mustKeyPolicyFixture(t, keygate.KeyPolicy{RevokeUnusedDays: 30})
	used, _, err := f.keys.CreateAPIKey(f.ctx(asAdmin), f.org.PublicID, &keygate.APIKeyCreate{
		Name: "Used", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	sweep := func() *keygate.KeyPolicySweep {
		t.Helper()
		s, err := svc.SweepUnusedKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	use := func(k *keygate.APIKey) {
		t.Helper()
		if _, err := f.db.WriteConn().Exec(`UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, f.clock.Now().UnixMilli(), k.ID); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(22 * day)
	use(used)
	if s := sweep(); len(s.Warned) != 0 || s.Revoked != 0 {
		t.Fatalf("day 22: %+v, want nothing", s)
	}
	f.clock.Advance(day)
	s := sweep()
	if len(s.Warned) != 1 || s.Warned[0].KeyPublicID != f.key.PublicID || s.Revoked != 0 {
		t.Fatalf("day 23: %+v, want one warning of the fixture's key", s)
	}
	if got, want := strings.Join(s.Warned[0].Recipients, " "), "admin@example.com owner@example.com"; got != want {
		t.Errorf("recipients = %q, want %q", got, want)
	}
	if got, want := s.Warned[0].RevokeAt, f.clock.Now().Add(7*day); !got.Equal(want) {
		t.Errorf("revoke at %v, want %v", got, want)
	}
	f.clock.Advance(3 * day)
	if s := sweep(); len(s.Warned) != 0 || s.Revoked != 0 {
		t.Fatalf("day 26: %+v, want nothing: warned once", s)
	}
	f.clock.Advance(4 * day)
	if s := sweep(); s.Revoked != 1 || len(s.Warned) != 0 {
		t.Fatalf("day 30: %+v, want one revoked", s)
	}
	k, err := f.keys.FindAPIKeyByID(f.ctx(asOwner), f.org.PublicID, f.key.PublicID)
	if err != nil || k.RevokedAt == nil {
		t.Fatalf("key = %+v, %v; want revoked", k, err)
	}
	if u, _ := f.keys.FindAPIKeyByID(f.ctx(asOwner), f.org.PublicID, used.PublicID); u.RevokedAt != nil {
		t.Error("the used key was revoked")
	}
	events, _, err := sqlstore.NewAuditService(f.db).FindAuditEvents(f.ctx(asOwner), keygate.AuditFilter{
		OrgPublicID: f.org.PublicID, Action: keygate.AuditAPIKeyRevoke})
	if err != nil || len(events) != 1 || events[0].ActorName != keygate.KeyPolicyActor || events[0].TargetID != f.key.PublicID {
		t.Fatalf("revoke events = %+v, %v", events, err)
	}
}
