package apikey_test

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/apikey"
)

func TestHint(t *testing.T) {
	t.Run("OKKnownKey", func(t *testing.T) {
		k := MustKey(t, vectorRandom)
		if got, want := k.Hint(), "kg_012…TUV"; got != want {
			t.Fatalf("Hint = %q, want %q", got, want)
		}
	})
	t.Run("OmitsChecksum", func(t *testing.T) {
		// The vector's checksum 3E6O7i shares no character with its hint.
		k := MustKey(t, vectorRandom)
		if sum := k.String()[35:]; strings.ContainsAny(k.Hint(), sum) {
			t.Fatalf("Hint %q contains a checksum character of %q", k.Hint(), sum)
		}
		for range 100 {
			k := apikey.MustGenerate()
			s, hint := k.String(), k.Hint()
			if got, want := hint, "kg_"+s[3:6]+"…"+s[32:35]; got != want {
				t.Fatalf("Hint = %q, want %q (random part only)", got, want)
			}
		}
	})
	t.Run("IsTenRunes", func(t *testing.T) {
		for range 100 {
			hint := apikey.MustGenerate().Hint()
			if got, want := len([]rune(hint)), 10; got != want {
				t.Fatalf("Hint %q has %d runes, want %d", hint, got, want)
			}
		}
	})
	t.Run("EmptyForZeroKey", func(t *testing.T) {
		if got := (apikey.Key{}).Hint(); got != "" {
			t.Fatalf("zero Key Hint = %q, want empty", got)
		}
	})
}

func TestHash(t *testing.T) {
	k := apikey.MustGenerate()
	s := k.String()
	t.Run("IsSHA256OfKey", func(t *testing.T) {
		if got, want := apikey.Hash(s), sha256.Sum256([]byte(s)); got != want {
			t.Fatalf("Hash = %x, want %x", got, want)
		}
	})
	t.Run("KeyHashEqualsHash", func(t *testing.T) {
		if got, want := k.Hash(), apikey.Hash(s); got != want {
			t.Fatalf("Key.Hash = %x, want %x", got, want)
		}
	})
	t.Run("DiffersBetweenKeys", func(t *testing.T) {
		if apikey.MustGenerate().Hash() == k.Hash() {
			t.Fatal("two keys have the same hash")
		}
	})
}

func TestKey_LogValue(t *testing.T) {
	k := apikey.MustGenerate()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("created", "key", k)
	out := buf.String()
	if strings.Contains(out, k.String()) {
		t.Fatalf("log line %q contains the secret", out)
	}
	if !strings.Contains(out, k.Hint()) {
		t.Fatalf("log line %q does not contain the hint %q", out, k.Hint())
	}
}

func BenchmarkHash(b *testing.B) {
	k := apikey.MustGenerate()
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Hash()
	}
}
