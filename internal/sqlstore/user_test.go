package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

const (
	msgInvalidLogin = "Invalid email or password."
	msgLoggedIn     = "You must be logged in."
	msgCorrect      = "Please correct the errors below."
	msgBadEmail     = "Enter a valid email address, like name@example.com."
	msgShort        = "Password must be at least 12 characters."
	msgCommon       = "This password is too common. Choose a less predictable one."
)

func TestUserService_Signup(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		ctx := context.Background()
		db, _ := mustOpenDB(t)
		s := sqlstore.NewUserService(db, testHasher)
		user, org, err := s.Signup(ctx, &keygate.Signup{
			Name: "  Ada Lovelace ", Email: "  Ada@Example.COM\t", Password: testPassword, OrganizationName: "  Analytical Engines ",
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(user.PublicID, "usr_") || len(user.PublicID) != 24 {
			t.Errorf("user PublicID=%q", user.PublicID)
		}
		if got, want := user.Name, "Ada Lovelace"; got != want {
			t.Errorf("Name=%q, want %q", got, want)
		}
		if got, want := user.Email, "ada@example.com"; got != want {
			t.Errorf("Email=%q, want %q", got, want)
		}
		if !user.IsSuperuser {
			t.Error("first user is not a superuser")
		}
		if !user.HasPassword {
			t.Error("HasPassword=false")
		}
		if !user.CreatedAt.Equal(accountTestStart) || !user.UpdatedAt.Equal(accountTestStart) {
			t.Errorf("CreatedAt=%v UpdatedAt=%v, want %v", user.CreatedAt, user.UpdatedAt, accountTestStart)
		}
		if !strings.HasPrefix(org.PublicID, "org_") || len(org.PublicID) != 24 {
			t.Errorf("org PublicID=%q", org.PublicID)
		}
		if got, want := org.Name, "Analytical Engines"; got != want {
			t.Errorf("org Name=%q, want %q", got, want)
		}
		if got, want := org.Role, keygate.RoleOwner; got != want {
			t.Errorf("org Role=%q, want %q", got, want)
		}

		// What was stored: the user, the Owner membership, a hash.
		stored, err := s.FindUserByID(ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Email != "ada@example.com" || stored.Name != "Ada Lovelace" || !stored.IsSuperuser || stored.PublicID != user.PublicID {
			t.Errorf("stored user=%+v", stored)
		}
		if got := countQuery(t, db, `SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND user_id = $2 AND role = 'owner'`, org.ID, user.ID); got != 1 {
			t.Errorf("owner memberships=%d, want 1", got)
		}
		found, err := sqlstore.NewOrganizationService(db).FindOrganizationByID(userCtx(user), org.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if found.Role != keygate.RoleOwner || found.Name != "Analytical Engines" {
			t.Errorf("found org=%+v", found)
		}
		var hash string
		if err := db.WriteConn().QueryRow(`SELECT password_hash FROM users WHERE id = $1`, user.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, testPassword) {
			t.Errorf("password_hash=%q, want an argon2id hash", hash)
		}
		if got := countAudit(t, db, 0, keygate.AuditSignup); got != 1 {
			t.Errorf("%s events=%d, want 1", keygate.AuditSignup, got)
		}
		if got := countQuery(t, db, `SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = $2 AND actor_user_id = $3 AND actor_name = $4`,
			org.ID, keygate.AuditOrganizationCreate, user.ID, "Ada Lovelace"); got != 1 {
			t.Errorf("%s events by Ada=%d, want 1", keygate.AuditOrganizationCreate, got)
		}

		// The second user is no superuser and gets an organization of their own.
		bob, bobOrg := mustSignup(t, s, "Bob", "bob@example.com", "Analytical Engines")
		if bob.IsSuperuser {
			t.Error("second user is a superuser")
		}
		if bobOrg.ID == org.ID || bobOrg.PublicID == org.PublicID {
			t.Error("second user joined the first user's organization")
		}
		if got := countRows(t, db, "memberships"); got != 2 {
			t.Errorf("memberships=%d, want 2", got)
		}
	})

	long := strings.Repeat("n", 101)
	valid := keygate.Signup{Name: "Ada", Email: "ada@example.com", Password: testPassword, OrganizationName: "Acme"}
	with := func(edit func(s *keygate.Signup)) keygate.Signup {
		s := valid
		edit(&s)
		return s
	}
	tests := []struct {
		name   string
		in     keygate.Signup
		fields map[string]string
	}{
		{"ErrNameRequired", with(func(s *keygate.Signup) { s.Name = "  " }),
			map[string]string{"name": "Name is required."}},
		{"ErrNameTooLong", with(func(s *keygate.Signup) { s.Name = long }),
			map[string]string{"name": "Name must be at most 100 characters."}},
		{"ErrEmailRequired", with(func(s *keygate.Signup) { s.Email = " " }),
			map[string]string{"email": "Email is required."}},
		{"ErrEmailInvalid", with(func(s *keygate.Signup) { s.Email = "ada.example.com" }),
			map[string]string{"email": msgBadEmail}},
		{"ErrEmailDisplayName", with(func(s *keygate.Signup) { s.Email = "Ada <ada@example.com>" }),
			map[string]string{"email": msgBadEmail}},
		{"ErrPasswordTooShort", with(func(s *keygate.Signup) { s.Password = "short pass" }),
			map[string]string{"password": msgShort}},
		{"ErrPasswordCommon", with(func(s *keygate.Signup) { s.Password = "Password1234" }),
			map[string]string{"password": msgCommon}},
		{"ErrOrganizationRequired", with(func(s *keygate.Signup) { s.OrganizationName = "\t" }),
			map[string]string{"organization": "Organization name is required."}},
		{"ErrOrganizationTooLong", with(func(s *keygate.Signup) { s.OrganizationName = long }),
			map[string]string{"organization": "Organization name must be at most 100 characters."}},
		{"ErrAllFields", keygate.Signup{Email: "nope", Password: "short"},
			map[string]string{
				"name": "Name is required.", "email": msgBadEmail,
				"password": msgShort, "organization": "Organization name is required.",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustOpenDB(t)
			s := sqlstore.NewUserService(db, testHasher)
			mustSignup(t, s, "Existing", "existing@example.com", "Existing")
			before := tableCounts(t, db, accountTables...)
			in := tt.in
			user, org, err := s.Signup(context.Background(), &in)
			assertError(t, err, keygate.EINVALID, msgCorrect)
			assertFields(t, err, tt.fields)
			if user != nil || org != nil {
				t.Errorf("user=%v org=%v, want nil", user, org)
			}
			assertCounts(t, db, before)
		})
	}

	t.Run("ErrConflict", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewUserService(db, testHasher)
		mustSignup(t, s, "Ada", "ada@example.com", "Acme")
		before := tableCounts(t, db, accountTables...)
		_, _, err := s.Signup(context.Background(), &keygate.Signup{
			Name: "Other Ada", Email: "  ADA@Example.com ", Password: testPassword, OrganizationName: "Other",
		})
		assertError(t, err, keygate.ECONFLICT, "An account with this email already exists.")
		if got, want := keygate.ErrorFields(err)["email"], "An account with this email already exists. Log in instead."; got != want {
			t.Fatalf("email field=%q, want %q", got, want)
		}
		if got := len(keygate.ErrorFields(err)); got != 1 {
			t.Fatalf("fields=%v, want only email", keygate.ErrorFields(err))
		}
		assertCounts(t, db, before)
	})
}

func TestUserService_SignupMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      string
		wantAllow bool   // after the first user
		wantCode  string // of the second signup
	}{
		{"Open/OK", keygate.SignupOpen, true, ""},
		{"Invite/ErrForbidden", keygate.SignupInvite, false, keygate.EFORBIDDEN},
		{"Closed/ErrForbidden", keygate.SignupClosed, false, keygate.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := mustOpenDB(t)
			s := sqlstore.NewUserService(db, testHasher)
			s.SignupMode = tt.mode

			// The first person of an empty instance can always sign up.
			if ok, err := s.SignupAllowed(ctx); err != nil || !ok {
				t.Fatalf("SignupAllowed on an empty instance=%v, %v; want true", ok, err)
			}
			first, _ := mustSignup(t, s, "First", "first@example.com", "First")
			if !first.IsSuperuser {
				t.Fatal("first user is not a superuser")
			}

			if ok, err := s.SignupAllowed(ctx); err != nil || ok != tt.wantAllow {
				t.Fatalf("SignupAllowed=%v, %v; want %v", ok, err, tt.wantAllow)
			}
			before := tableCounts(t, db, accountTables...)
			user, _, err := s.Signup(ctx, &keygate.Signup{
				Name: "Second", Email: "second@example.com", Password: testPassword, OrganizationName: "Second",
			})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				if user.IsSuperuser {
					t.Fatal("second user is a superuser")
				}
				return
			}
			assertError(t, err, tt.wantCode, "Signup is closed on this instance.")
			assertCounts(t, db, before)
		})
	}
}

