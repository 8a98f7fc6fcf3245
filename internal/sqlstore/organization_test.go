package sqlstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

const (
	msgOrgNotFound    = "Organization not found."
	msgOrgNameMissing = "Organization name is required."
	msgOrgNameLong    = "Organization name must be at most 100 characters."
	unknownOrgID      = "org_00000000000000000000"
)

func TestOrganizationService_FindOrganizationByID(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	tests := []struct {
		name     string
		as       actor
		id       string
		wantRole keygate.Role
		wantCode string
		wantMsg  string
	}{
		{"OK/Owner", asOwner, f.org.PublicID, keygate.RoleOwner, "", ""},
		{"OK/Admin", asAdmin, f.org.PublicID, keygate.RoleAdmin, "", ""},
		{"OK/Member", asMember, f.org.PublicID, keygate.RoleMember, "", ""},
		{"ErrNotFound/Outsider", asOutsider, f.org.PublicID, "", keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrNotFound/UnknownID", asOwner, unknownOrgID, "", keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrNotFound/Empty", asOwner, "", "", keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrUnauthorized", nobody, f.org.PublicID, "", keygate.EUNAUTHORIZED, msgLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org, err := f.orgs.FindOrganizationByID(f.ctx(tt.as), tt.id)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if org != nil {
					t.Fatalf("org=%+v, want nil", org)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := org.Role, tt.wantRole; got != want {
				t.Fatalf("Role=%q, want %q", got, want)
			}
			if org.ID != f.org.ID || org.PublicID != f.org.PublicID || org.Name != "Acme" || !org.CreatedAt.Equal(accountTestStart) {
				t.Fatalf("org=%+v, want Acme", org)
			}
		})
	}
}

func TestOrganizationService_FindOrganizations(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	// NOCASE ordering puts "beta" between "Acme" and "Zulu".
	for _, name := range []string{"Zulu", "beta"} {
		if _, err := f.orgs.CreateOrganization(f.ctx(asOwner), name); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		as   actor
		want []string // "name:role", in order
	}{
		{"OK/Owner", asOwner, []string{"Acme:owner", "beta:owner", "Zulu:owner"}},
		{"OK/Admin", asAdmin, []string{"Acme:admin", "Admin's own:owner"}},
		{"OK/Member", asMember, []string{"Acme:member", "Member's own:owner"}},
		{"OK/Outsider", asOutsider, []string{"Globex:owner"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orgs, err := f.orgs.FindOrganizations(f.ctx(tt.as))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range orgs {
				got = append(got, o.Name+":"+string(o.Role))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("organizations=%q, want %q", got, tt.want)
			}
		})
	}

	t.Run("ErrUnauthorized", func(t *testing.T) {
		orgs, err := f.orgs.FindOrganizations(context.Background())
		assertError(t, err, keygate.EUNAUTHORIZED, msgLoggedIn)
		if orgs != nil {
			t.Fatalf("orgs=%v, want nil", orgs)
		}
	})
}

