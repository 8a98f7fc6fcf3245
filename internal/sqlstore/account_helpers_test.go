package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
)

// Helpers for the account tests (users, organizations, sessions, audit log).
// They share botClock, countRows, assertError and assertFields with the bot
// tests.

// testHasher is argon2id at its cheapest accepted cost (8 KiB per thread is
// the floor; 64 KiB is well above it), so signups and logins stay fast.
var testHasher = password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)

// testPassword passes password.Validate.
const testPassword = "correct horse battery staple 42"

// accountTestStart is the clock every account test starts at.
var accountTestStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// mustOpenDB opens a fresh, migrated file database whose clock is the
// returned botClock, set to accountTestStart.
func mustOpenDB(tb testing.TB) (*sqlstore.DB, *botClock) {
	tb.Helper()
	db := newTestDB(tb, false)
	clock := &botClock{t: accountTestStart}
	db.Now = clock.Now
	if err := db.OpenAndMigrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, clock
}

// mustSignup signs up a user with testPassword and their organization.
func mustSignup(tb testing.TB, users *sqlstore.UserService, name, email, orgName string) (*keygate.User, *keygate.Organization) {
	tb.Helper()
	user, org, err := users.Signup(context.Background(), &keygate.Signup{
		Name: name, Email: email, Password: testPassword, OrganizationName: orgName,
	})
	if err != nil {
		tb.Fatalf("signup %s: %v", email, err)
	}
	return user, org
}

// mustAddMember makes user a member of org with role.
func mustAddMember(tb testing.TB, orgs *sqlstore.OrganizationService, org *keygate.Organization, user *keygate.User, role keygate.Role) {
	tb.Helper()
	if err := orgs.AddMember(context.Background(), org.PublicID, user.ID, role); err != nil {
		tb.Fatalf("add %s as %s: %v", user.Email, role, err)
	}
}

// userCtx returns a context in which user acts.
func userCtx(user *keygate.User) context.Context {
	return keygate.NewContextWithUser(context.Background(), user)
}

// countQuery runs a SELECT COUNT(*) query with args on the writer, which
// sees every committed write.
func countQuery(tb testing.TB, db *sqlstore.DB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.WriteConn().QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// countAudit counts audit events with action in the organization with row
// id orgID (0: events outside any organization).
func countAudit(tb testing.TB, db *sqlstore.DB, orgID int64, action string) int {
	tb.Helper()
	if orgID == 0 {
		return countQuery(tb, db, `SELECT COUNT(*) FROM audit_events WHERE organization_id IS NULL AND action = $1`, action)
	}
	return countQuery(tb, db, `SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = $2`, orgID, action)
}

// tableCounts returns the row counts of tables, for checking that a failed
// call wrote nothing.
func tableCounts(tb testing.TB, db *sqlstore.DB, tables ...string) map[string]int {
	tb.Helper()
	out := make(map[string]int, len(tables))
	for _, table := range tables {
		out[table] = countRows(tb, db, table)
	}
	return out
}

// assertCounts checks that tables still hold the rows counted in before.
func assertCounts(tb testing.TB, db *sqlstore.DB, before map[string]int) {
	tb.Helper()
	for table, want := range before {
		if got := countRows(tb, db, table); got != want {
			tb.Errorf("%s rows=%d, want %d (unchanged)", table, got, want)
		}
	}
}

// accountTables are the tables account writes touch.
var accountTables = []string{"users", "organizations", "memberships", "sessions", "audit_events"}

// orgFixture is an organization "Acme" with an Owner, an Admin and a Member,
// and an outsider who owns "Globex". Everyone also owns the organization
// they signed up with.
type orgFixture struct {
	db    *sqlstore.DB
	clock *botClock
	users *sqlstore.UserService
	orgs  *sqlstore.OrganizationService

	owner, admin, member, outsider *keygate.User
	org, outsiderOrg               *keygate.Organization
}

// mustOrgFixture builds an orgFixture on a fresh database.
func mustOrgFixture(tb testing.TB) *orgFixture {
	tb.Helper()
	f := &orgFixture{}
	f.db, f.clock = mustOpenDB(tb)
	f.users = sqlstore.NewUserService(f.db, testHasher)
	f.orgs = sqlstore.NewOrganizationService(f.db)
	f.owner, f.org = mustSignup(tb, f.users, "Olivia Owner", "owner@example.com", "Acme")
	f.admin, _ = mustSignup(tb, f.users, "Adam Admin", "admin@example.com", "Admin's own")
	f.member, _ = mustSignup(tb, f.users, "Mia Member", "member@example.com", "Member's own")
	f.outsider, f.outsiderOrg = mustSignup(tb, f.users, "Oscar Outsider", "outsider@example.com", "Globex")
	mustAddMember(tb, f.orgs, f.org, f.admin, keygate.RoleAdmin)
	mustAddMember(tb, f.orgs, f.org, f.member, keygate.RoleMember)
	return f
}

// actor names a user of an orgFixture, or nobody.
type actor int

const (
	nobody actor = iota
	asOwner
	asAdmin
	asMember
	asOutsider
)

// ctx returns a context in which a acts.
func (f *orgFixture) ctx(a actor) context.Context {
	switch a {
	case asOwner:
		return userCtx(f.owner)
	case asAdmin:
		return userCtx(f.admin)
	case asMember:
		return userCtx(f.member)
	case asOutsider:
		return userCtx(f.outsider)
	}
	return context.Background()
}

// user returns the user a names, or nil.
func (f *orgFixture) user(a actor) *keygate.User {
	return keygate.UserFromContext(f.ctx(a))
}
