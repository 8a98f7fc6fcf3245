package keygate_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

const msgBadEmail = "Enter a valid email address, like name@example.com."

func TestValidateEmail(t *testing.T) {
	// 64 + 1 + 189 = 254 bytes, the most an address may have.
	longest := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"
	tests := []struct {
		name  string
		email string
		want  string
	}{
		{"OK", "ada@example.com", ""},
		{"OK/PlusAndSubdomain", "ada+keys@mail.example.co.uk", ""},
		{"OK/NoDot", "ada@localhost", ""},
		{"OK/Unicode", "ådå@exämple.com", ""},
		{"OK/MaxLength", longest, ""},
		{"ErrRequired", "", "Email is required."},
		{"ErrTooLong", "a" + longest, "Email must be at most 254 characters."},
		{"ErrNoAt", "ada.example.com", msgBadEmail},
		{"ErrNoLocalPart", "@example.com", msgBadEmail},
		{"ErrNoDomain", "ada@", msgBadEmail},
		{"ErrTwoAts", "ada@@example.com", msgBadEmail},
		{"ErrSpace", "ada lovelace@example.com", msgBadEmail},
		{"ErrSurroundingSpace", " ada@example.com", msgBadEmail},
		{"ErrDisplayName", "Ada <ada@example.com>", msgBadEmail},
		{"ErrAngleBrackets", "<ada@example.com>", msgBadEmail},
		{"ErrQuotedLocalPart", `"ada"@example.com`, msgBadEmail},
		{"ErrComment", "ada@example.com (Ada)", msgBadEmail},
		{"ErrTwoAddresses", "ada@example.com, bob@example.com", msgBadEmail},
		{"ErrDoubleDot", "ada@example..com", msgBadEmail},
		{"ErrTrailingDot", "ada@example.com.", msgBadEmail},
		{"ErrNewline", "ada@example.com\nBcc: eve@example.com", msgBadEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keygate.ValidateEmail(tt.email); got != tt.want {
				t.Fatalf("ValidateEmail(%q)=%q, want %q", tt.email, got, tt.want)
			}
		})
	}
	if len(longest) != 254 {
		t.Fatalf("longest has %d bytes, want 254", len(longest))
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ada@example.com", "ada@example.com"},
		{"  Ada@Example.COM\t\n", "ada@example.com"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := keygate.NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q)=%q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"OK", "Ada Lovelace", ""},
		{"OK/OneCharacter", "A", ""},
		{"OK/MaxLength", strings.Repeat("a", 100), ""},
		// The limit counts characters, not bytes: 100 two-byte runes pass.
		{"OK/MaxLengthMultibyte", strings.Repeat("é", 100), ""},
		{"ErrNameRequired", "", "Name is required."},
		{"ErrNameTooLong", strings.Repeat("a", 101), "Name must be at most 100 characters."},
		{"ErrNameTooLongMultibyte", strings.Repeat("名", 101), "Name must be at most 100 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keygate.ValidateName(tt.in); got != tt.want {
				t.Fatalf("ValidateName(%d runes)=%q, want %q", len([]rune(tt.in)), got, tt.want)
			}
		})
	}
}

func TestSignup(t *testing.T) {
	tests := []struct {
		name       string
		in         keygate.Signup
		wantFields map[string]string
	}{
		{"OK", keygate.Signup{Name: "  Ada ", Email: " ADA@example.com ", OrganizationName: " Acme "}, nil},
		{"ErrNameRequired", keygate.Signup{Name: "   ", Email: "ada@example.com", OrganizationName: "Acme"},
			map[string]string{"name": "Name is required."}},
		{"ErrEmailInvalid", keygate.Signup{Name: "Ada", Email: "ada", OrganizationName: "Acme"},
			map[string]string{"email": msgBadEmail}},
		{"ErrOrganizationRequired", keygate.Signup{Name: "Ada", Email: "ada@example.com", OrganizationName: " "},
			map[string]string{"organization": "Organization name is required."}},
		{"ErrAll", keygate.Signup{},
			map[string]string{"name": "Name is required.", "email": "Email is required.", "organization": "Organization name is required."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Normalize()
			v := in.Validate()
			if got := v.Fields; !maps.Equal(got, tt.wantFields) {
				t.Fatalf("fields=%v, want %v", got, tt.wantFields)
			}
			if tt.wantFields == nil {
				if err := v.Err(); err != nil {
					t.Fatalf("Err()=%v, want nil", err)
				}
				return
			}
			if got, want := keygate.ErrorCode(v.Err()), keygate.EINVALID; got != want {
				t.Fatalf("code=%q, want %q", got, want)
			}
		})
	}

	t.Run("OK/Normalize", func(t *testing.T) {
		s := keygate.Signup{Name: "  Ada Lovelace ", Email: " ADA@Example.com\t", Password: "  keep my spaces  ", OrganizationName: "\tAcme  "}
		s.Normalize()
		want := keygate.Signup{Name: "Ada Lovelace", Email: "ada@example.com", Password: "  keep my spaces  ", OrganizationName: "Acme"}
		if s != want {
			t.Fatalf("normalized=%+v, want %+v (the password untouched)", s, want)
		}
	})
}
