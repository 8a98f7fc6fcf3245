package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// chartPoints turns daily usage into chart points labelled "Nov 23".
func chartPoints(days []keygate.DailyUsage) []views.ChartPoint {
	out := make([]views.ChartPoint, len(days))
	for i, d := range days {
		out[i] = views.ChartPoint{Label: d.Day.Format("Jan 2"), Values: d.Counts}
	}
	return out
}

// latencyText writes a latency bucket bound: "≤ 5 ms".
func latencyText(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("≤ %d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("≤ %s ms", strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64))
	}
	return fmt.Sprintf("≤ %s s", strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
}

// summaryStats lays out a usage summary as overview figures.
func summaryStats(u *keygate.UsageSummary) []views.Stat {
	rate := u.ErrorRate() * 100
	return []views.Stat{
		{Label: "Requests today", Value: strconv.Itoa(u.RequestsToday)},
		{Label: "Requests, 30 days", Value: strconv.Itoa(u.Requests30d)},
		{Label: "Error rate", Value: strconv.FormatFloat(rate, 'f', 1, 64) + "%", Hint: "4xx and 5xx, 30 days", Warn: rate >= 5},
		{Label: "Throttled", Value: strconv.Itoa(u.Throttled30d), Hint: "429, 30 days", Warn: u.Throttled30d > 0},
		{Label: "Latency p50", Value: latencyText(u.P50)},
		{Label: "Latency p99", Value: latencyText(u.P99)},
	}
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	l := s.layout(r, "Overview", "overview")
	if !l.Org.IsAdmin || s.monitoring == nil {
		s.render(w, r, http.StatusOK, views.OverviewPage(l, views.Overview{
			OrgName: org.Name, IsAdmin: l.Org.IsAdmin, APIKeysURL: l.Org.URL("api-keys"),
		}))
		return
	}
	days := 30
	switch r.URL.Query().Get("days") {
	case "7":
		days = 7
	case "90":
		days = 90
	}
	ctx := r.Context()
	sum, err := s.monitoring.Summary(ctx, org.PublicID, "")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	daily, err := s.monitoring.Daily(ctx, org.PublicID, "", days)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	hyg, err := s.monitoring.Hygiene(ctx, org.PublicID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	anyKeys, _, err := s.apiKeys.FindAPIKeys(ctx, keygate.APIKeyFilter{OrganizationID: org.PublicID, Limit: 1})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	o := views.OverviewStats{
		NoKeys:  len(anyKeys) == 0,
		OrgName: org.Name, Stats: summaryStats(sum), LogsURL: l.Org.URL("logs"), KeysURL: l.Org.URL("api-keys"),
		Chart:     views.NewChart("requests", fmt.Sprintf("Requests per day, last %d days, by status", days), chartPoints(daily)),
		Hygiene:   s.hygieneGroups(*l.Org, hyg),
		NoTraffic: sum.Requests30d == 0,
	}
	for _, n := range []int{7, 30, 90} {
		o.Ranges = append(o.Ranges, views.RangeLink{Label: strconv.Itoa(n) + " days", URL: l.Org.URL("") + "?days=" + strconv.Itoa(n), Current: n == days})
	}
	s.render(w, r, http.StatusOK, views.OverviewStatsPage(l, o))
}

// hygieneGroups turns the report into groups with one-click actions.
func (s *Server) hygieneGroups(org views.Org, h *keygate.HygieneReport) []views.HygieneGroup {
	now := s.now()
	item := func(k *keygate.APIKey, detail, action string) views.HygieneItem {
		row := s.keyRow(org, k, now)
		it := views.HygieneItem{Name: k.Name, Hint: k.Hint, URL: row.URL, Detail: detail, ActionLabel: action}
		switch action {
		case "Roll key":
			it.ActionURL = row.RollURL
		case "Revoke":
			it.ActionURL, it.Danger, it.DataRevoke, it.RevokeQuestion = row.RevokeURL, true, row.RevokeURL, row.RevokeQuestion
		default:
			it.ActionURL = row.URL
		}
		return it
	}
	var expiring, unused, exposed, admin, left []views.HygieneItem
	for _, k := range h.ExpiringSoon {
		text, _ := views.ExpiryText(k.ExpiresAt, now)
		expiring = append(expiring, item(k, text, "Roll key"))
	}
	for _, k := range h.Unused {
		detail := "Never used"
		if k.LastUsedAt != nil {
			detail = "Last used " + views.Time{At: *k.LastUsedAt, Now: now}.Relative()
		}
		unused = append(unused, item(k, detail, "Revoke"))
	}
	for _, k := range h.Exposed {
		exposed = append(exposed, item(k, "Sent over plain HTTP", "Roll key"))
	}
	for _, k := range h.AdminScope {
		admin = append(admin, item(k, "Admin scope", "Review"))
	}
	for _, k := range h.CreatorLeft {
		left = append(left, item(k, "Created by "+nameOr(k.CreatedByName, "a former member"), "Review"))
	}
	return []views.HygieneGroup{
		{ID: "expiring", Title: "Expiring within 7 days", Advice: "Roll these keys and deploy the new ones before they stop working.", Items: expiring},
		{ID: "unused", Title: "Unused keys", Advice: "Never used, or not used for 30 days. Revoke what nothing needs.", Items: unused},
		{ID: "exposed", Title: "Exposed over plain HTTP", Advice: "These keys travelled unencrypted. Roll them.", Items: exposed},
		{ID: "admin", Title: "Keys with the Admin scope", Advice: "Admin keys can manage keys and members. Check each still needs it.", Items: admin},
		{ID: "creator-left", Title: "Created by someone who left", Advice: "The people who made these keys are no longer members. Check who uses them.", Items: left},
	}
}

// logFilter reads the API logs' filters from the query.
func logFilter(orgID string, q url.Values) (keygate.RequestLogFilter, string) {
	f := keygate.RequestLogFilter{OrganizationID: orgID, KeyID: q.Get("key"), Class: q.Get("class"), Route: q.Get("route"), Limit: 50}
	switch f.Class {
	case "", keygate.Class2xx, keygate.Class4xx, keygate.Class5xx, keygate.Class429:
	default:
		f.Class = ""
	}
	var msg string
	if v := q.Get("from"); v != "" {
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			f.From = &t
		} else {
			msg = "Enter dates like 2026-01-31."
		}
	}
	if v := q.Get("to"); v != "" {
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			end := t.AddDate(0, 0, 1) // the whole "to" day
			f.To = &end
		} else {
			msg = "Enter dates like 2026-01-31."
		}
	}
	if v := q.Get("before"); v != "" {
		f.Before, _ = strconv.ParseInt(v, 10, 64)
	}
	return f, msg
}

