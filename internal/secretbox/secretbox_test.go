package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/secretbox"
)

// MustBox returns a Box for a new random key.
func MustBox(tb testing.TB) *secretbox.Box {
	tb.Helper()
	b, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// MustSeal seals plaintext with aad.
func MustSeal(tb testing.TB, b *secretbox.Box, plaintext, aad string) []byte {
	tb.Helper()
	out, err := b.Seal([]byte(plaintext), []byte(aad))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestBoxSealOpen(t *testing.T) {
	const secret, aad = "zoom-client-secret-0123456789", "org_abc|zoom"
	box := MustBox(t)

	t.Run("OK", func(t *testing.T) {
		sealed := MustSeal(t, box, secret, aad)
		if got, want := len(sealed), len(secret)+secretbox.Overhead; got != want {
			t.Fatalf("sealed length = %d, want %d", got, want)
		}
		if bytes.Contains(sealed, []byte(secret)) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := box.Open(sealed, []byte(aad))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != secret {
			t.Fatalf("Open = %q, want %q", got, secret)
		}
	})
	t.Run("OKEmptyPlaintext", func(t *testing.T) {
		got, err := box.Open(MustSeal(t, box, "", aad), []byte(aad))
		if err != nil || len(got) != 0 {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	t.Run("OKFreshNonceEachTime", func(t *testing.T) {
		a, b := MustSeal(t, box, secret, aad), MustSeal(t, box, secret, aad)
		if bytes.Equal(a, b) {
			t.Fatal("two seals of one value are equal: the nonce was reused")
		}
		if bytes.Equal(a[1:13], b[1:13]) {
			t.Fatal("nonce reused")
		}
	})
	t.Run("OKSameKeyNewBox", func(t *testing.T) {
		key := secretbox.GenerateKey()
		b1, _ := secretbox.New(key)
		b2, _ := secretbox.New(bytes.Clone(key))
		if _, err := b2.Open(MustSeal(t, b1, secret, aad), []byte(aad)); err != nil {
			t.Fatal(err)
		}
		if b1.ID() != b2.ID() || len(b1.ID()) != 8 {
			t.Fatalf("IDs %q and %q", b1.ID(), b2.ID())
		}
	})
	t.Run("ErrWrongKey", func(t *testing.T) {
		other := MustBox(t)
		if other.ID() == box.ID() {
			t.Fatal("two random keys share an ID")
		}
		if _, err := other.Open(MustSeal(t, box, secret, aad), []byte(aad)); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("err = %v, want ErrOpen", err)
		}
	})
	t.Run("ErrWrongAAD", func(t *testing.T) {
		sealed := MustSeal(t, box, secret, aad)
		for _, other := range []string{"org_xyz|zoom", "org_abc|deepgram", "org_abc|zoom|", "", "org_abc|other|zoom"} {
			if _, err := box.Open(sealed, []byte(other)); !errors.Is(err, secretbox.ErrOpen) {
				t.Fatalf("aad %q: err = %v, want ErrOpen", other, err)
			}
		}
	})
	t.Run("ErrTampered", func(t *testing.T) {
		sealed := MustSeal(t, box, secret, aad)
		for i := range sealed {
			bad := bytes.Clone(sealed)
			bad[i] ^= 0x01
			if _, err := box.Open(bad, []byte(aad)); !errors.Is(err, secretbox.ErrOpen) {
				t.Fatalf("byte %d flipped: err = %v, want ErrOpen", i, err)
			}
		}
		if _, err := box.Open(sealed[:len(sealed)-1], []byte(aad)); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("truncated: err = %v", err)
		}
		if _, err := box.Open(append(bytes.Clone(sealed), 0), []byte(aad)); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("extended: err = %v", err)
		}
	})
	t.Run("ErrTooShort", func(t *testing.T) {
		for _, v := range [][]byte{nil, {1}, make([]byte, secretbox.Overhead-1)} {
			if _, err := box.Open(v, []byte(aad)); !errors.Is(err, secretbox.ErrOpen) {
				t.Fatalf("len %d: err = %v", len(v), err)
			}
		}
	})
	t.Run("ErrNilBox", func(t *testing.T) {
		var b *secretbox.Box
		if _, err := b.Seal([]byte("x"), nil); err == nil {
			t.Fatal("nil box sealed")
		}
		if _, err := b.Open(MustSeal(t, box, "x", ""), nil); err == nil {
			t.Fatal("nil box opened")
		}
	})
}

func TestNew(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := secretbox.New(make([]byte, n)); err == nil {
			t.Errorf("New accepted a %d-byte key", n)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := secretbox.GenerateKey()
	std := secretbox.EncodeKey(key)
	for name, in := range map[string]string{
		"OKStd":        std,
		"OKNewline":    std + "\n",
		"OKSpaces":     "  " + std + " \r\n",
		"OKRawStd":     strings.TrimRight(std, "="),
		"OKURL":        base64.URLEncoding.EncodeToString(key),
		"OKRawURL":     base64.RawURLEncoding.EncodeToString(key),
		"OKRoundTrips": secretbox.EncodeKey(key),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := secretbox.ParseKey(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, key) {
				t.Fatal("key differs")
			}
		})
	}
	for name, tt := range map[string]struct{ in, want string }{
		"ErrEmpty":    {"  \n", "empty"},
		"ErrNotB64":   {"not base64 at all!", "not valid base64"},
		"ErrTooShort": {base64.StdEncoding.EncodeToString(make([]byte, 16)), "32 bytes"},
		"ErrTooLong":  {base64.StdEncoding.EncodeToString(make([]byte, 64)), "32 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := secretbox.ParseKey(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
