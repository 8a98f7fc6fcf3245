// Package secretbox encrypts small values at rest (third-party credentials)
// with AES-256-GCM under one master key kept outside the database. It uses
// only the standard library.
//
// A sealed value is a version byte, a random 12-byte nonce, the ciphertext
// and the 16-byte tag. Every value is bound to additional data that names
// where it belongs (an organization and a kind of credential), so a value
// copied to another row fails to open instead of being read as that row's.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a master key in bytes: AES-256.
const KeySize = 32

// version is the first byte of every sealed value, so the format can change
// later without guessing.
const version byte = 1

// Overhead is how many bytes Seal adds to a plaintext.
const Overhead = 1 + 12 + 16

// ErrOpen is returned by Open for a value that does not authenticate: the
// wrong key, the wrong additional data, or a changed ciphertext.
var ErrOpen = errors.New("secretbox: message authentication failed")

// Box seals and opens values under one master key. It is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD
	id   string
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	// NewGCMWithRandomNonce draws a fresh 12-byte nonce from crypto/rand for
	// every Seal and prepends it: no counter to keep, and with random
	// nonces one key stays safe for far more values than Keygate will hold.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	sum := sha256.Sum256(append([]byte("keygate secretbox key id\x00"), key...))
	return &Box{aead: aead, id: hex.EncodeToString(sum[:4])}, nil
}

// ID returns a short fingerprint of the key, safe to print and log, so
// people can tell keys apart without seeing them.
func (b *Box) ID() string { return b.id }

// Seal encrypts plaintext bound to aad and returns the sealed value.
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	if b == nil || b.aead == nil {
		return nil, errors.New("secretbox: no key")
	}
	out := make([]byte, 1, Overhead+len(plaintext))
	out[0] = version
	return b.aead.Seal(out, nil, plaintext, aad), nil
}

// Open decrypts a value made by Seal with the same key and aad. It returns
// ErrOpen when the value does not authenticate.
func (b *Box) Open(ciphertext, aad []byte) ([]byte, error) {
	if b == nil || b.aead == nil {
		return nil, errors.New("secretbox: no key")
	}
	if len(ciphertext) < Overhead || ciphertext[0] != version {
		return nil, ErrOpen
	}
	out, err := b.aead.Open(nil, nil, ciphertext[1:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// GenerateKey returns a new random master key.
func GenerateKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails: crypto/rand panics rather than return an error
	return key
}

// EncodeKey returns key in the text form ParseKey reads: standard base64.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// ParseKey reads a master key written in base64 (standard or URL alphabet,
// padded or not; surrounding white space is ignored) and checks its size.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret key is empty")
	}
	raw := strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(raw); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("secret key must be %d bytes of base64, got %d bytes", KeySize, len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("secret key is not valid base64")
}
