package keygate

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// IntegrationKind is a kind of service an organization connects.
type IntegrationKind string

// Integration kinds.
const (
	IntegrationZoom     IntegrationKind = "zoom"
	IntegrationDeepgram IntegrationKind = "deepgram"
	IntegrationOther    IntegrationKind = "other"
)

// IntegrationKinds lists the kinds in the order they are shown.
var IntegrationKinds = []IntegrationKind{IntegrationZoom, IntegrationDeepgram, IntegrationOther}

// Valid reports whether k is a known kind.
func (k IntegrationKind) Valid() bool {
	switch k {
	case IntegrationZoom, IntegrationDeepgram, IntegrationOther:
		return true
	}
	return false
}

// Label names the kind as people read it.
func (k IntegrationKind) Label() string {
	switch k {
	case IntegrationZoom:
		return "Zoom OAuth app"
	case IntegrationDeepgram:
		return "Deepgram API key"
	case IntegrationOther:
		return "Other credential"
	}
	return string(k)
}

// SecretField is the name of the form and API field that carries the
// kind's secret: client_secret, api_key or secret.
func (k IntegrationKind) SecretField() string {
	switch k {
	case IntegrationZoom:
		return "client_secret"
	case IntegrationDeepgram:
		return "api_key"
	}
	return "secret"
}

// Audit actions on integrations. Their events name the integration, never
// its secret.
const (
	AuditIntegrationSave   = "integration.save"
	AuditIntegrationDelete = "integration.delete"
)

// Limits of integration fields.
const (
	MaxIntegrationNameRunes   = 100
	MaxIntegrationSecretBytes = 4096
	MaxIntegrationClientID    = 255
)

// Integration is an organization's stored credential for a service. It
// carries only the last characters of its secret, for recognition; the
// secret itself is encrypted at rest and never leaves the storage layer
// through this type.
type Integration struct {
	Kind IntegrationKind
	// Name names an Other credential; "" for the other kinds.
	Name string
	// ClientID is the Zoom app's client ID, which is not secret.
	ClientID string
	// SecretLast4 is the secret's last four characters, or "" when the
	// secret is too short to show any of it safely.
	SecretLast4   string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	UpdatedByName string
}

// Title names the integration in messages and the audit log: the kind's
// label, or an Other credential's name.
func (i *Integration) Title() string {
	if i.Kind == IntegrationOther {
		return i.Name
	}
	return i.Kind.Label()
}

// MaskedSecret is the secret as shown: eight dots and its last four
// characters, "••••••••abcd".
func (i *Integration) MaskedSecret() string { return "••••••••" + i.SecretLast4 }

// minRunesForLast4 is the shortest secret whose last four characters are
// shown: on a shorter one they would give away too much of it.
const minRunesForLast4 = 12

// SecretLast4 returns the part of secret that may be shown: its last four
// characters, or "" for a secret shorter than 12 characters.
func SecretLast4(secret string) string {
	if utf8.RuneCountInString(secret) < minRunesForLast4 {
		return ""
	}
	r := []rune(secret)
	return string(r[len(r)-4:])
}

// IntegrationSave is the input that creates or replaces an integration.
// Secret is the Zoom client secret, the Deepgram API key or the Other
// credential's secret.
type IntegrationSave struct {
	Kind     IntegrationKind
	Name     string
	ClientID string
	Secret   string
}

// Normalize trims white space around every field: pasted credentials often
// carry a stray newline, and no real one starts or ends with a space.
func (in *IntegrationSave) Normalize() {
	in.Name = strings.TrimSpace(in.Name)
	in.ClientID = strings.TrimSpace(in.ClientID)
	in.Secret = strings.TrimSpace(in.Secret)
	if in.Kind != IntegrationOther {
		in.Name = ""
	}
	if in.Kind != IntegrationZoom {
		in.ClientID = ""
	}
}

// Validate checks a normalized input and returns every problem beside its
// field (name, client_id, and the kind's SecretField), or nil.
func (in *IntegrationSave) Validate() error {
	if !in.Kind.Valid() {
		return Errorf(EINVALID, "Unknown integration %q.", in.Kind)
	}
	var v ValidationErrors
	switch in.Kind {
	case IntegrationZoom:
		if in.ClientID == "" {
			v.Add("client_id", "Client ID is required.")
		} else if utf8.RuneCountInString(in.ClientID) > MaxIntegrationClientID {
			v.Add("client_id", "Client ID must be at most 255 characters.")
		}
	case IntegrationOther:
		if in.Name == "" {
			v.Add("name", "Name is required.")
		} else if utf8.RuneCountInString(in.Name) > MaxIntegrationNameRunes {
			v.Add("name", "Name must be at most 100 characters.")
		}
	}
	field := in.Kind.SecretField()
	switch {
	case in.Secret == "":
		v.Add(field, secretLabel(in.Kind)+" is required.")
	case len(in.Secret) > MaxIntegrationSecretBytes:
		v.Add(field, secretLabel(in.Kind)+" must be at most 4096 bytes.")
	}
	return v.Err()
}

// secretLabel is the label of the kind's secret field.
func secretLabel(k IntegrationKind) string {
	switch k {
	case IntegrationZoom:
		return "Client Secret"
	case IntegrationDeepgram:
		return "API key"
	}
	return "Secret"
}

// IntegrationService manages an organization's integrations. Every call
// needs the Admin or Owner role (or an API key with the admin scope) in the
// organization; another organization's id is ENOTFOUND.
type IntegrationService interface {
	// FindIntegrations returns the organization's integrations, masked, in
	// kind order and Other credentials by name. Returns ENOTFOUND,
	// EFORBIDDEN.
	FindIntegrations(ctx context.Context, orgID string) ([]*Integration, error)

	// SaveIntegration creates the integration or replaces the one of the
	// same kind (and name, for Other), encrypting its secret, and records
	// the change in the audit log. Returns ENOTFOUND, EFORBIDDEN, EINVALID.
	SaveIntegration(ctx context.Context, orgID string, in *IntegrationSave) (*Integration, error)

	// DeleteIntegration deletes an integration and records it in the audit
	// log. name is the Other credential's name, "" otherwise. Returns
	// ENOTFOUND, EFORBIDDEN, EINVALID.
	DeleteIntegration(ctx context.Context, orgID string, kind IntegrationKind, name string) (*Integration, error)
}
