package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// Ensure the service implements its interface.
var _ keygate.MembershipService = (*MembershipService)(nil)

// MembershipService manages members and invitations.
type MembershipService struct {
	db *DB
}

// NewMembershipService returns a MembershipService on db.
func NewMembershipService(db *DB) *MembershipService { return &MembershipService{db: db} }

var errNotMember = keygate.Errorf(keygate.ENOTFOUND, "Member not found.")

// memberAdmin loads the organization and checks the actor may manage its
// members.
func memberAdmin(ctx context.Context, q queryer, orgID string) (*keygate.Organization, error) {
	org, err := findOrganizationForUser(ctx, q, orgID)
	if err != nil {
		return nil, err
	}
	if !org.Role.AtLeast(keygate.RoleAdmin) {
		return nil, keygate.Errorf(keygate.EFORBIDDEN, "You need the Admin role to manage members")
	}
	return org, nil
}

// FindMemberDetails lists members with their sign-in method and activity.
func (s *MembershipService) FindMemberDetails(ctx context.Context, orgID string) ([]*keygate.MemberDetail, error) {
	org, err := memberAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	now := ms(s.db.Now())
	rows, err := s.db.reader().QueryContext(ctx, `
		SELECT `+userColumns+`, m.role, m.created_at,
		       (SELECT MAX(se.last_seen_at) FROM sessions se WHERE se.user_id = u.id),
		       (SELECT COUNT(*) FROM api_keys k WHERE k.organization_id = m.organization_id AND k.created_by = u.id
		           AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)),
		       `+hasTwoFactorSQL("u.id")+`,
		       EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.provider = $3)
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 ORDER BY lower(u.name), u.id`, org.ID, now, orgSSOProviderKey(org.PublicID))
	if err != nil {
		return nil, fmt.Errorf("find members: %w", err)
	}
	defer rows.Close()
	var out []*keygate.MemberDetail
	for rows.Next() {
		var u keygate.User
		var d keygate.MemberDetail
		var disabled, lastSeen sql.NullInt64
		var created, updated, joined int64
		if err := rows.Scan(&u.ID, &u.PublicID, &u.Name, &u.Email, &u.IsSuperuser, &u.HasPassword, &disabled, &created, &updated,
			&d.Role, &joined, &lastSeen, &d.ActiveKeys, &d.TwoFactor, &d.OrgSSO); err != nil {
			return nil, fmt.Errorf("scan member: %w", err)
		}
		u.DisabledAt, u.CreatedAt, u.UpdatedAt = fromNullMS(disabled), fromMS(created), fromMS(updated)
		d.User, d.JoinedAt, d.LastActive = &u, fromMS(joined), fromNullMS(lastSeen)
		d.SignIn = "Password"
		if !u.HasPassword {
			d.SignIn = "Single sign-on"
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}

func hashInviteToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Invite creates an invitation; the token is returned once.
func (s *MembershipService) Invite(ctx context.Context, orgID, email string, role keygate.Role) (*keygate.Invitation, string, error) {
	email = keygate.NormalizeEmail(email)
	if err := keygate.ValidateInvitation(email, role).Err(); err != nil {
		return nil, "", err
	}
	var inv *keygate.Invitation
	var token string
	err := s.db.inTx(ctx, func(tx *Tx) (err error) {
		inv, token, err = invite(ctx, tx, orgID, email, role)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// invite is Invite in tx. The organization's lock (memberAdmin) makes the
// check for a pending invitation and the insert one step: of concurrent
// invitations of one email, one is made.
func invite(ctx context.Context, tx *Tx, orgID, email string, role keygate.Role) (*keygate.Invitation, string, error) {
	org, err := memberAdmin(ctx, tx, orgID)
	if err != nil {
		return nil, "", err
	}
	if role == keygate.RoleOwner && org.Role != keygate.RoleOwner {
		return nil, "", keygate.FieldError("role", "Only an Owner can invite an Owner.")
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 AND u.email = $2`, org.ID, email).Scan(&n); err != nil {
		return nil, "", fmt.Errorf("invite: %w", err)
	}
	if n > 0 {
		return nil, "", &keygate.Error{Code: keygate.ECONFLICT, Message: "Already a member of this organization.",
			Fields: map[string]string{"email": "Already a member of this organization."}}
	}
	// A pending invitation is never replaced behind the inviter's back:
	// its link and role stay as they are until it is resent or revoked.
	var pending keygate.Role
	err = tx.QueryRowContext(ctx, `SELECT role FROM invitations
		WHERE organization_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3
		ORDER BY id DESC LIMIT 1`, org.ID, email, ms(tx.now)).Scan(&pending)
	if err == nil {
		return nil, "", keygate.InvitationPendingError(email, pending)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("invite: %w", err)
	}
	inv := &keygate.Invitation{
		PublicID: newPublicID("inv"), OrganizationID: org.ID, OrganizationName: org.Name, OrgPublicID: org.PublicID,
		Email: email, Role: role, CreatedAt: tx.now, ExpiresAt: tx.now.Add(keygate.InvitationTTL),
	}
	token := rand.Text() + rand.Text()
	var invitedBy sql.NullInt64
	if user := keygate.UserFromContext(ctx); user != nil {
		invitedBy = sql.NullInt64{Int64: user.ID, Valid: true}
		inv.InvitedByName = user.Name
	}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO invitations (public_id, organization_id, email, role, token_hash, invited_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		inv.PublicID, org.ID, email, role, hashInviteToken(token), invitedBy, ms(tx.now), ms(inv.ExpiresAt)).Scan(&inv.ID); err != nil {
		return nil, "", fmt.Errorf("insert invitation: %w", err)
	}
	if err := enqueueMemberEvent(ctx, tx, org.ID, keygate.WebhookInvitationCreated, inv.PublicID, email, role); err != nil {
		return nil, "", err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditInvite,
		TargetType: "invitation", TargetID: inv.PublicID, TargetName: email + " as " + role.Label()}); err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// invitationColumns name the inviter: the user, or else the actor of the
// invitation's audit event, which names the key of an invitation made
// through the API. That event shares the invitation's created_at (one
// transaction); a resend's event is marked "(re-sent)". Pending
// invitations are recent: the search runs from the newest event.
const invitationColumns = `i.id, i.public_id, i.organization_id, o.name, o.public_id, i.email, i.role,
	COALESCE(u.name, (SELECT e.actor_name FROM audit_events e WHERE e.organization_id = i.organization_id
		AND e.action = '` + keygate.AuditInvite + `' AND e.target_id = i.public_id AND e.created_at = i.created_at
		AND e.target_name NOT LIKE '%` + resentMark + `' ORDER BY e.id DESC LIMIT 1), ''),
	i.created_at, i.expires_at, i.accepted_at, i.revoked_at`

// resentMark ends the audit target of a resent invitation.
const resentMark = "(re-sent)"

const invitationFrom = ` FROM invitations i JOIN organizations o ON o.id = i.organization_id LEFT JOIN users u ON u.id = i.invited_by`

func scanInvitation(row interface{ Scan(...any) error }) (*keygate.Invitation, error) {
	var inv keygate.Invitation
	var created, expires int64
	var accepted, revoked sql.NullInt64
	if err := row.Scan(&inv.ID, &inv.PublicID, &inv.OrganizationID, &inv.OrganizationName, &inv.OrgPublicID, &inv.Email, &inv.Role,
		&inv.InvitedByName, &created, &expires, &accepted, &revoked); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.AcceptedAt, inv.RevokedAt = fromMS(created), fromMS(expires), fromNullMS(accepted), fromNullMS(revoked)
	return &inv, nil
}

// FindInvitations lists pending invitations.
func (s *MembershipService) FindInvitations(ctx context.Context, orgID string) ([]*keygate.Invitation, error) {
	org, err := memberAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.reader().QueryContext(ctx, `SELECT `+invitationColumns+invitationFrom+`
		WHERE i.organization_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2
		ORDER BY i.id DESC`, org.ID, ms(s.db.Now()))
	if err != nil {
		return nil, fmt.Errorf("find invitations: %w", err)
	}
	defer rows.Close()
	var out []*keygate.Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, fmt.Errorf("scan invitation: %w", err)
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

func findPendingInvitation(ctx context.Context, tx *Tx, orgID int64, invitationID string) (*keygate.Invitation, error) {
	inv, err := scanInvitation(tx.QueryRowContext(ctx, `SELECT `+invitationColumns+invitationFrom+`
		WHERE i.organization_id = $1 AND i.public_id = $2`, orgID, invitationID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "Invitation not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find invitation: %w", err)
	}
	if inv.AcceptedAt != nil || inv.RevokedAt != nil {
		return nil, errInvitationUsed
	}
	return inv, nil
}

// ResendInvitation gives a pending invitation a new token and expiry.
func (s *MembershipService) ResendInvitation(ctx context.Context, orgID, invitationID string) (*keygate.Invitation, string, error) {
	var inv *keygate.Invitation
	var token string
	err := s.db.inTx(ctx, func(tx *Tx) (err error) {
		inv, token, err = resendInvitation(ctx, tx, orgID, invitationID)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

func resendInvitation(ctx context.Context, tx *Tx, orgID, invitationID string) (*keygate.Invitation, string, error) {
	org, err := memberAdmin(ctx, tx, orgID)
	if err != nil {
		return nil, "", err
	}
	inv, err := findPendingInvitation(ctx, tx, org.ID, invitationID)
	if err != nil {
		return nil, "", err
	}
	if inv.Role == keygate.RoleOwner && org.Role != keygate.RoleOwner {
		return nil, "", keygate.Errorf(keygate.EFORBIDDEN, "Only an Owner can invite an Owner.")
	}
	token := rand.Text() + rand.Text()
	inv.ExpiresAt = tx.now.Add(keygate.InvitationTTL)
	// Accepting takes no organization lock: the write is conditional, so an
	// invitation accepted meanwhile is not given a new life.
	if err := updatePendingInvitation(ctx, tx, inv.ID, `token_hash = $2, expires_at = $3`,
		hashInviteToken(token), ms(inv.ExpiresAt)); err != nil {
		return nil, "", err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditInvite,
		TargetType: "invitation", TargetID: inv.PublicID, TargetName: inv.Email + " as " + inv.Role.Label() + " " + resentMark}); err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// errInvitationUsed is the error of a change to an invitation that was
// used or revoked.
var errInvitationUsed = keygate.Errorf(keygate.EINVALID, "This invitation was already used or revoked.")

// updatePendingInvitation sets the columns of set ($2 on) on the
// invitation with row id id ($1), provided it is still neither accepted
// nor revoked.
func updatePendingInvitation(ctx context.Context, tx *Tx, id int64, set string, args ...any) error {
	res, err := tx.ExecContext(ctx, `UPDATE invitations SET `+set+` WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL`,
		append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("update invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errInvitationUsed
	}
	return nil
}

// RevokeInvitation cancels a pending invitation.
func (s *MembershipService) RevokeInvitation(ctx context.Context, orgID, invitationID string) error {
	return s.db.inTx(ctx, func(tx *Tx) error {
		org, err := memberAdmin(ctx, tx, orgID)
		if err != nil {
			return err
		}
		inv, err := findPendingInvitation(ctx, tx, org.ID, invitationID)
		if err != nil {
			return err
		}
		// Of a revoke and an accept at once, one wins: the other finds the
		// invitation used or revoked.
		if err := updatePendingInvitation(ctx, tx, inv.ID, `revoked_at = $2`, ms(tx.now)); err != nil {
			return err
		}
		return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditInviteRevoke,
			TargetType: "invitation", TargetID: inv.PublicID, TargetName: inv.Email})
	})
}

// FindInvitationByToken returns the invitation a link names.
func (s *MembershipService) FindInvitationByToken(ctx context.Context, token string) (*keygate.Invitation, error) {
	inv, err := findInvitationByToken(ctx, s.db.reader(), token)
	if err != nil {
		return nil, err
	}
	if err := inv.Usable(s.db.Now()); err != nil {
		return inv, err
	}
	return inv, nil
}

// findInvitationByToken returns the invitation a link names, whatever its
// state.
func findInvitationByToken(ctx context.Context, q queryer, token string) (*keygate.Invitation, error) {
	inv, err := scanInvitation(q.QueryRowContext(ctx, `SELECT `+invitationColumns+invitationFrom+`
		WHERE i.token_hash = $1`, hashInviteToken(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "This invitation link is not valid. Check that you copied all of it.")
	} else if err != nil {
		return nil, fmt.Errorf("find invitation: %w", err)
	}
	return inv, nil
}

// findUsableInvitation returns the invitation a link names if it can be
// accepted now.
func findUsableInvitation(ctx context.Context, tx *Tx, token string) (*keygate.Invitation, error) {
	inv, err := findInvitationByToken(ctx, tx, token)
	if err != nil {
		return nil, err
	}
	if err := inv.Usable(tx.now); err != nil {
		return nil, err
	}
	return inv, nil
}

// markAccepted records that userID accepted inv, found by token. Nothing
// locks the invitation, so the write is conditional: if a concurrent
// transaction accepted, revoked or re-sent it (a new token) first, this
// one fails with the reason, and of two accepts at once one wins.
func markAccepted(ctx context.Context, tx *Tx, inv *keygate.Invitation, token string, userID int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE invitations SET accepted_at = $1, accepted_by = $2
		WHERE id = $3 AND token_hash = $4 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1`,
		ms(tx.now), userID, inv.ID, hashInviteToken(token))
	if err != nil {
		return fmt.Errorf("accept invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	// Read again, now that the other transaction has committed.
	if _, err := findUsableInvitation(ctx, tx, token); err != nil {
		return err
	}
	return errInvitationUsed
}

// AcceptInvitation makes the acting user a member, once.
func (s *MembershipService) AcceptInvitation(ctx context.Context, token string) (*keygate.Invitation, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "Log in to accept the invitation.")
	}
	return inTxValue(ctx, s.db, func(tx *Tx) (*keygate.Invitation, error) {
		inv, err := findUsableInvitation(ctx, tx, token)
		if err != nil {
			return nil, err
		}
		if keygate.NormalizeEmail(user.Email) != inv.Email {
			return nil, keygate.Errorf(keygate.EFORBIDDEN, "This invitation was sent to another email address. Log in as the invited person to accept it.")
		}
		if err := markAccepted(ctx, tx, inv, token, user.ID); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (organization_id, user_id, role, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $4) ON CONFLICT (organization_id, user_id) DO NOTHING`, inv.OrganizationID, user.ID, inv.Role, ms(tx.now)); err != nil {
			return nil, fmt.Errorf("accept invitation: %w", err)
		}
		if err := enqueueJoined(ctx, tx, inv, user); err != nil {
			return nil, err
		}
		return inv, insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: inv.OrganizationID, Action: keygate.AuditJoin,
			TargetType: "user", TargetID: user.PublicID, TargetName: user.Email + " as " + inv.Role.Label()})
	})
}

// target is a member an action is about.
type target struct {
	UserID   int64
	PublicID string
	Email    string
	Role     keygate.Role
}

func findTarget(ctx context.Context, q queryer, orgID int64, userID string) (*target, error) {
	var t target
	err := q.QueryRowContext(ctx, `SELECT u.id, u.public_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 AND u.public_id = $2`, orgID, userID).Scan(&t.UserID, &t.PublicID, &t.Email, &t.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotMember
	} else if err != nil {
		return nil, fmt.Errorf("find member: %w", err)
	}
	return &t, nil
}

func countOwners(ctx context.Context, tx *Tx, orgID int64) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'`, orgID).Scan(&n)
	return n, err
}

var errLastOwner = keygate.Errorf(keygate.EINVALID, "An organization needs at least one Owner. Make someone else an Owner first.")

// ChangeRole sets a member's role.
func (s *MembershipService) ChangeRole(ctx context.Context, orgID, userID string, role keygate.Role) error {
	if !role.Valid() {
		return keygate.FieldError("role", "Choose a role.")
	}
	return s.db.inTx(ctx, func(tx *Tx) error { return changeRole(ctx, tx, orgID, userID, role) })
}

// changeRole is ChangeRole in tx, under the organization's lock
// (memberAdmin): the last Owner is counted as it stands.
func changeRole(ctx context.Context, tx *Tx, orgID, userID string, role keygate.Role) error {
	org, err := memberAdmin(ctx, tx, orgID)
	if err != nil {
		return err
	}
	t, err := findTarget(ctx, tx, org.ID, userID)
	if err != nil {
		return err
	}
	if org.Role != keygate.RoleOwner && (role == keygate.RoleOwner || t.Role == keygate.RoleOwner) {
		return keygate.Errorf(keygate.EFORBIDDEN, "Only an Owner can grant the Owner role or change an Owner.")
	}
	if t.Role == role {
		return nil
	}
	if t.Role == keygate.RoleOwner {
		if n, err := countOwners(ctx, tx, org.ID); err != nil {
			return err
		} else if n <= 1 {
			return errLastOwner
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memberships SET role = $1, updated_at = $2 WHERE organization_id = $3 AND user_id = $4`,
		role, ms(tx.now), org.ID, t.UserID); err != nil {
		return fmt.Errorf("change role: %w", err)
	}
	if err := tx.keysChanged(ctx, "member:"+t.PublicID); err != nil {
		return err
	}
	if err := enqueueMemberEvent(ctx, tx, org.ID, keygate.WebhookMemberRoleChanged, t.PublicID, t.Email, role); err != nil {
		return err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditRoleChange,
		TargetType: "user", TargetID: t.PublicID, TargetName: t.Email + ": " + t.Role.Label() + " → " + role.Label()}); err != nil {
		return err
	}
	return nil
}

// RemoveMember removes a member and, if asked, revokes their active keys.
func (s *MembershipService) RemoveMember(ctx context.Context, orgID, userID string, revokeKeys bool) (int, error) {
	return inTxValue(ctx, s.db, func(tx *Tx) (int, error) { return removeMember(ctx, tx, orgID, userID, revokeKeys) })
}

// removeMember is RemoveMember in tx, under the organization's lock.
func removeMember(ctx context.Context, tx *Tx, orgID, userID string, revokeKeys bool) (int, error) {
	org, err := memberAdmin(ctx, tx, orgID)
	if err != nil {
		return 0, err
	}
	t, err := findTarget(ctx, tx, org.ID, userID)
	if err != nil {
		return 0, err
	}
	if t.Role == keygate.RoleOwner {
		if org.Role != keygate.RoleOwner {
			return 0, keygate.Errorf(keygate.EFORBIDDEN, "Only an Owner can remove an Owner.")
		}
		if n, err := countOwners(ctx, tx, org.ID); err != nil {
			return 0, err
		} else if n <= 1 {
			return 0, errLastOwner
		}
	}
	return removeMembership(ctx, tx, org.ID, t, revokeKeys, keygate.AuditMemberRemove)
}

// removeMembership deletes the membership, revokes the member's keys when
// asked, and records action.
func removeMembership(ctx context.Context, tx *Tx, orgID int64, t *target, revokeKeys bool, action string) (int, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2`, orgID, t.UserID); err != nil {
		return 0, fmt.Errorf("remove member: %w", err)
	}
	if err := tx.keysChanged(ctx, "member:"+t.PublicID); err != nil {
		return 0, err
	}
	// The organization's provider signs in members only: a link it made
	// is of no use once the person leaves.
	if _, err := tx.ExecContext(ctx, `DELETE FROM identities WHERE user_id = $1
		AND provider = 'org:' || (SELECT public_id FROM organizations WHERE id = $2)`, t.UserID, orgID); err != nil {
		return 0, fmt.Errorf("remove member: %w", err)
	}
	revoked := 0
	if revokeKeys {
		keys, err := findMemberKeys(ctx, tx, orgID, t.UserID, tx.now)
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			if err := revokeAPIKey(ctx, tx, k, keygate.AuditAPIKeyRevoke); err != nil {
				return 0, err
			}
			revoked++
		}
	}
	if err := enqueueMemberEvent(ctx, tx, orgID, keygate.WebhookMemberRemoved, t.PublicID, t.Email, t.Role); err != nil {
		return 0, err
	}
	err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: orgID, Action: action,
		TargetType: "user", TargetID: t.PublicID, TargetName: t.Email})
	return revoked, err
}

// FindMemberAPIKeys lists every active key a member created.
func (s *MembershipService) FindMemberAPIKeys(ctx context.Context, orgID, userID string) ([]*keygate.APIKey, error) {
	org, err := memberAdmin(ctx, s.db.reader(), orgID)
	if err != nil {
		return nil, err
	}
	t, err := findTarget(ctx, s.db.reader(), org.ID, userID)
	if err != nil {
		return nil, err
	}
	return findMemberKeys(ctx, s.db.reader(), org.ID, t.UserID, s.db.Now())
}

// findMemberKeys lists the keys userID created in orgID that are active
// at now, newest first. No limit: the offboarding page shows, and
// removeMember revokes, every one of them.
func findMemberKeys(ctx context.Context, q queryer, orgID, userID int64, now time.Time) ([]*keygate.APIKey, error) {
	args := []any{orgID, userID}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	rows, err := q.QueryContext(ctx, `SELECT `+apiKeyColumns+apiKeyFrom+`
		WHERE k.organization_id = $1 AND k.created_by = $2 AND `+keyStateCond(keygate.KeyActive, ms(now), arg)+`
		ORDER BY k.created_at DESC, k.id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("find member keys: %w", err)
	}
	keys, err := collect(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("find member keys: %w", err)
	}
	return keys, nil
}

// LeaveOrganization removes the acting user.
func (s *MembershipService) LeaveOrganization(ctx context.Context, orgID string) error {
	return s.db.inTx(ctx, func(tx *Tx) error { return leaveOrganization(ctx, tx, orgID) })
}

// leaveOrganization is LeaveOrganization in tx, under the organization's
// lock.
func leaveOrganization(ctx context.Context, tx *Tx, orgID string) error {
	org, err := findOrganizationForUser(ctx, tx, orgID)
	if err != nil {
		return err
	}
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	if org.Role == keygate.RoleOwner {
		if n, err := countOwners(ctx, tx, org.ID); err != nil {
			return err
		} else if n <= 1 {
			return keygate.Errorf(keygate.EINVALID, "You are the last Owner. Make someone else an Owner, or delete the organization.")
		}
	}
	t := &target{UserID: user.ID, PublicID: user.PublicID, Email: user.Email, Role: org.Role}
	if _, err := removeMembership(ctx, tx, org.ID, t, false, keygate.AuditMemberLeave); err != nil {
		return err
	}
	return nil
}

// TransferOwnership makes userID an Owner and the acting Owner an Admin.
func (s *MembershipService) TransferOwnership(ctx context.Context, orgID, userID string) error {
	return s.db.inTx(ctx, func(tx *Tx) error { return transferOwnership(ctx, tx, orgID, userID) })
}

// transferOwnership is TransferOwnership in tx, under the organization's
// lock.
func transferOwnership(ctx context.Context, tx *Tx, orgID, userID string) error {
	org, err := findOrganizationForUser(ctx, tx, orgID)
	if err != nil {
		return err
	}
	user := keygate.UserFromContext(ctx)
	if org.Role != keygate.RoleOwner || user == nil {
		return keygate.Errorf(keygate.EFORBIDDEN, "Only an Owner can transfer ownership.")
	}
	t, err := findTarget(ctx, tx, org.ID, userID)
	if err != nil {
		return err
	}
	if t.UserID == user.ID {
		return keygate.FieldError("user", "Choose another member.")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memberships SET role = 'owner', updated_at = $1 WHERE organization_id = $2 AND user_id = $3`,
		ms(tx.now), org.ID, t.UserID); err != nil {
		return fmt.Errorf("transfer ownership: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memberships SET role = 'admin', updated_at = $1 WHERE organization_id = $2 AND user_id = $3`,
		ms(tx.now), org.ID, user.ID); err != nil {
		return fmt.Errorf("transfer ownership: %w", err)
	}
	if err := tx.keysChanged(ctx, "member:"+t.PublicID); err != nil {
		return err
	}
	if err := enqueueMemberEvent(ctx, tx, org.ID, keygate.WebhookMemberRoleChanged, t.PublicID, t.Email, keygate.RoleOwner); err != nil {
		return err
	}
	if err := enqueueMemberEvent(ctx, tx, org.ID, keygate.WebhookMemberRoleChanged, user.PublicID, user.Email, keygate.RoleAdmin); err != nil {
		return err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: org.ID, Action: keygate.AuditOwnershipTransfer,
		TargetType: "user", TargetID: t.PublicID, TargetName: t.Email}); err != nil {
		return err
	}
	return nil
}

// SignupWithInvitation creates an account for the invited email and makes
// it a member with the invited role, in one transaction, instead of giving
// it an organization of its own. Closed signup refuses it; invite and open
// signup allow it.
func (s *UserService) SignupWithInvitation(ctx context.Context, in *keygate.Signup, token string) (*keygate.User, *keygate.Invitation, error) {
	in.OrganizationName = "-" // not asked: the invitation names the organization
	hash, err := s.validateAndHash(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	if mode, err := s.signupMode(ctx, tx); err != nil {
		return nil, nil, err
	} else if mode == keygate.SignupClosed {
		return nil, nil, keygate.Errorf(keygate.EFORBIDDEN, "Signup is closed on this instance.")
	}
	inv, err := findUsableInvitation(ctx, tx, token)
	if err != nil {
		return nil, nil, err
	}
	if in.Email != inv.Email {
		return nil, nil, keygate.FieldError("email", "This invitation is for another email address.")
	}
	user := &keygate.User{PublicID: newPublicID("usr"), Name: in.Name, Email: in.Email, HasPassword: true, CreatedAt: tx.now, UpdatedAt: tx.now}
	err = tx.QueryRowContext(ctx, `INSERT INTO users (public_id, name, email, password_hash, is_superuser, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 0, $5, $5) RETURNING id`, user.PublicID, user.Name, user.Email, hash, ms(tx.now)).Scan(&user.ID)
	if err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
			return nil, nil, &keygate.Error{Code: keygate.ECONFLICT, Message: "An account with this email already exists.",
				Fields: map[string]string{"email": "An account with this email already exists. Log in to accept the invitation."}}
		}
		return nil, nil, fmt.Errorf("insert user: %w", err)
	}
	if err := markAccepted(ctx, tx, inv, token, user.ID); err != nil {
		return nil, nil, err
	}
	if err := insertMembership(ctx, tx, inv.OrganizationID, user.ID, inv.Role); err != nil {
		return nil, nil, err
	}
	if err := enqueueJoined(ctx, tx, inv, user); err != nil {
		return nil, nil, err
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: inv.OrganizationID, ActorUserID: user.ID, ActorName: user.Name,
		Action: keygate.AuditJoin, TargetType: "user", TargetID: user.PublicID, TargetName: user.Email + " as " + inv.Role.Label()}); err != nil {
		return nil, nil, err
	}
	return user, inv, tx.Commit()
}