func TestUserService_CreateUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		superuser bool
	}{
		{"OK/Superuser", true},
		{"OK/NotSuperuser", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustOpenDB(t)
			s := sqlstore.NewUserService(db, testHasher)
			s.SignupMode = keygate.SignupClosed
			mustSignup(t, s, "First", "first@example.com", "First")
			// The command line creates users whatever the signup mode.
			user, org, err := s.CreateUser(context.Background(), &keygate.Signup{
				Name: "Second", Email: "Second@Example.com", Password: testPassword, OrganizationName: "Second",
			}, tt.superuser)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := user.IsSuperuser, tt.superuser; got != want {
				t.Fatalf("IsSuperuser=%v, want %v", got, want)
			}
			if got, want := user.Email, "second@example.com"; got != want {
				t.Fatalf("Email=%q, want %q", got, want)
			}
			if org.Role != keygate.RoleOwner {
				t.Fatalf("Role=%q, want owner", org.Role)
			}
		})
	}

	t.Run("ErrInvalid", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewUserService(db, testHasher)
		_, _, err := s.CreateUser(context.Background(), &keygate.Signup{Name: "X", Email: "x@example.com", Password: "short", OrganizationName: "X"}, true)
		assertError(t, err, keygate.EINVALID, msgCorrect)
		assertFields(t, err, map[string]string{"password": msgShort})
		if got := countRows(t, db, "users"); got != 0 {
			t.Fatalf("users=%d, want 0", got)
		}
	})
}

