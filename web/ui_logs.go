package web

import (
	"cmp"
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// logsPerPage is the API logs' page size.
const logsPerPage = 50

// msgLogDate is the message of a date the logs' filters cannot read.
const msgLogDate = "Enter a date like 2026-01-31."

// logFilters are the API logs' query parameters that narrow and order
// them, which every link of the page keeps.
var logFilters = []string{"key", "class", "route", "service", "request_id", "from", "to", "sort"}

// logQuery is the API logs' filter read from the query, with the messages
// of the fields it could not read.
type logQuery struct {
	f      keygate.RequestLogFilter
	page   int // for orders other than newest first
	keep   url.Values
	errors map[string]string
}

// parseLogQuery reads the API logs' filters. A field it cannot read is
// left out of the filter and gets a message.
func parseLogQuery(orgID string, q url.Values) logQuery {
	lq := logQuery{
		f:    keygate.RequestLogFilter{OrgPublicID: orgID, KeyID: q.Get("key"), Class: q.Get("class"), Route: q.Get("route"), Limit: logsPerPage},
		keep: url.Values{}, errors: map[string]string{},
	}
	if !slices.Contains(keygate.StatusClasses, lq.f.Class) {
		lq.f.Class = ""
	}
	lq.f.Service = serviceFilter(q.Get("service"))
	// The service checks the request id, in either case.
	lq.f.RequestID = strings.ToLower(strings.TrimSpace(q.Get("request_id")))
	if v := q.Get("from"); v != "" {
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			lq.f.From = &t
		} else {
			lq.errors["from"] = msgLogDate
		}
	}
	if v := q.Get("to"); v != "" {
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			end := t.AddDate(0, 0, 1) // the whole "to" day
			lq.f.To = &end
		} else {
			lq.errors["to"] = msgLogDate
		}
	}
	if v := q.Get("sort"); slices.Contains(keygate.LogSorts, v) && v != keygate.LogNewest {
		lq.f.Sort = v
	}
	lq.page, _ = strconv.Atoi(q.Get("page"))
	lq.page = max(lq.page, 1)
	lq.f.Offset = (lq.page - 1) * logsPerPage
	if v := q.Get("before"); v != "" && lq.f.Sort == "" {
		lq.f.Before, _ = strconv.ParseInt(v, 10, 64)
	}
	for _, k := range logFilters {
		if v := q.Get(k); v != "" && lq.errors[k] == "" {
			lq.keep.Set(k, v)
		}
	}
	if lq.f.RequestID != "" {
		lq.keep.Set("request_id", lq.f.RequestID)
	}
	if lq.f.Sort == "" {
		lq.keep.Del("sort")
	}
	return lq
}

