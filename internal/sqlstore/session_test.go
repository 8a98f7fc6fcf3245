package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

const msgSessionNotFound = "Session not found."

// tokenHash is the SHA-256 of a token named name, as the web layer stores it.
func tokenHash(name string) []byte {
	h := sha256.Sum256([]byte("token:" + name))
	return h[:]
}

// mustCreateSession creates a session of userID (0: anonymous) under the
// token hash of name.
func mustCreateSession(tb testing.TB, s *sqlstore.SessionService, userID int64, name string) *keygate.Session {
	tb.Helper()
	sess := &keygate.Session{UserID: userID, Data: []byte("data:" + name), IP: "198.51.100.1", UserAgent: "agent " + name}
	if err := s.CreateSession(context.Background(), sess, tokenHash(name)); err != nil {
		tb.Fatal(err)
	}
	return sess
}

// assertSessionLive checks that the session under name's token is found.
func assertSessionLive(tb testing.TB, s *sqlstore.SessionService, name string) *keygate.Session {
	tb.Helper()
	sess, err := s.FindSessionByTokenHash(context.Background(), tokenHash(name))
	if err != nil {
		tb.Fatalf("session %s: %v, want live", name, err)
	}
	return sess
}

// assertSessionGone checks that the session under name's token is not found.
func assertSessionGone(tb testing.TB, s *sqlstore.SessionService, name string) {
	tb.Helper()
	_, err := s.FindSessionByTokenHash(context.Background(), tokenHash(name))
	assertError(tb, err, keygate.ENOTFOUND, msgSessionNotFound)
}

func sessionIDs(sessions []*keygate.Session) []string {
	var ids []string
	for _, s := range sessions {
		ids = append(ids, s.PublicID)
	}
	return ids
}

func TestSessionService_CreateSession(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewSessionService(db)
		ada, _ := mustSignup(t, sqlstore.NewUserService(db, testHasher), "Ada", "ada@example.com", "Acme")
		sess := &keygate.Session{UserID: ada.ID, Data: []byte(`{"flash":"hi"}`), IP: "198.51.100.1", UserAgent: strings.Repeat("a", 600)}
		if err := s.CreateSession(context.Background(), sess, tokenHash("a")); err != nil {
			t.Fatal(err)
		}
		if sess.ID == 0 || !strings.HasPrefix(sess.PublicID, "ses_") || len(sess.PublicID) != 24 {
			t.Fatalf("ID=%d PublicID=%q", sess.ID, sess.PublicID)
		}
		if !sess.CreatedAt.Equal(accountTestStart) || !sess.LastSeenAt.Equal(accountTestStart) {
			t.Fatalf("CreatedAt=%v LastSeenAt=%v, want %v", sess.CreatedAt, sess.LastSeenAt, accountTestStart)
		}
		if want := accountTestStart.Add(keygate.SessionAbsoluteTimeout); !sess.ExpiresAt.Equal(want) {
			t.Fatalf("ExpiresAt=%v, want %v", sess.ExpiresAt, want)
		}

		got := assertSessionLive(t, s, "a")
		if got.ID != sess.ID || got.PublicID != sess.PublicID || got.UserID != ada.ID || got.IP != "198.51.100.1" ||
			!bytes.Equal(got.Data, []byte(`{"flash":"hi"}`)) || !got.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Fatalf("found=%+v, want %+v", got, sess)
		}
		if got, want := got.UserAgent, strings.Repeat("a", 512); got != want {
			t.Fatalf("UserAgent has %d bytes, want 512 (truncated)", len(got))
		}
		// The token itself is nowhere in the row, only its hash.
		if n := countQuery(t, db, `SELECT COUNT(*) FROM sessions WHERE token_hash = $1`, tokenHash("a")); n != 1 {
			t.Fatalf("rows by hash=%d, want 1", n)
		}
	})

	t.Run("OK/Anonymous", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewSessionService(db)
		sess := &keygate.Session{}
		if err := s.CreateSession(context.Background(), sess, tokenHash("anon")); err != nil {
			t.Fatal(err)
		}
		// Nil data is stored as an empty blob (the column is NOT NULL).
		if sess.Data == nil || len(sess.Data) != 0 {
			t.Fatalf("Data=%v, want empty", sess.Data)
		}
		got := assertSessionLive(t, s, "anon")
		if got.UserID != 0 || len(got.Data) != 0 {
			t.Fatalf("found=%+v, want anonymous with empty data", got)
		}
	})

	t.Run("ErrNotFound/UnknownToken", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewSessionService(db)
		mustCreateSession(t, s, 0, "a")
		assertSessionGone(t, s, "b")
	})

	t.Run("ErrDuplicateToken", func(t *testing.T) {
		db, _ := mustOpenDB(t)
		s := sqlstore.NewSessionService(db)
		mustCreateSession(t, s, 0, "a")
		if err := s.CreateSession(context.Background(), &keygate.Session{}, tokenHash("a")); err == nil {
			t.Fatal("second session under the same token hash was created")
		}
		if got := countRows(t, db, "sessions"); got != 1 {
			t.Fatalf("sessions=%d, want 1", got)
		}
	})
}

