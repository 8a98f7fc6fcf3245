package web

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// The dashboard's lists of bots and conversations page by cursor, like the
// API, with the same cursors: "a:ID" (rows older than ID) or "b:ID" (rows
// newer than ID), base64url-encoded.

// listPageSize is how many rows a dashboard list shows.
const listPageSize = 20

// Messages of the dashboard lists' filters.
const (
	msgBadCursor   = "This page link is not valid. Start again from the first page."
	msgBadDate     = "Enter a date, like 2026-01-31."
	msgBadChoice   = "Select a valid choice."
	msgRangeBefore = "Must not be before "
)

// orgContext is the request's context acting for the organization in view:
// the bot and conversation services serve the organization in the context,
// as they do for an API key.
func orgContext(r *http.Request) context.Context {
	return keygate.NewContextWithOrganization(r.Context(), pageFrom(r).org.ID)
}

// queryForm is a Form of the named query parameters, trimmed.
func queryForm(q url.Values, names ...string) views.Form {
	f := views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, n := range names {
		f.Values[n] = strings.TrimSpace(q.Get(n))
	}
	return f
}

// filtered reports whether any of f's filters is set.
func filtered(f views.Form) bool {
	for _, v := range f.Values {
		if v != "" {
			return true
		}
	}
	return false
}

// withFilterError adds err to a list's filters: beside its field, or above
// the filters when it concerns none.
func withFilterError(f views.Form, err error) views.Form {
	for k, v := range keygate.ErrorFields(err) {
		f.Errors[k] = v
	}
	if len(f.Errors) == 0 && err != nil {
		f.Error = keygate.ErrorMessage(err)
	}
	return f
}

// cursorPage reads the cursor of a list's page; an unreadable one is
// EINVALID.
func cursorPage(q url.Values) (keygate.Page, error) {
	p := keygate.Page{Limit: listPageSize}
	c := q.Get("cursor")
	if c == "" {
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	dir, id, ok := strings.Cut(string(raw), ":")
	n, perr := strconv.ParseInt(id, 10, 64)
	switch {
	case err != nil || !ok || perr != nil || n <= 0:
		return p, keygate.Errorf(keygate.EINVALID, msgBadCursor)
	case dir == "a":
		p.After = n
	case dir == "b":
		p.Before = n
	default:
		return p, keygate.Errorf(keygate.EINVALID, msgBadCursor)
	}
	return p, nil
}

// cursorLinks builds the Previous and Next links of a page of rows (newest
// first) running from firstID to lastID, keeping the filters in q. hasMore
// is the service's answer for the direction walked.
func cursorLinks(base string, q url.Values, p keygate.Page, n int, firstID, lastID int64, hasMore bool) views.CursorLinks {
	link := func(dir string, id int64) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(dir+":"+strconv.FormatInt(id, 10))))
		return base + "?" + v.Encode()
	}
	var c views.CursorLinks
	switch {
	case n == 0:
		// Walked back past the newest row: offer the way forward again.
		if p.Before > 0 {
			c.NextURL = link("a", p.Before+1)
		}
	case p.Before > 0:
		c.NextURL = link("a", lastID)
		if hasMore {
			c.PrevURL = link("b", firstID)
		}
	default:
		if hasMore {
			c.NextURL = link("a", lastID)
		}
		if p.After > 0 {
			c.PrevURL = link("b", firstID)
		}
	}
	return c
}

// dateRange reads a filter's from and to dates (YYYY-MM-DD, UTC) into a
// half-open range that takes in the whole of the to day. Errors go beside
// their fields in f; fromLabel names the from field in them.
func dateRange(f *views.Form, fromName, toName, fromLabel string) (from, to *time.Time) {
	parse := func(name string) *time.Time {
		v := f.Value(name)
		if v == "" {
			return nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			f.Errors[name] = msgBadDate
			return nil
		}
		return &t
	}
	from, to = parse(fromName), parse(toName)
	if to != nil {
		end := to.AddDate(0, 0, 1)
		to = &end
	}
	if from != nil && to != nil && !to.After(*from) {
		f.Errors[toName] = msgRangeBefore + fromLabel + "."
	}
	return from, to
}

// viewTime is a moment for a view, zero when t is nil.
func (s *Server) viewTime(t *time.Time) views.Time {
	if t == nil {
		return views.Time{Now: s.now()}
	}
	return views.Time{At: *t, Now: s.now()}
}

// notFoundAs names what was not found in an ENOTFOUND error.
func notFoundAs(err error, msg string) error {
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return keygate.Errorf(keygate.ENOTFOUND, "%s", msg)
	}
	return err
}
