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
		// The vector's checksum is 3E6O7i: the hint ends with the key's
		// last four characters, its end as people see it.
		k := MustKey(t, vectorRandom)
		if got, want := k.Hint(), "kg_012…6O7i"; got != want {
			t.Fatalf("Hint = %q, want %q", got, want)
		}
	})
	t.Run("FirstAndLastCharacters", func(t *testing.T) {
		for range 100 {
			k := apikey.MustGenerate()
			s, hint := k.String(), k.Hint()
			if got, want := hint, s[:6]+"…"+s[len(s)-4:]; got != want {
				t.Fatalf("Hint = %q, want %q (the key's first and last characters)", got, want)
			}
		}
	})
	t.Run("IsElevenRunes", func(t *testing.T) {
		for range 100 {
			hint := apikey.MustGenerate().Hint()
			if got, want := len([]rune(hint)), 11; got != want {
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
