package web

import (
	"net/http"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/ratelimit"
)

// Messages of PATCH /api/v1/keys/{id}.
const (
	msgRateLimitSyntax = "Enter a limit like 1000/h, 60/m or 10/s."
	msgKeyFieldFixed   = "This field cannot be changed. Create another key and revoke this one."
)

// apiUpdateKey changes what the dashboard's key page edits: name, note,
// environment and rate limit. Scopes and expiry are fixed for a key's
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
	for _, f := range []string{"scopes", "expires_at"} {
		if _, ok := obj[f]; ok {
			fe.add(f, msgKeyFieldFixed)
		}
	}
	changes = upd.Name != nil || upd.Environment != nil || upd.Note != nil || upd.RateLimit != nil
	return upd, changes
}
