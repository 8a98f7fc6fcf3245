package web

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/usage"
)

// usageRecorder is the writer of an API request whose usage is recorded:
// it remembers the status (through the access log's statusRecorder) and
// the error code of the response's body, for the API logs.
type usageRecorder struct {
	*statusRecorder
	code string
}

// usageRecorders are reused: every API request takes one, which its
// recordUsage gives back once the handler has returned.
var usageRecorders = sync.Pool{New: func() any { return new(usageRecorder) }}

// newUsageRecorder wraps w, which observe has already wrapped in a
// statusRecorder.
func newUsageRecorder(w http.ResponseWriter) *usageRecorder {
	rec, ok := w.(*statusRecorder)
	if !ok {
		rec = &statusRecorder{ResponseWriter: w}
	}
	u := usageRecorders.Get().(*usageRecorder)
	u.statusRecorder = rec
	return u
}

// release gives the recorder back, for another request.
func (w *usageRecorder) release() {
	*w = usageRecorder{}
	usageRecorders.Put(w)
}

// Write notes the error code of an error's body, which the API writes in
// one piece.
func (w *usageRecorder) Write(b []byte) (int, error) {
	if w.code == "" && w.status >= 400 {
		w.code = errorCodeOf(b)
	}
	return w.statusRecorder.Write(b)
}

func (w *usageRecorder) Unwrap() http.ResponseWriter { return w.statusRecorder }

// maxErrorCode bounds the error codes the log keeps.
const maxErrorCode = 40

// errorCodeOf returns the "code" of an API error body, "" if it has none
// the log could keep (a code is lowercase letters, digits and _).
func errorCodeOf(body []byte) string {
	i := bytes.Index(body, []byte(`"code":`))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(body[i+len(`"code":`):], " ")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	rest = rest[1:]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || end > maxErrorCode {
		return ""
	}
	for _, c := range rest[:end] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return ""
		}
	}
	return string(rest[:end])
}

// maxLoggedPath bounds the paths the log keeps.
const maxLoggedPath = 512

// loggedPath is the request's path as the API logs keep it: escaped (so
// it holds no control character), any key in it replaced by its hint, and
// cut to maxLoggedPath bytes.
func loggedPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if strings.Contains(p, apikey.Prefix) {
		segs := strings.Split(p, "/")
		for i, seg := range segs {
			if strings.Contains(seg, apikey.Prefix) && len(seg) >= apikey.Len {
				// A key pasted into a URL, whole or with more around it.
				segs[i] = apikey.HintOf(seg)
			}
		}
		p = strings.Join(segs, "/")
	}
	if len(p) > maxLoggedPath {
		p = p[:maxLoggedPath]
	}
	return p
}

// recordRefused hands the usage buffer a request refused with a 401 for a
// key that is known but may no longer be used: it shows in the
// organization's API logs and on the key's page.
func (s *Server) recordRefused(r *http.Request, rec *apikey.Record, fail *authHeaderError, start time.Time) {
	if s.usage == nil {
		return
	}
	info := keygate.RequestInfoFromContext(r.Context())
	rid, _ := usage.ParseRequestID(info.RequestID)
	route := r.Pattern
	if route == "" {
		route = unknownRoute
	}
	s.usage.Record(usage.Event{
		OrganizationID: rec.OrganizationID, KeyID: rec.KeyID, Method: r.Method, Route: route, Path: loggedPath(r),
		Status: fail.statusCode(), Code: fail.code, Refused: true, Latency: time.Since(start),
		IP: info.IP, UserAgent: info.UserAgent, At: s.now(), RequestID: rid, Service: stateFrom(r.Context()).service,
	})
}

// logUnattributed writes a refused request that names no known key to the
// server's log: no organization's log can hold it. It names the reason
// and the hint of the presented token, never more of it.
func (s *Server) logUnattributed(r *http.Request, fail *authHeaderError) {
	info := keygate.RequestInfoFromContext(r.Context())
	attrs := []any{"request_id", info.RequestID, "code", fail.code, "ip", info.IP}
	if values := r.Header["Authorization"]; len(values) == 1 {
		if token, herr := parseAuthorization(values[0]); herr == nil {
			if hint := apikey.HintOf(token); hint != "" {
				attrs = append(attrs, "presented", hint)
			}
		}
	}
	s.logger.Info("api key refused", attrs...)
}
