package keygate

import "time"

// APIKeyJSON is a key as the API and webhook events show it: never its
// secret, its hint only.
type APIKeyJSON struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Environment string       `json:"environment"`
	Scopes      []string     `json:"scopes"`
	Hint        string       `json:"hint"`
	Note        string       `json:"note"`
	RateLimit   *string      `json:"rate_limit"` // null: the instance's default
	CreatedBy   *CreatorJSON `json:"created_by"` // null: a deleted user
	CreatedAt   time.Time    `json:"created_at"`
	ExpiresAt   *time.Time   `json:"expires_at"`
	RevokedAt   *time.Time   `json:"revoked_at"`
	LastUsedAt  *time.Time   `json:"last_used_at"`
	State       string       `json:"state"`
	// Permissions are the organization's own permission names the key
	// holds; AllowedIPs the CIDRs it may be used from, none for anywhere.
	Permissions []string `json:"permissions"`
	AllowedIPs  []string `json:"allowed_ips"`
}

// CreatorJSON names who created something: {"type": "user" | "key", "id",
// "name"}.
type CreatorJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// NewAPIKeyJSON returns k as shown at now.
func NewAPIKeyJSON(k *APIKey, now time.Time) APIKeyJSON {
	out := APIKeyJSON{
		ID: k.PublicID, Name: k.Name, Environment: string(k.Environment), Hint: k.Hint, Note: k.Note,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		LastUsedAt: k.LastUsedAt, State: string(k.State(now)), Scopes: []string{},
		Permissions: append([]string{}, k.Permissions...), AllowedIPs: append([]string{}, k.AllowedIPs...),
	}
	for _, sc := range k.Scopes {
		out.Scopes = append(out.Scopes, string(sc))
	}
	if k.RateLimit != "" {
		limit := k.RateLimit
		out.RateLimit = &limit
	}
	if c := k.CreatedBy; c != nil {
		out.CreatedBy = &CreatorJSON{Type: c.Type, ID: c.PublicID, Name: c.Name}
	}
	return out
}
