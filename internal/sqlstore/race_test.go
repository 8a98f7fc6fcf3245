package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

// The races below are the rules that several replicas on one database
// must keep: each runs raceN goroutines on two pools of the same database
// (two *sqlstore.DB, as two replicas have), and checks that the rule held,
// that exactly the expected number of calls won, and that the audit log
// records the winners and nobody else.

// raceN is how many goroutines take part in a race.
const raceN = 8

// mustSecondPool opens another DB on db's database, with db's clock: what a
// second replica would have.
func mustSecondPool(tb testing.TB, db *sqlstore.DB) *sqlstore.DB {
	tb.Helper()
	other := sqlstore.NewDB(db.Path)
	if onPostgres() {
		other = sqlstore.NewPostgresDB(db.DSN)
	}
	other.Now = db.Now
	if err := other.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { other.Close() })
	return other
}

// runRace runs call(i, db) for i in [0, raceN), all at once, each on one of
// dbs in turn, and returns their errors by i.
func runRace(dbs []*sqlstore.DB, call func(i int, db *sqlstore.DB) error) []error {
	errs := make([]error, raceN)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range raceN {
		done.Go(func() {
			start.Wait()
			errs[i] = call(i, dbs[i%len(dbs)])
		})
	}
	start.Done()
	done.Wait()
	return errs
}

// winners counts the calls that succeeded; every other call must have
// failed with one of the domain codes in losing.
func winners(tb testing.TB, errs []error, losing ...string) int {
	tb.Helper()
	n := 0
	for i, err := range errs {
		if err == nil {
			n++
			continue
		}
		if code := keygate.ErrorCode(err); !slices.Contains(losing, code) {
			tb.Fatalf("call %d: %v (code %q), want success or one of %v", i, err, code, losing)
		}
	}
	return n
}

// mustRaceFixture returns an orgFixture and the two pools a race runs on.
func mustRaceFixture(tb testing.TB) (*orgFixture, []*sqlstore.DB) {
	tb.Helper()
	f := mustOrgFixture(tb)
	return f, []*sqlstore.DB{f.db, mustSecondPool(tb, f.db)}
}

// assertOnce checks that exactly one call won, the others losing with one
// of the codes in losing, and that Acme's audit log records action once.
func assertOnce(tb testing.TB, f *orgFixture, errs []error, action string, losing ...string) {
	tb.Helper()
	if got := winners(tb, errs, losing...); got != 1 {
		tb.Fatalf("winners = %d, want 1", got)
	}
	if got := countAudit(tb, f.db, f.org.ID, action); got != 1 {
		tb.Fatalf("%s events = %d, want 1", action, got)
	}
}

