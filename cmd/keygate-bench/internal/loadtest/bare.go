package loadtest

import (
	"net/http"
	"slices"
)

// bareHandler answers every request with the status, headers and body of a
// response captured from the real GET /api/v1/me, computing nothing: the
// cost of net/http and TLS alone, for the same bytes on the wire.
func bareHandler(status int, header http.Header, body []byte) http.Handler {
	fixed := http.Header{}
	for k, v := range header {
		switch k {
		case "Date", "Content-Length", "Connection", "Keep-Alive":
			// net/http writes these itself, as it does for the real handler.
			continue
		}
		fixed[k] = slices.Clip(slices.Clone(v))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range fixed {
			h[k] = v
		}
		w.WriteHeader(status)
		w.Write(body)
	})
}
