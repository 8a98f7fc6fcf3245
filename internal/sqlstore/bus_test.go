package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// spyBus records what the store publishes, or fails every Publish.
type spyBus struct {
	mu      sync.Mutex
	changes []string
	err     error
}

func (b *spyBus) Publish(_ context.Context, _ *sqlstore.Tx, change string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.changes = append(b.changes, change)
	return nil
}

func (b *spyBus) reset() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.changes
	b.changes = nil
	return out
}

// busFixture is an orgFixture with a key of Acme's Owner, the services
// that can change what keys may do, and a spy as the DB's Bus.
type busFixture struct {
	*orgFixture
	keys     *sqlstore.APIKeyService
	members  *sqlstore.MembershipService
	adminSvc *sqlstore.AdminService
	perms    *sqlstore.PermissionService
	bus      *spyBus
	key      *keygate.APIKey
	secret   string
	// committed counts the calls of OnKeysChanged.
	committed int
}

func mustBusFixture(tb testing.TB) *busFixture {
	tb.Helper()
	f := &busFixture{orgFixture: mustOrgFixture(tb), bus: &spyBus{}}
	f.db.Bus = f.bus
	f.db.OnKeysChanged = func() { f.committed++ }
	f.keys = sqlstore.NewAPIKeyService(f.db)
	f.members = sqlstore.NewMembershipService(f.db)
	f.adminSvc = sqlstore.NewAdminService(f.db, f.users)
	f.perms = sqlstore.NewPermissionService(f.db)
	var err error
	f.key, f.secret, err = f.keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, &keygate.APIKeyCreate{
		Name: "Deploy", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeAdmin},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// keyPublishers are the mutations that change what an API key may do,
// and the change each publishes.
var keyPublishers = []struct {
	name, change string
	setup        func(f *busFixture) error
	do           func(f *busFixture) error
}{
	{name: "APIKeyService.UpdateAPIKey", change: "key:", do: func(f *busFixture) error {
		name := "Renamed"
		_, err := f.keys.UpdateAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, keygate.APIKeyUpdate{Name: &name})
		return err
	}},
	{name: "APIKeyService.RevokeAPIKey", change: "key:", do: func(f *busFixture) error {
		_, err := f.keys.RevokeAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID)
		return err
	}},
	{name: "APIKeyService.RollAPIKey/Now", change: "key:", do: func(f *busFixture) error {
		_, _, _, err := f.keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, 0, "")
		return err
	}},
	{name: "APIKeyService.RollAPIKey/Grace", change: "key:", do: func(f *busFixture) error {
		_, _, _, err := f.keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID, time.Hour, "")
		return err
	}},
	{name: "PermissionService.DeletePermission", change: "org:", setup: func(f *busFixture) error {
		_, err := f.perms.CreatePermission(f.ctx(asOwner), f.org.PublicID, &keygate.PermissionCreate{Name: "invoices:write"})
		return err
	}, do: func(f *busFixture) error {
		_, err := f.perms.DeletePermission(f.ctx(asOwner), f.org.PublicID, "invoices:write")
		return err
	}},
	{name: "OrganizationService.UpdateOrganization", change: "org:", do: func(f *busFixture) error {
		rule := keygate.DisabledUserKeys("keep")
		_, err := f.orgs.UpdateOrganization(f.ctx(asOwner), f.org.PublicID, keygate.OrganizationUpdate{DisabledUserKeys: &rule})
		return err
	}},
	{name: "OrganizationService.DeleteOrganization", change: "org:", do: func(f *busFixture) error {
		return f.orgs.DeleteOrganization(f.ctx(asOwner), f.org.PublicID, f.org.Name)
	}},
	{name: "MembershipService.ChangeRole", change: "member:", do: func(f *busFixture) error {
		return f.members.ChangeRole(f.ctx(asOwner), f.org.PublicID, f.member.PublicID, keygate.RoleAdmin)
	}},
	{name: "MembershipService.RemoveMember/KeepKeys", change: "member:", do: func(f *busFixture) error {
		_, err := f.members.RemoveMember(f.ctx(asOwner), f.org.PublicID, f.member.PublicID, false)
		return err
	}},
	{name: "MembershipService.RemoveMember/RevokeKeys", change: "member:", do: func(f *busFixture) error {
		_, err := f.members.RemoveMember(f.ctx(asOwner), f.org.PublicID, f.member.PublicID, true)
		return err
	}},
	{name: "MembershipService.LeaveOrganization", change: "member:", do: func(f *busFixture) error {
		return f.members.LeaveOrganization(f.ctx(asAdmin), f.org.PublicID)
	}},
	{name: "MembershipService.TransferOwnership", change: "member:", do: func(f *busFixture) error {
		return f.members.TransferOwnership(f.ctx(asOwner), f.org.PublicID, f.admin.PublicID)
	}},
	{name: "LeakService.ReportLeak/ReadOnly", change: "key:", setup: leakPolicy(keygate.LeakPolicyReadOnly), do: reportKeyLeaked},
	{name: "LeakService.ReportLeak/Revoke", change: "key:", setup: leakPolicy(keygate.LeakPolicyRevoke), do: reportKeyLeaked},
	{name: "AdminService.SetPlan", change: "org:", do: func(f *busFixture) error {
		_, err := f.adminSvc.SetPlan(f.ctx(asOwner), f.org.PublicID, keygate.PlanEnterprise)
		return err
	}},
	{name: "AdminService.DisableUser", change: "user:", do: func(f *busFixture) error {
		_, err := f.adminSvc.DisableUser(f.ctx(asOwner), f.member.PublicID)
		return err
	}},
	{name: "AdminService.EnableUser", change: "user:", setup: func(f *busFixture) error {
		_, err := f.adminSvc.DisableUser(f.ctx(asOwner), f.member.PublicID)
		return err
	}, do: func(f *busFixture) error {
		_, err := f.adminSvc.EnableUser(f.ctx(asOwner), f.member.PublicID)
		return err
	}},
}