func TestRace_LastOwner(t *testing.T) {
	t.Parallel()
	// owners makes raceN Owners of Acme, the fixture's Owner first.
	owners := func(t *testing.T) (*orgFixture, []*keygate.User) {
		f := mustOrgFixture(t)
		out := []*keygate.User{f.owner}
		for i := range raceN - 1 {
			u, _ := mustSignup(t, f.users, "Owner", fmt.Sprintf("owner%d@example.com", i), "Own")
			mustAddMember(t, f.orgs, f.org, u, keygate.RoleOwner)
			out = append(out, u)
		}
		return f, out
	}
	ownerCount := func(t *testing.T, f *orgFixture) int {
		return countQuery(t, f.db, `SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'`, f.org.ID)
	}

	t.Run("OKAllLeaveOneStays", func(t *testing.T) {
		f, users := owners(t)
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			return sqlstore.NewMembershipService(db).LeaveOrganization(userCtx(users[i]), f.org.PublicID)
		})
		if got, want := winners(t, errs, keygate.EINVALID), raceN-1; got != want {
			t.Fatalf("left = %d, want %d", got, want)
		}
		if got, want := ownerCount(t, f), 1; got != want {
			t.Fatalf("owners = %d, want %d", got, want)
		}
		if got, want := countAudit(t, f.db, f.org.ID, keygate.AuditMemberLeave), raceN-1; got != want {
			t.Fatalf("leave events = %d, want %d", got, want)
		}
	})

	// circle has each Owner act on the next (i on i+1) at once: at least
	// one Owner remains, each Owner lost is one won call, and each won call
	// one action event. An Owner acted on first can no longer act.
	circle := func(t *testing.T, action string, act func(ctx context.Context, m *sqlstore.MembershipService, orgID, userID string) error, losing ...string) {
		f, users := owners(t)
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			return act(userCtx(users[i]), sqlstore.NewMembershipService(db), f.org.PublicID, users[(i+1)%raceN].PublicID)
		})
		won := winners(t, errs, losing...)
		owners := ownerCount(t, f)
		if owners < 1 || owners+won != raceN {
			t.Fatalf("owners = %d and won = %d, want at least 1 Owner and %d in all", owners, won, raceN)
		}
		if got := countAudit(t, f.db, f.org.ID, action); got != won {
			t.Fatalf("%s events = %d, want %d", action, got, won)
		}
	}

	t.Run("OKDemoteInACircleLeavesAnOwner", func(t *testing.T) {
		circle(t, keygate.AuditRoleChange, func(ctx context.Context, m *sqlstore.MembershipService, orgID, userID string) error {
			return m.ChangeRole(ctx, orgID, userID, keygate.RoleAdmin)
		}, keygate.EINVALID, keygate.EFORBIDDEN)
	})

	t.Run("OKRemoveInACircleLeavesAnOwner", func(t *testing.T) {
		// A removed Owner is no longer a member: their own call finds no
		// organization.
		circle(t, keygate.AuditMemberRemove, func(ctx context.Context, m *sqlstore.MembershipService, orgID, userID string) error {
			_, err := m.RemoveMember(ctx, orgID, userID, false)
			return err
		}, keygate.EINVALID, keygate.ENOTFOUND)
	})
}

func TestRace_FirstAccount(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]string{"Open": keygate.SignupOpen, "Closed": keygate.SignupClosed} {
		t.Run("OKOneSuperuser"+name, func(t *testing.T) {
			db, _ := mustOpenDB(t)
			dbs := []*sqlstore.DB{db, mustSecondPool(t, db)}
			made := make([]*keygate.User, raceN)
			errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
				users := sqlstore.NewUserService(db, testHasher)
				users.SignupMode = mode
				u, _, err := users.Signup(context.Background(), &keygate.Signup{Name: "First", Email: fmt.Sprintf("first%d@example.com", i),
					Password: testPassword, OrganizationName: "First"})
				made[i] = u
				return err
			})
			won := winners(t, errs, keygate.EFORBIDDEN)
			if mode == keygate.SignupClosed && won != 1 {
				t.Fatalf("signups = %d on a closed instance, want 1 (the first account)", won)
			}
			supers := 0
			for _, u := range made {
				if u != nil && u.IsSuperuser {
					supers++
				}
			}
			if supers != 1 {
				t.Fatalf("superusers returned = %d, want 1", supers)
			}
			if got := countQuery(t, db, `SELECT COUNT(*) FROM users WHERE is_superuser = 1`); got != 1 {
				t.Fatalf("superusers stored = %d, want 1", got)
			}
			if got := countAudit(t, db, 0, keygate.AuditSignup); got != won {
				t.Fatalf("signup events = %d, want %d", got, won)
			}
		})
	}
}

