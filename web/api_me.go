package web

import (
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/apikey"
)

// meJSON is the answer of GET /api/v1/me.
type meJSON struct {
	Key struct {
		ID          string     `json:"id"`
		Name        string     `json:"name"`
		Scopes      []string   `json:"scopes"`
		Permissions []string   `json:"permissions"`
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
	out.Key.Scopes, out.Key.Permissions = scopes, rec.Permissions
	if out.Key.Permissions == nil {
		out.Key.Permissions = []string{}
	}
	out.Organization.ID, out.Organization.Name = rec.OrgPublicID, rec.OrgName
	return encodeJSON(&out)
}
