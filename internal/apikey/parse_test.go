package apikey_test

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
)

// vectorRandom is a random part fixed for known-answer tests.
const vectorRandom = "0123456789ABCDEFGHIJKLMNOPQRSTUV"

// MustKey returns the key with the given 32-character random part.
func MustKey(tb testing.TB, random string) apikey.Key {
	tb.Helper()
	body := apikey.Prefix + random
	k, err := apikey.Parse(body + apikey.Checksum(body))
	if err != nil {
		tb.Fatalf("MustKey(%q): %v", random, err)
	}
	return k
}

// replaceAt returns s with the bytes at i replaced by r.
func replaceAt(s string, i int, r string) string {
	return s[:i] + r + s[i+len(r):]
}

// otherDigit returns a base62 digit different from c.
func otherDigit(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func TestParse(t *testing.T) {
	valid := apikey.MustGenerate().String()
	for _, tt := range []struct {
		name       string
		in         string
		wantReason apikey.Reason
		wantMsg    string
	}{
		{"OK", valid, "", ""},
		{"OKKnownVector", "kg_" + vectorRandom + "3E6O7i", "", ""},
		{"ErrEmpty", "", apikey.ReasonEmpty, "api key: empty"},
		{"ErrPrefixOtherVendor", "sk_" + valid[3:], apikey.ReasonPrefix, "api key: missing kg_ prefix"},
		{"ErrPrefixUppercase", "KG_" + valid[3:], apikey.ReasonPrefix, "api key: missing kg_ prefix"},
		{"ErrPrefixHyphen", "kg-" + valid[3:], apikey.ReasonPrefix, "api key: missing kg_ prefix"},
		{"ErrPrefixLeadingSpace", " " + valid, apikey.ReasonPrefix, "api key: missing kg_ prefix"},
		{"ErrPrefixSurroundingWhitespace", "\t" + valid + "\n", apikey.ReasonPrefix, "api key: missing kg_ prefix"},
		{"ErrLengthPrefixOnly", "kg_", apikey.ReasonLength, "api key: must be 41 characters, got 3"},
		{"ErrLengthTooShort", valid[:40], apikey.ReasonLength, "api key: must be 41 characters, got 40"},
		{"ErrLengthTooLong", valid + "0", apikey.ReasonLength, "api key: must be 41 characters, got 42"},
		{"ErrLengthTrailingNewline", valid + "\n", apikey.ReasonLength, "api key: must be 41 characters, got 42"},
		{"ErrLengthTwoKeys", valid + valid, apikey.ReasonLength, "api key: must be 41 characters, got 82"},
		{"ErrCharsetHyphen", replaceAt(valid, 7, "-"), apikey.ReasonCharset, "api key: invalid character at position 8"},
		{"ErrCharsetUnicode", replaceAt(valid, 10, "é"), apikey.ReasonCharset, "api key: invalid character at position 11"},
		{"ErrCharsetNUL", replaceAt(valid, 3, "\x00"), apikey.ReasonCharset, "api key: invalid character at position 4"},
		{"ErrCharsetInChecksum", replaceAt(valid, 40, "="), apikey.ReasonCharset, "api key: invalid character at position 41"},
		{"ErrChecksumRandomChanged", replaceAt(valid, 10, otherDigit(valid[10])), apikey.ReasonChecksum, "api key: checksum does not match (mistyped or not a Keygate key)"},
		{"ErrChecksumChecksumChanged", replaceAt(valid, 40, otherDigit(valid[40])), apikey.ReasonChecksum, "api key: checksum does not match (mistyped or not a Keygate key)"},
		// 62^6 > 2^32, so "zzzzzz" is above any CRC-32 and must not wrap around.
		{"ErrChecksumOverflow", "kg_" + vectorRandom + "zzzzzz", apikey.ReasonChecksum, "api key: checksum does not match (mistyped or not a Keygate key)"},
		{"ErrChecksumMadeUp", "kg_" + strings.Repeat("a", 38), apikey.ReasonChecksum, "api key: checksum does not match (mistyped or not a Keygate key)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := apikey.Parse(tt.in)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Parse = %v, want nil", err)
				}
				if got, want := k.String(), tt.in; got != want {
					t.Fatalf("String() = %q, want %q", got, want)
				}
				return
			}
			pe, ok := errors.AsType[*apikey.ParseError](err)
			if !ok {
				t.Fatalf("Parse error = %v (%T), want *ParseError", err, err)
			}
			if got, want := pe.Reason, tt.wantReason; got != want {
				t.Errorf("Reason = %q, want %q", got, want)
			}
			if got, want := err.Error(), tt.wantMsg; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			if k != (apikey.Key{}) {
				t.Errorf("Parse returned key %q with an error, want zero Key", k.String())
			}
		})
	}
}

