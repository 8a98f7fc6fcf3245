package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/web"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fakeListener is a replica's listener in a chosen state.
type fakeListener struct {
	connected                 bool
	reconnects, notifications uint64
}

func (l *fakeListener) Connected() bool       { return l.connected }
func (l *fakeListener) Reconnects() uint64    { return l.reconnects }
func (l *fakeListener) Notifications() uint64 { return l.notifications }

// replicaDB answers Ping with err, and counts errUnreachable as the database's
// being out of reach, as sqlstore.DB does for its driver's errors.
type replicaDB struct{ err error }

var errUnreachable = errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")

func (d replicaDB) Ping(context.Context) error { return d.err }
func (replicaDB) Unavailable(err error) bool   { return errors.Is(err, errUnreachable) }

// downStore is a key store that cannot be reached.
type downStore struct{}

func (downStore) LookupKeyByHash(context.Context, [32]byte) (*apikey.Record, error) {
	return nil, errUnreachable
}

func newReplicaServer(t *testing.T, db replicaDB, l *fakeListener) *web.Server {
	t.Helper()
	app := MustOpenApp(t)
	srv, err := web.NewServer(web.Config{SessionKey: []byte(strings.Repeat("k", 64))}, web.Services{
		Users: app.Users, Orgs: app.Orgs, Sessions: app.Sessions, DB: db, Listener: l,
		Verifier: apikey.NewVerifier(downStore{}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func serveReplica(srv *web.Server, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, req)
	return w
}

func TestReadyz_Listener(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		db         replicaDB
		connected  bool
		wantStatus int
		wantBody   string
	}{
		{"OKListening", replicaDB{}, true, 200, `{"status":"ok","database":"ok","listener":"listening"}`},
		// A replica that reads keys from the database until it listens
		// again answers correctly: it stays in the balancer.
		{"OKReconnecting", replicaDB{}, false, 200, `{"status":"ok","database":"ok","listener":"reconnecting"}`},
		{"ErrDatabase", replicaDB{err: errUnreachable}, false, 503,
			`{"status":"unavailable","detail":"The database is not ready.","database":"unavailable","listener":"reconnecting"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newReplicaServer(t, tc.db, &fakeListener{connected: tc.connected})
			w := serveReplica(srv, httptest.NewRequest("GET", "https://keygate.test/readyz", nil))
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.wantStatus, w.Body)
			}
			if got := strings.TrimSpace(w.Body.String()); got != tc.wantBody {
				t.Errorf("body %s, want %s", got, tc.wantBody)
			}
		})
	}
}

func TestMetrics_Listener(t *testing.T) {
	t.Parallel()
	srv := newReplicaServer(t, replicaDB{}, &fakeListener{connected: true, reconnects: 3, notifications: 7})
	rec := httptest.NewRecorder()
	srv.MetricsHandler("").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"keygate_listener_connected":             1,
		"keygate_listener_reconnects_total":      3,
		"keygate_listener_notifications_total":   7,
		"keygate_verifier_cache_flushes_total":   0,
		"keygate_verifier_cache_fallbacks_total": 0,
	} {
		f, ok := families[name]
		if !ok || len(f.Metric) != 1 {
			t.Errorf("no metric %s", name)
			continue
		}
		m := f.Metric[0]
		got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestDatabaseUnavailable_API: a key that cannot be checked because the
// database is out of reach is no bug and no bad key: 503 with Retry-After.
func TestDatabaseUnavailable_API(t *testing.T) {
	t.Parallel()
	srv := newReplicaServer(t, replicaDB{}, &fakeListener{})
	req := httptest.NewRequest("GET", "https://keygate.test/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+apikey.MustGenerate().String())
	w := serveReplica(srv, req)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", w.Code, w.Body)
	}
	if got, want := w.Header().Get("Retry-After"), "5"; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	var body struct{ Code, Detail string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Code != web.CodeDatabaseUnavailable || body.Detail != "The database is unavailable. Try again in a few seconds." {
		t.Errorf("body = %+v", body)
	}
}