func TestSessionService_IdleTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		idle    time.Duration
		wantErr bool
	}{
		{"OK", keygate.SessionIdleTimeout - time.Millisecond, false},
		{"ErrNotFound", keygate.SessionIdleTimeout + time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, clock := mustOpenDB(t)
			s := sqlstore.NewSessionService(db)
			mustCreateSession(t, s, 0, "a")
			clock.Advance(tt.idle)
			if tt.wantErr {
				assertSessionGone(t, s, "a")
			} else {
				assertSessionLive(t, s, "a")
			}
		})
	}

	t.Run("OK/UpdateResetsIdle", func(t *testing.T) {
		db, clock := mustOpenDB(t)
		s := sqlstore.NewSessionService(db)
		mustCreateSession(t, s, 0, "a")
		clock.Advance(10 * time.Hour)
		sess := assertSessionLive(t, s, "a")
		sess.Data, sess.IP, sess.UserAgent = []byte("new"), "192.0.2.9", "new agent"
		if err := s.UpdateSession(context.Background(), sess); err != nil {
			t.Fatal(err)
		}
		if want := accountTestStart.Add(10 * time.Hour); !sess.LastSeenAt.Equal(want) {
			t.Fatalf("LastSeenAt=%v, want %v", sess.LastSeenAt, want)
		}
		// 20h after creation, 10h after the update: still live.
		clock.Advance(10 * time.Hour)
		got := assertSessionLive(t, s, "a")
		if string(got.Data) != "new" || got.IP != "192.0.2.9" || got.UserAgent != "new agent" {
			t.Fatalf("found=%+v, want the update saved", got)
		}
		clock.Advance(2*time.Hour + time.Millisecond)
		assertSessionGone(t, s, "a")
	})
}

