package web

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/views"
)

// Mailer sends email (internal/mailer); nil when SMTP is not configured.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// roleOptions are the roles the acting role may grant.
func roleOptions(actor keygate.Role) []views.Option {
	out := []views.Option{{Value: "member", Label: "Member"}, {Value: "admin", Label: "Admin"}}
	if actor == keygate.RoleOwner {
		out = append(out, views.Option{Value: "owner", Label: "Owner"})
	}
	return out
}

// membersPerPage is the Members table's page size.
const membersPerPage = 50

// memberSortColumns are the Members table's sortable columns.
var memberSortColumns = []sortColumn{
	{key: "name", label: "Name", firstAsc: true, asc: "by name, A to Z", desc: "by name, Z to A"},
	{key: "role", label: "Role", firstAsc: true, asc: "Owners first", desc: "Members first"},
	{key: "joined", label: "Joined", asc: "earliest first", desc: "latest first"},
}

// roleRank orders roles from Owner to Member.
var roleRank = map[keygate.Role]int{keygate.RoleOwner: 0, keygate.RoleAdmin: 1, keygate.RoleMember: 2}

// sortMembers orders members by the column by; ties go by name, A to Z,
// whichever the direction.
func sortMembers(members []*keygate.MemberDetail, by string, asc bool) {
	byName := func(a, b *keygate.MemberDetail) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.User.Name), strings.ToLower(b.User.Name)), cmp.Compare(a.User.ID, b.User.ID))
	}
	slices.SortStableFunc(members, func(a, b *keygate.MemberDetail) int {
		var c int
		switch by {
		case "role":
			c = cmp.Compare(roleRank[a.Role], roleRank[b.Role])
		case "joined":
			c = a.JoinedAt.Compare(b.JoinedAt)
		default:
			c = byName(a, b)
		}
		if !asc {
			c = -c
		}
		return cmp.Or(c, byName(a, b))
	})
}

func (s *Server) membersPage(r *http.Request, org views.Org, invite views.Form) (views.MembersPage, error) {
	ctx := r.Context()
	actor := pageFrom(r).org.Role
	members, err := s.memberships.FindMemberDetails(ctx, org.ID)
	if err != nil {
		return views.MembersPage{}, err
	}
	invs, err := s.memberships.FindInvitations(ctx, org.ID)
	if err != nil {
		return views.MembersPage{}, err
	}
	if invite.Values == nil {
		invite.Values = map[string]string{"role": "member"}
	}
	now := s.now()
	me := pageFrom(r).user
	q := r.URL.Query()
	by, asc, sorting := sortOf(org.URL("members"), q, memberSortColumns, "name")
	sortMembers(members, by, asc)
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	p := views.MembersPage{Invite: invite, InviteURL: org.URL("invitations"), Roles: roleOptions(actor), Sorting: sorting}
	p.Pagination = paginate(org.URL("members"), q, page, len(members), membersPerPage)
	p.Pagination.Noun = "members"
	first := min((page-1)*membersPerPage, len(members))
	for _, m := range members[first:min(first+membersPerPage, len(members))] {
		row := views.MemberRow{
			ID: m.User.PublicID, Name: m.User.Name, Email: m.User.Email, Role: m.Role.Label(), RoleValue: string(m.Role),
			SignIn: m.SignIn, TwoFactor: m.TwoFactor, OrgSSO: m.OrgSSO, Joined: views.Time{At: m.JoinedAt, Now: now}, IsYou: me != nil && me.ID == m.User.ID,
			CanChange: actor == keygate.RoleOwner || m.Role != keygate.RoleOwner,
			RoleURL:   org.URL("members/" + m.User.PublicID + "/role"), RemoveURL: org.URL("members/" + m.User.PublicID + "/remove"),
			Roles: roleOptions(actor),
		}
		if m.LastActive != nil {
			row.LastActive = views.Time{At: *m.LastActive, Now: now}
		}
		p.Members = append(p.Members, row)
	}
	for _, i := range invs {
		text, _ := views.ExpiryText(&i.ExpiresAt, now)
		p.Invitations = append(p.Invitations, views.InvitationRow{
			Email: i.Email, Role: i.Role.Label(), InvitedBy: nameOr(i.InvitedByName, "—"), Expires: text,
			ResendURL: org.URL("invitations/" + i.PublicID + "/resend"), RevokeURL: org.URL("invitations/" + i.PublicID + "/revoke"),
		})
	}
	return p, nil
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "Members", "members")
	p, err := s.membersPage(r, *l.Org, views.Form{})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.MembersListPage(l, p))
}

