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

// handleHealthz is the liveness probe: the process serves requests.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is the readiness probe: the database is reachable and every
// migration is applied.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.db == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.logger.Warn("readiness check failed", "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "detail": "The database is not ready."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
