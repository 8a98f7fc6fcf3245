package keygate

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"
)

// Audit actions of organization single sign-on.
const (
	// AuditOrgSSOSave: an organization's SSO settings were saved.
	AuditOrgSSOSave = "organization.sso_save"
	// AuditOrgSSODelete: an organization's SSO settings were deleted.
	AuditOrgSSODelete = "organization.sso_delete"
	// AuditSSODomainVerify: a claimed domain was verified, by DNS or by a
	// superuser's approval.
	AuditSSODomainVerify = "organization.sso_domain_verify"
	// AuditLoginSSORefused: an organization's provider identified someone
	// it may not sign in (an account that is not a member, a superuser).
	AuditLoginSSORefused = "user.login_sso_refused"
)

// MsgNoOrgSSODomain is the error beside the work email field when no
// organization holds its domain verified.
const MsgNoOrgSSODomain = "No organization uses single sign-on for this domain."

// How a claimed domain was verified.
const (
	DomainVerifiedDNS   = "dns"   // a TXT record held the token
	DomainVerifiedAdmin = "admin" // a superuser approved it
)

// DomainChallengeLabel starts the name of the TXT record that proves a
// domain: _keygate-challenge.<domain>.
const DomainChallengeLabel = "_keygate-challenge."

// SSODomain is an organization's claim of an email domain. Until it is
// verified it routes nobody to the organization's provider and provisions
// nobody.
type SSODomain struct {
	Domain string
	// Token is the value the TXT record must hold. It proves nothing by
	// itself being known: it is shown on the settings page to publish.
	Token      string
	CreatedAt  time.Time
	VerifiedAt *time.Time
	// VerifiedMethod is DomainVerifiedDNS or DomainVerifiedAdmin.
	VerifiedMethod string
	// VerifiedByName names the superuser who approved it.
	VerifiedByName string
	// OrgPublicID and OrgName are set by FindSSODomains.
	OrgPublicID string
	OrgName     string
	// TakenElsewhere says another organization holds the domain verified,
	// so this claim can never be verified.
	TakenElsewhere bool
}

// Verified reports whether the claim is proven.
func (d *SSODomain) Verified() bool { return d.VerifiedAt != nil }

// RecordName is the name of the TXT record that proves the domain.
func (d *SSODomain) RecordName() string { return DomainChallengeLabel + d.Domain }

// TXTResolver looks up TXT records; *net.Resolver is one. Tests inject
// their own answers.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// CheckDomainTXT returns nil if the domain's challenge record holds its
// token, else an EINVALID error saying what is missing.
func CheckDomainTXT(ctx context.Context, r TXTResolver, d *SSODomain) error {
	records, err := r.LookupTXT(ctx, d.RecordName())
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return Errorf(EINVALID, "There is no TXT record at %s yet. Add it with the value shown, then verify again: DNS changes can take a few minutes to appear.", d.RecordName())
	case err != nil:
		return Errorf(EINVALID, "Keygate could not look up the TXT record at %s. Try again in a few minutes.", d.RecordName())
	}
	for _, rec := range records {
		if strings.TrimSpace(rec) == d.Token {
			return nil
		}
	}
	return Errorf(EINVALID, "The TXT record at %s does not hold this domain's token. Its value must be exactly %s.", d.RecordName(), d.Token)
}

