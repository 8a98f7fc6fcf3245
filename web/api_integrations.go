package web

import (
	"net/http"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// apiIntegrationJSON is an integration as the API shows it: masked, never
// its secret.
type apiIntegrationJSON struct {
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	ClientID     string    `json:"client_id"`
	MaskedSecret string    `json:"masked_secret"`
	SecretLast4  string    `json:"secret_last4"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	UpdatedBy    string    `json:"updated_by"`
}

func (s *Server) apiListIntegrations(w http.ResponseWriter, r *http.Request) {
	if s.integrations == nil {
		apiNotFound(w, r)
		return
	}
	list, err := s.integrations.FindIntegrations(r.Context(), apiKeyFrom(r.Context()).OrgPublicID)
	if err != nil {
		s.apiErr(w, r, err)
		return
	}
	out := make([]apiIntegrationJSON, 0, len(list))
	for _, in := range list {
		out = append(out, integrationJSON(in))
	}
	writeJSON(w, http.StatusOK, listBody{Results: out})
}

func integrationJSON(in *keygate.Integration) apiIntegrationJSON {
	return apiIntegrationJSON{
		Kind: string(in.Kind), Name: in.Name, ClientID: in.ClientID, MaskedSecret: in.MaskedSecret(), SecretLast4: in.SecretLast4,
		CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, UpdatedBy: in.UpdatedByName,
	}
}
