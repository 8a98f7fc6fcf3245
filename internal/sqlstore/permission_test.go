package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// mustCreatePermission defines a permission in Acme as its Owner.
func mustCreatePermission(tb testing.TB, f *busFixture, name string) *keygate.Permission {
	tb.Helper()
	p, err := f.perms.CreatePermission(f.ctx(asOwner), f.org.PublicID, &keygate.PermissionCreate{Name: name, Description: "Lets a key " + name})
	if err != nil {
		tb.Fatalf("create permission %s: %v", name, err)
	}
	return p
}

// mustLookup returns the record LookupKeyByHash gives for secret.
func mustLookup(tb testing.TB, keys *sqlstore.APIKeyService, secret string) *apikey.Record {
	tb.Helper()
	k, err := apikey.Parse(secret)
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := keys.LookupKeyByHash(context.Background(), k.Hash())
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

// auditTarget returns the target name of the one event of action.
func auditTarget(tb testing.TB, db *sqlstore.DB, action string) string {
	tb.Helper()
	var name string
	if err := db.WriteConn().QueryRow(`SELECT target_name FROM audit_events WHERE action = $1`, action).Scan(&name); err != nil {
		tb.Fatal(err)
	}
	return name
}

func TestPermissionService_CreatePermission(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustBusFixture(t)
		p := mustCreatePermission(t, f, "invoices:write")
		if got, want := p.Name, "invoices:write"; got != want {
			t.Fatalf("name = %q, want %q", got, want)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditPermissionCreated); got != 1 {
			t.Errorf("%d created events, want 1", got)
		}
		list, err := f.perms.FindPermissions(f.ctx(asAdmin), f.org.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Name != "invoices:write" || list[0].Description != "Lets a key invoices:write" {
			t.Fatalf("list = %+v", list)
		}
	})
	for _, tc := range []struct{ name, field, msg string }{
		{"Invoices:Read", "name", "Use lowercase letters, digits and : . _ - only."},
		{"a b", "name", "Use lowercase letters, digits and : . _ - only."},
		{strings.Repeat("a", 101), "name", "Name must be at most 100 characters."},
		{"admin", "name", `"admin" is a built-in scope. Choose another name.`},
		{"", "name", "Name is required."},
	} {
		t.Run("ErrName/"+tc.name, func(t *testing.T) {
			f := mustBusFixture(t)
			_, err := f.perms.CreatePermission(f.ctx(asOwner), f.org.PublicID, &keygate.PermissionCreate{Name: tc.name})
			if got, want := keygate.ErrorFields(err)[tc.field], tc.msg; got != want {
				t.Fatalf("%s error = %q, want %q (err %v)", tc.field, got, want, err)
			}
		})
	}
	t.Run("ErrDescriptionTooLong", func(t *testing.T) {
		f := mustBusFixture(t)
		_, err := f.perms.CreatePermission(f.ctx(asOwner), f.org.PublicID, &keygate.PermissionCreate{Name: "x", Description: strings.Repeat("d", 501)})
		if got, want := keygate.ErrorFields(err)["description"], "Description must be at most 500 characters."; got != want {
			t.Fatalf("description error = %q, want %q", got, want)
		}
	})
	t.Run("ErrDuplicate", func(t *testing.T) {
		f := mustBusFixture(t)
		mustCreatePermission(t, f, "invoices:read")
		_, err := f.perms.CreatePermission(f.ctx(asOwner), f.org.PublicID, &keygate.PermissionCreate{Name: "invoices:read"})
		if got, want := keygate.ErrorFields(err)["name"], "This organization already has a permission named invoices:read."; got != want {
			t.Fatalf("name error = %q, want %q", got, want)
		}
	})
	t.Run("ErrLimit", func(t *testing.T) {
		f := mustBusFixture(t)
		for i := range keygate.MaxPermissionsPerOrg {
			mustCreatePermission(t, f, "p"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26)))
		}
		_, err := f.perms.CreatePermission(f.ctx(asOwner), f.org.PublicID, &keygate.PermissionCreate{Name: "one.more"})
		if got := keygate.ErrorFields(err)["name"]; !strings.Contains(got, "at most 100 permissions") {
			t.Fatalf("name error = %q, want the limit", got)
		}
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		f := mustBusFixture(t)
		_, err := f.perms.CreatePermission(f.ctx(asMember), f.org.PublicID, &keygate.PermissionCreate{Name: "x"})
		if got, want := keygate.ErrorCode(err), keygate.EFORBIDDEN; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
		_, err = f.perms.FindPermissions(f.ctx(asOutsider), f.org.PublicID)
		if got, want := keygate.ErrorCode(err), keygate.ENOTFOUND; got != want {
			t.Fatalf("outsider code = %q, want %q", got, want)
		}
	})
}

