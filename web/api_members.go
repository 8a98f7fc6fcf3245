package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

type invitationJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// invitationWithLinkJSON answers the creation of an invitation. Link, a
// secret, is in the first answer only: a retry with the same
// Idempotency-Key gets null and a detail that says so.
type invitationWithLinkJSON struct {
	invitationJSON
	Link   *string `json:"link"`
	Detail string  `json:"detail,omitempty"`
}

// msgLinkSentOnce is the detail of a retried invitation's answer.
const msgLinkSentOnce = "The invitation link was sent in the first response only and is not kept. If that response was lost, resend the invitation from the Members page: it makes a new link."

func toInvitationJSON(i *keygate.Invitation) invitationJSON {
	return invitationJSON{ID: i.PublicID, Email: i.Email, Role: string(i.Role), CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt}
}

func (s *Server) apiListInvitations(w http.ResponseWriter, r *http.Request) {
	invs, err := s.memberships.FindInvitations(r.Context(), apiKeyFrom(r.Context()).OrgPublicID)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := make([]invitationJSON, 0, len(invs))
	for _, i := range invs {
		out = append(out, toInvitationJSON(i))
	}
	writeJSON(w, http.StatusOK, listBody{Results: out})
}

func (s *Server) apiInvite(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	email, _ := obj.str("email", fe)
	role, present := obj.str("role", fe)
	if !present {
		role = string(keygate.RoleMember)
	}
	if len(fe) > 0 {
		fe.writeWithChecks(w, keygate.ValidateInvitation(keygate.NormalizeEmail(email), keygate.Role(role)))
		return
	}
	inv, token, err := s.memberships.Invite(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, email, keygate.Role(role))
	if errors.Is(err, keygate.ErrInvitationPending) {
		// Not a bad field but a state of the organization: a 409 whose
		// detail says what to do.
		err = keygate.Errorf(keygate.ECONFLICT, "%s", keygate.ErrorMessage(err))
	}
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	link := s.invitationLink(token)
	s.mailInvitation(r, inv, link)
	keepInstead(w, invitationWithLinkJSON{invitationJSON: toInvitationJSON(inv), Detail: msgLinkSentOnce})
	writeJSON(w, http.StatusCreated, invitationWithLinkJSON{invitationJSON: toInvitationJSON(inv), Link: &link})
}

func (s *Server) apiChangeRole(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	role, _ := obj.str("role", fe)
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	orgID := apiKeyFrom(r.Context()).OrgPublicID
	if err := s.memberships.ChangeRole(r.Context(), orgID, r.PathValue("id"), keygate.Role(role)); err != nil {
		s.apiErr(w, r, err)
		return
	}
	s.apiMemberJSON(w, r, orgID, r.PathValue("id"))
}

// apiMemberJSON answers with one member.
func (s *Server) apiMemberJSON(w http.ResponseWriter, r *http.Request, orgID, userID string) {
	members, err := s.orgs.FindMembers(r.Context(), orgID)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	for _, m := range members {
		if m.User.PublicID == userID {
			writeJSON(w, http.StatusOK, memberJSON(m))
			return
		}
	}
	apiError(w, http.StatusNotFound, "not_found", "Not found.")
}

func (s *Server) apiRemoveMember(w http.ResponseWriter, r *http.Request) {
	revoke := r.URL.Query().Get("revoke_keys") == "true"
	if _, err := s.memberships.RemoveMember(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"), revoke); err != nil {
		s.apiErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// memberJSON is a member as the API shows one.
func memberJSON(m *keygate.Member) map[string]any {
	return map[string]any{
		"id": m.User.PublicID, "name": m.User.Name, "email": m.User.Email, "role": string(m.Role), "joined_at": m.JoinedAt,
		"two_factor": m.TwoFactor,
	}
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) {
	members, err := s.orgs.FindMembers(r.Context(), apiKeyFrom(r.Context()).OrgPublicID)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(members))
	for _, m := range members {
		out = append(out, memberJSON(m))
	}
	writeJSON(w, http.StatusOK, listBody{Results: out})
}