func TestUserService_Authenticate(t *testing.T) {
	t.Parallel()
	info := keygate.RequestInfo{IP: "203.0.113.7", UserAgent: "TestBrowser/1.0"}
	tests := []struct {
		name       string
		setup      string // SQL run on the user (id $1) first, if any
		email      string
		password   string
		wantCode   string
		wantAction string // the audit event written, "" for none
	}{
		{"OK", "", "  ADA@Example.com ", testPassword, "", keygate.AuditLogin},
		{"ErrWrongPassword", "", "ada@example.com", testPassword + "!", keygate.EUNAUTHORIZED, keygate.AuditLoginFailed},
		{"ErrEmptyPassword", "", "ada@example.com", "", keygate.EUNAUTHORIZED, keygate.AuditLoginFailed},
		{"ErrUnknownEmail", "", "nobody@example.com", testPassword, keygate.EUNAUTHORIZED, ""},
		{"ErrDisabled", `UPDATE users SET disabled_at = 1 WHERE id = $1`, "ada@example.com", testPassword, keygate.EUNAUTHORIZED, keygate.AuditLoginFailed},
		{"ErrNoPassword", `UPDATE users SET password_hash = NULL WHERE id = $1`, "ada@example.com", testPassword, keygate.EUNAUTHORIZED, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustOpenDB(t)
			s := sqlstore.NewUserService(db, testHasher)
			ada, org := mustSignup(t, s, "Ada", "ada@example.com", "Acme")
			if tt.setup != "" {
				if _, err := db.WriteConn().Exec(tt.setup, ada.ID); err != nil {
					t.Fatal(err)
				}
			}
			eventsBefore := countRows(t, db, "audit_events")

			ctx := keygate.NewContextWithRequestInfo(context.Background(), info)
			user, err := s.Authenticate(ctx, tt.email, tt.password)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, msgInvalidLogin)
				if user != nil {
					t.Fatalf("user=%+v, want nil", user)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if user.ID != ada.ID || user.Email != "ada@example.com" || !user.HasPassword {
					t.Fatalf("user=%+v, want Ada", user)
				}
			}

			if tt.wantAction == "" {
				if got := countRows(t, db, "audit_events"); got != eventsBefore {
					t.Fatalf("audit events=%d, want %d (none written)", got, eventsBefore)
				}
				return
			}
			if got, want := countRows(t, db, "audit_events"), eventsBefore+1; got != want {
				t.Fatalf("audit events=%d, want %d", got, want)
			}
			events, total, err := sqlstore.NewAuditService(db).FindAuditEvents(userCtx(ada), keygate.AuditFilter{OrgPublicID: org.PublicID, Action: tt.wantAction})
			if err != nil {
				t.Fatal(err)
			}
			if total != 1 || len(events) != 1 {
				t.Fatalf("%s events: total=%d len=%d, want 1", tt.wantAction, total, len(events))
			}
			ev := events[0]
			if ev.ActorUserID != ada.ID || ev.ActorName != "Ada" || ev.TargetID != ada.PublicID || ev.TargetName != "ada@example.com" {
				t.Errorf("event=%+v", ev)
			}
			if ev.IP != info.IP || ev.UserAgent != info.UserAgent {
				t.Errorf("event IP=%q UserAgent=%q, want %q %q", ev.IP, ev.UserAgent, info.IP, info.UserAgent)
			}
		})
	}
}

