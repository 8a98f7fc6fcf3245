package keygate_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

func TestValidateOrganizationName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"OK", "Acme", ""},
		{"OK/MaxLength", strings.Repeat("a", 100), ""},
		{"OK/MaxLengthMultibyte", strings.Repeat("ß", 100), ""},
		{"ErrNameRequired", "", "Organization name is required."},
		{"ErrNameRequiredBlank", " \t\n ", "Organization name is required."},
		{"ErrNameTooLong", strings.Repeat("a", 101), "Organization name must be at most 100 characters."},
		{"ErrNameTooLongMultibyte", strings.Repeat("ß", 101), "Organization name must be at most 100 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keygate.ValidateOrganizationName(tt.in); got != tt.want {
				t.Fatalf("ValidateOrganizationName(%q)=%q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRole_AtLeast(t *testing.T) {
	unknown := keygate.Role("superadmin")
	tests := []struct {
		r, other keygate.Role
		want     bool
	}{
		{keygate.RoleOwner, keygate.RoleOwner, true},
		{keygate.RoleOwner, keygate.RoleAdmin, true},
		{keygate.RoleOwner, keygate.RoleMember, true},
		{keygate.RoleAdmin, keygate.RoleOwner, false},
		{keygate.RoleAdmin, keygate.RoleAdmin, true},
		{keygate.RoleAdmin, keygate.RoleMember, true},
		{keygate.RoleMember, keygate.RoleOwner, false},
		{keygate.RoleMember, keygate.RoleAdmin, false},
		{keygate.RoleMember, keygate.RoleMember, true},
		// A role that is not known, or none, carries no rights at all.
		{unknown, keygate.RoleMember, false},
		{unknown, unknown, false},
		{keygate.Role(""), keygate.RoleMember, false},
		{keygate.Role(""), keygate.Role(""), false},
		{keygate.Role("Owner"), keygate.RoleMember, false}, // roles are lower case
	}
	for _, tt := range tests {
		t.Run(string(tt.r)+"/"+string(tt.other), func(t *testing.T) {
			if got := tt.r.AtLeast(tt.other); got != tt.want {
				t.Fatalf("%q.AtLeast(%q)=%v, want %v", tt.r, tt.other, got, tt.want)
			}
		})
	}
}

func TestRole_ValidLabel(t *testing.T) {
	tests := []struct {
		r         keygate.Role
		wantValid bool
		wantLabel string
	}{
		{keygate.RoleOwner, true, "Owner"},
		{keygate.RoleAdmin, true, "Admin"},
		{keygate.RoleMember, true, "Member"},
		{keygate.Role("boss"), false, "boss"},
		{keygate.Role(""), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.wantLabel, func(t *testing.T) {
			if got := tt.r.Valid(); got != tt.wantValid {
				t.Errorf("%q.Valid()=%v, want %v", tt.r, got, tt.wantValid)
			}
			if got := tt.r.Label(); got != tt.wantLabel {
				t.Errorf("%q.Label()=%q, want %q", tt.r, got, tt.wantLabel)
			}
		})
	}
}
