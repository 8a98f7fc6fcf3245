package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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

// summaryStats lays out a usage summary as overview figures. Without
// traffic there is no error rate: "—", as for the latencies.
func summaryStats(u *keygate.UsageSummary) []views.Stat {
	rate, warn := "—", false
	if u.HasTraffic() {
		pct := u.ErrorRate() * 100
		rate, warn = strconv.FormatFloat(pct, 'f', 1, 64)+"%", pct >= 5
	}
	stats := []views.Stat{
		{Label: "Requests today", Value: strconv.Itoa(u.RequestsToday)},
		{Label: "Requests, 30 days", Value: strconv.Itoa(u.Requests30d)},
		{Label: "Error rate", Value: rate, Hint: "4xx and 5xx, 30 days", Warn: warn},
		{Label: "Throttled", Value: strconv.Itoa(u.Throttled30d), Hint: "429, 30 days", Warn: u.Throttled30d > 0},
	}
	if u.Refused30d > 0 {
		// Shown when there are some: a key that no longer works is tried.
		stats = append(stats, views.Stat{Label: "Refused", Value: strconv.Itoa(u.Refused30d),
			Hint: "Revoked, expired or stopped keys, 30 days", Warn: true})
	}
	return append(stats, views.Stat{Label: "Latency p50", Value: latencyText(u.P50)}, views.Stat{Label: "Latency p99", Value: latencyText(u.P99)})
}