func TestRace_Invitation(t *testing.T) {
	t.Parallel()
	t.Run("OKAcceptedOnce", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		invitee, _ := mustSignup(t, f.users, "Ivy Invitee", "ivy@example.com", "Ivy's own")
		_, token, err := sqlstore.NewMembershipService(f.db).Invite(f.ctx(asOwner), f.org.PublicID, invitee.Email, keygate.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		errs := runRace(dbs, func(_ int, db *sqlstore.DB) error {
			_, err := sqlstore.NewMembershipService(db).AcceptInvitation(userCtx(invitee), token)
			return err
		})
		assertOnce(t, f, errs, keygate.AuditJoin, keygate.EINVALID)
	})

	t.Run("OKAcceptedOrRevoked", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		invitee, _ := mustSignup(t, f.users, "Ivy Invitee", "ivy@example.com", "Ivy's own")
		inv, token, err := sqlstore.NewMembershipService(f.db).Invite(f.ctx(asOwner), f.org.PublicID, invitee.Email, keygate.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			members := sqlstore.NewMembershipService(db)
			if i%2 == 0 {
				_, err := members.AcceptInvitation(userCtx(invitee), token)
				return err
			}
			return members.RevokeInvitation(f.ctx(asAdmin), f.org.PublicID, inv.PublicID)
		})
		if got := winners(t, errs, keygate.EINVALID); got != 1 {
			t.Fatalf("winners = %d, want 1", got)
		}
		joins := countAudit(t, f.db, f.org.ID, keygate.AuditJoin)
		revokes := countAudit(t, f.db, f.org.ID, keygate.AuditInviteRevoke)
		members := countQuery(t, f.db, `SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND user_id = $2`, f.org.ID, invitee.ID)
		if joins+revokes != 1 || members != joins {
			t.Fatalf("join events = %d, revoke events = %d, membership = %d; want one event, and a membership if joined", joins, revokes, members)
		}
	})

	t.Run("OKSignupOnce", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		_, token, err := sqlstore.NewMembershipService(f.db).Invite(f.ctx(asOwner), f.org.PublicID, "new@example.com", keygate.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		users0 := countRows(t, f.db, "users")
		errs := runRace(dbs, func(_ int, db *sqlstore.DB) error {
			_, _, err := sqlstore.NewUserService(db, testHasher).SignupWithInvitation(context.Background(),
				&keygate.Signup{Name: "New Person", Email: "new@example.com", Password: testPassword}, token)
			return err
		})
		assertOnce(t, f, errs, keygate.AuditJoin, keygate.EINVALID, keygate.ECONFLICT)
		if got, want := countRows(t, f.db, "users"), users0+1; got != want {
			t.Fatalf("users = %d, want %d", got, want)
		}
	})
}

