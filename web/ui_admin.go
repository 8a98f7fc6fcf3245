package web

import (
	"net/http"
	"net/url"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// requireSuperuser lets superusers into the instance administration.
// Everyone else, logged in or not, gets the 404 of an unknown page, so the
// area's existence is not advertised. The service checks again, against
// the database.
func (s *Server) requireSuperuser(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u := pageFrom(r).user; s.admin == nil || u == nil || !u.IsSuperuser {
			s.notFound(w, r)
			return
		}
		next(w, r)
	}
}

// adminError answers an admin service error. EFORBIDDEN (not a superuser,
// by the database's latest word) is the same 404 as requireSuperuser's.
func (s *Server) adminError(w http.ResponseWriter, r *http.Request, err error) {
	if keygate.ErrorCode(err) == keygate.EFORBIDDEN {
		s.notFound(w, r)
		return
	}
	s.Error(w, r, err)
}

// planOptions are the plans, for selects.
func planOptions() []views.Option {
	out := make([]views.Option, len(keygate.Plans))
	for i, p := range keygate.Plans {
		out[i] = views.Option{Value: string(p), Label: p.Label()}
	}
	return out
}

func (s *Server) handleAdminOverview(w http.ResponseWriter, r *http.Request) {
	o, err := s.admin.Overview(r.Context())
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	vm := views.AdminOverview{
		Organizations: o.Organizations, Free: o.ByPlan[keygate.PlanFree], Professional: o.ByPlan[keygate.PlanProfessional],
		Enterprise: o.ByPlan[keygate.PlanEnterprise], Users: o.Users, DisabledUsers: o.DisabledUsers,
		Superusers: o.Superusers, ActiveKeys: o.ActiveKeys,
	}
	if s.orgSSO != nil {
		if vm.PendingDomains, err = s.pendingDomains(r); err != nil {
			s.adminError(w, r, err)
			return
		}
		vm.ShowDomains = true
	}
	s.render(w, r, http.StatusOK, views.AdminOverviewPage(s.layout(r, "Admin", ""), vm))
}

func (s *Server) handleAdminOrganizations(w http.ResponseWriter, r *http.Request) {
	orgs, err := s.admin.ListOrganizations(r.Context())
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	now := s.now()
	p := views.AdminOrgs{Plans: planOptions()}
	for _, a := range orgs {
		o := a.Organization
		p.Orgs = append(p.Orgs, views.AdminOrgRow{
			ID: o.PublicID, Name: o.Name, Members: a.Members, ActiveKeys: a.ActiveKeys,
			Plan: string(o.Plan), PlanLabel: o.Plan.Label(), Created: views.Time{At: o.CreatedAt, Now: now},
			PlanAction: "/admin/organizations/" + o.PublicID + "/plan",
		})
	}
	s.render(w, r, http.StatusOK, views.AdminOrganizationsPage(s.layout(r, "Organizations · Admin", ""), p))
}

// handleAdminSetPlan sets a plan from the admin list or from the
// organization's settings page, and returns to the page it came from.
func (s *Server) handleAdminSetPlan(w http.ResponseWriter, r *http.Request) {
	org, err := s.admin.SetPlan(r.Context(), r.PathValue("org"), keygate.Plan(r.PostFormValue("plan")))
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "“"+org.Name+"” is now on the "+org.Plan.Label()+" plan.")
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = "/admin/organizations"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.admin.ListUsers(r.Context())
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	twoFactor, err := s.adminTwoFactorUsers(r)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	me, now, q := pageFrom(r).user, s.now(), r.URL.Query()
	var p views.AdminUsers
	for _, a := range users {
		u := a.User
		row := views.AdminUserRow{
			ID: u.PublicID, Name: u.Name, Email: u.Email, IsSuperuser: u.IsSuperuser, Disabled: u.DisabledAt != nil,
			IsYou: u.ID == me.ID, Created: views.Time{At: u.CreatedAt, Now: now},
		}
		action := "disable"
		if row.Disabled {
			action = "enable"
		}
		row.ConfirmURL = "/admin/users?" + url.Values{"confirm": {action}, "user": {u.PublicID}}.Encode()
		for _, o := range a.Organizations {
			row.Orgs = append(row.Orgs, o.Name+" ("+o.Role.Label()+")")
		}
		if twoFactor[u.ID] {
			row.ResetTwoFactorURL = resetTwoFactorConfirmURL(u)
			if q.Get("user") == u.PublicID && q.Get("confirm") == "reset-2fa" {
				p.Confirm = resetTwoFactorConfirm(u)
			}
		}
		p.Users = append(p.Users, row)
		if q.Get("user") == u.PublicID && q.Get("confirm") == action && !row.IsYou {
			p.Confirm = adminConfirm(u, action)
		}
	}
	s.render(w, r, http.StatusOK, views.AdminUsersPage(s.layout(r, "Users · Admin", ""), p))
}