func TestUserService_RecordLogout(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewUserService(db, testHasher)
		ada, org := mustSignup(t, s, "Ada", "ada@example.com", "Acme")
		if err := s.RecordLogout(userCtx(ada)); err != nil {
			t.Fatal(err)
		}
		if got := countAudit(t, db, org.ID, keygate.AuditLogout); got != 1 {
			t.Fatalf("logout events=%d, want 1", got)
		}
	})

	t.Run("OK/NoUser", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewUserService(db, testHasher)
		mustSignup(t, s, "Ada", "ada@example.com", "Acme")
		before := countRows(t, db, "audit_events")
		if err := s.RecordLogout(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := countRows(t, db, "audit_events"); got != before {
			t.Fatalf("audit events=%d, want %d", got, before)
		}
	})
}

func TestUserService_FindUser(t *testing.T) {
	t.Parallel()
	db, _ := mustOpenDB(t)
	s := sqlstore.NewUserService(db, testHasher)
	ada, _ := mustSignup(t, s, "Ada", "ada@example.com", "Acme")
	ctx := context.Background()

	t.Run("ByID/OK", func(t *testing.T) {
		u, err := s.FindUserByID(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u.PublicID != ada.PublicID || u.Email != ada.Email {
			t.Fatalf("user=%+v", u)
		}
	})
	t.Run("ByID/ErrNotFound", func(t *testing.T) {
		_, err := s.FindUserByID(ctx, ada.ID+1000)
		assertError(t, err, keygate.ENOTFOUND, "User not found.")
	})
	t.Run("ByEmail/OK", func(t *testing.T) {
		u, err := s.FindUserByEmail(ctx, " Ada@EXAMPLE.com ")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != ada.ID {
			t.Fatalf("ID=%d, want %d", u.ID, ada.ID)
		}
	})
	t.Run("ByEmail/ErrNotFound", func(t *testing.T) {
		_, err := s.FindUserByEmail(ctx, "bob@example.com")
		assertError(t, err, keygate.ENOTFOUND, "User not found.")
	})
}

func TestUserService_UpdateProfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		anon     bool
		input    string
		wantName string
		wantCode string
		wantMsg  string
	}{
		{"OK", false, "  Ada King  ", "Ada King", "", ""},
		{"OK/MaxLength", false, strings.Repeat("é", 100), strings.Repeat("é", 100), "", ""},
		{"ErrNameRequired", false, "   ", "", keygate.EINVALID, "Name is required."},
		{"ErrNameTooLong", false, strings.Repeat("é", 101), "", keygate.EINVALID, "Name must be at most 100 characters."},
		{"ErrUnauthorized", true, "Ada King", "", keygate.EUNAUTHORIZED, msgLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, clock := mustOpenDB(t)
			s := sqlstore.NewUserService(db, testHasher)
			ada, org := mustSignup(t, s, "Ada", "ada@example.com", "Acme")
			clock.Advance(time.Hour)
			ctx := userCtx(ada)
			if tt.anon {
				ctx = context.Background()
			}

			updated, err := s.UpdateProfile(ctx, tt.input)
			stored, ferr := s.FindUserByID(context.Background(), ada.ID)
			if ferr != nil {
				t.Fatal(ferr)
			}
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if tt.wantCode == keygate.EINVALID {
					assertFields(t, err, map[string]string{"name": tt.wantMsg})
				}
				if stored.Name != "Ada" || !stored.UpdatedAt.Equal(accountTestStart) {
					t.Fatalf("stored name=%q updated=%v, want unchanged", stored.Name, stored.UpdatedAt)
				}
				if got := countAudit(t, db, org.ID, keygate.AuditProfileUpdated); got != 0 {
					t.Fatalf("profile events=%d, want 0", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if updated.Name != tt.wantName || stored.Name != tt.wantName {
				t.Fatalf("returned name=%q stored=%q, want %q", updated.Name, stored.Name, tt.wantName)
			}
			if want := accountTestStart.Add(time.Hour); !updated.UpdatedAt.Equal(want) || !stored.UpdatedAt.Equal(want) {
				t.Fatalf("UpdatedAt returned=%v stored=%v, want %v", updated.UpdatedAt, stored.UpdatedAt, want)
			}
			if updated.Email != ada.Email || updated.ID != ada.ID {
				t.Fatalf("updated=%+v lost fields", updated)
			}
			if got := countAudit(t, db, org.ID, keygate.AuditProfileUpdated); got != 1 {
				t.Fatalf("profile events=%d, want 1", got)
			}
		})
	}
}