// leakPolicy sets Acme's leak policy to p.
func leakPolicy(p keygate.LeakPolicy) func(f *busFixture) error {
	return func(f *busFixture) error {
		_, err := sqlstore.NewLeakService(f.db).SetLeakPolicy(f.ctx(asOwner), f.org.PublicID, p)
		return err
	}
}

// reportKeyLeaked reports the fixture's key leaked.
func reportKeyLeaked(f *busFixture) error {
	_, err := sqlstore.NewLeakService(f.db).ReportLeak(context.Background(), keygate.LeakReport{Hash: apikey.Hash(f.secret), URL: "https://example.com/a"})
	return err
}

// keyNeutral are the other methods of the services in keyPublishers, and
// why what a key may do does not depend on them. A method in neither list
// fails TestBus_EveryMutationIsClassified: whoever adds it decides.
var keyNeutral = map[string]string{
	"APIKeyService.CreateAPIKey":               "a new key is in no cache",
	"APIKeyService.FindAPIKeys":                "reads",
	"APIKeyService.FindAPIKeyPage":             "reads",
	"APIKeyService.FindAPIKeyByID":             "reads",
	"APIKeyService.LookupKeyByHash":            "reads",
	"APIKeyService.MarkExposed":                "exposed_at is not in a key's record",
	"OrganizationService.FindOrganizationByID": "reads",
	"OrganizationService.FindOrganizations":    "reads",
	"OrganizationService.FindMembers":          "reads",
	"OrganizationService.CreateOrganization":   "a new organization has no keys",
	"OrganizationService.AddMember":            "a new member has no keys yet",
	"OrganizationService.SetRequireTwoFactor":  "it guards dashboard sessions, never an API key",
	"MembershipService.FindMemberDetails":      "reads",
	"MembershipService.FindMemberAPIKeys":      "reads",
	"MembershipService.Invite":                 "an invitation is not a member",
	"MembershipService.FindInvitations":        "reads",
	"MembershipService.ResendInvitation":       "an invitation is not a member",
	"MembershipService.RevokeInvitation":       "an invitation is not a member",
	"MembershipService.FindInvitationByToken":  "reads",
	"MembershipService.AcceptInvitation":       "a new member has no keys yet",
	"AdminService.Overview":                    "reads",
	"AdminService.ListOrganizations":           "reads",
	"AdminService.ListUsers":                   "reads",
	"AdminService.Settings":                    "reads",
	"PermissionService.FindPermissions":        "reads",
	"PermissionService.CreatePermission":       "a new permission is on no key",
	"AdminService.SetSettings":                 "the default plan applies to new organizations",
	"LeakService.SetLeakPolicy":                "the policy applies to later reports, not to keys",
}

