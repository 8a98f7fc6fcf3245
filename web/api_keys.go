package web

import (
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// apiKeyJSON is a key as the API shows it: never its secret. Webhook
// events show keys the same way.
type apiKeyJSON = keygate.APIKeyJSON

// apiKeyWithSecretJSON answers the creation or roll of a key. Key, the
// secret, is in the first answer only: a retry with the same
// Idempotency-Key gets null and a detail that says so.
type apiKeyWithSecretJSON struct {
	apiKeyJSON
	Key    *string `json:"key"`
	Detail string  `json:"detail,omitempty"`
}

func (s *Server) keyJSON(k *keygate.APIKey) apiKeyJSON { return keygate.NewAPIKeyJSON(k, s.now()) }

// writeNewKey answers a create or roll with the key and its secret, and
// leaves for a retry the same answer without it.
func (s *Server) writeNewKey(w http.ResponseWriter, k *keygate.APIKey, secret string) {
	keepInstead(w, apiKeyWithSecretJSON{apiKeyJSON: s.keyJSON(k),
		Detail: "The key's secret was sent in the first response only and is not kept. If that response was lost, revoke this key (DELETE /api/v1/keys/" + k.PublicID + ") and create another."})
	writeJSON(w, http.StatusCreated, apiKeyWithSecretJSON{apiKeyJSON: s.keyJSON(k), Key: &secret})
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
	f := keygate.APIKeyFilter{OrgPublicID: apiKeyFrom(r.Context()).OrgPublicID, State: state, Page: page}
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
	obj.decodeField("permissions", &in.Permissions, msgPermissionsList, fe)
	obj.decodeField("allowed_ips", &in.AllowedIPs, msgAllowedIPsList, fe)
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

// Messages of PATCH /api/v1/keys/{id}.
const (
	msgRateLimitSyntax = "Enter a limit like 1000/h, 60/m or 10/s."
	msgKeyFieldFixed   = "This field cannot be changed. Create another key and revoke this one."
	msgPermissionsList = "Expected a list of permission names."
	msgAllowedIPsList  = "Expected a list of IP addresses or CIDR ranges."
)

// apiUpdateKey changes what the dashboard's key page edits: name, note,
// environment, rate limit and allowed IPs. Scopes, permissions and expiry are fixed for a key's
// life. An empty object changes nothing and returns the key.
func (s *Server) apiUpdateKey(w http.ResponseWriter, r *http.Request) {
	obj, ok := decodeObject(w, r)
	if !ok {
		return
	}
	fe := fieldErrors{}
	upd, changes := keyUpdateOf(obj, fe)
	if len(fe) > 0 {
		fe.merge(upd.Validate().Fields)
		fe.write(w)
		return
	}
	orgID, id := apiKeyFrom(r.Context()).OrgPublicID, r.PathValue("id")
	var k *keygate.APIKey
	var err error
	if changes {
		k, err = s.apiKeys.UpdateAPIKey(r.Context(), orgID, id, upd)
	} else {
		k, err = s.apiKeys.FindAPIKeyByID(r.Context(), orgID, id)
	}
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.keyJSON(k))
}

// keyUpdateOf reads a PATCH body; changes reports whether it names a field
// to change. A rate_limit of null or "" is the instance's default.
func keyUpdateOf(obj jsonObject, fe fieldErrors) (upd keygate.APIKeyUpdate, changes bool) {
	if v, ok := obj.str("name", fe); ok {
		upd.Name = &v
	}
	if v, ok := obj.str("environment", fe); ok {
		env := keygate.Environment(v)
		upd.Environment = &env
	}
	if v, ok := obj.str("note", fe); ok {
		upd.Note = &v
	}
	if v, ok := obj.str("rate_limit", fe); ok {
		if _, bad := fe["rate_limit"]; !bad && v != "" {
			if l, err := ratelimit.ParseLimit(v); err != nil {
				fe.add("rate_limit", msgRateLimitSyntax)
			} else {
				v = l.String()
			}
		}
		upd.RateLimit = &v
	}
	if raw, ok := obj["allowed_ips"]; ok {
		// null, like [], lets the key be used from anywhere.
		ips := []string{}
		if isNull(raw) || obj.decodeField("allowed_ips", &ips, msgAllowedIPsList, fe) {
			upd.AllowedIPs = &ips
		}
	}
	for _, f := range []string{"scopes", "expires_at", "permissions"} {
		if _, ok := obj[f]; ok {
			fe.add(f, msgKeyFieldFixed)
		}
	}
	changes = upd.Name != nil || upd.Environment != nil || upd.Note != nil || upd.RateLimit != nil || upd.AllowedIPs != nil
	return upd, changes
}
