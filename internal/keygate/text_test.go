package keygate_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
)

// TestUnsafeText: names with control characters or text-direction marks
// are refused by every name validator, with one message.
func TestUnsafeText(t *testing.T) {
	const msg = "Names cannot contain control characters or text-direction marks."
	tests := []struct {
		name, in, want string
	}{
		{"OK", "Alice Owner", ""},
		{"OK/Accents", "Zoë Ångström", ""},
		{"OK/RightToLeftScript", "שלום עליכם", ""},
		{"OK/Emoji", "Deploy 🚀", ""},
		{"OK/ZeroWidthJoiner", "👩\u200d💻 team", ""},
		{"ErrRightToLeftOverride", "Alice \u202eenwO\u202c", msg},
		{"ErrLeftToRightEmbedding", "Alice \u202aOwner", msg},
		{"ErrPopDirectionalFormatting", "Alice\u202c", msg},
		{"ErrRightToLeftIsolate", "Alice \u2067Owner\u2069", msg},
		{"ErrFirstStrongIsolate", "Alice \u2068Owner", msg},
		{"ErrLeftToRightMark", "Alice\u200e", msg},
		{"ErrRightToLeftMark", "Alice\u200f", msg},
		{"ErrArabicLetterMark", "Alice\u061c", msg},
		{"ErrNUL", "Alice\x00Owner", msg},
		{"ErrBell", "Alice\x07Owner", msg},
		{"ErrNUL+Bell", "Alice\x00\x07Owner", msg},
		{"ErrTab", "Alice\tOwner", msg},
		{"ErrNewline", "Alice\nOwner", msg},
		{"ErrDelete", "Alice\x7f", msg},
		{"ErrC1Control", "Alice\u0085Owner", msg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keygate.UnsafeTextMessage(tt.in); got != tt.want {
				t.Fatalf("UnsafeTextMessage(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := keygate.ValidateName(tt.in); got != tt.want {
				t.Fatalf("ValidateName(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := keygate.ValidateOrganizationName(tt.in); got != tt.want {
				t.Fatalf("ValidateOrganizationName(%q) = %q, want %q", tt.in, got, tt.want)
			}
			in := keygate.APIKeyCreate{Name: tt.in, Environment: keygate.EnvProduction, Scopes: []keygate.Scope{keygate.ScopeRead}}
			if got := in.Validate(time.Now()).Fields["name"]; got != tt.want {
				t.Fatalf("APIKeyCreate.Validate(%q) name = %q, want %q", tt.in, got, tt.want)
			}
			upd := keygate.APIKeyUpdate{Name: &tt.in}
			if got := upd.Validate().Fields["name"]; got != tt.want {
				t.Fatalf("APIKeyUpdate.Validate(%q) name = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
