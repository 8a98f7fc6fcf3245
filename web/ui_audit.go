package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

func (s *Server) handleAuditLog(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "Audit log", "settings")
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	const per = 50
	events, total, err := s.audit.FindAuditEvents(r.Context(), keygate.AuditFilter{
		OrgPublicID: l.Org.ID, Action: q.Get("action"), ActorID: q.Get("actor"), Offset: (page - 1) * per, Limit: per,
	})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	members, err := s.orgs.FindMembers(r.Context(), l.Org.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	now := s.now()
	p := views.AuditPage{Action: q.Get("action"), Actor: q.Get("actor"), URL: l.Org.URL("audit-log")}
	for _, a := range keygate.AuditActions {
		p.Actions = append(p.Actions, views.Option{Value: a, Label: a})
	}
	for _, m := range members {
		p.Actors = append(p.Actors, views.Option{Value: m.User.PublicID, Label: m.User.Name + " (" + m.User.Email + ")"})
	}
	for _, e := range events {
		target := e.TargetName
		if e.TargetID != "" && e.TargetType == "api_key" {
			target = e.TargetName + " (" + e.TargetID + ")"
		}
		p.Rows = append(p.Rows, views.AuditRow{
			At: views.Time{At: e.CreatedAt, Now: now}, Actor: nameOr(e.ActorName, "—"), Action: e.Action, Summary: auditSummary(e),
			Target: target, IP: e.IP, Agent: describeUserAgent(e.UserAgent),
		})
	}
	p.Pagination = paginate(p.URL, q, page, total, per)
	p.Pagination.Noun = "events"
	s.render(w, r, http.StatusOK, views.AuditLogPage(l, p))
}

// auditSummary is an event's line in words, such as "created by Ada" or,
// for a change made through the API, "created by key “CI” (key_…)".
func auditSummary(e *keygate.AuditEvent) string {
	verb, ok := auditVerbs[e.Action]
	if !ok || e.ActorName == "" {
		return ""
	}
	by := e.ActorName
	if e.ActorUserID == 0 {
		if key, ok := strings.CutPrefix(by, "API key "); ok {
			by = "key " + key
		}
	}
	return verb + " by " + by
}