func TestRace_APIKey(t *testing.T) {
	t.Parallel()
	create := func(t *testing.T, f *orgFixture) *keygate.APIKey {
		k, _, err := sqlstore.NewAPIKeyService(f.db).CreateAPIKey(f.ctx(asOwner), f.org.PublicID,
			&keygate.APIKeyCreate{Name: "raced", Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	t.Run("OKRolledOnce", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		old := create(t, f)
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			// Owner and Admin, each with a form of their own.
			a := []actor{asOwner, asAdmin}[i%2]
			_, _, _, err := sqlstore.NewAPIKeyService(db).RollAPIKey(f.ctx(a), f.org.PublicID, old.PublicID, time.Hour, fmt.Sprint("form ", i))
			return err
		})
		assertOnce(t, f, errs, keygate.AuditAPIKeyRoll, keygate.EINVALID)
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM api_keys WHERE rolled_from_id = $1`, old.ID); got != 1 {
			t.Fatalf("successors = %d, want 1", got)
		}
	})

	t.Run("OKRevokedOnce", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		key := create(t, f)
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			a := []actor{asOwner, asAdmin}[i%2]
			_, err := sqlstore.NewAPIKeyService(db).RevokeAPIKey(f.ctx(a), f.org.PublicID, key.PublicID)
			return err
		})
		assertOnce(t, f, errs, keygate.AuditAPIKeyRevoke, keygate.EINVALID)
	})

	t.Run("OKRollAndRevoke", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		old := create(t, f)
		// Half roll, half revoke: a revoked key is not rolled, and a key
		// rolled without grace is revoked already (by the roll, which
		// records both).
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			keys := sqlstore.NewAPIKeyService(db)
			if i%2 == 0 {
				_, _, _, err := keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, old.PublicID, 0, "")
				return err
			}
			_, err := keys.RevokeAPIKey(f.ctx(asAdmin), f.org.PublicID, old.PublicID)
			return err
		})
		if got := winners(t, errs, keygate.EINVALID); got != 1 {
			t.Fatalf("winners = %d, want 1", got)
		}
		rolls := countAudit(t, f.db, f.org.ID, keygate.AuditAPIKeyRoll)
		revokes := countAudit(t, f.db, f.org.ID, keygate.AuditAPIKeyRevoke)
		successors := countQuery(t, f.db, `SELECT COUNT(*) FROM api_keys WHERE rolled_from_id = $1`, old.ID)
		if revokes != 1 || rolls > 1 || successors != rolls {
			t.Fatalf("roll events = %d, revoke events = %d, successors = %d; want one revoke, at most one roll and its successor", rolls, revokes, successors)
		}
	})

	t.Run("OKFormSubmittedOnce", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		old := create(t, f)
		// The same create form and the same roll form, each sent raceN/2
		// times: one key from each.
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			keys := sqlstore.NewAPIKeyService(db)
			if i%2 == 0 {
				_, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID, &keygate.APIKeyCreate{Name: "once",
					Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}, FormToken: "create-form"})
				return err
			}
			_, _, _, err := keys.RollAPIKey(f.ctx(asOwner), f.org.PublicID, old.PublicID, time.Hour, "roll-form")
			return err
		})
		if got := winners(t, errs, keygate.ECONFLICT, keygate.EINVALID); got != 2 {
			t.Fatalf("keys made = %d, want 2 (one create, one roll)", got)
		}
		for _, token := range []string{"create-form", "roll-form"} {
			if got := countQuery(t, f.db, `SELECT COUNT(*) FROM api_keys WHERE form_token = $1`, token); got != 1 {
				t.Fatalf("keys of %s = %d, want 1", token, got)
			}
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditAPIKeyCreate) + countAudit(t, f.db, f.org.ID, keygate.AuditAPIKeyRoll); got != 3 {
			t.Fatalf("create and roll events = %d, want 3 (the first key, one create, one roll)", got)
		}
	})

	t.Run("OKCapHeld", func(t *testing.T) {
		f, dbs := mustRaceFixture(t)
		const limit = 3
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			keys := sqlstore.NewAPIKeyService(db)
			keys.MaxKeysPerOrg = limit
			_, _, err := keys.CreateAPIKey(f.ctx(asOwner), f.org.PublicID,
				&keygate.APIKeyCreate{Name: fmt.Sprint("key ", i), Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}})
			return err
		})
		if got := winners(t, errs, keygate.EINVALID); got != limit {
			t.Fatalf("created = %d, want %d", got, limit)
		}
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM api_keys WHERE organization_id = $1`, f.org.ID); got != limit {
			t.Fatalf("keys = %d, want %d", got, limit)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditAPIKeyCreate); got != limit {
			t.Fatalf("create events = %d, want %d", got, limit)
		}
	})
}