// adminConfirm asks before a user is disabled or enabled, saying what
// follows.
func adminConfirm(u *keygate.User, action string) *views.AdminConfirm {
	c := &views.AdminConfirm{Action: "/admin/users/" + u.PublicID + "/" + action, CancelURL: "/admin/users"}
	who := u.Name + " (" + u.Email + ")"
	if action == "disable" {
		c.Title, c.Button, c.Danger = "Disable user", "Disable user", true
		c.Question = "Disable " + who + "? They are logged out everywhere at once and cannot log in until enabled again. " +
			"API keys they created stop working, unless their organization chose to keep them."
		return c
	}
	c.Title, c.Button = "Enable user", "Enable user"
	c.Question = "Enable " + who + "? They can log in again, and their API keys work again."
	return c
}

func (s *Server) handleAdminDisableUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.admin.DisableUser(r.Context(), r.PathValue("user"))
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	s.addFlash(w, r, "success", u.Name+" is disabled. Their sessions have ended.")
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

func (s *Server) handleAdminEnableUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.admin.EnableUser(r.Context(), r.PathValue("user"))
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	s.addFlash(w, r, "success", u.Name+" is enabled and can log in again.")
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

// renderAdminSettings renders the settings form; the flags' values name
// the "use the flag" choices.
func (s *Server) renderAdminSettings(w http.ResponseWriter, r *http.Request, status int, f views.Form) {
	set, err := s.admin.Settings(r.Context())
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	if f.Values == nil {
		f.Values = map[string]string{"signup_mode": set.SignupMode, "default_plan": string(set.DefaultPlan)}
	}
	p := views.AdminSettings{
		Form: f,
		SignupModes: []views.Option{
			{Value: "", Label: "Use the --signup flag (" + set.FlagSignupMode + ")"},
			{Value: keygate.SignupOpen, Label: "Open"},
			{Value: keygate.SignupInvite, Label: "Invite only"},
			{Value: keygate.SignupClosed, Label: "Closed"},
		},
		Plans: append([]views.Option{{Value: "", Label: "Use the --default-plan flag (" + set.FlagDefaultPlan.Label() + ")"}}, planOptions()...),
	}
	s.render(w, r, status, views.AdminSettingsPage(s.layout(r, "Settings · Admin", ""), p))
}

func (s *Server) handleAdminSettings(w http.ResponseWriter, r *http.Request) {
	s.renderAdminSettings(w, r, http.StatusOK, views.Form{})
}

func (s *Server) handleAdminSaveSettings(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "signup_mode", "default_plan")
	_, err := s.admin.SetSettings(r.Context(), keygate.InstanceSettings{
		SignupMode: f.Value("signup_mode"), DefaultPlan: keygate.Plan(f.Value("default_plan")),
	})
	if keygate.ErrorCode(err) == keygate.EINVALID {
		s.renderAdminSettings(w, r, http.StatusBadRequest, formWithError(f, err))
		return
	} else if err != nil {
		s.adminError(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Settings saved.")
	http.Redirect(w, r, "/admin/settings", http.StatusSeeOther)
}