// link is the logs' URL with the filters kept, changed by set ("" deletes).
func (lq logQuery) link(base string, set map[string]string) string {
	v := url.Values{}
	for k, vs := range lq.keep {
		v[k] = vs
	}
	for k, val := range set {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	if len(v) == 0 {
		return base
	}
	return base + "?" + v.Encode()
}

// sortHeaders are the Time, Status and Latency headers: each sorts by its
// column, descending first, the other way round if already sorted by it.
func (lq logQuery) sortHeaders(base string) map[string]views.SortHeader {
	current := cmp.Or(lq.f.Sort, keygate.LogNewest)
	out := map[string]views.SortHeader{}
	for _, col := range []struct{ key, label string }{{"time", "Time"}, {"status", "Status"}, {"latency", "Latency"}} {
		h := views.SortHeader{Label: col.label}
		next := "-" + col.key
		switch current {
		case "-" + col.key:
			h.Dir, next = "descending", col.key
		case col.key:
			h.Dir = "ascending"
		}
		if next == keygate.LogNewest {
			next = ""
		}
		h.URL = lq.link(base, map[string]string{"sort": next})
		out[col.key] = h
	}
	return out
}

func (s *Server) logRow(org views.Org, e *keygate.RequestLogEntry, now time.Time) views.LogRow {
	row := views.LogRow{
		At: views.Time{At: e.At, Now: now}, Service: e.Service, Method: e.Method, Route: e.Route, Path: cmp.Or(e.Path, e.Route), Status: e.Status,
		Class: keygate.StatusClassOf(e.Status), Code: e.Code, Latency: formatLatency(e.Latency), IP: e.IP,
		URL: org.URL("logs/" + strconv.FormatInt(e.ID, 10)),
	}
	if e.KeyID != "" {
		row.Key, row.KeyURL = e.KeyName+" ("+e.KeyHint+")", org.URL("api-keys/"+e.KeyID)
	}
	return row
}

// humanCount writes n with thousands separated: "10,000".
func humanCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func formatLatency(d time.Duration) string {
	if d < time.Millisecond {
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "API Logs", "logs")
	base := l.Org.URL("logs")
	q := r.URL.Query()
	lq := parseLogQuery(l.Org.ID, q)
	entries, more, err := s.monitoring.FindRequestLog(r.Context(), lq.f)
	if keygate.ErrorCode(err) == keygate.EINVALID {
		for field, msg := range keygate.ErrorFields(err) {
			lq.errors[field] = msg
		}
		entries, more, err = nil, false, nil
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p := views.LogsPage{Key: lq.f.KeyID, Class: lq.f.Class, Route: lq.f.Route, Service: q.Get("service"), RequestID: q.Get("request_id"),
		From: q.Get("from"), To: q.Get("to"), URL: base, Errors: lq.errors, Sorted: lq.f.Sort != "",
		Sorts: lq.sortHeaders(base), CSVURL: lq.link(l.Org.URL("logs.csv"), map[string]string{"sort": ""})}
	if p.Sorted && lq.f.Sort != keygate.LogOldest {
		p.SortNote = "Sorted among the newest " + humanCount(keygate.LogSortWindow) +
			" requests that match the filters. Choose dates to sort an earlier period."
	}
	if err := s.logFilterOptions(r.Context(), *l.Org, &p); err != nil {
		s.Error(w, r, err)
		return
	}
	now := s.now()
	for _, e := range entries {
		p.Rows = append(p.Rows, s.logRow(*l.Org, e, now))
	}
	switch {
	case p.Sorted:
		if lq.page > 1 {
			p.PrevURL = lq.link(base, map[string]string{"page": strconv.Itoa(lq.page - 1)})
		}
		if more {
			p.NextURL = lq.link(base, map[string]string{"page": strconv.Itoa(lq.page + 1)})
		}
	default:
		if lq.f.Before > 0 {
			p.NewestURL = lq.link(base, nil)
		}
		if more && len(entries) > 0 {
			p.OlderURL = lq.link(base, map[string]string{"before": strconv.FormatInt(entries[len(entries)-1].ID, 10)})
		}
	}
	status := http.StatusOK
	if len(lq.errors) > 0 {
		status = http.StatusBadRequest
	}
	s.render(w, r, status, views.LogsListPage(l, p))
}

// logFilterOptions fills the key, status and route menus of the logs'
// filters. The keys include revoked and expired ones, whose refused
// requests the log holds too.
func (s *Server) logFilterOptions(ctx context.Context, org views.Org, p *views.LogsPage) error {
	for _, st := range []struct {
		state  keygate.KeyState
		suffix string
	}{{keygate.KeyActive, ""}, {keygate.KeyExpired, " — expired"}, {keygate.KeyRevoked, " — revoked"}} {
		keys, _, err := s.apiKeys.FindAPIKeys(ctx, keygate.APIKeyFilter{OrgPublicID: org.ID, State: st.state, Limit: 100})
		if err != nil {
			return err
		}
		for _, k := range keys {
			p.Keys = append(p.Keys, views.Option{Value: k.PublicID, Label: k.Name + " (" + k.Hint + ")" + st.suffix})
		}
	}
	for _, c := range keygate.StatusClasses {
		p.Classes = append(p.Classes, views.Option{Value: c, Label: c})
	}
	routes, err := s.monitoring.RequestLogRoutes(ctx, org.ID)
	if err != nil {
		return err
	}
	if p.Services, err = s.serviceOptions(ctx, org.ID, serviceFilter(p.Service)); err != nil {
		return err
	}
	for _, rt := range routes {
		p.Routes = append(p.Routes, views.Option{Value: rt, Label: rt})
	}
	return nil
}

// handleLogEntry shows one request of the log: everything the log keeps
// of it.
func (s *Server) handleLogEntry(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "API request", "logs")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		id = -1 // as unknown as an id the log never held
	}
	e, err := s.monitoring.FindRequestLogEntry(r.Context(), l.Org.ID, id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	at := e.At.UTC()
	d := views.LogDetail{
		RequestID: e.RequestID, Method: e.Method, Path: cmp.Or(e.Path, e.Route), Route: e.Route, Status: e.Status,
		Class: keygate.StatusClassOf(e.Status), Code: e.Code, Latency: formatLatency(e.Latency), IP: e.IP,
		UserAgent: e.UserAgent, Client: describeUserAgent(e.UserAgent), At: views.Time{At: e.At, Now: s.now()},
		AtUTC: at.Format("2006-01-02 15:04:05.000 UTC"), AtISO: at.Format("2006-01-02T15:04:05.000Z07:00"),
		LogsURL: l.Org.URL("logs"), Service: e.Service,
	}
	if e.KeyID != "" {
		d.Key, d.KeyURL = e.KeyName+" ("+e.KeyHint+")", l.Org.URL("api-keys/"+e.KeyID)
	}
	if e.RequestID != "" {
		d.SameIDURL = l.Org.URL("logs") + "?request_id=" + e.RequestID
	}
	s.render(w, r, http.StatusOK, views.LogDetailPage(l, d))
}

// handleLogsCSV exports the filtered logs as CSV, streaming page by page,
// newest first.
func (s *Server) handleLogsCSV(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	lq := parseLogQuery(org.PublicID, r.URL.Query())
	f := lq.f
	f.Limit, f.Before, f.Sort, f.Offset = 500, 0, "", 0
	entries, more, err := s.monitoring.FindRequestLog(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="keygate-api-logs.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"time", "key_id", "key_name", "key_hint", "method", "route", "status", "latency_ms", "ip", "user_agent",
		"path", "code", "request_id", "service"})
	for {
		for _, e := range entries {
			cw.Write([]string{
				e.At.UTC().Format(time.RFC3339Nano), e.KeyID, csvSafe(e.KeyName), e.KeyHint, e.Method, e.Route,
				strconv.Itoa(e.Status), strconv.FormatFloat(float64(e.Latency)/float64(time.Millisecond), 'f', 3, 64),
				e.IP, csvSafe(e.UserAgent), csvSafe(cmp.Or(e.Path, e.Route)), e.Code, e.RequestID, e.Service,
			})
		}
		if !more || len(entries) == 0 {
			break
		}
		f.Before = entries[len(entries)-1].ID
		if entries, more, err = s.monitoring.FindRequestLog(r.Context(), f); err != nil {
			s.logger.Error("export logs", "error", err.Error())
			break
		}
	}
	cw.Flush()
}

// csvSafe defuses cells a spreadsheet would run as a formula.
func csvSafe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@') {
		return "'" + v
	}
	return v
}