func TestOrganizationService_CreateOrganization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		as       actor
		input    string
		wantName string
		wantCode string
		wantMsg  string
	}{
		{"OK", asMember, "  Initech  ", "Initech", "", ""},
		{"OK/MaxLength", asMember, strings.Repeat("ß", 100), strings.Repeat("ß", 100), "", ""},
		{"ErrNameRequired", asMember, "  \t ", "", keygate.EINVALID, msgOrgNameMissing},
		{"ErrNameTooLong", asMember, strings.Repeat("ß", 101), "", keygate.EINVALID, msgOrgNameLong},
		{"ErrUnauthorized", nobody, "Initech", "", keygate.EUNAUTHORIZED, msgLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustOrgFixture(t)
			f.clock.Advance(time.Hour)
			before := tableCounts(t, f.db, accountTables...)
			org, err := f.orgs.CreateOrganization(f.ctx(tt.as), tt.input)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if tt.wantCode == keygate.EINVALID {
					assertFields(t, err, map[string]string{"name": tt.wantMsg})
				}
				assertCounts(t, f.db, before)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if org.Name != tt.wantName || org.Role != keygate.RoleOwner || !strings.HasPrefix(org.PublicID, "org_") {
				t.Fatalf("org=%+v", org)
			}
			if want := accountTestStart.Add(time.Hour); !org.CreatedAt.Equal(want) {
				t.Fatalf("CreatedAt=%v, want %v", org.CreatedAt, want)
			}
			found, err := f.orgs.FindOrganizationByID(f.ctx(tt.as), org.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if found.Role != keygate.RoleOwner || found.Name != tt.wantName {
				t.Fatalf("found=%+v, want the creator as Owner", found)
			}
			if got := countQuery(t, f.db, `SELECT COUNT(*) FROM memberships WHERE organization_id = $1`, org.ID); got != 1 {
				t.Fatalf("memberships=%d, want 1 (the creator)", got)
			}
			// The event names its actor, as the audit log shows it.
			if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = $2 AND actor_user_id = $3 AND actor_name = $4`,
				org.ID, keygate.AuditOrganizationCreate, f.member.ID, "Mia Member"); got != 1 {
				t.Fatalf("create events by the member=%d, want 1", got)
			}
			// Nobody else sees it.
			_, err = f.orgs.FindOrganizationByID(f.ctx(asOwner), org.PublicID)
			assertError(t, err, keygate.ENOTFOUND, msgOrgNotFound)
		})
	}
}

// orgRow is an organization's row as stored.
type orgRow struct {
	Name      string
	UpdatedAt int64
}

func mustOrgRow(tb testing.TB, db *sqlstore.DB, id int64) orgRow {
	tb.Helper()
	var r orgRow
	if err := db.WriteConn().QueryRow(`SELECT name, updated_at FROM organizations WHERE id = $1`, id).Scan(&r.Name, &r.UpdatedAt); err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestOrganizationService_UpdateOrganization(t *testing.T) {
	t.Parallel()
	name := func(s string) *string { return &s }
	tests := []struct {
		name     string
		as       actor
		id       string // "" for the fixture's org
		upd      keygate.OrganizationUpdate
		wantName string
		wantCode string
		wantMsg  string
	}{
		{"OK/Owner", asOwner, "", keygate.OrganizationUpdate{Name: name("  Acme Corp ")}, "Acme Corp", "", ""},
		{"OK/Admin", asAdmin, "", keygate.OrganizationUpdate{Name: name("Acme Corp")}, "Acme Corp", "", ""},
		{"OK/NoChange", asOwner, "", keygate.OrganizationUpdate{}, "Acme", "", ""},
		{"ErrForbidden/Member", asMember, "", keygate.OrganizationUpdate{Name: name("Mine now")}, "", keygate.EFORBIDDEN,
			"You need the Admin role to change the organization."},
		{"ErrNotFound/Outsider", asOutsider, "", keygate.OrganizationUpdate{Name: name("Mine now")}, "", keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrNotFound/UnknownID", asOwner, unknownOrgID, keygate.OrganizationUpdate{Name: name("X")}, "", keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrUnauthorized", nobody, "", keygate.OrganizationUpdate{Name: name("X")}, "", keygate.EUNAUTHORIZED, msgLoggedIn},
		{"ErrNameRequired", asOwner, "", keygate.OrganizationUpdate{Name: name("   ")}, "", keygate.EINVALID, msgOrgNameMissing},
		{"ErrNameTooLong", asAdmin, "", keygate.OrganizationUpdate{Name: name(strings.Repeat("x", 101))}, "", keygate.EINVALID, msgOrgNameLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustOrgFixture(t)
			var keysChanged int
			f.db.OnKeysChanged = func() { keysChanged++ }
			id := tt.id
			if id == "" {
				id = f.org.PublicID
			}
			f.clock.Advance(time.Hour)
			rowBefore := mustOrgRow(t, f.db, f.org.ID)
			before := tableCounts(t, f.db, accountTables...)

			org, err := f.orgs.UpdateOrganization(f.ctx(tt.as), id, tt.upd)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if tt.wantCode == keygate.EINVALID {
					assertFields(t, err, map[string]string{"name": tt.wantMsg})
				}
				if got := mustOrgRow(t, f.db, f.org.ID); got != rowBefore {
					t.Fatalf("row=%+v, want unchanged %+v", got, rowBefore)
				}
				assertCounts(t, f.db, before)
				if keysChanged != 0 {
					t.Fatalf("OnKeysChanged called %d times on error", keysChanged)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := accountTestStart.Add(time.Hour)
			if org.Name != tt.wantName || !org.UpdatedAt.Equal(want) || org.Role != f.ctxRole(tt.as) {
				t.Fatalf("org=%+v, want name %q updated %v", org, tt.wantName, want)
			}
			if got := mustOrgRow(t, f.db, f.org.ID); got != (orgRow{tt.wantName, want.UnixMilli()}) {
				t.Fatalf("row=%+v", got)
			}
			if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = $2 AND actor_user_id = $3 AND target_name = $4`,
				f.org.ID, keygate.AuditOrganizationUpdate, f.user(tt.as).ID, tt.wantName); got != 1 {
				t.Fatalf("update events by the actor=%d, want 1", got)
			}
			if keysChanged != 1 {
				t.Fatalf("OnKeysChanged called %d times, want 1", keysChanged)
			}
		})
	}
}