func TestSessionService_AbsoluteTimeout(t *testing.T) {
	t.Parallel()
	db, clock := mustOpenDB(t)
	s := sqlstore.NewSessionService(db)
	mustCreateSession(t, s, 0, "a")
	end := accountTestStart.Add(keygate.SessionAbsoluteTimeout)

	// Used every 6 hours, it never idles out, but it lives 30 days at most.
	for clock.Now().Add(6 * time.Hour).Before(end) {
		clock.Advance(6 * time.Hour)
		sess := assertSessionLive(t, s, "a")
		if err := s.UpdateSession(context.Background(), sess); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("OK/JustBefore", func(t *testing.T) {
		clock.Set(end.Add(-time.Millisecond))
		assertSessionLive(t, s, "a")
	})
	t.Run("ErrNotFound/AtEnd", func(t *testing.T) {
		clock.Set(end)
		assertSessionGone(t, s, "a")
	})
	t.Run("ErrNotFound/After", func(t *testing.T) {
		clock.Set(end.Add(time.Millisecond))
		assertSessionGone(t, s, "a")
	})
}

// sessionFixture has two users with sessions: Ada's a1 (older) and a2, a3
// (idle too long) and Bob's b1, plus an anonymous one.
type sessionFixture struct {
	db       *sqlstore.DB
	clock    *botClock
	s        *sqlstore.SessionService
	ada, bob *keygate.User
	org      *keygate.Organization // Ada's
	sessions map[string]*keygate.Session
}

func mustSessionFixture(tb testing.TB) *sessionFixture {
	tb.Helper()
	f := &sessionFixture{sessions: map[string]*keygate.Session{}}
	f.db, f.clock = mustOpenDB(tb)
	f.s = sqlstore.NewSessionService(f.db)
	users := sqlstore.NewUserService(f.db, testHasher)
	f.ada, f.org = mustSignup(tb, users, "Ada", "ada@example.com", "Acme")
	f.bob, _ = mustSignup(tb, users, "Bob", "bob@example.com", "Bobco")
	f.sessions["a3"] = mustCreateSession(tb, f.s, f.ada.ID, "a3")
	f.clock.Advance(13 * time.Hour) // a3 is now idle too long
	f.sessions["a1"] = mustCreateSession(tb, f.s, f.ada.ID, "a1")
	f.sessions["b1"] = mustCreateSession(tb, f.s, f.bob.ID, "b1")
	f.sessions["anon"] = mustCreateSession(tb, f.s, 0, "anon")
	f.clock.Advance(time.Minute)
	f.sessions["a2"] = mustCreateSession(tb, f.s, f.ada.ID, "a2")
	f.clock.Advance(time.Minute)
	return f
}

func TestSessionService_FindUserSessions(t *testing.T) {
	t.Parallel()
	f := mustSessionFixture(t)
	tests := []struct {
		name string
		user *keygate.User
		want []string // fixture names, newest first
	}{
		{"OK/Ada", f.ada, []string{"a2", "a1"}},
		{"OK/Bob", f.bob, []string{"b1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.FindUserSessions(userCtx(tt.user))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, name := range tt.want {
				want = append(want, f.sessions[name].PublicID)
			}
			if !slices.Equal(sessionIDs(got), want) {
				t.Fatalf("sessions=%v, want %v (%v)", sessionIDs(got), want, tt.want)
			}
			for _, sess := range got {
				if sess.UserID != tt.user.ID {
					t.Fatalf("session %s of user %d listed for %d", sess.PublicID, sess.UserID, tt.user.ID)
				}
			}
		})
	}

	t.Run("OK/OrderByLastSeen", func(t *testing.T) {
		// Using a1 makes it the newest.
		f.clock.Advance(time.Minute)
		sess := assertSessionLive(t, f.s, "a1")
		if err := f.s.UpdateSession(context.Background(), sess); err != nil {
			t.Fatal(err)
		}
		got, err := f.s.FindUserSessions(userCtx(f.ada))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{f.sessions["a1"].PublicID, f.sessions["a2"].PublicID}; !slices.Equal(sessionIDs(got), want) {
			t.Fatalf("sessions=%v, want %v", sessionIDs(got), want)
		}
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		got, err := f.s.FindUserSessions(context.Background())
		assertError(t, err, keygate.EUNAUTHORIZED, msgLoggedIn)
		if got != nil {
			t.Fatalf("sessions=%v, want nil", got)
		}
	})
}

func TestSessionService_DeleteUserSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		as       string // "ada", "bob" or "" for nobody
		session  string // fixture name, or a literal public id
		wantCode string
		wantMsg  string
	}{
		{"OK", "ada", "a1", "", ""},
		{"ErrNotFound/OtherUsers", "bob", "a1", keygate.ENOTFOUND, msgSessionNotFound},
		{"ErrNotFound/Anonymous", "ada", "anon", keygate.ENOTFOUND, msgSessionNotFound},
		{"ErrNotFound/Unknown", "ada", "ses_00000000000000000000", keygate.ENOTFOUND, msgSessionNotFound},
		{"ErrUnauthorized", "", "a1", keygate.EUNAUTHORIZED, msgLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustSessionFixture(t)
			ctx := context.Background()
			switch tt.as {
			case "ada":
				ctx = userCtx(f.ada)
			case "bob":
				ctx = userCtx(f.bob)
			}
			id := tt.session
			if sess, ok := f.sessions[tt.session]; ok {
				id = sess.PublicID
			}
			before := tableCounts(t, f.db, "sessions", "audit_events")

			err := f.s.DeleteUserSession(ctx, id)
			if tt.wantCode != "" {
				assertError(t, err, tt.wantCode, tt.wantMsg)
				assertCounts(t, f.db, before)
				if _, ok := f.sessions[tt.session]; ok {
					assertSessionLive(t, f.s, tt.session)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertSessionGone(t, f.s, tt.session)
			if got, want := countRows(t, f.db, "sessions"), before["sessions"]-1; got != want {
				t.Fatalf("sessions=%d, want %d", got, want)
			}
			for _, name := range []string{"a2", "b1", "anon"} {
				assertSessionLive(t, f.s, name)
			}
			if got := countAudit(t, f.db, f.org.ID, keygate.AuditSessionRevoked); got != 1 {
				t.Fatalf("session revoked events=%d, want 1", got)
			}
		})
	}
}