func TestAPIKeyService_Permissions(t *testing.T) {
	t.Parallel()
	t.Run("GrantedReadRolledDeleted", func(t *testing.T) {
		f := mustBusFixture(t)
		mustCreatePermission(t, f, "invoices:write")
		mustCreatePermission(t, f, "invoices:read")
		key, secret, err := f.keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, &keygate.APIKeyCreate{
			Name: "Billing", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead},
			Permissions: []string{"invoices:write", "invoices:read"}, AllowedIPs: []string{"203.0.113.7", "10.1.2.3/8"},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.keys.FindAPIKeyByID(f.ctx(asOwner), f.org.PublicID, key.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := strings.Join(got.Permissions, ","), "invoices:read,invoices:write"; g != w {
			t.Fatalf("permissions = %q, want %q", g, w)
		}
		if g, w := strings.Join(got.AllowedIPs, ","), "203.0.113.7/32,10.0.0.0/8"; g != w {
			t.Fatalf("allowed ips = %q, want %q", g, w)
		}
		list, _, err := f.keys.FindAPIKeys(f.ctx(asOwner), keygate.APIKeyFilter{OrgPublicID: f.org.PublicID})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range list {
			want := ""
			if k.PublicID == key.PublicID {
				want = "invoices:read,invoices:write"
			}
			if g := strings.Join(k.Permissions, ","); g != want {
				t.Errorf("listed %s permissions = %q, want %q", k.Name, g, want)
			}
		}
		if rec := mustLookup(t, f.keys, secret); strings.Join(rec.Permissions, ",") != "invoices:read,invoices:write" || rec.AllowedIPs != "203.0.113.7/32,10.0.0.0/8" {
			t.Fatalf("record permissions %q, ips %q", rec.Permissions, rec.AllowedIPs)
		}

		_, nextSecret, _, err := f.keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, key.PublicID, time.Hour, "")
		if err != nil {
			t.Fatal(err)
		}
		if rec := mustLookup(t, f.keys, nextSecret); strings.Join(rec.Permissions, ",") != "invoices:read,invoices:write" || rec.AllowedIPs != "203.0.113.7/32,10.0.0.0/8" {
			t.Fatalf("rolled record permissions %q, ips %q", rec.Permissions, rec.AllowedIPs)
		}

		p, err := f.perms.DeletePermission(f.ctx(asAdmin), f.org.PublicID, "invoices:write")
		if err != nil {
			t.Fatal(err)
		}
		if g, w := p.KeyCount, 2; g != w {
			t.Errorf("deleted from %d keys, want %d", g, w)
		}
		if rec := mustLookup(t, f.keys, nextSecret); strings.Join(rec.Permissions, ",") != "invoices:read" {
			t.Fatalf("after delete, record permissions %q", rec.Permissions)
		}
		if g, w := auditTarget(t, f.db, keygate.AuditPermissionDeleted), "invoices:write (removed from 2 keys)"; g != w {
			t.Errorf("audit target = %q, want %q", g, w)
		}
	})
	t.Run("ErrUnknownPermission", func(t *testing.T) {
		f := mustBusFixture(t)
		_, _, err := f.keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, &keygate.APIKeyCreate{
			Name: "Billing", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}, Permissions: []string{"x"},
		})
		if got, want := keygate.ErrorFields(err)["permissions"], `Unknown permission "x". Define it in Settings > Permissions first.`; got != want {
			t.Fatalf("permissions error = %q, want %q", got, want)
		}
		if n := countQuery(t, f.db, `SELECT COUNT(*) FROM api_keys WHERE name = 'Billing'`); n != 0 {
			t.Errorf("%d keys saved, want 0", n)
		}
	})
	t.Run("UpdateAllowedIPs", func(t *testing.T) {
		f := mustBusFixture(t)
		ips := []string{"2001:db8::1/32"}
		k, err := f.keys.UpdateAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, keygate.APIKeyUpdate{AllowedIPs: &ips})
		if err != nil {
			t.Fatal(err)
		}
		if g, w := strings.Join(k.AllowedIPs, ","), "2001:db8::/32"; g != w {
			t.Fatalf("allowed ips = %q, want %q", g, w)
		}
		if rec := mustLookup(t, f.keys, f.secret); rec.AllowedIPs != "2001:db8::/32" {
			t.Fatalf("record ips %q", rec.AllowedIPs)
		}
		if g, w := auditTarget(t, f.db, keygate.AuditAPIKeyUpdate), "Deploy (allowed IPs: 2001:db8::/32)"; g != w {
			t.Errorf("audit target = %q, want %q", g, w)
		}
		bad := []string{"10.0.0.300"}
		_, err = f.keys.UpdateAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, keygate.APIKeyUpdate{AllowedIPs: &bad})
		if got := keygate.ErrorFields(err)["allowed_ips"]; !strings.Contains(got, "10.0.0.300") {
			t.Fatalf("allowed_ips error = %q", got)
		}
		if rec := mustLookup(t, f.keys, f.secret); rec.AllowedIPs != "2001:db8::/32" {
			t.Fatalf("after a bad update, record ips %q", rec.AllowedIPs)
		}
	})
}