func TestRace_SSODomain(t *testing.T) {
	t.Parallel()
	t.Run("OKOneHolder", func(t *testing.T) {
		f := mustOrgFixture(t)
		box := mustBox(t)
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		s := sqlstore.NewOrgSSOService(f.db, box)
		// Acme and Globex both claim example.com.
		claims := map[actor]*keygate.Organization{asOwner: f.org, asOutsider: f.outsiderOrg}
		dns := fakeDNS{}
		for a, org := range claims {
			conf, err := s.SaveOrgSSO(f.ctx(a), org.PublicID, &keygate.OrgSSOSave{Issuer: "https://idp.example.com", ClientID: "client",
				ClientSecret: orgSSOSecret, Domains: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			d := conf.Domains[0]
			dns[d.RecordName()] = append(dns[d.RecordName()], d.Token)
		}
		verified := make([]string, raceN)
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			a := []actor{asOwner, asOutsider}[i%2]
			_, err := sqlstore.NewOrgSSOService(db, box).VerifyOrgSSODomain(f.ctx(a), claims[a].PublicID, "example.com", dns)
			if err == nil {
				verified[i] = claims[a].PublicID
			}
			return err
		})
		winners(t, errs, keygate.ECONFLICT)
		holders := map[string]bool{}
		for _, org := range verified {
			if org != "" {
				holders[org] = true
			}
		}
		if len(holders) != 1 {
			t.Fatalf("organizations told they hold example.com: %v, want one", holders)
		}
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM org_sso_domains WHERE domain = 'example.com' AND verified_at IS NOT NULL`); got != 1 {
			t.Fatalf("verified claims = %d, want 1", got)
		}
		events := countAudit(t, f.db, f.org.ID, keygate.AuditSSODomainVerify) + countAudit(t, f.db, f.outsiderOrg.ID, keygate.AuditSSODomainVerify)
		if events != 1 {
			t.Fatalf("verify events = %d, want 1", events)
		}
	})
}

func TestRace_FirstSSOLogin(t *testing.T) {
	t.Parallel()
	// raceLogins races raceN first logins of one new identity, made by
	// login, and returns their outcomes.
	raceLogins := func(t *testing.T, db *sqlstore.DB, login func(db *sqlstore.DB) (keygate.SSOOutcome, error)) []keygate.SSOOutcome {
		dbs := []*sqlstore.DB{db, mustSecondPool(t, db)}
		outcomes := make([]keygate.SSOOutcome, raceN)
		errs := runRace(dbs, func(i int, db *sqlstore.DB) (err error) {
			outcomes[i], err = login(db)
			return err
		})
		if got := winners(t, errs); got != raceN {
			t.Fatalf("logged in = %d, want %d", got, raceN)
		}
		return outcomes
	}
	// login races first logins with the instance's provider.
	login := func(t *testing.T, db *sqlstore.DB, email string) []keygate.SSOOutcome {
		return raceLogins(t, db, func(db *sqlstore.DB) (keygate.SSOOutcome, error) {
			users := sqlstore.NewUserService(db, testHasher)
			users.SignupMode = keygate.SignupOpen
			_, out, err := sqlstore.NewIdentityService(db, users).LoginWithIdentity(context.Background(), ext("sub-race", email, true))
			return out, err
		})
	}
	count := func(outcomes []keygate.SSOOutcome, want keygate.SSOOutcome) int {
		n := 0
		for _, o := range outcomes {
			if o == want {
				n++
			}
		}
		return n
	}

	t.Run("OKOneAccount", func(t *testing.T) {
		f := mustOrgFixture(t)
		users0 := countRows(t, f.db, "users")
		outcomes := login(t, f.db, "ada@example.net")
		if got, want := count(outcomes, keygate.SSOSignedUp), 1; got != want {
			t.Fatalf("signed up = %d, want %d (outcomes %v)", got, want, outcomes)
		}
		if got, want := countRows(t, f.db, "users"), users0+1; got != want {
			t.Fatalf("users = %d, want %d", got, want)
		}
		if got := countRows(t, f.db, "identities"); got != 1 {
			t.Fatalf("identities = %d, want 1", got)
		}
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1 AND target_name = $2`,
			keygate.AuditSignup, "ada@example.net"); got != 1 {
			t.Fatalf("signup events = %d, want 1", got)
		}
	})

	t.Run("OKLinkedOnce", func(t *testing.T) {
		f := mustOrgFixture(t)
		users0 := countRows(t, f.db, "users")
		outcomes := login(t, f.db, f.member.Email)
		if got, want := count(outcomes, keygate.SSOLinked), 1; got != want {
			t.Fatalf("linked = %d, want %d (outcomes %v)", got, want, outcomes)
		}
		if got := countRows(t, f.db, "users"); got != users0 {
			t.Fatalf("users = %d, want %d", got, users0)
		}
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM identities WHERE user_id = $1`, f.member.ID); got != 1 {
			t.Fatalf("identities = %d, want 1", got)
		}
	})

	t.Run("OKOneOrganizationAccount", func(t *testing.T) {
		f := mustOrgFixture(t)
		box := mustBox(t)
		s := sqlstore.NewOrgSSOService(f.db, box)
		mustSaveOrgSSO(t, f, s, false)
		mustVerify(t, f, s, asOwner, f.org, "example.com")
		users0 := countRows(t, f.db, "users")
		outcomes := raceLogins(t, f.db, func(db *sqlstore.DB) (keygate.SSOOutcome, error) {
			_, out, err := sqlstore.NewOrgSSOService(db, box).LoginWithOrgIdentity(context.Background(), f.org.PublicID,
				&keygate.ExternalIdentity{Issuer: "https://idp.example.com", Subject: "sub-race", Email: "new@example.com", Name: "New Person"})
			return out, err
		})
		if got, want := count(outcomes, keygate.SSOSignedUp), 1; got != want {
			t.Fatalf("signed up = %d, want %d (outcomes %v)", got, want, outcomes)
		}
		if got, want := countRows(t, f.db, "users"), users0+1; got != want {
			t.Fatalf("users = %d, want %d", got, want)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditJoin); got != 1 {
			t.Fatalf("join events = %d, want 1", got)
		}
	})
}

func TestRace_Accounts(t *testing.T) {
	t.Parallel()
	actionCount := func(t *testing.T, db *sqlstore.DB, action string) int {
		return countQuery(t, db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, action)
	}

	t.Run("OKSuperusersDisablingEachOtherLeaveOne", func(t *testing.T) {
		f := mustOrgFixture(t)
		// The fixture's Owner signed up first: they and the Admin are the
		// instance's two superusers.
		if _, err := f.db.WriteConn().Exec(`UPDATE users SET is_superuser = 1 WHERE id = $1`, f.admin.ID); err != nil {
			t.Fatal(err)
		}
		supers := []*keygate.User{f.owner, f.admin}
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		// Each disables the other, several times over; a disabled one can
		// no longer act, and disabling a disabled account changes nothing.
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			admin := sqlstore.NewAdminService(db, sqlstore.NewUserService(db, testHasher))
			_, err := admin.DisableUser(userCtx(supers[i%2]), supers[(i+1)%2].PublicID)
			return err
		})
		winners(t, errs, keygate.EFORBIDDEN)
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM users WHERE is_superuser = 1 AND disabled_at IS NULL`); got != 1 {
			t.Fatalf("enabled superusers = %d, want 1", got)
		}
		if got := countAudit(t, f.db, 0, keygate.AuditUserDisable); got != 1 {
			t.Fatalf("disable events in the instance log = %d, want 1", got)
		}
	})

	t.Run("OKLastWayInKept", func(t *testing.T) {
		f := mustOrgFixture(t)
		users := sqlstore.NewUserService(f.db, testHasher)
		users.SignupMode = keygate.SignupOpen
		ids := sqlstore.NewIdentityService(f.db, users)
		// An account without a password and two sign-in methods.
		user, _, err := ids.LoginWithIdentity(context.Background(), ext("sub-1", "ada@example.net", true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ids.LinkIdentity(userCtx(user), ext("sub-2", "ada@example.net", true)); err != nil {
			t.Fatal(err)
		}
		list, err := ids.FindIdentities(userCtx(user))
		if err != nil || len(list) != 2 {
			t.Fatalf("identities = %d, %v; want 2", len(list), err)
		}
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			return sqlstore.NewIdentityService(db, users).UnlinkIdentity(userCtx(user), list[i%2].PublicID)
		})
		if got := winners(t, errs, keygate.EFORBIDDEN, keygate.ENOTFOUND); got != 1 {
			t.Fatalf("unlinked = %d, want 1", got)
		}
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM identities WHERE user_id = $1`, user.ID); got != 1 {
			t.Fatalf("identities left = %d, want 1", got)
		}
		if got := actionCount(t, f.db, keygate.AuditIdentityUnlink); got != 1 {
			t.Fatalf("unlink events = %d, want 1", got)
		}
	})
}

func TestRace_Bot(t *testing.T) {
	t.Parallel()
	t.Run("OKDueJoinStoredOnce", func(t *testing.T) {
		f := newHistoryFixture(t)
		id := f.bot(t, time.Hour)
		f.clock.Advance(2 * time.Hour) // the join is due, and no write has stored it
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			s := sqlstore.NewBotService(db)
			if i%2 == 0 {
				_, err := s.LeaveBot(f.ctx, id)
				return err
			}
			name := fmt.Sprint("renamed ", i)
			_, err := s.UpdateBot(f.ctx, id, &keygate.BotUpdate{BotName: &name})
			return err
		})
		var leaves []error
		for i := 0; i < raceN; i += 2 {
			leaves = append(leaves, errs[i])
		}
		if got := winners(t, leaves, keygate.ECONFLICT); got != 1 {
			t.Fatalf("leaves = %d, want 1", got)
		}
		winners(t, errs, keygate.ECONFLICT)
		f.assertHistory(t, id, "scheduled@0s,joining@1h0m0s,ended@2h0m0s")
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM audit_events WHERE action = $1`, keygate.AuditBotLeave); got != 1 {
			t.Fatalf("leave events = %d, want 1", got)
		}
	})
	t.Run("OKConversationsWhileBotDeleted", func(t *testing.T) {
		f := newHistoryFixture(t)
		id := f.bot(t, 0)
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		// One deletes the bot while the others file conversations of it:
		// each conversation is filed with the bot or refused as naming an
		// unknown one, never lost to an error.
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			if i == 0 {
				return sqlstore.NewBotService(db).DeleteBot(f.ctx, id)
			}
			_, err := sqlstore.NewConversationService(db).CreateConversation(f.ctx, &keygate.Conversation{Title: fmt.Sprint("call ", i), BotID: id})
			return err
		})
		if errs[0] != nil {
			t.Fatalf("delete bot: %v", errs[0])
		}
		filed := winners(t, errs[1:], keygate.EINVALID)
		if got := countRows(t, f.db, "conversations"); got != filed {
			t.Fatalf("conversations = %d, want %d", got, filed)
		}
	})
}

