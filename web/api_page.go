package web

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// listBody is the API's list shape.
type listBody struct {
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  any     `json:"results"`
}

// maxLimit is the largest page a list returns: a larger ?limit= is served
// as this many rows, as GitHub's per_page and DRF's max_page_size do.
const maxLimit = 100

// parsePage reads ?cursor= and ?limit=. A cursor is opaque to clients: an
// encoded direction and row id, so pages stay stable while rows are added.
func parsePage(w http.ResponseWriter, r *http.Request) (keygate.Page, bool) {
	q := r.URL.Query()
	p := keygate.Page{Limit: 20}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
			n, err = maxLimit, nil
		}
		if err != nil || n < 1 {
			fieldErrors{"limit": {"A valid positive integer is required."}}.write(w)
			return p, false
		}
		p.Limit = min(n, maxLimit)
	}
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		dir, id, ok := strings.Cut(string(raw), ":")
		n, perr := strconv.ParseInt(id, 10, 64)
		if err != nil || !ok || perr != nil || n <= 0 || (dir != "a" && dir != "b") {
			apiError(w, http.StatusBadRequest, "invalid_cursor", "Invalid cursor.")
			return p, false
		}
		if dir == "a" {
			p.After = n
		} else {
			p.Before = n
		}
	}
	return p, true
}

func cursorURL(r *http.Request, base string, dir string, id int64) *string {
	q := url.Values{}
	for k, v := range r.URL.Query() {
		q[k] = v
	}
	q.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(dir+":"+strconv.FormatInt(id, 10))))
	u := base + r.URL.Path + "?" + q.Encode()
	return &u
}

// pageLinks builds next and previous for a page whose rows (newest first)
// run from firstID to lastID; hasMore is the service's answer for the
// direction walked.
func (s *Server) pageLinks(r *http.Request, p keygate.Page, n int, firstID, lastID int64, hasMore bool) (next, prev *string) {
	base := s.publicBaseURL(r)
	if n == 0 {
		if p.Before > 0 {
			return cursorURL(r, base, "a", p.Before+1), nil
		}
		return nil, nil
	}
	if p.Before > 0 {
		next = cursorURL(r, base, "a", lastID)
		if hasMore {
			prev = cursorURL(r, base, "b", firstID)
		}
		return next, prev
	}
	if hasMore {
		next = cursorURL(r, base, "a", lastID)
	}
	if p.After > 0 {
		prev = cursorURL(r, base, "b", firstID)
	}
	return next, prev
}
