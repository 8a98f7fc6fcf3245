package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
)

// Ensure the service implements its interface.
var _ keygate.UserService = (*UserService)(nil)

// PasswordHasher hashes and checks passwords (internal/password.Hasher).
type PasswordHasher interface {
	Hash(ctx context.Context, plain string) (string, error)
	Verify(ctx context.Context, encoded, plain string) (bool, error)
	VerifyDummy(ctx context.Context, plain string)
}

// UserService manages accounts.
type UserService struct {
	db        *DB
	passwords PasswordHasher

	// SignupMode is open, invite or closed (--signup). An instance setting
	// made by a superuser overrides it.
	SignupMode string
}

// NewUserService returns a UserService on db.
func NewUserService(db *DB, passwords PasswordHasher) *UserService {
	return &UserService{db: db, passwords: passwords, SignupMode: keygate.SignupOpen}
}

var errInvalidLogin = keygate.Errorf(keygate.EUNAUTHORIZED, "Invalid email or password.")

const userColumns = `u.id, u.public_id, u.name, u.email, u.is_superuser, u.password_hash IS NOT NULL, u.disabled_at, u.created_at, u.updated_at`

func scanUser(row interface{ Scan(...any) error }) (*keygate.User, error) {
	var u keygate.User
	var disabled sql.NullInt64
	var created, updated int64
	if err := row.Scan(&u.ID, &u.PublicID, &u.Name, &u.Email, &u.IsSuperuser, &u.HasPassword, &disabled, &created, &updated); err != nil {
		return nil, err
	}
	u.DisabledAt, u.CreatedAt, u.UpdatedAt = fromNullMS(disabled), fromMS(created), fromMS(updated)
	return &u, nil
}

// SignupAllowed reports whether a new person may sign up now.
func (s *UserService) SignupAllowed(ctx context.Context) (bool, error) {
	if mode, err := s.signupMode(ctx, s.db.reader()); err != nil {
		return false, err
	} else if mode == keygate.SignupOpen {
		return true, nil
	}
	n, err := countUsers(ctx, s.db.reader())
	return n == 0, err
}