// handleOverview shows the organization's figures and chart to every
// member, and to Admins also key hygiene and links to the keys and logs.
func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	l := s.layout(r, "Overview", "overview")
	if s.monitoring == nil {
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
	service := serviceFilter(r.URL.Query().Get("service"))
	var sum *keygate.UsageSummary
	var daily []keygate.DailyUsage
	var err error
	if service == nil {
		sum, err = s.monitoring.Summary(ctx, org.PublicID, "")
		if err == nil {
			daily, err = s.monitoring.Daily(ctx, org.PublicID, "", days)
		}
	} else {
		sum, err = s.monitoring.ServiceSummary(ctx, org.PublicID, *service)
		if err == nil {
			daily, err = s.monitoring.ServiceDaily(ctx, org.PublicID, *service, days)
		}
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	title := fmt.Sprintf("Requests per day, last %d days, by status", days)
	if service != nil {
		title = fmt.Sprintf("Requests per day for %s, last %d days, by status", serviceLabel(*service), days)
	}
	o := views.OverviewStats{
		OrgName: org.Name, IsAdmin: l.Org.IsAdmin, Stats: summaryStats(sum),
		Chart:     views.NewChart("requests", title, chartPoints(daily)),
		NoTraffic: !sum.HasTraffic(), Days: days, URL: l.Org.URL(""),
	}
	if service != nil {
		// The counters by service hold no latencies: no tile says 0 ms.
		o.Stats = slices.DeleteFunc(o.Stats, func(st views.Stat) bool { return strings.HasPrefix(st.Label, "Latency") })
		o.Service = serviceValue(*service)
	}
	if o.Services, err = s.serviceOptions(ctx, org.PublicID, service); err != nil {
		s.Error(w, r, err)
		return
	}
	if o.IsAdmin {
		if err := s.overviewForAdmins(ctx, *l.Org, &o); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	for _, n := range []int{7, 30, 90} {
		u := l.Org.URL("") + "?days=" + strconv.Itoa(n)
		if o.Service != "" {
			u += "&service=" + url.QueryEscape(o.Service)
		}
		o.Ranges = append(o.Ranges, views.RangeLink{Label: strconv.Itoa(n) + " days", URL: u, Current: n == days})
	}
	s.render(w, r, http.StatusOK, views.OverviewStatsPage(l, o))
}

// overviewForAdmins adds what only Admins see to the overview: key
// hygiene and the links to the keys and the logs.
func (s *Server) overviewForAdmins(ctx context.Context, org views.Org, o *views.OverviewStats) error {
	hyg, err := s.monitoring.Hygiene(ctx, org.ID)
	if err != nil {
		return err
	}
	// "Nothing has called the API yet" holds only without a key of any
	// state: a revoked key may have been used.
	o.NoKeys, o.NoActiveKeys = hyg.Active == 0, hyg.Active == 0
	for _, state := range []keygate.KeyState{keygate.KeyExpired, keygate.KeyRevoked} {
		if !o.NoKeys {
			break
		}
		keys, _, err := s.apiKeys.FindAPIKeys(ctx, keygate.APIKeyFilter{OrgPublicID: org.ID, State: state, Limit: 1})
		if err != nil {
			return err
		}
		o.NoKeys = len(keys) == 0
	}
	o.LogsURL, o.KeysURL = org.URL("logs"), org.URL("api-keys")
	o.Hygiene = s.hygieneGroups(org, hyg)
	if g, err := s.keyPolicyGroup(ctx, org); err != nil {
		return err
	} else if g != nil {
		o.Hygiene = append(o.Hygiene, *g)
	}
	return nil
}

// hygieneGroups turns the report into groups with one-click actions. A
// key already rolled is never offered a roll: its state names the key
// that replaces it.
func (s *Server) hygieneGroups(org views.Org, h *keygate.HygieneReport) []views.HygieneGroup {
	now := s.now()
	item := func(k *keygate.APIKey, detail, action string) views.HygieneItem {
		row := s.keyRow(org, k, now)
		it := views.HygieneItem{Name: k.Name, Hint: k.Hint, URL: row.URL, Detail: detail, ActionLabel: action}
		if k.RolledTo != "" {
			next := views.Link{Label: k.RolledTo, URL: org.URL("api-keys/" + k.RolledTo)}
			if ref, ok := h.Successors[k.RolledTo]; ok {
				next.Label = ref.Name + " (" + ref.Hint + ")"
			}
			it.ReplacedBy = &next
		}
		switch action {
		case "Roll key":
			it.ActionURL = row.RollURL
		case "Revoke":
			it.ActionURL, it.Danger, it.DataRevoke, it.RevokeQuestion = row.RevokeURL, true, row.RevokeURL, row.RevokeQuestion
		case "":
		default:
			it.ActionURL = row.URL
		}
		return it
	}
	// rollOr is the action for a key that should be rolled: revoking for
	// one already rolled, whose replacement exists, or nothing.
	rollOr := func(k *keygate.APIKey, rolled string) string {
		if k.RolledTo != "" {
			return rolled
		}
		return "Roll key"
	}
	var expiring, unused, exposed, admin, left []views.HygieneItem
	for _, k := range h.ExpiringSoon {
		text, _ := views.ExpiryText(k.ExpiresAt, now)
		expiring = append(expiring, item(k, text, rollOr(k, "")))
	}
	for _, k := range h.Unused {
		detail := "Never used"
		if k.LastUsedAt != nil {
			detail = "Last used " + views.Time{At: *k.LastUsedAt, Now: now}.Relative()
		}
		unused = append(unused, item(k, detail, "Revoke"))
	}
	for _, k := range h.Exposed {
		exposed = append(exposed, item(k, "Sent over plain HTTP", rollOr(k, "Revoke")))
	}
	for _, k := range h.AdminScope {
		admin = append(admin, item(k, "Admin scope", "Review"))
	}
	for _, k := range h.CreatorLeft {
		left = append(left, item(k, "Created by "+nameOr(k.CreatedByLabel(), "a former member"), "Review"))
	}
	return []views.HygieneGroup{
		{ID: "expiring", Title: "Expiring within 7 days", Advice: "Roll these keys and deploy the new ones before they stop working.", Items: expiring},
		{ID: "unused", Title: "Unused keys", Advice: "At least 7 days old, and never used or not used for 30 days. Revoke what nothing needs.", Items: unused},
		{ID: "exposed", Title: "Exposed over plain HTTP", Advice: "These keys travelled unencrypted. Roll them.", Items: exposed},
		{ID: "admin", Title: "Keys with the Admin scope", Advice: "Admin keys can manage keys and members. Check each still needs it.", Items: admin},
		{ID: "creator-left", Title: "Created by someone who left", Advice: "The people who made these keys are no longer members. Check who uses them.", Items: left},
	}
}

// keyUsage builds the usage section of a key's page, with its last
// attempt and, for a key refused but still tried, the alert.
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
	recent, _, err := s.monitoring.FindRequestLog(ctx, keygate.RequestLogFilter{OrgPublicID: org.ID, KeyID: k.PublicID, Limit: 20})
	if err != nil {
		return nil, err
	}
	activity, err := s.monitoring.KeyActivity(ctx, org.ID, []string{k.PublicID})
	if err != nil {
		return nil, err
	}
	services, err := s.monitoring.Services(ctx, org.ID, k.PublicID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &views.KeyUsage{Stats: summaryStats(sum), LogsURL: org.URL("logs") + "?key=" + k.PublicID,
		Chart:    views.NewChart("key-requests", "Requests per day, last 30 days, by status", chartPoints(daily)),
		Services: serviceCounts(services)}
	if a := activity[k.PublicID]; a != nil {
		u.LastAttempt = lastAttempt(a, now)
		u.Alert = refusedAlert(k, a, now)
	}
	for _, c := range routes {
		u.TopRoutes = append(u.TopRoutes, views.CountRow{Label: c.Label, N: c.N})
	}
	for _, c := range ips {
		u.TopIPs = append(u.TopIPs, views.CountRow{Label: c.Label, N: c.N})
	}
	for _, e := range recent {
		u.Recent = append(u.Recent, s.logRow(org, e, now))
	}
	return u, nil
}

// lastAttempt is a key's last request of any outcome.
func lastAttempt(a *keygate.KeyActivity, now time.Time) views.LastAttempt {
	if a.LastAttemptAt == nil {
		return views.LastAttempt{}
	}
	return views.LastAttempt{
		At: views.Time{At: *a.LastAttemptAt, Now: now}, IP: a.LastAttemptIP, Status: a.LastAttemptStatus, Class: keygate.StatusClassOf(a.LastAttemptStatus),
		Refused: a.LastRefusedAt != nil && !a.LastRefusedAt.Before(*a.LastAttemptAt),
	}
}

// refusedAlert says that a key which may no longer be used was tried in
// the last 24 hours, or is nil.
func refusedAlert(k *keygate.APIKey, a *keygate.KeyActivity, now time.Time) *views.RefusedAlert {
	if a.Refused24h == 0 || a.LastRefusedAt == nil {
		return nil
	}
	lead := "This key stopped working when its creator was disabled,"
	switch k.State(now) {
	case keygate.KeyRevoked:
		lead = "This key was revoked"
	case keygate.KeyExpired:
		lead = "This key expired"
	}
	return &views.RefusedAlert{Lead: lead, Refused: a.Refused24h, IP: a.LastRefusedIP, Last: views.Time{At: *a.LastRefusedAt, Now: now}}
}

// addLastAttempts gives the API Keys list's rows their last attempt, where
// it is later than their last use.
func (s *Server) addLastAttempts(ctx context.Context, org views.Org, rows []views.APIKeyRow, keys []*keygate.APIKey) error {
	if s.monitoring == nil || len(keys) == 0 {
		return nil
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.PublicID
	}
	activity, err := s.monitoring.KeyActivity(ctx, org.ID, ids)
	if err != nil {
		return err
	}
	now := s.now()
	for i, k := range keys {
		a := activity[k.PublicID]
		if a == nil || a.LastAttemptAt == nil || (k.LastUsedAt != nil && !a.LastAttemptAt.After(*k.LastUsedAt)) {
			continue
		}
		last := lastAttempt(a, now)
		rows[i].LastAttempt = &last
	}
	return nil
}