// invitationLink is the URL an invitee opens, on the configured host
// (linkBaseURL), whatever host the request named.
func (s *Server) invitationLink(token string) string {
	return s.linkBaseURL() + "/invitations/" + token
}

// mailInvitation emails the link when SMTP is configured and says whether
// it did.
func (s *Server) mailInvitation(r *http.Request, inv *keygate.Invitation, link string) bool {
	if s.mailer == nil {
		return false
	}
	inviter := "Someone"
	if u := pageFrom(r).user; u != nil {
		inviter = u.Name
	}
	body := inviter + " invited you to join " + inv.OrganizationName + " on Keygate as " + inv.Role.Label() + ".\n\n" +
		"Open this link to accept (it works once, for this email address, for 7 days):\n\n" + link + "\n"
	if err := s.mailer.Send(r.Context(), inv.Email, "You're invited to join "+inv.OrganizationName+" on Keygate", body); err != nil {
		s.logger.Error("send invitation", "invitation", inv.PublicID, "error", err.Error())
		return false
	}
	return true
}

// renderInvitationCreated answers with the Members page showing the link
// once; nothing caches it.
func (s *Server) renderInvitationCreated(w http.ResponseWriter, r *http.Request, inv *keygate.Invitation, token string) {
	l := s.layout(r, "Members", "members")
	p, err := s.membersPage(r, *l.Org, views.Form{})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	link := s.invitationLink(token)
	p.Created = &views.NewInvitation{Email: inv.Email, Link: link, Mailed: s.mailInvitation(r, inv, link)}
	s.render(w, r, http.StatusOK, views.MembersListPage(l, p))
}

func (s *Server) handleInvite(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "email", "role")
	org := pageFrom(r).org
	inv, token, err := s.memberships.Invite(r.Context(), org.PublicID, f.Value("email"), keygate.Role(f.Value("role")))
	if isFormError(err) {
		l := s.layout(r, "Members", "members")
		p, perr := s.membersPage(r, *l.Org, formWithError(f, err))
		if perr != nil {
			s.Error(w, r, perr)
			return
		}
		s.render(w, r, ErrorStatus(err), views.MembersListPage(l, p))
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderInvitationCreated(w, r, inv, token)
}

