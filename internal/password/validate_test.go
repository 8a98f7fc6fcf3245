package password_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
)

// nonRepeating returns an n-rune string with no short period, built from
// an alphabet whose size (37) does not divide typical test lengths.
func nonRepeating(n int) string {
	const alphabet = "kq7vx2mzr9tb4wnpf8hjd3gcl5sy6eu0ai1o-"
	var b strings.Builder
	for i := range n {
		b.WriteByte(alphabet[(i*5+i/37)%len(alphabet)])
	}
	return b.String()
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", password.ErrTooShort},
		{"11 chars", "Tz8#mLq2vRw", password.ErrTooShort},
		{"12 chars", "Tz8#mLq2vRwK", nil},
		{"256 chars", nonRepeating(256), nil},
		{"257 chars", nonRepeating(257), password.ErrTooLong},
		{"11 two-byte runes", "ñçéüöäßøåæł", password.ErrTooShort},
		{"12 two-byte runes", "ñçéüöäßøåæłð", nil},
		{"12 four-byte runes", "🦊🐙🦉🐝🦋🐢🦀🐬🦔🐧🦒🐞", nil},
		{"256 two-byte runes", multibyte(256), nil},
		{"257 two-byte runes", multibyte(257), password.ErrTooLong},
		{"256 four-byte runes (1,024 bytes)", strings.Repeat("🦊", 255) + "🐙", nil},
		{"over 1,024 bytes", strings.Repeat("x", password.MaxBytes+1), password.ErrTooLong},
		{"a megabyte", strings.Repeat("x", 1<<20), password.ErrTooLong},
		{"common", "password1234", password.ErrCommon},
		{"common mixed case", "Password1234", password.ErrCommon},
		{"common upper case", "PASSWORD1234", password.ErrCommon},
		{"common from zxcvbn list", "1qaz2wsx3edc", password.ErrCommon},
		{"common with surrounding space", "  qwerty123456 ", password.ErrCommon},
		{"repeated char", "aaaaaaaaaaaaaaaa", password.ErrCommon},
		{"repeated multibyte char", strings.Repeat("é", 12), password.ErrCommon},
		{"only spaces", strings.Repeat(" ", 12), password.ErrCommon},
		{"repeated entry", "passwordpassword", password.ErrCommon},
		{"repeated entry thrice", "abc123abc123abc123", password.ErrCommon},
		{"repeated entry mixed case", "DragonDragonDragon", password.ErrCommon},
		{"repeated short unit", "abababababab", password.ErrCommon},
		{"passphrase", "violet-kettle-drums", nil},
		{"random-looking 14 chars", "gQ4!rM9z#Lp2wX", nil},
		{"common word inside longer phrase", "password is not my password", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := password.Validate(tt.in); !errors.Is(got, tt.want) {
				t.Errorf("Validate(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// multibyte returns n non-repeating two-byte runes.
func multibyte(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteRune(rune(0x100 + (i*7)%0x180))
	}
	if got := utf8.RuneCountInString(b.String()); got != n {
		panic("multibyte: wrong length")
	}
	return b.String()
}

func TestErrorTexts(t *testing.T) {
	for err, want := range map[error]string{
		password.ErrTooShort: "Password must be at least 12 characters.",
		password.ErrTooLong:  "Password must be at most 256 characters.",
		password.ErrCommon:   "This password is too common. Choose a less predictable one.",
	} {
		if got := keygate.ErrorMessage(err); got != want {
			t.Errorf("error text %q, want %q", got, want)
		}
		if got, want := keygate.ErrorCode(err), keygate.EINVALID; got != want {
			t.Errorf("error code %q, want %q", got, want)
		}
	}
}

func TestCommonCount(t *testing.T) {
	if n := password.CommonCount(); n < 10000 {
		t.Errorf("CommonCount() = %d, want >= 10000", n)
	}
}

func TestExtraCommon(t *testing.T) {
	if len(password.ExtraCommon) < 30 {
		t.Errorf("%d hand-written common passwords, want >= 30", len(password.ExtraCommon))
	}
	for _, s := range password.ExtraCommon {
		if n := utf8.RuneCountInString(s); n < password.MinLength {
			t.Errorf("hand-written entry %q has %d characters; shorter ones are rejected by length anyway", s, n)
		}
		if s != strings.ToLower(s) {
			t.Errorf("hand-written entry %q is not lower case", s)
		}
		if err := password.Validate(s); !errors.Is(err, password.ErrCommon) {
			t.Errorf("Validate(%q) = %v, want ErrCommon", s, err)
		}
	}
}