func TestSessionService_DeleteOtherUserSessions(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		f := mustSessionFixture(t)
		n, err := f.s.DeleteOtherUserSessions(userCtx(f.ada), f.sessions["a2"].ID)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 { // a1 and the idle a3
			t.Fatalf("deleted=%d, want 2", n)
		}
		assertSessionLive(t, f.s, "a2")
		assertSessionGone(t, f.s, "a1")
		assertSessionLive(t, f.s, "b1")
		assertSessionLive(t, f.s, "anon")
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM sessions WHERE user_id = $1`, f.ada.ID); got != 1 {
			t.Fatalf("Ada's sessions=%d, want 1", got)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditSessionRevoked); got != 1 {
			t.Fatalf("session revoked events=%d, want 1", got)
		}

		// Nothing left to end: no rows, no event.
		n, err = f.s.DeleteOtherUserSessions(userCtx(f.ada), f.sessions["a2"].ID)
		if err != nil || n != 0 {
			t.Fatalf("second call=%d, %v; want 0", n, err)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditSessionRevoked); got != 1 {
			t.Fatalf("session revoked events=%d, want still 1", got)
		}
	})

	t.Run("OK/KeepOtherUsersSession", func(t *testing.T) {
		// Keeping a session that is not the user's own keeps none of theirs.
		f := mustSessionFixture(t)
		n, err := f.s.DeleteOtherUserSessions(userCtx(f.ada), f.sessions["b1"].ID)
		if err != nil || n != 3 {
			t.Fatalf("deleted=%d, %v; want 3", n, err)
		}
		assertSessionLive(t, f.s, "b1")
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		f := mustSessionFixture(t)
		before := tableCounts(t, f.db, "sessions", "audit_events")
		n, err := f.s.DeleteOtherUserSessions(context.Background(), 0)
		assertError(t, err, keygate.EUNAUTHORIZED, msgLoggedIn)
		if n != 0 {
			t.Fatalf("deleted=%d, want 0", n)
		}
		assertCounts(t, f.db, before)
	})
}

func TestSessionService_DeleteSession(t *testing.T) {
	t.Parallel()
	f := mustSessionFixture(t)
	t.Run("OK", func(t *testing.T) {
		if err := f.s.DeleteSession(context.Background(), f.sessions["b1"].ID); err != nil {
			t.Fatal(err)
		}
		assertSessionGone(t, f.s, "b1")
		assertSessionLive(t, f.s, "a1")
	})
	t.Run("OK/Missing", func(t *testing.T) {
		before := countRows(t, f.db, "sessions")
		if err := f.s.DeleteSession(context.Background(), 999999); err != nil {
			t.Fatalf("deleting a missing session: %v, want nil", err)
		}
		if got := countRows(t, f.db, "sessions"); got != before {
			t.Fatalf("sessions=%d, want %d", got, before)
		}
	})
}

func TestSessionService_DeleteExpiredSessions(t *testing.T) {
	t.Parallel()
	db, clock := mustOpenDB(t)
	s := sqlstore.NewSessionService(db)
	ctx := context.Background()
	end := accountTestStart.Add(keygate.SessionAbsoluteTimeout)

	mustCreateSession(t, s, 0, "old") // kept in use until its absolute end
	for clock.Now().Add(6 * time.Hour).Before(end) {
		clock.Advance(6 * time.Hour)
		if err := s.UpdateSession(ctx, assertSessionLive(t, s, "old")); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(end.Add(-13 * time.Hour))
	mustCreateSession(t, s, 0, "idle") // never used again
	clock.Set(end.Add(-time.Hour))
	mustCreateSession(t, s, 0, "live")
	clock.Set(end.Add(time.Millisecond))

	n, err := s.DeleteExpiredSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("deleted=%d, want 2 (old and idle)", n)
	}
	assertSessionLive(t, s, "live")
	if got := countRows(t, db, "sessions"); got != 1 {
		t.Fatalf("sessions=%d, want 1", got)
	}
	if n, err := s.DeleteExpiredSessions(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep=%d, %v; want 0", n, err)
	}
}

// racingHasher changes the stored password while the new one is being
// hashed, as a second change made at the same moment would.
type racingHasher struct {
	sqlstore.PasswordHasher
	race func()
}

func (h *racingHasher) Hash(ctx context.Context, plain string) (string, error) {
	if h.race != nil {
		h.race()
	}
	return h.PasswordHasher.Hash(ctx, plain)
}

// TestUserService_ChangePassword_Sessions: a password change ends the
// user's other sessions with it, or changes nothing at all.
func TestUserService_ChangePassword_Sessions(t *testing.T) {
	t.Parallel()
	const newPassword = "a brand new passphrase 7"
	t.Run("OK", func(t *testing.T) {
		f := mustSessionFixture(t)
		users := sqlstore.NewUserService(f.db, testHasher)
		if err := users.ChangePassword(userCtx(f.ada), testPassword, newPassword, f.sessions["a2"].ID); err != nil {
			t.Fatal(err)
		}
		assertSessionLive(t, f.s, "a2")
		assertSessionGone(t, f.s, "a1")
		assertSessionLive(t, f.s, "b1")
		assertSessionLive(t, f.s, "anon")
		if got := countQuery(t, f.db, `SELECT COUNT(*) FROM sessions WHERE user_id = $1`, f.ada.ID); got != 1 {
			t.Fatalf("Ada's sessions=%d, want 1", got)
		}
		if _, err := users.Authenticate(context.Background(), "ada@example.com", newPassword); err != nil {
			t.Fatalf("new password: %v", err)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditPasswordChanged); got != 1 {
			t.Fatalf("password events=%d, want 1", got)
		}
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditSessionRevoked); got != 1 {
			t.Fatalf("session revoked events=%d, want 1", got)
		}
	})

	t.Run("OK/NoOtherSessions", func(t *testing.T) {
		f := mustSessionFixture(t)
		users := sqlstore.NewUserService(f.db, testHasher)
		if err := users.ChangePassword(userCtx(f.bob), testPassword, newPassword, f.sessions["b1"].ID); err != nil {
			t.Fatal(err)
		}
		assertSessionLive(t, f.s, "b1")
		if got := countAudit(t, f.db, f.org.ID, keygate.AuditSessionRevoked); got != 0 {
			t.Fatalf("session revoked events=%d, want 0", got)
		}
	})

	for _, tt := range []struct {
		name, current, next string
		field               string
	}{
		{"ErrCurrentPassword", "not my password at all", newPassword, "current_password"},
		{"ErrNewPassword", testPassword, "short", "new_password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := mustSessionFixture(t)
			users := sqlstore.NewUserService(f.db, testHasher)
			before := tableCounts(t, f.db, "sessions", "audit_events")
			hash := passwordHash(t, f.db, f.ada.ID)
			err := users.ChangePassword(userCtx(f.ada), tt.current, tt.next, f.sessions["a2"].ID)
			if got, want := keygate.ErrorCode(err), keygate.EINVALID; got != want {
				t.Fatalf("code=%q (%v), want %q", got, err, want)
			}
			if _, ok := keygate.ErrorFields(err)[tt.field]; !ok {
				t.Fatalf("fields=%v, want %s", keygate.ErrorFields(err), tt.field)
			}
			assertCounts(t, f.db, before)
			assertSessionLive(t, f.s, "a1")
			if got := passwordHash(t, f.db, f.ada.ID); got != hash {
				t.Fatal("password hash changed on error")
			}
		})
	}

	t.Run("ErrChangedMeanwhile", func(t *testing.T) {
		// The current password was right when checked, but another change
		// replaced it before this one was written: the later change must
		// not overwrite the earlier one or end sessions in its name.
		f := mustSessionFixture(t)
		meanwhile := mustHash(t, "changed somewhere else 9")
		h := &racingHasher{PasswordHasher: testHasher, race: func() {
			if _, err := f.db.WriteConn().Exec(`UPDATE users SET password_hash = $1 WHERE id = $2`, meanwhile, f.ada.ID); err != nil {
				t.Fatal(err)
			}
		}}
		users := sqlstore.NewUserService(f.db, h)
		before := tableCounts(t, f.db, "sessions", "audit_events")
		err := users.ChangePassword(userCtx(f.ada), testPassword, newPassword, f.sessions["a2"].ID)
		assertError(t, err, keygate.EINVALID, msgCorrect)
		assertFields(t, err, map[string]string{"current_password": "Current password is incorrect."})
		assertCounts(t, f.db, before)
		if got := passwordHash(t, f.db, f.ada.ID); got != meanwhile {
			t.Fatal("the earlier change was overwritten")
		}
	})
}

func mustHash(tb testing.TB, plain string) string {
	tb.Helper()
	h, err := testHasher.Hash(context.Background(), plain)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
