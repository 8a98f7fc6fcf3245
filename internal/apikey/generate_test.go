package apikey_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keygate/keygate/internal/apikey"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func TestGenerate(t *testing.T) {
	k, err := apikey.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	s := k.String()

	t.Run("HasPrefix", func(t *testing.T) {
		if !strings.HasPrefix(s, "kg_") {
			t.Fatalf("key does not start with kg_ (hint %s)", k.Hint())
		}
	})
	t.Run("HasLength41", func(t *testing.T) {
		if got, want := len(s), 41; got != want {
			t.Fatalf("len = %d, want %d", got, want)
		}
	})
	t.Run("IsBase62AfterPrefix", func(t *testing.T) {
		if i := strings.IndexFunc(s[3:], func(r rune) bool { return !strings.ContainsRune(base62, r) }); i >= 0 {
			t.Fatalf("non-base62 character at index %d", i+3)
		}
	})
	t.Run("RoundTripsThroughParse", func(t *testing.T) {
		got, err := apikey.Parse(s)
		if err != nil {
			t.Fatalf("Parse(Generate()) = %v", err)
		}
		if got != k {
			t.Fatalf("Parse(Generate()) returned a different key")
		}
	})
}

func TestGenerate_Distinct(t *testing.T) {
	const n = 10_000
	seen := make(map[string]bool, n)
	for range n {
		s := apikey.MustGenerate().String()
		if seen[s] {
			t.Fatalf("duplicate key after %d keys", len(seen))
		}
		seen[s] = true
	}
}

// TestGenerate_Distribution is a sanity check, not a statistical test: with
// 100,000 characters each count is about 1613 ± 40, so a 25% window is ten
// standard deviations wide and the test does not flake. Bias from a plain
// b%62 would be about +21% on eight digits; TestGenerateFrom checks the
// rejection sampling that prevents it.
func TestGenerate_Distribution(t *testing.T) {
	const sample = 100_000
	counts := make(map[byte]int, 62)
	for total := 0; total < sample; total += apikey.RandomLen {
		s := apikey.MustGenerate().String()
		for i := range apikey.RandomLen {
			counts[s[3+i]]++
		}
	}
	mean := float64(sample) / 62
	for i := range len(base62) {
		c := base62[i]
		got := float64(counts[c])
		if got == 0 {
			t.Errorf("character %q never appeared in %d", c, sample)
			continue
		}
		if dev := (got - mean) / mean; dev > 0.25 || dev < -0.25 {
			t.Errorf("character %q appeared %.0f times, %.0f%% off the mean %.0f", c, got, 100*dev, mean)
		}
	}
}

// biasedStream puts a byte that must be rejected (248..255) before each
// byte that maps to the next base62 digit (186 + i, and 186 % 62 == 0).
func biasedStream() []byte {
	var b []byte
	for i := range 32 {
		b = append(b, byte(248+i%8), byte(186+i))
	}
	return b
}

func TestGenerateFrom(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		k, err := apikey.GenerateFrom(bytes.NewReader(biasedStream()))
		if err != nil {
			t.Fatalf("GenerateFrom: %v", err)
		}
		if got, want := k.String(), "kg_0123456789ABCDEFGHIJKLMNOPQRSTUV3E6O7i"; got != want {
			t.Fatalf("key = %q, want %q", got, want)
		}
	})

	errBoom := errors.New("entropy exhausted")
	for _, tt := range []struct {
		name    string
		r       io.Reader
		wantErr error
		wantMsg string
	}{
		{"ErrReader", iotest.ErrReader(errBoom), errBoom, "generate api key: read random bytes: entropy exhausted"},
		{"ErrShortRead", bytes.NewReader(make([]byte, 10)), io.ErrUnexpectedEOF, "generate api key: read random bytes: unexpected EOF"},
		{"ErrOnlyOutOfRangeBytes", allFF{}, nil, "generate api key: random source returned too many out-of-range bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := apikey.GenerateFrom(tt.r)
			if err == nil {
				t.Fatalf("GenerateFrom = %v, want error", k.Hint())
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if got, want := err.Error(), tt.wantMsg; got != want {
				t.Errorf("message = %q, want %q", got, want)
			}
			if k != (apikey.Key{}) {
				t.Errorf("key = %q on error, want zero Key", k.String())
			}
		})
	}
}

func TestMustGenerateFrom(t *testing.T) {
	t.Run("PanicsOnReadError", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("MustGenerateFrom did not panic")
			}
		}()
		apikey.MustGenerateFrom(iotest.ErrReader(errors.New("entropy exhausted")))
	})
}

// allFF is a broken random source that only returns bytes Generate rejects.
type allFF struct{}

func (allFF) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xFF
	}
	return len(p), nil
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apikey.Generate(); err != nil {
			b.Fatal(err)
		}
	}
}
