package sqlstore_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
)

// adminFixture is an instance with a superuser (the first signup), a
// second user, and the services the tests call.
type adminFixture struct {
	db          *sqlstore.DB
	users       *sqlstore.UserService
	admin       *sqlstore.AdminService
	keys        *sqlstore.APIKeyService
	orgs        *sqlstore.OrganizationService
	super, bob  *keygate.User
	superOrg    *keygate.Organization
	bobOrg      *keygate.Organization
	keysChanged int
}

func mustAdminFixture(tb testing.TB) *adminFixture {
	tb.Helper()
	db, _ := mustBotDB(tb)
	f := &adminFixture{db: db}
	db.OnKeysChanged = func() { f.keysChanged++ }
	hasher := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	f.users = sqlstore.NewUserService(db, hasher)
	f.admin = sqlstore.NewAdminService(db, f.users)
	f.keys = sqlstore.NewAPIKeyService(db)
	f.orgs = sqlstore.NewOrganizationService(db)
	f.super, f.superOrg = f.mustSignup(tb, "Ada", "ada@example.com")
	f.bob, f.bobOrg = f.mustSignup(tb, "Bob", "bob@example.com")
	if !f.super.IsSuperuser || f.bob.IsSuperuser {
		tb.Fatalf("superuser flags: first %v, second %v", f.super.IsSuperuser, f.bob.IsSuperuser)
	}
	return f
}