func countUsers(ctx context.Context, q queryer) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// Signup creates a user with their organization and Owner membership.
func (s *UserService) Signup(ctx context.Context, in *keygate.Signup) (*keygate.User, *keygate.Organization, error) {
	hash, err := s.validateAndHash(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	return s.createUser(ctx, in, hash, false, false)
}

// CreateUser creates a user as Signup does, but regardless of the signup
// mode, optionally as a superuser. It is for the command line.
func (s *UserService) CreateUser(ctx context.Context, in *keygate.Signup, superuser bool) (*keygate.User, *keygate.Organization, error) {
	hash, err := s.validateAndHash(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	return s.createUser(ctx, in, hash, true, superuser)
}

// validateAndHash checks a signup and hashes its password. Hashing happens
// before any transaction: it is slow and needs no lock.
func (s *UserService) validateAndHash(ctx context.Context, in *keygate.Signup) (string, error) {
	in.Normalize()
	v := in.Validate()
	if err := password.Validate(in.Password); err != nil {
		v.Add("password", keygate.ErrorMessage(err))
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	hash, err := s.passwords.Hash(ctx, in.Password)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

func (s *UserService) createUser(ctx context.Context, in *keygate.Signup, hash string, bypassMode, superuser bool) (*keygate.User, *keygate.Organization, error) {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()

	// The first account becomes the superuser: counted under the lock that
	// concurrent first signups take in turn.
	n, err := tx.lockFirstAccount(ctx)
	if err != nil {
		return nil, nil, err
	}
	if n > 0 && !bypassMode {
		if mode, err := s.signupMode(ctx, tx); err != nil {
			return nil, nil, err
		} else if mode != keygate.SignupOpen {
			return nil, nil, keygate.Errorf(keygate.EFORBIDDEN, "Signup is closed on this instance.")
		}
	}
	user := &keygate.User{
		PublicID: newPublicID("usr"), Name: in.Name, Email: in.Email, HasPassword: true,
		IsSuperuser: n == 0 || superuser,
		CreatedAt:   tx.now, UpdatedAt: tx.now,
	}
	err = tx.QueryRowContext(ctx, `
		INSERT INTO users (public_id, name, email, password_hash, is_superuser, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`,
		user.PublicID, user.Name, user.Email, hash, user.IsSuperuser, ms(tx.now)).Scan(&user.ID)
	if err != nil {
		if keygate.ErrorCode(formatError(err)) == keygate.ECONFLICT {
			return nil, nil, &keygate.Error{Code: keygate.ECONFLICT, Message: "An account with this email already exists.",
				Fields: map[string]string{"email": "An account with this email already exists. Log in instead."}}
		}
		return nil, nil, fmt.Errorf("insert user: %w", err)
	}
	if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
		ActorUserID: user.ID, ActorName: user.Name, Action: keygate.AuditSignup,
		TargetType: "user", TargetID: user.PublicID, TargetName: user.Email,
	}); err != nil {
		return nil, nil, err
	}
	org, err := createOrganization(ctx, tx, in.OrganizationName, user)
	if err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, fmt.Errorf("signup: %w", err)
	}
	return user, org, nil
}

// Authenticate checks an email and password, doing the same argon2id work
// whether or not the email exists, and records the outcome in the audit log.
func (s *UserService) Authenticate(ctx context.Context, email, plain string) (*keygate.User, error) {
	// No password is that long (signup caps them): refused before any
	// argon2 work, so huge inputs cost nothing.
	if len(plain) > password.MaxBytes {
		return nil, errInvalidLogin
	}
	email = keygate.NormalizeEmail(email)
	var hash sql.NullString
	row := s.db.reader().QueryRowContext(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.email = $1`, email)
	var u keygate.User
	var disabled sql.NullInt64
	var created, updated int64
	err := row.Scan(&u.ID, &u.PublicID, &u.Name, &u.Email, &u.IsSuperuser, &u.HasPassword, &disabled, &created, &updated, &hash)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !hash.Valid) {
		s.passwords.VerifyDummy(ctx, plain)
		return nil, errInvalidLogin
	} else if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	u.DisabledAt, u.CreatedAt, u.UpdatedAt = fromNullMS(disabled), fromMS(created), fromMS(updated)

	ok, err := s.passwords.Verify(ctx, hash.String, plain)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !ok || u.DisabledAt != nil {
		if err := s.recordLogin(ctx, &u, keygate.AuditLoginFailed); err != nil {
			return nil, err
		}
		return nil, errInvalidLogin
	}
	// An organization that requires single sign-on does not refuse the
	// password here: it guards its own pages (web), so the person's other
	// organizations are unaffected.
	if err := s.recordLogin(ctx, &u, keygate.AuditLogin); err != nil {
		return nil, err
	}
	return &u, nil
}

// recordLogin writes a login or failed-login event for user in each of
// their organizations' audit logs.
func (s *UserService) recordLogin(ctx context.Context, u *keygate.User, action string) error {
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := recordUserEvent(ctx, tx, u, action); err != nil {
		return err
	}
	return tx.Commit()
}

// recordUserEvent records an event about the user's own account in the
// audit log of every organization they belong to, where its admins look.
func recordUserEvent(ctx context.Context, tx *Tx, u *keygate.User, action string) error {
	rows, err := tx.QueryContext(ctx, `SELECT organization_id FROM memberships WHERE user_id = $1`, u.ID)
	if err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	// A read that fails midway must not leave organizations without the
	// event: collect reports the error that ended the rows.
	orgIDs, err := collect(rows, func(row scanner) (id int64, err error) { return id, row.Scan(&id) })
	if err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	if len(orgIDs) == 0 {
		orgIDs = append(orgIDs, 0)
	}
	for _, orgID := range orgIDs {
		if err := insertAuditEvent(ctx, tx, &keygate.AuditEvent{
			OrganizationID: orgID, ActorUserID: u.ID, ActorName: u.Name, Action: action,
			TargetType: "user", TargetID: u.PublicID, TargetName: u.Email,
		}); err != nil {
			return err
		}
	}
	return nil
}

// RecordLogout writes a logout event for the acting user.
func (s *UserService) RecordLogout(ctx context.Context) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil
	}
	return s.recordLogin(ctx, user, keygate.AuditLogout)
}

// FindUserByID returns a user by row id.
func (s *UserService) FindUserByID(ctx context.Context, id int64) (*keygate.User, error) {
	u, err := scanUser(s.db.reader().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// FindUserByEmail returns a user by email, for the command line.
func (s *UserService) FindUserByEmail(ctx context.Context, email string) (*keygate.User, error) {
	u, err := scanUser(s.db.reader().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, keygate.NormalizeEmail(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// UpdateProfile changes the acting user's name.
func (s *UserService) UpdateProfile(ctx context.Context, name string) (*keygate.User, error) {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	in := keygate.Signup{Name: name}
	in.Normalize()
	if msg := keygate.ValidateName(in.Name); msg != "" {
		return nil, keygate.FieldError("name", msg)
	}
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET name = $1, updated_at = $2 WHERE id = $3`, in.Name, ms(tx.now), user.ID); err != nil {
		return nil, fmt.Errorf("update profile: %w", err)
	}
	updated := *user
	updated.Name, updated.UpdatedAt = in.Name, tx.now
	if err := recordUserEvent(ctx, tx, &updated, keygate.AuditProfileUpdated); err != nil {
		return nil, err
	}
	return &updated, tx.Commit()
}

// ChangePassword replaces the acting user's password and ends every other
// session of theirs but keepSessionID.
func (s *UserService) ChangePassword(ctx context.Context, current, next string, keepSessionID int64) error {
	user := keygate.UserFromContext(ctx)
	if user == nil {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "You must be logged in.")
	}
	var hash sql.NullString
	if err := s.db.reader().QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, user.ID).Scan(&hash); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.checkPasswordChange(ctx, hash, current, next); err != nil {
		return err
	}
	newHash, err := s.passwords.Hash(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	// Hashing stays outside the transaction so the write lock is not held
	// through it; the update only applies if the hash just verified is
	// still the stored one, which makes the check, the new hash and the
	// ended sessions one change.
	tx, err := s.db.BeginTx(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND COALESCE(password_hash, '') = $4`,
		newHash, ms(tx.now), user.ID, hash.String)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var v keygate.ValidationErrors
		v.Add("current_password", "Current password is incorrect.")
		return v.Err()
	}
	if err := recordUserEvent(ctx, tx, user, keygate.AuditPasswordChanged); err != nil {
		return err
	}
	if _, err := deleteOtherSessions(ctx, tx, user, keepSessionID); err != nil {
		return err
	}
	return tx.Commit()
}

// checkPasswordChange checks the current password against hash and the
// new one against the password rules.
func (s *UserService) checkPasswordChange(ctx context.Context, hash sql.NullString, current, next string) error {
	var v keygate.ValidationErrors
	if hash.Valid && len(current) > password.MaxBytes {
		v.Add("current_password", "Current password is incorrect.") // not hashed: see Authenticate
	} else if hash.Valid {
		ok, err := s.passwords.Verify(ctx, hash.String, current)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		} else if !ok {
			v.Add("current_password", "Current password is incorrect.")
		}
	}
	if err := password.Validate(next); err != nil {
		v.Add("new_password", keygate.ErrorMessage(err))
	}
	return v.Err()
}