func TestRace_SecretKeyRotation(t *testing.T) {
	t.Parallel()
	t.Run("OKEverySavedSecretOpensWithTheNewKey", func(t *testing.T) {
		f := mustOrgFixture(t)
		old, next := mustBox(t), mustBox(t)
		mustSaveIntegration(t, sqlstore.NewIntegrationService(f.db, old), f.ctx(asOwner), f.org.PublicID,
			keygate.IntegrationSave{Kind: keygate.IntegrationZoom, ClientID: "id", Secret: zoomSecret})
		dbs := []*sqlstore.DB{f.db, mustSecondPool(t, f.db)}
		// One process rotates the key while others, still on the old key,
		// save credentials: each save is re-encrypted or refused.
		errs := runRace(dbs, func(i int, db *sqlstore.DB) error {
			s := sqlstore.NewIntegrationService(db, old)
			if i == 0 {
				_, err := s.RotateSecretKey(context.Background(), old, next)
				return err
			}
			_, err := s.SaveIntegration(f.ctx(asOwner), f.org.PublicID, &keygate.IntegrationSave{Kind: keygate.IntegrationOther,
				Name: fmt.Sprint("cred ", i), Secret: otherSecret})
			return err
		})
		if errs[0] != nil {
			t.Fatalf("rotate: %v", errs[0])
		}
		saved := 0
		for i, err := range errs[1:] {
			if errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
				continue
			} else if err != nil {
				t.Fatalf("save %d: %v", i+1, err)
			}
			saved++
		}
		if got, want := countRows(t, f.db, "integrations"), saved+1; got != want {
			t.Fatalf("integrations = %d, want %d", got, want)
		}
		s := sqlstore.NewIntegrationService(f.db, next)
		for i, err := range errs[1:] {
			if err == nil {
				if got := mustDecrypt(t, s, f.org.PublicID, keygate.IntegrationOther, fmt.Sprint("cred ", i+1)); got != otherSecret {
					t.Fatalf("cred %d opens to %q", i+1, got)
				}
			}
		}
	})
}