func (f *adminFixture) mustSignup(tb testing.TB, name, email string) (*keygate.User, *keygate.Organization) {
	tb.Helper()
	u, org, err := f.users.Signup(context.Background(), &keygate.Signup{
		Name: name, Email: email, Password: "correct horse battery staple 42", OrganizationName: name + " Org",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return u, org
}

// as returns a context in which user acts.
func as(user *keygate.User) context.Context {
	return keygate.NewContextWithUser(context.Background(), user)
}

// mustLookup resolves a key's secret as the API does.
func (f *adminFixture) mustLookup(tb testing.TB, secret string) *apikey.Record {
	tb.Helper()
	return mustLookup(tb, f.keys, secret)
}

func (f *adminFixture) mustKey(tb testing.TB, ctx context.Context, orgID string) (*keygate.APIKey, string) {
	tb.Helper()
	k, secret, err := f.keys.CreateAPIKey(ctx, orgID, &keygate.APIKeyCreate{
		Name: "key", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeAdmin},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return k, secret
}

func TestAdminService_ErrForbidden(t *testing.T) {
	t.Parallel()
	f := mustAdminFixture(t)
	for name, ctx := range map[string]context.Context{
		"Anonymous":    context.Background(),
		"NotSuperuser": as(f.bob),
		// The context's copy says superuser; the database says otherwise.
		"StaleContext": as(&keygate.User{ID: f.bob.ID, IsSuperuser: true}),
	} {
		t.Run(name, func(t *testing.T) {
			const msg = "Only a superuser can do this."
			_, err := f.admin.Overview(ctx)
			assertError(t, err, keygate.EFORBIDDEN, msg)
			_, err = f.admin.ListOrganizations(ctx)
			assertError(t, err, keygate.EFORBIDDEN, msg)
			_, err = f.admin.SetPlan(ctx, f.bobOrg.PublicID, keygate.PlanEnterprise)
			assertError(t, err, keygate.EFORBIDDEN, msg)
			_, err = f.admin.ListUsers(ctx)
			assertError(t, err, keygate.EFORBIDDEN, msg)
			_, err = f.admin.DisableUser(ctx, f.super.PublicID)
			assertError(t, err, keygate.EFORBIDDEN, msg)
			_, err = f.admin.EnableUser(ctx, f.super.PublicID)
			assertError(t, err, keygate.EFORBIDDEN, msg)
			_, err = f.admin.Settings(ctx)
			assertError(t, err, keygate.EFORBIDDEN, msg)
			_, err = f.admin.SetSettings(ctx, keygate.InstanceSettings{SignupMode: "bogus"})
			assertError(t, err, keygate.EFORBIDDEN, msg)
		})
	}
	if got := f.keysChanged; got != 0 {
		t.Fatalf("keysChanged = %d, want 0", got)
	}
}

func TestAdminService_ListAndOverview(t *testing.T) {
	t.Parallel()
	f := mustAdminFixture(t)
	f.mustKey(t, as(f.bob), f.bobOrg.PublicID)
	if err := f.orgs.AddMember(context.Background(), f.bobOrg.PublicID, f.super.ID, keygate.RoleMember); err != nil {
		t.Fatal(err)
	}

	orgs, err := f.admin.ListOrganizations(as(f.super))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(orgs), 2; got != want {
		t.Fatalf("organizations = %d, want %d", got, want)
	}
	if got, want := orgs[0].Organization.Name, "Ada Org"; got != want {
		t.Fatalf("first = %q, want %q", got, want)
	}
	bob := orgs[1]
	if bob.Members != 2 || bob.ActiveKeys != 1 || bob.Organization.Plan != keygate.PlanProfessional {
		t.Fatalf("Bob Org = %d members, %d keys, %q", bob.Members, bob.ActiveKeys, bob.Organization.Plan)
	}

	users, err := f.admin.ListUsers(as(f.super))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(users), 2; got != want {
		t.Fatalf("users = %d, want %d", got, want)
	}
	if got, want := len(users[0].Organizations), 2; got != want { // Ada: her own and Bob's
		t.Fatalf("Ada's organizations = %d, want %d", got, want)
	}
	if got, want := users[0].Organizations[1].Role, keygate.RoleMember; got != want {
		t.Fatalf("Ada's role in Bob Org = %q, want %q", got, want)
	}

	o, err := f.admin.Overview(as(f.super))
	if err != nil {
		t.Fatal(err)
	}
	if o.Organizations != 2 || o.ByPlan[keygate.PlanProfessional] != 2 || o.Users != 2 || o.Superusers != 1 || o.ActiveKeys != 1 {
		t.Fatalf("overview = %+v", o)
	}
}

func TestAdminService_SetPlan(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, secret := f.mustKey(t, as(f.bob), f.bobOrg.PublicID)
		if got, want := f.mustLookup(t, secret).Plan, "professional"; got != want {
			t.Fatalf("plan = %q, want %q", got, want)
		}
		org, err := f.admin.SetPlan(as(f.super), f.bobOrg.PublicID, keygate.PlanFree)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := org.Plan, keygate.PlanFree; got != want {
			t.Fatalf("plan = %q, want %q", got, want)
		}
		if f.keysChanged != 1 {
			t.Fatalf("keysChanged = %d, want 1", f.keysChanged)
		}
		if got, want := f.mustLookup(t, secret).Plan, "free"; got != want {
			t.Fatalf("key's plan = %q, want %q", got, want)
		}
		found, err := f.orgs.FindOrganizationByID(as(f.bob), f.bobOrg.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := found.Plan, keygate.PlanFree; got != want {
			t.Fatalf("organization's plan = %q, want %q", got, want)
		}
		if n := countRows(t, f.db, "audit_events WHERE action = 'organization.plan'"); n != 1 {
			t.Fatalf("plan events = %d, want 1", n)
		}
	})
	t.Run("ErrPlanInvalid", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, err := f.admin.SetPlan(as(f.super), f.bobOrg.PublicID, "gold")
		assertFields(t, err, map[string]string{"plan": "Choose Free, Professional or Enterprise."})
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, err := f.admin.SetPlan(as(f.super), "org_missing", keygate.PlanFree)
		assertError(t, err, keygate.ENOTFOUND, "Organization not found.")
	})
}

func TestAdminService_DisableUser(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustAdminFixture(t)
		sessions := sqlstore.NewSessionService(f.db)
		for _, h := range []string{"a", "b"} {
			if err := sessions.CreateSession(context.Background(), &keygate.Session{UserID: f.bob.ID}, []byte(h)); err != nil {
				t.Fatal(err)
			}
		}
		_, secret := f.mustKey(t, as(f.bob), f.bobOrg.PublicID)

		u, err := f.admin.DisableUser(as(f.super), f.bob.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if u.DisabledAt == nil {
			t.Fatal("DisabledAt not set")
		}
		if n := countRows(t, f.db, "sessions"); n != 0 {
			t.Fatalf("sessions = %d, want 0", n)
		}
		_, err = f.users.Authenticate(context.Background(), "bob@example.com", "correct horse battery staple 42")
		assertError(t, err, keygate.EUNAUTHORIZED, "Invalid email or password.")
		rec := f.mustLookup(t, secret)
		if rec.CreatorDisabledAt == nil || rec.DisabledUserKeys != "stop" {
			t.Fatalf("record: creator disabled %v, rule %q", rec.CreatorDisabledAt, rec.DisabledUserKeys)
		}
		if f.keysChanged != 1 {
			t.Fatalf("keysChanged = %d, want 1", f.keysChanged)
		}
		// Once outside any organization and once in Bob's.
		if n := countRows(t, f.db, "audit_events WHERE action = 'user.disable'"); n != 2 {
			t.Fatalf("disable events = %d, want 2", n)
		}

		// Again: nothing changes, nothing is recorded.
		if _, err := f.admin.DisableUser(as(f.super), f.bob.PublicID); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, f.db, "audit_events WHERE action = 'user.disable'"); n != 2 {
			t.Fatalf("disable events = %d, want 2", n)
		}

		if _, err := f.admin.EnableUser(as(f.super), f.bob.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.users.Authenticate(context.Background(), "bob@example.com", "correct horse battery staple 42"); err != nil {
			t.Fatalf("login after enable: %v", err)
		}
		if rec := f.mustLookup(t, secret); rec.CreatorDisabledAt != nil {
			t.Fatal("creator still disabled")
		}
	})
	t.Run("ErrSelf", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, err := f.admin.DisableUser(as(f.super), f.super.PublicID)
		assertError(t, err, keygate.EINVALID, "You cannot disable your own account.")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, err := f.admin.DisableUser(as(f.super), "usr_missing")
		assertError(t, err, keygate.ENOTFOUND, "User not found.")
	})
	t.Run("KeysMadeThroughTheAPI", func(t *testing.T) {
		// A key that Bob's key created through the API is Bob's too.
		f := mustAdminFixture(t)
		parent, _ := f.mustKey(t, as(f.bob), f.bobOrg.PublicID)
		ctx := keygate.NewContextWithKey(context.Background(), &keygate.KeyActor{
			KeyID: parent.ID, PublicID: parent.PublicID, Name: parent.Name, OrganizationID: f.bobOrg.ID,
			OrgPublicID: f.bobOrg.PublicID, Scopes: keygate.NewScopes(keygate.ScopeAdmin),
		})
		_, child := f.mustKey(t, ctx, f.bobOrg.PublicID)
		if rec := f.mustLookup(t, child); rec.CreatorDisabledAt != nil || rec.CreatedByID != 0 {
			t.Fatalf("before: %+v", rec)
		}
		if _, err := f.admin.DisableUser(as(f.super), f.bob.PublicID); err != nil {
			t.Fatal(err)
		}
		if rec := f.mustLookup(t, child); rec.CreatorDisabledAt == nil {
			t.Fatal("the child key's creator is not seen as disabled")
		}
	})
}