func (s *Server) handleResendInvitation(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	inv, token, err := s.memberships.ResendInvitation(r.Context(), org.PublicID, r.PathValue("inv"))
	if keygate.ErrorCode(err) == keygate.EINVALID {
		s.addFlash(w, r, "info", keygate.ErrorMessage(err))
		http.Redirect(w, r, "/orgs/"+org.PublicID+"/members", http.StatusSeeOther)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.renderInvitationCreated(w, r, inv, token)
}

func (s *Server) handleRevokeInvitation(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	if err := s.memberships.RevokeInvitation(r.Context(), org.PublicID, r.PathValue("inv")); err != nil && keygate.ErrorCode(err) != keygate.EINVALID {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Invitation revoked. Its link no longer works.")
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/members", http.StatusSeeOther)
}

// memberFlashError redirects to the Members page with a rule's message.
func (s *Server) memberResult(w http.ResponseWriter, r *http.Request, err error, ok string) {
	org := pageFrom(r).org
	switch keygate.ErrorCode(err) {
	case "":
		s.addFlash(w, r, "success", ok)
	case keygate.EINVALID, keygate.EFORBIDDEN:
		s.addFlash(w, r, "error", keygate.ErrorMessage(err))
	default:
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/members", http.StatusSeeOther)
}

func (s *Server) handleChangeRole(w http.ResponseWriter, r *http.Request) {
	err := s.memberships.ChangeRole(r.Context(), pageFrom(r).org.PublicID, r.PathValue("user"), keygate.Role(r.PostFormValue("role")))
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		s.Error(w, r, err)
		return
	}
	if me := pageFrom(r).user; err == nil && me != nil && me.PublicID == r.PathValue("user") {
		// Changing one's own role is a privilege change: new session id.
		if err := s.renewSession(w, r); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	s.memberResult(w, r, err, "Role changed.")
}

func (s *Server) handleRemoveMemberPage(w http.ResponseWriter, r *http.Request) {
	l := s.layout(r, "Remove member", "members")
	members, err := s.memberships.FindMemberDetails(r.Context(), l.Org.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var m *keygate.MemberDetail
	for _, c := range members {
		if c.User.PublicID == r.PathValue("user") {
			m = c
		}
	}
	if m == nil {
		s.Error(w, r, keygate.Errorf(keygate.ENOTFOUND, "Member not found."))
		return
	}
	// Every key "revoke" would revoke, however old: RemoveMember revokes
	// the same list.
	keys, err := s.memberships.FindMemberAPIKeys(r.Context(), l.Org.ID, m.User.PublicID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p := views.RemoveMember{Name: m.User.Name, Email: m.User.Email, Action: l.Org.URL("members/" + m.User.PublicID + "/remove"), CancelURL: l.Org.URL("members")}
	now := s.now()
	for _, k := range keys {
		p.Keys = append(p.Keys, s.keyRow(*l.Org, k, now))
	}
	s.render(w, r, http.StatusOK, views.RemoveMemberPage(l, p))
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	n, err := s.memberships.RemoveMember(r.Context(), pageFrom(r).org.PublicID, r.PathValue("user"), r.PostFormValue("keys") == "revoke")
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		s.Error(w, r, err)
		return
	}
	msg := "Member removed."
	if n == 1 {
		msg = "Member removed and 1 key revoked."
	} else if n > 1 {
		msg = "Member removed and " + itoa(n) + " keys revoked."
	}
	s.memberResult(w, r, err, msg)
}

func (s *Server) handleLeaveOrg(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	err := s.memberships.LeaveOrganization(r.Context(), org.PublicID)
	if keygate.ErrorCode(err) == keygate.EINVALID {
		s.addFlash(w, r, "error", keygate.ErrorMessage(err))
		http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings", http.StatusSeeOther)
		return
	} else if err != nil {
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "You left "+org.Name+".")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) handleTransferOwnership(w http.ResponseWriter, r *http.Request) {
	org := pageFrom(r).org
	err := s.memberships.TransferOwnership(r.Context(), org.PublicID, r.PostFormValue("user"))
	switch keygate.ErrorCode(err) {
	case "":
		// A privilege change: the session gets a new id.
		if err := s.renewSession(w, r); err != nil {
			s.Error(w, r, err)
			return
		}
		s.addFlash(w, r, "success", "Ownership transferred. You are now an Admin.")
	case keygate.EINVALID, keygate.EFORBIDDEN, keygate.ENOTFOUND:
		s.addFlash(w, r, "error", keygate.ErrorMessage(err))
	default:
		s.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/orgs/"+org.PublicID+"/settings", http.StatusSeeOther)
}

// invitationView describes an invitation for its page.
func (s *Server) invitationView(r *http.Request, token string) (views.InvitationView, *keygate.Invitation) {
	v := views.InvitationView{
		AcceptURL: "/invitations/" + token + "/accept",
		SignupURL: "/signup?invite=" + url.QueryEscape(token),
		LoginURL:  "/login?next=" + url.QueryEscape("/invitations/"+token),
	}
	inv, err := s.memberships.FindInvitationByToken(r.Context(), token)
	if err != nil {
		v.Problem = keygate.ErrorMessage(err)
		return v, nil
	}
	v.OrgName, v.Role, v.Email, v.InvitedBy = inv.OrganizationName, inv.Role.Label(), inv.Email, inv.InvitedByName
	if u := pageFrom(r).user; u != nil {
		v.LoggedInAs = u.Email
		v.WrongAccount = keygate.NormalizeEmail(u.Email) != inv.Email
	}
	return v, inv
}

func (s *Server) handleInvitation(w http.ResponseWriter, r *http.Request) {
	v, _ := s.invitationView(r, r.PathValue("token"))
	status := http.StatusOK
	if v.Problem != "" {
		status = http.StatusNotFound
	}
	s.render(w, r, status, views.InvitationPage(s.layout(r, "Invitation", ""), v))
}

func (s *Server) handleAcceptInvitation(w http.ResponseWriter, r *http.Request) {
	inv, err := s.memberships.AcceptInvitation(r.Context(), r.PathValue("token"))
	switch keygate.ErrorCode(err) {
	case "":
	case keygate.EFORBIDDEN, keygate.EINVALID, keygate.ENOTFOUND:
		v, _ := s.invitationView(r, r.PathValue("token"))
		if v.Problem == "" {
			v.Problem = keygate.ErrorMessage(err)
		}
		s.render(w, r, ErrorStatus(err), views.InvitationPage(s.layout(r, "Invitation", ""), v))
		return
	default:
		s.Error(w, r, err)
		return
	}
	s.addFlash(w, r, "success", "Welcome to "+inv.OrganizationName+". You joined as "+inv.Role.Label()+".")
	http.Redirect(w, r, "/orgs/"+inv.OrgPublicID, http.StatusSeeOther)
}