// TestParseError_OmitsInput guards against echoing a presented secret into
// logs or responses.
func TestParseError_OmitsInput(t *testing.T) {
	valid := apikey.MustGenerate().String()
	for _, tt := range []struct {
		name, in string
	}{
		{"ErrPrefix", "sk_live_" + valid[3:]},
		{"ErrLength", valid + "x"},
		{"ErrCharset", replaceAt(valid, 20, "/")},
		{"ErrChecksum", replaceAt(valid, 20, otherDigit(valid[20]))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := apikey.Parse(tt.in)
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			msg := err.Error()
			// Any 8 consecutive input bytes would be a leak.
			for i := 0; i+8 <= len(tt.in); i++ {
				if strings.Contains(msg, tt.in[i:i+8]) {
					t.Fatalf("message %q contains input bytes %q", msg, tt.in[i:i+8])
				}
			}
		})
	}
}

func TestParseError_Unknown(t *testing.T) {
	err := &apikey.ParseError{Reason: "something_else"}
	if got, want := err.Error(), "api key: invalid"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

// checksumIndependent encodes crc32.ChecksumIEEE in base62 without the
// package's code, as a second implementation to compare against.
func checksumIndependent(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var out []byte
	for v > 0 {
		out = append([]byte{base62[v%62]}, out...)
		v /= 62
	}
	return fmt.Sprintf("%06s", out)
}

func TestChecksum(t *testing.T) {
	body := "kg_" + vectorRandom
	t.Run("KnownVector", func(t *testing.T) {
		// CRC-32 0xb03d088e = 2956785806, also checked with Python's zlib.crc32.
		if got, want := crc32.ChecksumIEEE([]byte(body)), uint32(0xb03d088e); got != want {
			t.Fatalf("crc32 = %#x, want %#x", got, want)
		}
		if got, want := apikey.Checksum(body), "3E6O7i"; got != want {
			t.Fatalf("Checksum = %q, want %q", got, want)
		}
	})
	t.Run("MatchesIndependentEncoding", func(t *testing.T) {
		if got, want := apikey.Checksum(body), checksumIndependent(body); got != want {
			t.Fatalf("Checksum = %q, want %q", got, want)
		}
		for range 1000 {
			s := apikey.MustGenerate().String()
			if got, want := s[35:], checksumIndependent(s[:35]); got != want {
				t.Fatalf("checksum of %s = %q, want %q", s[:35], got, want)
			}
		}
	})
	t.Run("PadsWithZero", func(t *testing.T) {
		// The CRC-32 of "" is 0, the smallest value.
		if got, want := apikey.Checksum(""), "000000"; got != want {
			t.Fatalf("Checksum(\"\") = %q, want %q", got, want)
		}
	})
}

func TestLooksLikeKey(t *testing.T) {
	valid := apikey.MustGenerate().String()
	for _, tt := range []struct {
		name string
		in   string
		want bool
	}{
		{"TrueValid", valid, true},
		{"TrueBadChecksum", "kg_" + strings.Repeat("a", 38), true},
		{"FalseEmpty", "", false},
		{"FalsePrefix", "sk_" + valid[3:], false},
		{"FalseShort", valid[:40], false},
		{"FalseLong", valid + "a", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := apikey.LooksLikeKey(tt.in); got != tt.want {
				t.Fatalf("LooksLikeKey = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	s := apikey.MustGenerate().String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apikey.Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
