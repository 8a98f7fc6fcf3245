package apikey_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
)

func TestHintOf(t *testing.T) {
	k := MustKey(t, vectorRandom)
	for _, tt := range []struct {
		name, token, want string
	}{
		{"OKKey", k.String(), "kg_012…6O7i"},
		{"OKUnknownKey", "kg_thisisnotarealkeyatallnotatall", "kg_thi…tall"},
		{"OKOtherVendor", "ghp_0123456789abcdefghijklmnopqrstuvwxyz", "ghp_01…wxyz"},
		{"NonASCIIReplaced", "kg_\x00\xffabcdefghijklmnopqrstuvwxyz\n", "kg_??a…xyz?"},
		{"EmptyForShortToken", "kg_short0123456789", ""},
		{"EmptyForNothing", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := apikey.HintOf(tt.token); got != tt.want {
				t.Fatalf("HintOf(%q) = %q, want %q", tt.token, got, tt.want)
			}
		})
	}
	t.Run("NeverMoreThanAKeyHint", func(t *testing.T) {
		for n := range 200 {
			token := strings.Repeat("x", n)
			if got := apikey.HintOf(token); strings.Count(got, "x") > 10 || (got != "" && strings.Count(got, "x")*2 > n) {
				t.Fatalf("HintOf(%d characters) = %q", n, got)
			}
		}
	})
}