// TestBus_EveryMutationIsClassified fails when a service that can change
// what keys may do gains a method that is neither known to publish (and
// tested to) nor known not to need to.
func TestBus_EveryMutationIsClassified(t *testing.T) {
	t.Parallel()
	publishes, seen := map[string]bool{}, map[string]bool{}
	for _, p := range keyPublishers {
		publishes[strings.Split(p.name, "/")[0]] = true
	}
	for _, svc := range []any{&sqlstore.APIKeyService{}, &sqlstore.OrganizationService{}, &sqlstore.MembershipService{}, &sqlstore.AdminService{}, &sqlstore.PermissionService{}, &sqlstore.LeakService{}} {
		typ := reflect.TypeOf(svc)
		for i := range typ.NumMethod() {
			name := typ.Elem().Name() + "." + typ.Method(i).Name
			seen[name] = true
			if _, ok := keyNeutral[name]; !ok && !publishes[name] {
				t.Errorf("%s: add it to keyPublishers (and call tx.keysChanged in it) or to keyNeutral with the reason", name)
			}
		}
	}
	// The lists name no method that is gone.
	for name := range keyNeutral {
		if !seen[name] {
			t.Errorf("keyNeutral names %s, which does not exist", name)
		}
	}
	for name := range publishes {
		if !seen[name] {
			t.Errorf("keyPublishers names %s, which does not exist", name)
		}
	}
}

// TestBus_MutationsPublish drives every mutation that changes what a key
// may do: each publishes inside its transaction, and this process's cache
// hears of it once, at commit.
func TestBus_MutationsPublish(t *testing.T) {
	t.Parallel()
	for _, p := range keyPublishers {
		t.Run(p.name, func(t *testing.T) {
			f := mustBusFixture(t)
			if p.setup != nil {
				if err := p.setup(f); err != nil {
					t.Fatal(err)
				}
			}
			f.bus.reset()
			f.committed = 0
			if err := p.do(f); err != nil {
				t.Fatal(err)
			}
			changes := f.bus.reset()
			if got, want := len(changes), 1; got != want {
				t.Fatalf("published %q, want one change", changes)
			}
			if !strings.HasPrefix(changes[0], p.change) {
				t.Errorf("published %q, want %s…", changes[0], p.change)
			}
			if got, want := f.committed, 1; got != want {
				t.Errorf("OnKeysChanged called %d times, want %d", got, want)
			}
		})
	}
}

// TestBus_PublishFails: a change whose news cannot be sent is not made.
func TestBus_PublishFails(t *testing.T) {
	t.Parallel()
	f := mustBusFixture(t)
	f.bus.err = errors.New("bus down")
	_, err := f.keys.RevokeAPIKey(f.ctx(asOwner), f.org.PublicID, f.key.PublicID)
	if err == nil || !strings.Contains(err.Error(), "bus down") {
		t.Fatalf("err = %v, want the bus's", err)
	}
	if f.committed != 0 {
		t.Errorf("OnKeysChanged called %d times, want 0", f.committed)
	}
	k, err := apikey.Parse(f.secret)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.keys.LookupKeyByHash(context.Background(), k.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if rec.RevokedAt != nil {
		t.Errorf("key revoked at %v, want not revoked", rec.RevokedAt)
	}
}

// TestBus_FailedMutationPublishesNothing: a refused change is no news.
func TestBus_FailedMutationPublishesNothing(t *testing.T) {
	t.Parallel()
	f := mustBusFixture(t)
	_, err := f.keys.RevokeAPIKey(f.ctx(asMember), f.org.PublicID, f.key.PublicID)
	if err == nil {
		t.Fatal("a Member revoked the Owner's key")
	}
	if changes := f.bus.reset(); len(changes) != 0 || f.committed != 0 {
		t.Errorf("published %q and OnKeysChanged %d times, want nothing", changes, f.committed)
	}
}