func (s *Server) logRow(org views.Org, e *keygate.RequestLogEntry, now time.Time) views.LogRow {
	row := views.LogRow{
		At: views.Time{At: e.At, Now: now}, Method: e.Method, Route: e.Route, Status: e.Status,
		Class: statusClass(e.Status), Latency: formatLatency(e.Latency), IP: e.IP,
	}
	if e.KeyID != "" {
		row.Key, row.KeyURL = e.KeyName+" ("+e.KeyHint+")", org.URL("api-keys/"+e.KeyID)
	}
	return row
}

func statusClass(status int) string {
	switch {
	case status == 429:
		return "429"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	}
	return "2xx"
}

func formatLatency(d time.Duration) string {
	if d < time.Millisecond {
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "API logs", "logs")
	q := r.URL.Query()
	f, msg := logFilter(l.Org.ID, q)
	entries, more, err := s.monitoring.FindRequestLog(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	routes, err := s.monitoring.RequestLogRoutes(r.Context(), l.Org.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	keys, _, err := s.apiKeys.FindAPIKeys(r.Context(), keygate.APIKeyFilter{OrganizationID: l.Org.ID, Limit: 100})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	now := s.now()
	p := views.LogsPage{Key: f.KeyID, Class: f.Class, Route: f.Route, From: q.Get("from"), To: q.Get("to"),
		URL: l.Org.URL("logs"), Error: msg}
	for _, k := range keys {
		p.Keys = append(p.Keys, views.Option{Value: k.PublicID, Label: k.Name + " (" + k.Hint + ")"})
	}
	for _, c := range keygate.StatusClasses {
		p.Classes = append(p.Classes, views.Option{Value: c, Label: c})
	}
	for _, rt := range routes {
		p.Routes = append(p.Routes, views.Option{Value: rt, Label: rt})
	}
	for _, e := range entries {
		p.Rows = append(p.Rows, s.logRow(*l.Org, e, now))
	}
	keep := url.Values{}
	for _, k := range []string{"key", "class", "route", "from", "to"} {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	p.CSVURL = l.Org.URL("logs.csv") + "?" + keep.Encode()
	if f.Before > 0 {
		p.NewestURL = l.Org.URL("logs") + "?" + keep.Encode()
	}
	if more && len(entries) > 0 {
		older := url.Values{}
		for k, v := range keep {
			older[k] = v
		}
		older.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		p.OlderURL = l.Org.URL("logs") + "?" + older.Encode()
	}
	s.render(w, r, http.StatusOK, views.LogsListPage(l, p))
}

// handleLogsCSV exports the filtered logs as CSV, streaming page by page.
func (s *Server) handleLogsCSV(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	f, _ := logFilter(org.PublicID, r.URL.Query())
	f.Limit, f.Before = 500, 0
	entries, more, err := s.monitoring.FindRequestLog(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="keygate-api-logs.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"time", "key_id", "key_name", "key_hint", "method", "route", "status", "latency_ms", "ip", "user_agent"})
	for {
		for _, e := range entries {
			cw.Write([]string{
				e.At.UTC().Format(time.RFC3339Nano), e.KeyID, csvSafe(e.KeyName), e.KeyHint, e.Method, e.Route,
				strconv.Itoa(e.Status), strconv.FormatFloat(float64(e.Latency)/float64(time.Millisecond), 'f', 3, 64),
				e.IP, csvSafe(e.UserAgent),
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

// keyUsage builds the usage section of a key's page.
func (s *Server) keyUsage(r *http.Request, org views.Org, k *keygate.APIKey) (*views.KeyUsage, error) {
	if s.monitoring == nil {
		return nil, nil
	}
	ctx := r.Context()
	sum, err := s.monitoring.Summary(ctx, org.ID, k.PublicID)
	if err != nil {
		return nil, err
	}
	daily, err := s.monitoring.Daily(ctx, org.ID, k.PublicID, 30)
	if err != nil {
		return nil, err
	}
	routes, ips, err := s.monitoring.TopRoutesAndIPs(ctx, org.ID, k.PublicID, 5)
	if err != nil {
		return nil, err
	}
	recent, _, err := s.monitoring.FindRequestLog(ctx, keygate.RequestLogFilter{OrganizationID: org.ID, KeyID: k.PublicID, Limit: 20})
	if err != nil {
		return nil, err
	}
	u := &views.KeyUsage{Stats: summaryStats(sum), LogsURL: org.URL("logs") + "?key=" + k.PublicID,
		Chart: views.NewChart("key-requests", "Requests per day, last 30 days, by status", chartPoints(daily))}
	for _, c := range routes {
		u.TopRoutes = append(u.TopRoutes, views.CountRow{Label: c.Label, N: c.N})
	}
	for _, c := range ips {
		u.TopIPs = append(u.TopIPs, views.CountRow{Label: c.Label, N: c.N})
	}
	now := s.now()
	for _, e := range recent {
		u.Recent = append(u.Recent, s.logRow(org, e, now))
	}
	return u, nil
}
