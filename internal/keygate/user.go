package keygate

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// User is a person who can sign in to Keygate.
type User struct {
	ID          int64
	PublicID    string // usr_...
	Name        string
	Email       string // trimmed and lower-cased
	IsSuperuser bool
	HasPassword bool
	DisabledAt  *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Signup is what a person gives to create an account and their first
// organization.
type Signup struct {
	Name             string
	Email            string
	Password         string
	OrganizationName string
}

// Normalize trims the fields and lower-cases the email.
func (s *Signup) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.Email = NormalizeEmail(s.Email)
	s.OrganizationName = strings.TrimSpace(s.OrganizationName)
}

// Validate checks every field except the password's strength, which the
// password mechanism judges, and returns all problems at once.
func (s *Signup) Validate() *ValidationErrors {
	var v ValidationErrors
	if msg := ValidateName(s.Name); msg != "" {
		v.Add("name", msg)
	}
	if msg := ValidateEmail(s.Email); msg != "" {
		v.Add("email", msg)
	}
	if msg := ValidateOrganizationName(s.OrganizationName); msg != "" {
		v.Add("organization", msg)
	}
	return &v
}

// NormalizeEmail trims an email address and lower-cases it, so that emails
// are unique case-insensitively.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// ValidateName returns a message for a bad person's name, or "".
func ValidateName(name string) string {
	switch {
	case name == "":
		return "Name is required."
	case utf8.RuneCountInString(name) > 100:
		return "Name must be at most 100 characters."
	}
	return UnsafeTextMessage(name)
}

// ValidateEmail returns a message for a bad (normalized) email, or "".
func ValidateEmail(email string) string {
	if email == "" {
		return "Email is required."
	}
	if len(email) > 254 {
		return "Email must be at most 254 characters."
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "Enter a valid email address, like name@example.com."
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n") {
		return "Enter a valid email address, like name@example.com."
	}
	return ""
}

// UserService manages accounts. Calls act as the user in the context.
type UserService interface {
	// Signup creates the user, an organization and the user's Owner
	// membership in one transaction. The first user of an instance becomes
	// its superuser. Returns EINVALID (with field messages), ECONFLICT for an
	// email already in use, EFORBIDDEN when signup is closed.
	Signup(ctx context.Context, s *Signup) (*User, *Organization, error)

	// SignupWithInvitation creates an account for an invitation's email
	// and makes it a member with the invited role, in one transaction.
	// Returns EINVALID, ECONFLICT, ENOTFOUND (unknown link), EFORBIDDEN
	// (signup closed).
	SignupWithInvitation(ctx context.Context, s *Signup, token string) (*User, *Invitation, error)

	// SignupAllowed reports whether a new person may sign up now: always on
	// an empty instance, otherwise only in the open signup mode.
	SignupAllowed(ctx context.Context) (bool, error)

	// CurrentSignupMode returns the signup mode in force (open, invite or
	// closed): a superuser's instance setting, else the --signup flag.
	CurrentSignupMode(ctx context.Context) (string, error)

	// HasUsers reports whether the instance has any account; an empty one
	// opens on signup, where the first account becomes the superuser.
	HasUsers(ctx context.Context) (bool, error)

	// Authenticate checks an email and password. Unknown email and wrong
	// password both return EUNAUTHORIZED "Invalid email or password." after
	// the same work. A disabled user gets EUNAUTHORIZED too. An
	// organization that requires single sign-on does not refuse the
	// password: its pages ask for a session from its provider.
	Authenticate(ctx context.Context, email, password string) (*User, error)

	// RecordLogout records that the acting user logged out.
	RecordLogout(ctx context.Context) error

	// FindUserByID returns a user, or ENOTFOUND.
	FindUserByID(ctx context.Context, id int64) (*User, error)

	// UpdateProfile changes the acting user's name. Returns EINVALID,
	// EUNAUTHORIZED without a user.
	UpdateProfile(ctx context.Context, name string) (*User, error)

	// ChangePassword replaces the acting user's password after checking the
	// current one, and ends every other session of theirs but
	// keepSessionID, all at once. Returns EINVALID (field
	// "current_password" or "new_password"), EUNAUTHORIZED without a user.
	ChangePassword(ctx context.Context, current, next string, keepSessionID int64) error
}
