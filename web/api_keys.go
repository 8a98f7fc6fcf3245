package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/apikey"
	"github.com/keygate/keygate/internal/keygate"
)

// apiKeyJSON is a key as the API shows it: never its secret.
type apiKeyJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Environment string     `json:"environment"`
	Scopes      []string   `json:"scopes"`
	Hint        string     `json:"hint"`
	Note        string     `json:"note"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	State       string     `json:"state"`
	// Key is set only in the response that creates the key.
	Key string `json:"key,omitempty"`
}

func (s *Server) keyJSON(k *keygate.APIKey) apiKeyJSON {
	out := apiKeyJSON{
		ID: k.PublicID, Name: k.Name, Environment: string(k.Environment), Hint: k.Hint, Note: k.Note,
		CreatedBy: k.CreatedByName, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		LastUsedAt: k.LastUsedAt, State: string(k.State(s.now())), Scopes: []string{},
	}
	for _, sc := range k.Scopes {
		out.Scopes = append(out.Scopes, string(sc))
	}
	return out
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
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(&out) // as writeJSON writes it, newline included
	return b.Bytes()
}

func (s *Server) apiListKeys(w http.ResponseWriter, r *http.Request) {
	rec := apiKeyFrom(r.Context())
	state := keygate.KeyState(r.URL.Query().Get("state"))
	if state != "" && state != keygate.KeyActive && state != keygate.KeyExpired && state != keygate.KeyRevoked {
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": msgInvalidInput, "code": "invalid", "state": []string{"Select a valid choice: active, expired or revoked."}})
		return
	}
	keys, _, err := s.apiKeys.FindAPIKeys(r.Context(), keygate.APIKeyFilter{OrganizationID: rec.OrgPublicID, State: state, Limit: 100})
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := make([]apiKeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.keyJSON(k))
	}
	writeJSON(w, http.StatusOK, listBody{Results: out})
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
	in.FormToken = r.Header.Get("Idempotency-Key")
	var scopes []string
	if obj.decodeField("scopes", &scopes, "Expected a list of scopes: read, write, admin.", fe) {
		for _, sc := range scopes {
			in.Scopes = append(in.Scopes, keygate.Scope(sc))
		}
	}
	in.ExpiresAt, _ = obj.timeField("expires_at", fe)
	if len(fe) > 0 {
		fe.write(w)
		return
	}
	key, secret, err := s.apiKeys.CreateAPIKey(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, in)
	if fields := keygate.ErrorFields(err); fields["expiration"] != "" {
		// The dashboard's field is "expiration"; the API's is expires_at.
		fields["expires_at"] = fields["expiration"]
		delete(fields, "expiration")
	}
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := s.keyJSON(key)
	out.Key = secret
	writeJSON(w, http.StatusCreated, out)
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
	next, secret, _, err := s.apiKeys.RollAPIKey(r.Context(), apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id"), grace, r.Header.Get("Idempotency-Key"))
	if keygate.ErrorCode(err) == keygate.EINVALID && len(keygate.ErrorFields(err)) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": msgInvalidInput, "code": "invalid",
			"grace_seconds": []string{"Choose one of 0, 3600, 86400 or 604800."}})
		return
	} else if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := s.keyJSON(next)
	out.Key = secret
	writeJSON(w, http.StatusCreated, out)
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