func TestAdminService_Settings(t *testing.T) {
	t.Parallel()
	t.Run("DefaultPlan", func(t *testing.T) {
		f := mustAdminFixture(t)
		f.db.DefaultPlan = keygate.PlanFree // --default-plan free
		_, org := f.mustSignup(t, "Cy", "cy@example.com")
		if got, want := org.Plan, keygate.PlanFree; got != want {
			t.Fatalf("plan from the flag = %q, want %q", got, want)
		}
		set, err := f.admin.SetSettings(as(f.super), keygate.InstanceSettings{DefaultPlan: keygate.PlanEnterprise})
		if err != nil {
			t.Fatal(err)
		}
		if set.DefaultPlan != keygate.PlanEnterprise || set.FlagDefaultPlan != keygate.PlanFree {
			t.Fatalf("settings = %+v", set)
		}
		org, err = f.orgs.CreateOrganization(as(f.bob), "Second")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := org.Plan, keygate.PlanEnterprise; got != want {
			t.Fatalf("plan from the setting = %q, want %q", got, want)
		}
		if _, err := f.admin.SetSettings(as(f.super), keygate.InstanceSettings{}); err != nil {
			t.Fatal(err)
		}
		_, org = f.mustSignup(t, "Di", "di@example.com")
		if got, want := org.Plan, keygate.PlanFree; got != want {
			t.Fatalf("plan after clearing the setting = %q, want %q", got, want)
		}
	})
	t.Run("SignupMode", func(t *testing.T) {
		f := mustAdminFixture(t)
		if _, err := f.admin.SetSettings(as(f.super), keygate.InstanceSettings{SignupMode: keygate.SignupClosed}); err != nil {
			t.Fatal(err)
		}
		if mode, err := f.users.CurrentSignupMode(context.Background()); err != nil || mode != keygate.SignupClosed {
			t.Fatalf("mode = %q, %v", mode, err)
		}
		if ok, err := f.users.SignupAllowed(context.Background()); err != nil || ok {
			t.Fatalf("allowed = %v, %v", ok, err)
		}
		_, _, err := f.users.Signup(context.Background(), &keygate.Signup{
			Name: "Cy", Email: "cy@example.com", Password: "correct horse battery staple 42", OrganizationName: "Cy Org",
		})
		assertError(t, err, keygate.EFORBIDDEN, "Signup is closed on this instance.")
		set, err := f.admin.SetSettings(as(f.super), keygate.InstanceSettings{})
		if err != nil {
			t.Fatal(err)
		}
		if set.SignupMode != "" || set.FlagSignupMode != keygate.SignupOpen {
			t.Fatalf("settings = %+v", set)
		}
		if ok, err := f.users.SignupAllowed(context.Background()); err != nil || !ok {
			t.Fatalf("allowed after clearing = %v, %v", ok, err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, err := f.admin.SetSettings(as(f.super), keygate.InstanceSettings{SignupMode: "sometimes", DefaultPlan: "gold"})
		assertFields(t, err, map[string]string{
			"signup_mode":  "Choose open, invite or closed, or leave it to the --signup flag.",
			"default_plan": "Choose Free, Professional or Enterprise, or leave it to the --default-plan flag.",
		})
	})
}

func TestOrganizationService_DisabledUserKeys(t *testing.T) {
	t.Parallel()
	keep, bogus := keygate.DisabledUserKeysKeep, keygate.DisabledUserKeys("maybe")
	t.Run("OK", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, secret := f.mustKey(t, as(f.bob), f.bobOrg.PublicID)
		org, err := f.orgs.UpdateOrganization(as(f.bob), f.bobOrg.PublicID, keygate.OrganizationUpdate{DisabledUserKeys: &keep})
		if err != nil {
			t.Fatal(err)
		}
		if org.DisabledUserKeys != keep || org.Name != "Bob Org" {
			t.Fatalf("organization = %+v", org)
		}
		if got := f.mustLookup(t, secret).DisabledUserKeys; got != "keep" {
			t.Fatalf("record's rule = %q, want keep", got)
		}
	})
	t.Run("ErrNotOwner", func(t *testing.T) {
		f := mustAdminFixture(t)
		if err := f.orgs.AddMember(context.Background(), f.bobOrg.PublicID, f.super.ID, keygate.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		_, err := f.orgs.UpdateOrganization(as(f.super), f.bobOrg.PublicID, keygate.OrganizationUpdate{DisabledUserKeys: &keep})
		assertError(t, err, keygate.EFORBIDDEN, "Only an Owner can decide what happens to keys of disabled users.")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		f := mustAdminFixture(t)
		_, err := f.orgs.UpdateOrganization(as(f.bob), f.bobOrg.PublicID, keygate.OrganizationUpdate{DisabledUserKeys: &bogus})
		assertFields(t, err, map[string]string{"disabled_user_keys": "Choose whether the keys stop or keep working."})
	})
}
