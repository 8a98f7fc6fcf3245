package keygate

import (
	"context"
	"net"
	"net/url"
	"strings"
	"time"
)

// Audit actions of organization single sign-on.
const (
	// AuditOrgSSOSave: an organization's SSO settings were saved.
	AuditOrgSSOSave = "organization.sso_save"
)

// MsgRequireSSO is what a password login of a member of an organization
// that requires single sign-on is told.
const MsgRequireSSO = "Your organization requires single sign-on. Use Sign in with SSO."

// MsgNoOrgSSODomain is the error beside the work email field when no
// organization claims its domain.
const MsgNoOrgSSODomain = "No organization uses single sign-on for this domain."

// OrgSSO is an organization's own OpenID Connect provider, as its settings
// page shows it: the client secret only as its last characters.
type OrgSSO struct {
	OrgID         int64
	OrgPublicID   string
	OrgName       string
	Issuer        string
	ClientID      string
	SecretLast4   string
	Domains       []string
	RequireSSO    bool
	UpdatedAt     time.Time
	UpdatedByName string
	// ClientSecret is set only by FindOrgSSOByEmail and FindOrgSSOForLogin,
	// for the code that talks to the provider. Never rendered.
	ClientSecret string
}

// MaskedSecret is the client secret as shown: dots and at most its last
// four characters.
func (o *OrgSSO) MaskedSecret() string { return "••••••••" + o.SecretLast4 }

// OrgSSOSave is the input of SaveOrgSSO. An empty ClientSecret keeps the
// stored one (the form is never pre-filled with it); Domains is the text
// of the form field, comma or newline separated.
type OrgSSOSave struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Domains      string
	RequireSSO   bool
}

// maxOrgSSODomains bounds how many domains one organization may claim.
const maxOrgSSODomains = 50

// Normalize trims the input.
func (in *OrgSSOSave) Normalize() {
	in.Issuer, in.ClientID = strings.TrimSpace(in.Issuer), strings.TrimSpace(in.ClientID)
	in.ClientSecret = strings.TrimSpace(in.ClientSecret)
}

// Validate checks the input and returns the domains it names, normalized
// and without duplicates. hasSecret says whether a secret is stored
// already. It returns an EINVALID error with field messages.
func (in *OrgSSOSave) Validate(hasSecret bool) ([]string, error) {
	var v ValidationErrors
	if msg := ValidateIssuerURL(in.Issuer); msg != "" {
		v.Add("issuer", msg)
	}
	switch {
	case in.ClientID == "":
		v.Add("client_id", "Enter the client ID.")
	case len(in.ClientID) > 500:
		v.Add("client_id", "The client ID is too long.")
	}
	switch {
	case in.ClientSecret == "" && !hasSecret:
		v.Add("client_secret", "Enter the client secret.")
	case len(in.ClientSecret) > 2000:
		v.Add("client_secret", "The client secret is too long.")
	}
	domains, msg := ParseSSODomains(in.Domains)
	if msg != "" {
		v.Add("domains", msg)
	}
	return domains, v.Err()
}

// ParseSSODomains reads comma or newline separated email domains, and
// returns them lower-cased without duplicates, or a message for the field.
func ParseSSODomains(text string) ([]string, string) {
	var out []string
	seen := map[string]bool{}
	for _, d := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' || r == '\t' }) {
		d = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "@")
		if d == "" || seen[d] {
			continue
		}
		if !validDomain(d) {
			return nil, "“" + d + "” is not a domain name, like example.com."
		}
		seen[d] = true
		out = append(out, d)
	}
	switch {
	case len(out) == 0:
		return nil, "Enter at least one email domain, like example.com."
	case len(out) > maxOrgSSODomains:
		return nil, "Enter at most 50 domains."
	}
	return out, ""
}

// validDomain reports whether d is a DNS name with at least two labels.
func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// EmailDomain returns the normalized domain of an email address, or "".
func EmailDomain(email string) string {
	at := strings.LastIndex(email, "@")
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(email[at+1:]))
}

// ValidateIssuerURL returns a message when issuer is not an https:// URL
// (plain http:// only on a loopback address, for development and tests).
func ValidateIssuerURL(issuer string) string {
	u, err := url.Parse(issuer)
	if issuer == "" {
		return "Enter the issuer URL."
	} else if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(issuer) > 500 {
		return "Enter the issuer as an absolute URL, like https://login.example.com."
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return ""
		}
	}
	return "The issuer must use https://."
}

// OrgSSOService manages organizations' own single sign-on providers.
type OrgSSOService interface {
	// FindOrgSSO returns the organization's SSO settings, masked. Returns
	// ENOTFOUND when none are saved (or the organization is not the
	// actor's), EFORBIDDEN below Admin.
	FindOrgSSO(ctx context.Context, orgID string) (*OrgSSO, error)

	// SaveOrgSSO creates or replaces the organization's SSO settings, the
	// secret sealed at rest. Switching Require SSO on ends the sessions of
	// its members other than Owners (and the actor). Returns EINVALID with
	// field messages (a domain another organization claims included),
	// EFORBIDDEN below Admin, ENOTFOUND.
	SaveOrgSSO(ctx context.Context, orgID string, in *OrgSSOSave) (*OrgSSO, error)

	// FindOrgSSOByEmail returns the settings, with the plaintext secret,
	// of the organization that claims the email's domain. It checks no
	// actor: the result must never be rendered. Returns ENOTFOUND.
	FindOrgSSOByEmail(ctx context.Context, email string) (*OrgSSO, error)

	// FindOrgSSOForLogin is FindOrgSSOByEmail by organization public id.
	// Returns ENOTFOUND.
	FindOrgSSOForLogin(ctx context.Context, orgPublicID string) (*OrgSSO, error)

	// LoginWithOrgIdentity returns the user an identity from the
	// organization's provider belongs to. A new identity whose email is in
	// one of the organization's domains links to the account with that
	// email if the provider asserts it verified, or creates an account
	// (whatever the instance's signup mode: the organization allows its
	// domains); either way the user becomes a Member. Returns ENOTFOUND,
	// EFORBIDDEN for an email outside the domains, ECONFLICT for an
	// unverified email of an existing account, EUNAUTHORIZED for a
	// disabled user, EINVALID without a usable email.
	LoginWithOrgIdentity(ctx context.Context, orgPublicID string, ext *ExternalIdentity) (*User, SSOOutcome, error)
}