// OrgSSO is an organization's own OpenID Connect provider, as its settings
// page shows it: the client secret only as its last characters.
type OrgSSO struct {
	OrgID         int64
	OrgPublicID   string
	OrgName       string
	Issuer        string
	ClientID      string
	SecretLast4   string
	Domains       []*SSODomain
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

// DomainNames lists the claimed domains, verified or not.
func (o *OrgSSO) DomainNames() []string {
	out := make([]string, len(o.Domains))
	for i, d := range o.Domains {
		out[i] = d.Domain
	}
	return out
}

// HasVerifiedDomain reports whether domain is one of the organization's
// verified domains: the only ones its provider is trusted for.
func (o *OrgSSO) HasVerifiedDomain(domain string) bool {
	for _, d := range o.Domains {
		if d.Domain == domain && d.Verified() {
			return true
		}
	}
	return false
}

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

// MsgNotOrgMember is the refusal of an organization's provider that
// identified an existing account outside the organization.
func MsgNotOrgMember(orgName string) string {
	return "This account is not a member of " + orgName + ". Ask an admin for an invitation."
}

// OrgSSOService manages organizations' own single sign-on providers.
//
// An organization's provider is trusted far less than an operator's: it
// only ever signs in the organization's own members, or creates new
// accounts in the organization's verified domains. It never links to or
// signs in an existing account outside the organization, and never a
// superuser.
type OrgSSOService interface {
	// FindOrgSSO returns the organization's SSO settings, masked, with its
	// domain claims. Returns ENOTFOUND when none are saved (or the
	// organization is not the actor's), EFORBIDDEN below Admin.
	FindOrgSSO(ctx context.Context, orgID string) (*OrgSSO, error)

	// SaveOrgSSO creates or replaces the organization's SSO settings, the
	// secret sealed at rest. A newly listed domain is claimed pending
	// verification; a domain left out is released, and the identities its
	// people had from this provider are removed. Returns EINVALID with
	// field messages (a domain another organization holds verified
	// included), EFORBIDDEN below Admin, ENOTFOUND.
	SaveOrgSSO(ctx context.Context, orgID string, in *OrgSSOSave) (*OrgSSO, error)

	// DeleteOrgSSO removes the organization's SSO settings, its domain
	// claims and every identity its provider created. Returns ENOTFOUND,
	// EFORBIDDEN below Admin.
	DeleteOrgSSO(ctx context.Context, orgID string) error

	// VerifyOrgSSODomain checks the domain's TXT record through dns and
	// marks the claim verified. Returns ENOTFOUND, EFORBIDDEN below Admin,
	// EINVALID when the record is missing or wrong, ECONFLICT when another
	// organization holds the domain verified.
	VerifyOrgSSODomain(ctx context.Context, orgID, domain string, dns TXTResolver) (*SSODomain, error)

	// FindSSODomains lists every organization's domain claims, pending
	// first, for the Admin area. Returns EFORBIDDEN unless the actor is a
	// superuser.
	FindSSODomains(ctx context.Context) ([]*SSODomain, error)

	// ApproveSSODomain verifies an organization's claim without DNS, for
	// instances that cannot look records up. Returns EFORBIDDEN unless the
	// actor is a superuser, ENOTFOUND, ECONFLICT when another organization
	// holds the domain verified.
	ApproveSSODomain(ctx context.Context, orgPublicID, domain string) (*SSODomain, error)

	// FindOrgSSOByEmail returns the settings, with the plaintext secret,
	// of the organization that holds the email's domain verified. It
	// checks no actor: the result must never be rendered. Returns
	// ENOTFOUND.
	FindOrgSSOByEmail(ctx context.Context, email string) (*OrgSSO, error)

	// FindOrgSSOForLogin is FindOrgSSOByEmail by organization public id.
	// Returns ENOTFOUND.
	FindOrgSSOForLogin(ctx context.Context, orgPublicID string) (*OrgSSO, error)

	// FindMemberOrgSSO lists, masked, the SSO settings of the acting
	// user's organizations that have them, for Settings > Sign-in
	// methods. Returns EUNAUTHORIZED without a user.
	FindMemberOrgSSO(ctx context.Context) ([]*OrgSSO, error)

	// LoginWithOrgIdentity returns the user an identity from the
	// organization's provider belongs to. A linked identity signs in its
	// user if they are a member and not a superuser. A new identity whose
	// email is in a verified domain of the organization creates an account
	// and membership (whatever the instance's signup mode: the
	// organization proved the domain), or links to the account with that
	// email if it is already a member, not a superuser, and the provider
	// asserts the email verified. Returns EFORBIDDEN for anyone else (an
	// audit event records the refusal), ECONFLICT for an unverified email
	// of a member's account, EUNAUTHORIZED for a disabled user, EINVALID
	// without a usable email, ENOTFOUND.
	LoginWithOrgIdentity(ctx context.Context, orgPublicID string, ext *ExternalIdentity) (*User, SSOOutcome, error)

	// LinkOrgIdentity links an identity from the organization's provider
	// to the acting user, who must be a member and not a superuser.
	// Returns EUNAUTHORIZED without a user, EFORBIDDEN, ECONFLICT if the
	// identity belongs to another user, ENOTFOUND.
	LinkOrgIdentity(ctx context.Context, orgPublicID string, ext *ExternalIdentity) (*Identity, error)
}
