package web

import (
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// apiKeyJSON is a key as the API shows it: never its secret.
type apiKeyJSON struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Environment string       `json:"environment"`
	Scopes      []string     `json:"scopes"`
	Hint        string       `json:"hint"`
	Note        string       `json:"note"`
	RateLimit   *string      `json:"rate_limit"` // null: the instance's default
	CreatedBy   *creatorJSON `json:"created_by"` // null: a deleted user
	CreatedAt   time.Time    `json:"created_at"`
	ExpiresAt   *time.Time   `json:"expires_at"`
	RevokedAt   *time.Time   `json:"revoked_at"`
	LastUsedAt  *time.Time   `json:"last_used_at"`
	State       string       `json:"state"`
}

// creatorJSON names who created something: {"type": "user" | "key", "id",
// "name"}.
type creatorJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// apiKeyWithSecretJSON answers the creation or roll of a key. Key, the
// secret, is in the first answer only: a retry with the same
// Idempotency-Key gets null and a detail that says so.
type apiKeyWithSecretJSON struct {
	apiKeyJSON
	Key    *string `json:"key"`
	Detail string  `json:"detail,omitempty"`
}

func (s *Server) keyJSON(k *keygate.APIKey) apiKeyJSON {
	out := apiKeyJSON{
		ID: k.PublicID, Name: k.Name, Environment: string(k.Environment), Hint: k.Hint, Note: k.Note,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		LastUsedAt: k.LastUsedAt, State: string(k.State(s.now())), Scopes: []string{},
	}
	for _, sc := range k.Scopes {
		out.Scopes = append(out.Scopes, string(sc))
	}
	if k.RateLimit != "" {
		limit := k.RateLimit
		out.RateLimit = &limit
	}
	if c := k.CreatedBy; c != nil {
		out.CreatedBy = &creatorJSON{Type: c.Type, ID: c.PublicID, Name: c.Name}
	}
	return out
}

// writeNewKey answers a create or roll with the key and its secret, and
// leaves for a retry the same answer without it.
func (s *Server) writeNewKey(w http.ResponseWriter, k *keygate.APIKey, secret string) {
	keepInstead(w, apiKeyWithSecretJSON{apiKeyJSON: s.keyJSON(k),
		Detail: "The key's secret was sent in the first response only and is not kept. If that response was lost, revoke this key (DELETE /api/v1/keys/" + k.PublicID + ") and create another."})
	writeJSON(w, http.StatusCreated, apiKeyWithSecretJSON{apiKeyJSON: s.keyJSON(k), Key: &secret})
}

// meJSON is the answer of GET /api/v1/me.
type meJSON struct {
	Key struct {
		ID          string     `json:"id"`
		Name        string     `json:"name"`
		Scopes      []string   `json:"scopes"`
		Environment string     `json:"environment"`
		ExpiresAt   *time.Time `json:"expires_at"`
		Hint        string     `json:"hint"`
	} `json:"key"`
	Organization struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"organization"`
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	writeJSONHeader(w, http.StatusOK)
	w.Write(s.keyInfo(apiKeyFrom(r.Context())).me)
}

// meBody is the JSON of GET /api/v1/me for a key, worked out once per
// cached record (keyInfo).
func meBody(rec *apikey.Record, scopes []string) []byte {
	var out meJSON
	out.Key.ID, out.Key.Name, out.Key.Environment, out.Key.ExpiresAt, out.Key.Hint = rec.PublicID, rec.Name, rec.Environment, rec.ExpiresAt, rec.Hint
	out.Key.Scopes = scopes
	out.Organization.ID, out.Organization.Name = rec.OrgPublicID, rec.OrgName
	return encodeJSON(&out)
}

func (s *Server) apiListKeys(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	state := keygate.KeyState(r.URL.Query().Get("state"))
	if state != "" && state != keygate.KeyActive && state != keygate.KeyExpired && state != keygate.KeyRevoked {
		fieldErrors{"state": {"Select a valid choice: active, expired or revoked."}}.write(w)
		return
	}
	f := keygate.APIKeyFilter{OrganizationID: apiKeyFrom(r.Context()).OrgPublicID, State: state, Page: page}
	keys, more, err := s.apiKeys.FindAPIKeyPage(r.Context(), f)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeList(s, w, r, page, keys, more, func(k *keygate.APIKey) int64 { return k.ID }, s.keyJSON)
}

func (s *Server) apiGetKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.apiKeys.FindAPIKeyByID(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"))
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.keyJSON(k))
}

func (s *Server) apiCreateKey(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	in := &keygate.APIKeyCreate{Environment: keygate.EnvProduction}
	in.Name, _ = obj.str("name", fe)
	if env, ok := obj.str("environment", fe); ok {
		in.Environment = keygate.Environment(env)
	}
	in.Note, _ = obj.str("note", fe)
	var scopes []string
	if obj.decodeField("scopes", &scopes, "Expected a list of scopes: read, write, admin.", fe) {
		for _, sc := range scopes {
			in.Scopes = append(in.Scopes, keygate.Scope(sc))
		}
	}
	// Omitted, the key gets the default lifetime; null, it never expires.
	var sent bool
	in.ExpiresAt, sent = obj.timeField("expires_at", fe)
	in.DefaultExpiry = !sent
	if len(fe) > 0 {
		// The domain's checks of the other fields, which the service runs.
		fe.merge(apiKeyFields(in.Validate(s.now()).Fields))
		fe.write(w)
		return
	}
	key, secret, err := s.apiKeys.CreateAPIKey(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, in)
	if err != nil {
		apiKeyFields(keygate.ErrorFields(err))
		s.apiErr(w, r, err)
		return
	}
	s.writeNewKey(w, key, secret)
}

// apiKeyFields renames, in place, the fields of the service's messages
// whose API name differs: the dashboard's "expiration" is expires_at.
func apiKeyFields(fields map[string]string) map[string]string {
	if m, ok := fields["expiration"]; ok {
		fields["expires_at"] = m
		delete(fields, "expiration")
	}
	return fields
}

func (s *Server) apiRollKey(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r) // the body is optional
	if !ok {
		return
	}
	grace := time.Duration(0)
	fe := fieldErrors{}
	if n, ok := obj.intField("grace_seconds", fe); ok {
		grace = time.Duration(n) * time.Second
	}
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	// Retries are the Idempotency-Key's business (idempotent), not the
	// dashboard's one-time form token's.
	next, secret, _, err := s.apiKeys.RollAPIKey(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"), grace, "")
	if keygate.ErrorCode(err) == keygate.EINVALID && len(keygate.ErrorFields(err)) > 0 {
		fieldErrors{"grace_seconds": {"Choose one of 0, 3600, 86400 or 604800."}}.write(w)
		return
	} else if err != nil {
		s.apiErr(w, r, err)
		return
	}
	s.writeNewKey(w, next, secret)
}

func (s *Server) apiRevokeKey(w http.ResponseWriter, r *http.Request) {
	if _, err := s.apiKeys.RevokeAPIKey(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id")); err != nil {
		s.apiErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) {
	members, err := s.orgs.FindMembers(r.Context(), apiKeyFrom(r.Context()).OrgPublicID)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(members))
	for _, m := range members {
		out = append(out, map[string]any{
			"id": m.User.PublicID, "name": m.User.Name, "email": m.User.Email, "role": string(m.Role), "joined_at": m.JoinedAt,
		})
	}
	writeJSON(w, http.StatusOK, listBody{Results: out})
}
