package keygate_test

import (
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

func TestAPIKey_CreatedByLabel(t *testing.T) {
	tests := []struct {
		name string
		key  keygate.APIKey
		want string
	}{
		{"OK/User", keygate.APIKey{CreatedByID: 7, CreatedByName: "Ada Lovelace",
			CreatedBy: &keygate.Creator{Type: keygate.CreatorUser, PublicID: "usr_1", Name: "Ada Lovelace"}}, "Ada Lovelace"},
		{"OK/Key", keygate.APIKey{
			CreatedBy: &keygate.Creator{Type: keygate.CreatorKey, PublicID: "key_ci", Name: "CI"}}, "API key “CI” (key_ci)"},
		{"OK/DeletedUser", keygate.APIKey{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.CreatedByLabel(); got != tt.want {
				t.Fatalf("CreatedByLabel()=%q, want %q", got, tt.want)
			}
		})
	}
}