func TestUserService_ChangePassword(t *testing.T) {
	t.Parallel()
	const newPassword = "a brand new passphrase 7"
	tests := []struct {
		name     string
		anon     bool
		current  string
		next     string
		wantCode string
		wantMsg  string
		fields   map[string]string
	}{
		{"OK", false, testPassword, newPassword, "", "", nil},
		{"ErrCurrentPassword", false, "not my password at all", newPassword, keygate.EINVALID, msgCorrect,
			map[string]string{"current_password": "Current password is incorrect."}},
		{"ErrNewPasswordTooShort", false, testPassword, "short", keygate.EINVALID, msgCorrect,
			map[string]string{"new_password": msgShort}},
		{"ErrNewPasswordCommon", false, testPassword, "qwerty123456", keygate.EINVALID, msgCorrect,
			map[string]string{"new_password": msgCommon}},
		{"ErrBothPasswords", false, "", "", keygate.EINVALID, msgCorrect,
			map[string]string{"current_password": "Current password is incorrect.", "new_password": msgShort}},
		{"ErrUnauthorized", true, testPassword, newPassword, keygate.EUNAUTHORIZED, msgLoggedIn, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := mustOpenDB(t)
			s := sqlstore.NewUserService(db, testHasher)
			ada, org := mustSignup(t, s, "Ada", "ada@example.com", "Acme")
			hashBefore := passwordHash(t, db, ada.ID)
			ctx := userCtx(ada)
			if tt.anon {
				ctx = context.Background()
			}

			err := s.ChangePassword(ctx, tt.current, tt.next, 0)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				if tt.fields != nil {
					assertFields(t, err, tt.fields)
				}
				if got := passwordHash(t, db, ada.ID); got != hashBefore {
					t.Fatal("password hash changed on error")
				}
				if _, err := s.Authenticate(context.Background(), "ada@example.com", testPassword); err != nil {
					t.Fatalf("old password after failed change: %v", err)
				}
				if got := countAudit(t, db, org.ID, keygate.AuditPasswordChanged); got != 0 {
					t.Fatalf("password events=%d, want 0", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(context.Background(), "ada@example.com", newPassword); err != nil {
				t.Fatalf("new password: %v", err)
			}
			_, err = s.Authenticate(context.Background(), "ada@example.com", testPassword)
			assertError(t, err, keygate.EUNAUTHORIZED, msgInvalidLogin)
			if got := countAudit(t, db, org.ID, keygate.AuditPasswordChanged); got != 1 {
				t.Fatalf("password events=%d, want 1", got)
			}
		})
	}
}

func passwordHash(tb testing.TB, db *sqlstore.DB, userID int64) string {
	tb.Helper()
	var hash string
	if err := db.WriteConn().QueryRow(`SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&hash); err != nil {
		tb.Fatal(err)
	}
	return hash
}
