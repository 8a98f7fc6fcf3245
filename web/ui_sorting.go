package web

import (
	"net/url"
	"slices"

	"github.com/keygate/keygate/views"
)

// sortColumn is a column a table can be sorted by.
type sortColumn struct {
	key, label string
	// firstAsc is the direction a first click sorts in: A to Z for names,
	// newest first (descending) for dates.
	firstAsc bool
	// asc and desc say each order in words, for the table's caption.
	asc, desc string
}

// sortOf reads a table's sort from the query ("sort" and "dir"), falling
// back to the default column in its first direction, and builds the
// headers' links: each keeps the filters, drops the page, and sorts by its
// column, the other way round if the table is already sorted by it.
func sortOf(base string, q url.Values, cols []sortColumn, def string) (by string, asc bool, s views.Sorting) {
	i := slices.IndexFunc(cols, func(c sortColumn) bool { return c.key == q.Get("sort") })
	if i < 0 {
		i = slices.IndexFunc(cols, func(c sortColumn) bool { return c.key == def })
	}
	col := cols[i]
	switch q.Get("dir") {
	case "asc":
		asc = true
	case "desc":
		asc = false
	default:
		asc = col.firstAsc
	}
	s = views.Sorting{By: col.key, Dir: dirName(asc), Caption: col.desc, Headers: map[string]views.SortHeader{}}
	if asc {
		s.Caption = col.asc
	}
	for _, c := range cols {
		h := views.SortHeader{Label: c.label}
		next := c.firstAsc
		if c.key == col.key {
			h.Dir = map[bool]string{true: "ascending", false: "descending"}[asc]
			next = !asc
		}
		v := url.Values{}
		for k, vs := range q {
			if k != "page" {
				v[k] = vs
			}
		}
		v.Set("sort", c.key)
		v.Set("dir", dirName(next))
		h.URL = base + "?" + v.Encode()
		s.Headers[c.key] = h
	}
	return col.key, asc, s
}

func dirName(asc bool) string {
	if asc {
		return "asc"
	}
	return "desc"
}
