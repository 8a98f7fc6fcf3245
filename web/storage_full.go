package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
	"github.com/prometheus/client_golang/prometheus"
)

// CodeStorageFull is the API's error code of a write refused because the
// database's storage is full.
const CodeStorageFull = "storage_full"

// storageFullRetryAfter is the Retry-After of a write refused for a full
// disk, in seconds: freeing space takes a person, not a reconnect.
const storageFullRetryAfter = "60"

// storageFullLogEvery is how often, at most, a full disk is logged: every
// write fails alike until space is freed, and one line per request would
// bury the rest of the log (and take space of its own).
const storageFullLogEvery = time.Minute

// StorageProber is a database that tells a full disk from other errors
// and can test whether it can write again (sqlstore.DB).
type StorageProber interface {
	StorageFull(err error) bool
	ProbeWrite(ctx context.Context) error
}

// storageFull is what the server knows of a full disk: whether the last
// write failed for it (until a probe succeeds), when it was last logged,
// and how many requests it refused.
type storageFull struct {
	full    atomic.Bool
	refused atomic.Uint64

	mu     sync.Mutex
	logged time.Time
}

// storageProber returns the DB as a StorageProber, or nil.
func (s *Server) storageProber() StorageProber {
	p, _ := s.db.(StorageProber)
	return p
}

// isStorageFull reports whether err is a write refused for a full disk.
func (s *Server) isStorageFull(err error) bool {
	p := s.storageProber()
	return p != nil && p.StorageFull(err)
}

// storageFullError answers a write that failed because the database's
// storage is full: 503 with Retry-After, as JSON under /api/ or as a page.
// Nothing of the write was kept. The server stays flagged, and /readyz
// fails, until a probe write succeeds.
func (s *Server) storageFullError(w http.ResponseWriter, r *http.Request, err error) {
	s.storage.full.Store(true)
	s.storage.refused.Add(1)
	s.logStorageFull(r, err)
	w.Header().Set("Retry-After", storageFullRetryAfter)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		apiError(w, http.StatusServiceUnavailable, CodeStorageFull,
			"The server's storage is full, so changes cannot be saved. Nothing was changed; try again later.")
		return
	}
	l := s.layout(r, "Storage is full", "")
	s.render(w, r, http.StatusServiceUnavailable, views.ErrorPage(l, http.StatusServiceUnavailable, "Storage is full",
		"Keygate's storage is full, so your change was not saved. Try again later, and tell your administrator if it keeps happening."))
}

// logStorageFull logs a full disk at most once per storageFullLogEvery.
func (s *Server) logStorageFull(r *http.Request, err error) {
	now := s.now()
	s.storage.mu.Lock()
	due := s.storage.logged.IsZero() || now.Sub(s.storage.logged) >= storageFullLogEvery
	if due {
		s.storage.logged = now
	}
	s.storage.mu.Unlock()
	if !due {
		return
	}
	info := keygate.RequestInfoFromContext(r.Context())
	s.logger.Error("storage is full", "request_id", info.RequestID, "method", r.Method, "route", r.Pattern,
		"refused_total", s.storage.refused.Load(), "error", err.Error())
}

// storageReady reports, for /readyz, whether the database can write. It
// asks the database only while a write has failed for a full disk: a probe
// write then tells when space is back, so a replica that the load
// balancer stopped sending traffic to comes back by itself.
func (s *Server) storageReady(ctx context.Context) (bool, error) {
	p := s.storageProber()
	if p == nil || !s.storage.full.Load() {
		return true, nil
	}
	err := p.ProbeWrite(ctx)
	switch {
	case err == nil:
		s.storage.full.Store(false)
		s.logger.Info("storage has room again")
		return true, nil
	case p.StorageFull(err):
		return false, nil
	default:
		return false, err
	}
}

// registerStorageMetrics adds the count of writes refused for a full disk.
func (s *Server) registerStorageMetrics() {
	st := &s.storage
	s.metrics.counterFunc("keygate_storage_full_refusals_total", "Requests refused because the database's storage was full.",
		func() float64 { return float64(st.refused.Load()) })
	s.metrics.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keygate_storage_full", Help: "1 while writes fail because the database's storage is full, else 0.",
	}, func() float64 {
		if st.full.Load() {
			return 1
		}
		return 0
	}))
}
