package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

func TestLeakService_ReportLeak(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		f := mustBusFixture(t)
		leaks := sqlstore.NewLeakService(f.db)
		rep := keygate.LeakReport{Hash: apikey.Hash(f.secret), URL: "https://example.com/a", Source: "test"}
		got, err := leaks.ReportLeak(context.Background(), rep)
		if err != nil {
			t.Fatal(err)
		}
		if !got.New || got.KeyPublicID != f.key.PublicID || got.Policy != keygate.LeakPolicyNotify || got.Hint != f.key.Hint {
			t.Fatalf("report = %+v", got)
		}
		if want := "admin@example.com owner@example.com"; strings.Join(got.Recipients, " ") != want {
			t.Errorf("recipients = %v, want %s", got.Recipients, want)
		}
		k, err := f.keys.FindAPIKeyByID(f.ctx(asOwner), f.org.PublicID, f.key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if k.ExposedAt == nil || k.ExposedURL != rep.URL || k.ExposedSource != rep.Source || k.RevokedAt != nil {
			t.Fatalf("key = exposed %v at %q by %q, revoked %v", k.ExposedAt, k.ExposedURL, k.ExposedSource, k.RevokedAt)
		}
		again, err := leaks.ReportLeak(context.Background(), rep)
		if err != nil || again.New || len(again.Recipients) != 0 {
			t.Fatalf("second report = %+v, %v; want not new, nobody told", again, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		f := mustBusFixture(t)
		_, err := sqlstore.NewLeakService(f.db).ReportLeak(context.Background(), keygate.LeakReport{Hash: apikey.Hash(apikey.MustGenerate().String())})
		if got, want := keygate.ErrorCode(err), keygate.ENOTFOUND; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		t.Parallel()
		f := mustBusFixture(t)
		leaks := sqlstore.NewLeakService(f.db)
		if _, err := leaks.SetLeakPolicy(f.ctx(asAdmin), f.org.PublicID, keygate.LeakPolicyReadOnly); err != nil {
			t.Fatal(err)
		}
		if _, err := leaks.ReportLeak(context.Background(), keygate.LeakReport{Hash: apikey.Hash(f.secret), URL: "u"}); err != nil {
			t.Fatal(err)
		}
		rec, err := f.keys.LookupKeyByHash(context.Background(), apikey.Hash(f.secret))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Scopes != "read" || rec.RevokedAt != nil {
			t.Fatalf("scopes %q, revoked %v; want read, not revoked", rec.Scopes, rec.RevokedAt)
		}
	})
}

func TestLeakService_SetLeakPolicy(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	leaks := sqlstore.NewLeakService(f.db)
	t.Run("OK", func(t *testing.T) {
		org, err := leaks.SetLeakPolicy(f.ctx(asOwner), f.org.PublicID, keygate.LeakPolicyRevoke)
		if err != nil || org.LeakPolicy != keygate.LeakPolicyRevoke {
			t.Fatalf("org = %+v, %v", org, err)
		}
		got, err := f.orgs.FindOrganizationByID(f.ctx(asMember), f.org.PublicID)
		if err != nil || got.LeakPolicy != keygate.LeakPolicyRevoke {
			t.Fatalf("found %+v, %v", got, err)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		_, err := leaks.SetLeakPolicy(f.ctx(asMember), f.org.PublicID, keygate.LeakPolicyNotify)
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := leaks.SetLeakPolicy(f.ctx(asOwner), f.org.PublicID, "shred")
		if got := keygate.ErrorFields(err)["leak_policy"]; got == "" {
			t.Fatalf("err = %v, want a leak_policy field error", err)
		}
	})
}
