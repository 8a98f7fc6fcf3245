package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// codeStatus maps domain error codes to HTTP statuses.
var codeStatus = map[string]int{
	keygate.ECONFLICT:     http.StatusConflict,
	keygate.EINVALID:      http.StatusBadRequest,
	keygate.ENOTFOUND:     http.StatusNotFound,
	keygate.EUNAUTHORIZED: http.StatusUnauthorized,
	keygate.EFORBIDDEN:    http.StatusForbidden,
	keygate.ERATELIMIT:    http.StatusTooManyRequests,
	keygate.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int {
	if status, ok := codeStatus[keygate.ErrorCode(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

var statusTitles = map[int]string{
	http.StatusBadRequest:          "Bad request",
	http.StatusUnauthorized:        "Not logged in",
	http.StatusForbidden:           "Access denied",
	http.StatusNotFound:            "Page not found",
	http.StatusMethodNotAllowed:    "Method not allowed",
	http.StatusConflict:            "Conflict",
	http.StatusTooManyRequests:     "Too many requests",
	http.StatusInternalServerError: "Something went wrong",
	http.StatusServiceUnavailable:  "Temporarily unavailable",
}

// Error is the one error sink: it logs internal errors (and only those, with
// their details), and answers with JSON under /api/ or an HTML page
// elsewhere. Internal details never reach the client.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code, status := keygate.ErrorCode(err), ErrorStatus(err)
	info := keygate.RequestInfoFromContext(r.Context())
	msg := keygate.ErrorMessage(err)
	if code == keygate.EINTERNAL && s.isStorageFull(err) {
		s.storageFullError(w, r, err)
		return
	}
	if code == keygate.EINTERNAL && s.databaseUnavailable(err) {
		s.unavailable(w, r, err)
		return
	}
	if code == keygate.EINTERNAL {
		s.logger.Error("internal error", "request_id", info.RequestID, "method", r.Method, "route", r.Pattern, "error", err.Error())
		msg = "The server could not complete the request. If it keeps happening, give this request ID to your administrator."
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		apiError(w, status, code, msg)
		return
	}
	s.errorPage(w, r, status, msg)
}

// CodeDatabaseUnavailable is the API's error code while the database
// cannot be reached.
const CodeDatabaseUnavailable = "database_unavailable"

// unavailableRetryAfter is the Retry-After of a 503, in seconds: about
// how long a replica takes to notice the database is back.
const unavailableRetryAfter = "5"

// databaseUnavailable reports whether err is the database's being out of
// reach (sqlstore.Unavailable), which is no bug of the request's.
func (s *Server) databaseUnavailable(err error) bool {
	u, ok := s.db.(interface{ Unavailable(error) bool })
	return ok && u.Unavailable(err)
}

// unavailable answers a request that needs the database while it cannot be
// reached: 503 with Retry-After, as JSON under /api/ or as a page. It is
// logged as a warning: the error is the database's, and not this
// request's; the database's own log says more.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	info := keygate.RequestInfoFromContext(r.Context())
	s.logger.Warn("database unavailable", "request_id", info.RequestID, "method", r.Method, "route", r.Pattern, "error", err.Error())
	w.Header().Set("Retry-After", unavailableRetryAfter)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		apiError(w, http.StatusServiceUnavailable, CodeDatabaseUnavailable,
			"The database is unavailable. Try again in a few seconds.")
		return
	}
	s.errorPage(w, r, http.StatusServiceUnavailable,
		"Keygate cannot reach its database right now. Try again in a few seconds.")
}

// errorPage renders an HTML error page in the site's layout.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	title := statusTitles[status]
	if title == "" {
		title = http.StatusText(status)
	}
	l := s.layout(r, title, "")
	s.render(w, r, status, views.ErrorPage(l, status, title, msg))
}

// notFound answers an unknown dashboard path.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, "There is nothing at this address. Check the link, or go back to the dashboard.")
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// writeJSON writes v as the response's JSON body, with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONHeader(w, status)
	json.NewEncoder(w).Encode(v)
}

// writeJSONHeader writes the header of a JSON response with status.
func writeJSONHeader(w http.ResponseWriter, status int) {
	// Canonical names assigned directly, to shared slices that nothing
	// appends to in place (their capacity is their length): this runs on
	// every API response (the figure is at rateLimit).
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
}
