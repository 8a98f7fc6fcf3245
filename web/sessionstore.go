package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/keygate/keygate/internal/keygate"
)

// SessionCookieName is the session cookie. The __Host- prefix makes browsers
// insist on Secure, Path=/ and no Domain, so no other host can set it.
const SessionCookieName = "__Host-keygate_session"

// Keys of the values a session holds.
const (
	sessionUserID = "uid"
)

func init() {
	gob.Register(map[string]string{})
}

// SessionStore is a gorilla/sessions Store that keeps sessions in the
// database. The cookie holds only a random 256-bit token, signed; the
// database holds the token's SHA-256, so a copy of the database does not
// yield live cookies.
type SessionStore struct {
	sessions keygate.SessionService
	codec    securecookie.Codec
	Options  sessions.Options
}

// NewSessionStore returns a store over svc whose cookies codec signs.
func NewSessionStore(svc keygate.SessionService, codec securecookie.Codec) *SessionStore {
	return &SessionStore{
		sessions: svc,
		codec:    codec,
		Options: sessions.Options{
			Path:     "/",
			MaxAge:   int(keygate.SessionAbsoluteTimeout / time.Second),
			Secure:   true,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
	}
}

// Get returns the request's session, cached for the request.
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or returns a new
// empty one. An unknown, expired or forged cookie yields a new session, not
// an error.
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.Options
	sess.Options = &opts
	sess.IsNew = true

	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var token string
	if err := s.codec.Decode(name, c.Value, &token); err != nil {
		return sess, nil
	}
	row, err := s.sessions.FindSessionByTokenHash(r.Context(), hashToken(token))
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return sess, nil
	} else if err != nil {
		return sess, err
	}
	if len(row.Data) > 0 {
		if err := gob.NewDecoder(bytes.NewReader(row.Data)).Decode(&sess.Values); err != nil {
			return sess, nil
		}
	}
	sess.ID = strconv.FormatInt(row.ID, 10)
	sess.IsNew = false
	setSessionRow(r, row)
	return sess, nil
}

// Save writes the session: a new one gets a fresh token and row, an existing
// one has its row updated, and MaxAge < 0 deletes the row and the cookie.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options.MaxAge < 0 {
		if id, err := strconv.ParseInt(sess.ID, 10, 64); err == nil {
			if err := s.sessions.DeleteSession(ctx, id); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(sess.Values); err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	userID, _ := sess.Values[sessionUserID].(int64)
	info := keygate.RequestInfoFromContext(ctx)
	row := &keygate.Session{UserID: userID, Data: buf.Bytes(), IP: info.IP, UserAgent: info.UserAgent}

	if sess.ID != "" {
		id, err := strconv.ParseInt(sess.ID, 10, 64)
		if err != nil {
			return errors.New("save session: bad id")
		}
		row.ID = id
		return s.sessions.UpdateSession(ctx, row)
	}
	token := rand.Text() + rand.Text()
	if err := s.sessions.CreateSession(ctx, row, hashToken(token)); err != nil {
		return err
	}
	sess.ID = strconv.FormatInt(row.ID, 10)
	setSessionRow(r, row)
	encoded, err := s.codec.Encode(sess.Name(), token)
	if err != nil {
		return fmt.Errorf("encode session cookie: %w", err)
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

// Regenerate gives sess a new id and token, ending the old row, so a session
// id known before a privilege change is worthless after it.
func (s *SessionStore) Regenerate(ctx context.Context, sess *sessions.Session) error {
	if id, err := strconv.ParseInt(sess.ID, 10, 64); err == nil {
		if err := s.sessions.DeleteSession(ctx, id); err != nil {
			return err
		}
	}
	sess.ID = ""
	sess.IsNew = true
	return nil
}

// hashToken is how a session token is looked up: by its SHA-256.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// setSessionRow notes the request's session row, for "this session".
func setSessionRow(r *http.Request, row *keygate.Session) {
	stateFrom(r.Context()).session = row
}

// currentSessionRow returns the request's session row, if it has one.
func currentSessionRow(r *http.Request) *keygate.Session {
	return stateFrom(r.Context()).session
}
