package web

import (
	"net/http"
	"time"
)

// dailyRequestsJSON is one day of analytics' requests_per_day. The names
// "2xx", "4xx", "5xx" and "429" are not identifiers in typed clients: they
// are deprecated aliases of the requests_* fields, kept for one release.
type dailyRequestsJSON struct {
	Day         string `json:"day"`
	Requests2xx int    `json:"requests_2xx"`
	Requests4xx int    `json:"requests_4xx"`
	Requests5xx int    `json:"requests_5xx"`
	Requests429 int    `json:"requests_429"`
	Total       int    `json:"total"`
	Old2xx      int    `json:"2xx"`
	Old4xx      int    `json:"4xx"`
	Old5xx      int    `json:"5xx"`
	Old429      int    `json:"429"`
}

func (s *Server) apiAnalytics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fe := fieldErrors{}
	to := s.now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	from := to.AddDate(0, 0, -30)
	if t := queryTime(q.Get("from"), "from", fe); t != nil {
		from = *t
	}
	if t := queryTime(q.Get("to"), "to", fe); t != nil {
		to = *t
		if isDate(q.Get("to")) {
			to = to.AddDate(0, 0, 1) // a date as the end takes in that whole day
		}
	}
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	a, err := s.analytics.Analytics(r.Context(), from, to)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	days := make([]dailyRequestsJSON, 0, len(a.RequestsPerDay))
	for _, d := range a.RequestsPerDay {
		days = append(days, dailyRequestsJSON{Day: d.Day, Requests2xx: d.Status2xx, Requests4xx: d.Status4xx, Requests5xx: d.Status5xx,
			Requests429: d.Status429, Total: d.Total, Old2xx: d.Status2xx, Old4xx: d.Status4xx, Old5xx: d.Status5xx, Old429: d.Status429})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"from": a.From, "to": a.To, "bots_by_state": a.BotsByState, "conversations": a.Conversations,
		"transcript_minutes": a.TranscriptMinutes, "requests_per_day": days,
	})
}