// ctxRole is a's role in the fixture's organization.
func (f *orgFixture) ctxRole(a actor) keygate.Role {
	switch a {
	case asOwner:
		return keygate.RoleOwner
	case asAdmin:
		return keygate.RoleAdmin
	case asMember:
		return keygate.RoleMember
	}
	return ""
}

func TestOrganizationService_DeleteOrganization(t *testing.T) {
	t.Parallel()
	const msgConfirm = "Type the organization's name exactly to confirm."
	tests := []struct {
		name     string
		as       actor
		id       string // "" for the fixture's org
		confirm  string
		wantCode string
		wantMsg  string
	}{
		{"OK", asOwner, "", "Acme", "", ""},
		{"OK/Trimmed", asOwner, "", "  Acme\n", "", ""},
		{"ErrConfirmWrong", asOwner, "", "Globex", keygate.EINVALID, msgConfirm},
		{"ErrConfirmCase", asOwner, "", "acme", keygate.EINVALID, msgConfirm},
		{"ErrConfirmEmpty", asOwner, "", "", keygate.EINVALID, msgConfirm},
		{"ErrForbidden/Admin", asAdmin, "", "Acme", keygate.EFORBIDDEN, "Only an Owner can delete the organization."},
		{"ErrForbidden/Member", asMember, "", "Acme", keygate.EFORBIDDEN, "Only an Owner can delete the organization."},
		{"ErrNotFound/Outsider", asOutsider, "", "Acme", keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrNotFound/UnknownID", asOwner, unknownOrgID, "Acme", keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrUnauthorized", nobody, "", "Acme", keygate.EUNAUTHORIZED, msgLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustOrgFixture(t)
			var keysChanged int
			f.db.OnKeysChanged = func() { keysChanged++ }
			ctx := context.Background()
			// Give the organization more to lose: a rename, a login, a key.
			if _, err := f.orgs.UpdateOrganization(f.ctx(asOwner), f.org.PublicID, keygate.OrganizationUpdate{}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.users.Authenticate(ctx, "member@example.com", testPassword); err != nil {
				t.Fatal(err)
			}
			if _, _, err := sqlstore.NewAPIKeyService(f.db).CreateAPIKey(f.ctx(asOwner), f.org.PublicID, &keygate.APIKeyCreate{
				Name: "deploy", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead},
			}); err != nil {
				t.Fatal(err)
			}
			keysChanged = 0
			id := tt.id
			if id == "" {
				id = f.org.PublicID
			}
			inOrg := func(table string) int {
				return countQuery(t, f.db, `SELECT COUNT(*) FROM `+table+` WHERE organization_id = $1`, f.org.ID)
			}
			before := tableCounts(t, f.db, append(accountTables, "api_keys")...)
			membersBefore, auditBefore := inOrg("memberships"), inOrg("audit_events")
			if membersBefore != 3 || auditBefore < 3 || inOrg("api_keys") != 1 {
				t.Fatalf("fixture: memberships=%d audit=%d keys=%d", membersBefore, auditBefore, inOrg("api_keys"))
			}

			err := f.orgs.DeleteOrganization(f.ctx(tt.as), id, tt.confirm)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if tt.wantCode == keygate.EINVALID {
					assertFields(t, err, map[string]string{"confirm": tt.wantMsg})
				}
				assertCounts(t, f.db, before)
				if _, err := f.orgs.FindOrganizationByID(f.ctx(asMember), f.org.PublicID); err != nil {
					t.Fatalf("organization after failed delete: %v", err)
				}
				if keysChanged != 0 {
					t.Fatalf("OnKeysChanged called %d times on error", keysChanged)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.orgs.FindOrganizationByID(f.ctx(asOwner), f.org.PublicID)
			assertError(t, err, keygate.ENOTFOUND, msgOrgNotFound)
			for _, table := range []string{"memberships", "audit_events", "api_keys"} {
				if got := inOrg(table); got != 0 {
					t.Errorf("%s of the deleted organization=%d, want 0 (cascaded)", table, got)
				}
			}
			// Everything else stays: users, other organizations and their
			// memberships and events.
			if got, want := countRows(t, f.db, "users"), before["users"]; got != want {
				t.Errorf("users=%d, want %d", got, want)
			}
			if got, want := countRows(t, f.db, "organizations"), before["organizations"]-1; got != want {
				t.Errorf("organizations=%d, want %d", got, want)
			}
			if got, want := countRows(t, f.db, "memberships"), before["memberships"]-membersBefore; got != want {
				t.Errorf("memberships=%d, want %d", got, want)
			}
			if _, err := f.orgs.FindOrganizationByID(f.ctx(asOutsider), f.outsiderOrg.PublicID); err != nil {
				t.Errorf("other organization: %v", err)
			}
			// The deletion itself is recorded outside the organization.
			if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE organization_id IS NULL AND action = $1 AND target_id = $2 AND target_name = 'Acme' AND actor_user_id = $3`,
				keygate.AuditOrganizationDelete, f.org.PublicID, f.owner.ID); got != 1 {
				t.Errorf("delete events=%d, want 1", got)
			}
			if keysChanged != 1 {
				t.Errorf("OnKeysChanged called %d times, want 1", keysChanged)
			}
		})
	}
}

func TestOrganizationService_FindMembers(t *testing.T) {
	t.Parallel()
	f := mustOrgFixture(t)
	tests := []struct {
		name     string
		as       actor
		id       string
		wantCode string
		wantMsg  string
	}{
		{"OK/Owner", asOwner, f.org.PublicID, "", ""},
		{"OK/Admin", asAdmin, f.org.PublicID, "", ""},
		{"ErrForbidden/Member", asMember, f.org.PublicID, keygate.EFORBIDDEN, "You need the Admin role to manage members"},
		{"ErrNotFound/Outsider", asOutsider, f.org.PublicID, keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrNotFound/UnknownID", asOwner, unknownOrgID, keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrUnauthorized", nobody, f.org.PublicID, keygate.EUNAUTHORIZED, msgLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			members, err := f.orgs.FindMembers(f.ctx(tt.as), tt.id)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if members != nil {
					t.Fatalf("members=%v, want nil", members)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range members {
				got = append(got, m.User.Email+":"+string(m.Role))
			}
			want := []string{"admin@example.com:admin", "member@example.com:member", "owner@example.com:owner"}
			if !slices.Equal(got, want) {
				t.Fatalf("members=%q, want %q", got, want)
			}
		})
	}
}

func TestOrganizationService_AddMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		orgID    string // "" for the fixture's org
		as       actor  // the user added
		role     keygate.Role
		wantCode string
		wantMsg  string
	}{
		{"OK", "", asOutsider, keygate.RoleAdmin, "", ""},
		{"ErrNotFound", unknownOrgID, asOutsider, keygate.RoleMember, keygate.ENOTFOUND, msgOrgNotFound},
		{"ErrInvalidRole", "", asOutsider, keygate.Role("boss"), keygate.EINVALID, `Unknown role "boss".`},
		{"ErrInvalidRoleEmpty", "", asOutsider, keygate.Role(""), keygate.EINVALID, `Unknown role "".`},
		{"ErrConflict", "", asMember, keygate.RoleAdmin, keygate.ECONFLICT, "Already exists."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustOrgFixture(t)
			orgID := tt.orgID
			if orgID == "" {
				orgID = f.org.PublicID
			}
			user := f.user(tt.as)
			before := tableCounts(t, f.db, accountTables...)
			err := f.orgs.AddMember(context.Background(), orgID, user.ID, tt.role)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				assertCounts(t, f.db, before)
				if tt.wantCode == keygate.ECONFLICT {
					// The existing membership keeps its role.
					org, err := f.orgs.FindOrganizationByID(f.ctx(tt.as), f.org.PublicID)
					if err != nil || org.Role != keygate.RoleMember {
						t.Fatalf("role after conflict=%v, %v; want member", org, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			org, err := f.orgs.FindOrganizationByID(f.ctx(tt.as), f.org.PublicID)
			if err != nil {
				t.Fatal(err)
			}
			if org.Role != tt.role {
				t.Fatalf("Role=%q, want %q", org.Role, tt.role)
			}
		})
	}
}
