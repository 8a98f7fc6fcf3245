package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
)

// LoginWithOrgIdentity finds, links or creates the user of an identity
// from the organization's provider, in one transaction. A refusal is
// recorded in a transaction of its own, since the login's rolls back.
func (s *OrgSSOService) LoginWithOrgIdentity(ctx context.Context, orgPublicID string, ext *keygate.ExternalIdentity) (*keygate.User, keygate.SSOOutcome, error) {
	if ext.Issuer == "" || ext.Subject == "" {
		return nil, 0, keygate.Errorf(keygate.EINVALID, "The sign-in provider did not identify you.")
	}
	ext.Provider, ext.Email = orgSSOProviderKey(orgPublicID), keygate.NormalizeEmail(ext.Email)
	var conf *keygate.OrgSSO
	var user *keygate.User
	var outcome keygate.SSOOutcome
	var refusal *orgSSORefusal
	// As for LoginWithIdentity, a login that loses the race for the
	// account or the link runs again and finds what the other made.
	err := s.db.inTx(ctx, func(tx *Tx) (err error) {
		if conf, _, err = loadOrgSSO(ctx, tx, `WHERE o.public_id = $1`, orgPublicID); err != nil {
			return err
		}
		user, outcome, refusal, err = s.loginWithOrgIdentity(ctx, tx, conf, ext)
		if refusal != nil {
			return refusal.err // rolls the login back
		} else if err != nil {
			return err
		}
		return finishIdentityLogin(ctx, tx, user, ext)
	})
	if refusal != nil {
		if err := s.recordRefusal(ctx, conf, refusal); err != nil {
			return nil, 0, err
		}
		return nil, 0, refusal.err
	} else if err != nil {
		return nil, 0, err
	}
	return user, outcome, nil
}

// orgSSORefusal is an existing account an organization's provider may
// not sign in, and why.
type orgSSORefusal struct {
	user   *keygate.User
	reason string // for the audit log
	err    error  // for the person
}

func (s *OrgSSOService) loginWithOrgIdentity(ctx context.Context, tx *Tx, conf *keygate.OrgSSO, ext *keygate.ExternalIdentity) (*keygate.User, keygate.SSOOutcome, *orgSSORefusal, error) {
	if err := tx.lockIdentity(ctx, ext); err != nil {
		return nil, 0, nil, err
	}
	user, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM identities i JOIN users u ON u.id = i.user_id
		WHERE i.provider = $1 AND i.issuer = $2 AND i.subject = $3`, ext.Provider, ext.Issuer, ext.Subject))
	if err == nil {
		// A link is no licence: its user must still be a member.
		if refusal, err := refuseOrgLogin(ctx, tx, conf, user); refusal != nil || err != nil {
			return nil, 0, refusal, err
		}
		return user, keygate.SSOLoggedIn, nil, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil, fmt.Errorf("find identity: %w", err)
	}
	if keygate.ValidateEmail(ext.Email) != "" {
		return nil, 0, nil, keygate.Errorf(keygate.EINVALID, "The sign-in provider did not share a usable email address, so Keygate cannot find or create your account.")
	}
	// The organization's provider is trusted for its verified domains only.
	if !conf.HasVerifiedDomain(keygate.EmailDomain(ext.Email)) {
		return nil, 0, nil, keygate.Errorf(keygate.EFORBIDDEN, "Your email address %s is not in a verified domain of %s, so its single sign-on cannot sign you in.", ext.Email, conf.OrgName)
	}
	user, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, ext.Email))
	switch {
	case err == nil:
		// An existing account: only a member's, and never on the
		// provider's word alone unless it vouches for the address.
		if refusal, err := refuseOrgLogin(ctx, tx, conf, user); refusal != nil || err != nil {
			return nil, 0, refusal, err
		}
		if user.DisabledAt != nil {
			return user, 0, nil, nil
		}
		if !ext.EmailTrusted {
			return nil, 0, nil, errSSOEmailTaken
		}
		if _, err := insertIdentity(ctx, tx, user, ext); err != nil {
			return nil, 0, nil, lostRace(err)
		}
		return user, keygate.SSOLinked, nil, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, 0, nil, fmt.Errorf("find user: %w", err)
	}
	if user, err = createOrgSSOUser(ctx, tx, ext); err != nil {
		return nil, 0, nil, lostRace(err)
	}
	if _, err := insertIdentity(ctx, tx, user, ext); err != nil {
		return nil, 0, nil, lostRace(err)
	}
	if err := provisionMember(ctx, tx, conf, user); err != nil {
		return nil, 0, nil, err
	}
	return user, keygate.SSOSignedUp, nil, nil
}

// refuseOrgLogin returns why the organization's provider may not sign
// user in, or nil: only members, and never a superuser. Membership is
// checked first, so that an outsider's refusal says nothing of the
// account's standing on the instance.
func refuseOrgLogin(ctx context.Context, q queryer, conf *keygate.OrgSSO, user *keygate.User) (*orgSSORefusal, error) {
	member, err := isMember(ctx, q, conf.OrgID, user.ID)
	switch {
	case err != nil:
		return nil, err
	case !member:
		return &orgSSORefusal{user: user, reason: "not a member",
			err: keygate.Errorf(keygate.EFORBIDDEN, "%s", keygate.MsgNotOrgMember(conf.OrgName))}, nil
	case user.IsSuperuser:
		return &orgSSORefusal{user: user, reason: "an instance superuser",
			err: keygate.Errorf(keygate.EFORBIDDEN, "%s single sign-on cannot sign in an administrator of this Keygate instance. Log in with your password.", conf.OrgName)}, nil
	}
	return nil, nil
}

func isMember(ctx context.Context, q queryer, orgID, userID int64) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND user_id = $2`, orgID, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("check membership: %w", err)
	}
	return n > 0, nil
}

