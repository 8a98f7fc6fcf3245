package web

import (
	"context"
	"net/http"
	"time"
)

// Pinger reports whether the database answers and is migrated.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ListenerStatus is the connection on which a replica hears of the other
// replicas' changes to keys (sqlstore.Listener).
type ListenerStatus interface {
	// Connected reports whether it listens.
	Connected() bool
	// Reconnects counts the times it listened again after losing its
	// connection; Notifications the changes it heard of.
	Reconnects() uint64
	Notifications() uint64
}

// handleHealthz is the liveness probe: the process serves requests.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the body of /readyz.
type readiness struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Database is "ok", "unavailable" or "storage_full" (writes fail
	// for a full disk); Listener, on PostgreSQL,
	// "listening" or "reconnecting".
	Database string `json:"database,omitempty"`
	Listener string `json:"listener,omitempty"`
}

// handleReadyz is the readiness probe: the database is reachable, every
// migration is applied and, once a write has failed for a full disk, a
// probe write succeeds again. A replica whose listener is reconnecting stays
// ready: it reads keys from the database until it listens again, so it
// answers correctly, only slower.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	body := readiness{Status: "ok"}
	if s.listener != nil {
		body.Listener = "listening"
		if !s.listener.Connected() {
			body.Listener = "reconnecting"
		}
	}
	if s.db == nil {
		writeJSON(w, http.StatusOK, body)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.logger.Warn("readiness check failed", "error", err.Error())
		body.Status, body.Database, body.Detail = "unavailable", "unavailable", "The database is not ready."
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	if ok, err := s.storageReady(ctx); !ok {
		if err != nil {
			s.logger.Warn("readiness write probe failed", "error", err.Error())
		}
		body.Status, body.Database = "unavailable", CodeStorageFull
		body.Detail = "The database's storage is full: writes fail until space is freed."
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	body.Database = "ok"
	writeJSON(w, http.StatusOK, body)
}
