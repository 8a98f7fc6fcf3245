package web

import (
	"bytes"
	"net/http"

	"github.com/a-h/templ"
	"github.com/gorilla/sessions"
	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// render writes a component as the response. It renders into a buffer first,
// so a failure becomes a clean 500 page rather than half a page. Dashboard
// pages may show private data: nothing caches them.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		if status == http.StatusInternalServerError {
			http.Error(w, "Internal error", status)
			return
		}
		s.Error(w, r, err)
		return
	}
	if pc := pageFrom(r); pc.dirty && pc.session != nil {
		if err := pc.session.Save(r, w); err != nil {
			s.logger.Error("save session", "error", err.Error())
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Page context: what the dashboard layout needs for the request.
type pageContext struct {
	user    *keygate.User
	session *sessions.Session
	org     *keygate.Organization
	orgs    []*keygate.Organization
	// dirty says the session changed (flashes taken) and must be saved.
	dirty bool
}

type pageContextKey struct{}

func pageFrom(r *http.Request) *pageContext {
	pc, _ := r.Context().Value(pageContextKey{}).(*pageContext)
	if pc == nil {
		return &pageContext{}
	}
	return pc
}

// layout builds the layout view model for the request.
func (s *Server) layout(r *http.Request, title, active string) views.Layout {
	pc := pageFrom(r)
	if r.Pattern == "GET /orgs/{org}/audit-log" {
		// Reached from Settings too, but the sidebar has its own entry.
		active = "audit-log"
	}
	l := views.Layout{Title: title, Active: active, RequestID: keygate.RequestInfoFromContext(r.Context()).RequestID}
	if pc.user != nil {
		l.User = &views.User{Name: pc.user.Name, Email: pc.user.Email, IsSuperuser: pc.user.IsSuperuser}
		if pc.orgs == nil {
			pc.orgs, _ = s.orgs.FindOrganizations(r.Context())
		}
		for _, o := range pc.orgs {
			l.Orgs = append(l.Orgs, orgView(o))
		}
		l.Bell = s.bell(r)
	}
	if pc.org != nil {
		v := orgView(pc.org)
		l.Org = &v
	}
	if pc.user == nil {
		l.SSO = s.ssoButtons(r)
		l.OrgSSOURL = s.orgSSOLoginURL(r)
	}
	l.Flashes = s.takeFlashes(r)
	return l
}

func orgView(o *keygate.Organization) views.Org {
	return views.Org{
		ID: o.PublicID, Name: o.Name, Role: o.Role.Label(),
		IsAdmin: o.Role.AtLeast(keygate.RoleAdmin), IsOwner: o.Role == keygate.RoleOwner, Plan: string(o.Plan),
	}
}