// recordRefusal writes a refused sign-in to the audit log of the
// organization whose provider tried, and of each organization of the
// account it tried, where that account's admins look.
func (s *OrgSSOService) recordRefusal(ctx context.Context, conf *keygate.OrgSSO, r *orgSSORefusal) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	orgIDs := []int64{conf.OrgID}
	rows, err := tx.QueryContext(ctx, `SELECT organization_id FROM memberships WHERE user_id = $1 AND organization_id <> $2`, r.user.ID, conf.OrgID)
	if err != nil {
		return fmt.Errorf("record sso refusal: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("record sso refusal: %w", err)
		}
		orgIDs = append(orgIDs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("record sso refusal: %w", err)
	}
	for _, id := range orgIDs {
		if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
			OrganizationID: id, ActorName: conf.OrgName + " single sign-on", Action: keygate.AuditLoginSSORefused,
			TargetType: "user", TargetID: r.user.PublicID, TargetName: r.user.Email + " (" + r.reason + " of " + conf.OrgName + ")",
		}); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// LinkOrgIdentity links an identity from the organization's provider to
// the acting user, a member who is not a superuser.
func (s *OrgSSOService) LinkOrgIdentity(ctx context.Context, orgPublicID string, ext *keygate.ExternalIdentity) (*keygate.Identity, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	if ext.Issuer == "" || ext.Subject == "" {
		return nil, keygate.Errorf(keygate.EINVALID, "The sign-in provider did not identify you.")
	}
	ext.Provider, ext.Email = orgSSOProviderKey(orgPublicID), keygate.NormalizeEmail(ext.Email)
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	conf, _, err := loadOrgSSO(ctx, tx, `WHERE o.public_id = $1`, orgPublicID)
	if err != nil {
		return nil, err
	}
	fresh, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, user.ID))
	if err != nil {
		return nil, fmt.Errorf("link identity: %w", err)
	}
	if refusal, err := refuseOrgLogin(ctx, tx, conf, fresh); err != nil {
		return nil, err
	} else if refusal != nil {
		return nil, refusal.err
	}
	existing, err := scanIdentity(tx.QueryRowContext(ctx, `SELECT `+identityColumns+` FROM identities i
		WHERE i.provider = $1 AND i.issuer = $2 AND i.subject = $3`, ext.Provider, ext.Issuer, ext.Subject))
	if err == nil {
		if existing.UserID != user.ID {
			return nil, keygate.Errorf(keygate.ECONFLICT, "This account at the provider is already linked to another Keygate account.")
		}
		return existing, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("link identity: %w", err)
	}
	id, err := insertIdentity(ctx, tx, fresh, ext)
	if err != nil {
		return nil, err
	}
	return id, tx.Commit()
}

// createOrgSSOUser creates a user without a password and without an
// organization of their own: they are provisioned into the one whose
// provider identified them.
func createOrgSSOUser(ctx context.Context, tx *Tx, ext *keygate.ExternalIdentity) (*keygate.User, error) {
	name := truncateRunes(ext.Name, 100)
	if keygate.ValidateName(name) != "" {
		name, _, _ = strings.Cut(ext.Email, "@")
	}
	user := &keygate.User{PublicID: newPublicID("usr"), Name: name, Email: ext.Email, CreatedAt: tx.now, UpdatedAt: tx.now}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO users (public_id, name, email, password_hash, is_superuser, created_at, updated_at)
		VALUES ($1, $2, $3, NULL, 0, $4, $4) RETURNING id`,
		user.PublicID, user.Name, user.Email, ms(tx.now)).Scan(&user.ID); err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
			return nil, errSSOEmailTaken
		}
		return nil, fmt.Errorf("insert user: %w", err)
	}
	return user, nil
}

// provisionMember makes user a Member of the organization unless they
// belong to it already, and records the signup and the join there.
func provisionMember(ctx context.Context, tx *Tx, conf *keygate.OrgSSO, user *keygate.User) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO memberships (organization_id, user_id, role, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT (organization_id, user_id) DO NOTHING`, conf.OrgID, user.ID, keygate.RoleMember, ms(tx.now))
	if err != nil {
		return fmt.Errorf("provision member: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return insertAuditEvent(ctx, tx, &keygate.AuditEvent{OrganizationID: conf.OrgID, ActorUserID: user.ID, ActorName: user.Name,
		Action: keygate.AuditJoin, TargetType: "user", TargetID: user.PublicID, TargetName: user.Email + " as " + keygate.RoleMember.Label() + " (single sign-on)"})
}
