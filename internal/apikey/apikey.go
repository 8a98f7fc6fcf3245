package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strings"
)

// Prefix starts every key.
const Prefix = "kg_"

// Lengths, in bytes, of a key's parts and of the whole key.
const (
	RandomLen   = 32
	ChecksumLen = 6
	Len         = len(Prefix) + RandomLen + ChecksumLen // 41
)

// alphabet holds the base62 digits in value order, so the checksum reads
// like a number.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// maxUnbiased is the largest multiple of 62 that fits in a byte (4 × 62).
// Bytes at or above it are dropped so that b % 62 is uniform.
const maxUnbiased = 248

// maxRandomReads bounds how often Generate asks for more bytes. With real
// randomness 97% of bytes are kept, so needing more than one read of 64 is
// already rare; reaching this bound means the source is broken.
const maxRandomReads = 32

// Key is a well-formed API key, made by [Generate] or [Parse]. The zero Key
// is not a key: its String is empty.
type Key struct {
	s string
}

// Generate returns a new random key. It fails only if the system's random
// source does.
func Generate() (Key, error) {
	return generate(rand.Reader)
}

// MustGenerate is like [Generate] but panics if the random source fails. It
// is for tests and for callers that have no way to report an error.
func MustGenerate() Key {
	return mustGenerate(rand.Reader)
}

func mustGenerate(r io.Reader) Key {
	k, err := generate(r)
	if err != nil {
		panic(err)
	}
	return k
}

func generate(r io.Reader) (Key, error) {
	var b [Len]byte
	copy(b[:], Prefix)
	random := b[len(Prefix) : len(Prefix)+RandomLen]
	if err := fillBase62(r, random); err != nil {
		return Key{}, fmt.Errorf("generate api key: %w", err)
	}
	body := b[:len(Prefix)+RandomLen]
	putChecksum(b[len(body):], crc32.ChecksumIEEE(body))
	return Key{s: string(b[:])}, nil
}

// fillBase62 fills dst with uniform base62 digits read from r by rejection
// sampling.
func fillBase62(r io.Reader, dst []byte) error {
	var buf [64]byte
	n := 0
	for range maxRandomReads {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return fmt.Errorf("read random bytes: %w", err)
		}
		for _, c := range buf {
			if c >= maxUnbiased {
				continue
			}
			dst[n] = alphabet[c%62]
			n++
			if n == len(dst) {
				return nil
			}
		}
	}
	return errors.New("random source returned too many out-of-range bytes")
}

// Checksum returns the six base62 checksum characters for a key's prefix
// and random part, s being the key's first 35 characters.
func Checksum(prefixAndRandom string) string {
	var b [ChecksumLen]byte
	putChecksum(b[:], crc32.ChecksumIEEE([]byte(prefixAndRandom)))
	return string(b[:])
}

// putChecksum writes sum into dst in base62, most significant digit first,
// padded with '0'. 62^6 > 2^32, so six digits always suffice.
func putChecksum(dst []byte, sum uint32) {
	v := uint64(sum)
	for i := ChecksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[v%62]
		v /= 62
	}
}

// Parse checks that s is a key: the kg_ prefix, 41 characters, base62
// after the prefix, and a matching checksum, in that order. It does not
// trim: callers strip surrounding whitespace first. On failure it returns a
// *[ParseError], whose message never repeats s.
func Parse(s string) (Key, error) {
	switch {
	case s == "":
		return Key{}, &ParseError{Reason: ReasonEmpty}
	case !strings.HasPrefix(s, Prefix):
		return Key{}, &ParseError{Reason: ReasonPrefix}
	case len(s) != Len:
		return Key{}, &ParseError{Reason: ReasonLength, n: len(s)}
	}
	var sum uint64
	for i := len(Prefix); i < Len; i++ {
		d := digit(s[i])
		if d < 0 {
			return Key{}, &ParseError{Reason: ReasonCharset, n: i + 1}
		}
		if i >= Len-ChecksumLen {
			sum = sum*62 + uint64(d)
		}
	}
	// The prefix is known to be ASCII kg_ and is hashed with the random part,
	// so a key cannot be made valid by swapping prefixes.
	if sum != uint64(crc32.ChecksumIEEE([]byte(s[:Len-ChecksumLen]))) {
		return Key{}, &ParseError{Reason: ReasonChecksum}
	}
	return Key{s: s}, nil
}

// digit returns the base62 value of c, or -1 if c is not a base62 digit.
func digit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'Z':
		return int(c-'A') + 10
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

// LooksLikeKey reports whether s has the kg_ prefix and 41 characters,
// without checking the rest. Secret scanners and log redaction use it to
// err on the side of hiding.
func LooksLikeKey(s string) bool {
	return len(s) == Len && strings.HasPrefix(s, Prefix)
}

// String returns the whole key. It is a secret: show it once, to its owner,
// and never log it.
func (k Key) String() string { return k.s }

// Hash returns the SHA-256 of the whole key, which is what is stored.
func (k Key) Hash() [32]byte { return Hash(k.s) }

// Hash returns the SHA-256 of s, for looking up a presented key by hash.
// A key's 190 random bits make a slow, salted hash unnecessary.
func Hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// Hint returns the key's first six and last four characters, such as
// "kg_4Nf…p8Zq", for telling keys apart in lists and for matching a key
// found in a file by its start and end. The zero Key has an empty hint.
func (k Key) Hint() string {
	if len(k.s) != Len {
		return ""
	}
	return hintOf(k.s)
}

// Characters a hint shows: the first hintHead and the last hintTail.
const (
	hintHead = len(Prefix) + 3
	hintTail = 4
)

// HintOf returns the hint of a presented token, which may be no key at all:
// the same shape as [Key.Hint], for a key exactly its hint. A token shorter
// than twice what a hint shows has an empty hint, so that a hint never
// reveals most of a token. Bytes outside printable ASCII show as "?".
func HintOf(token string) string {
	if len(token) < 2*(hintHead+hintTail) {
		return ""
	}
	return hintOf(token)
}

func hintOf(s string) string {
	b := make([]byte, 0, hintHead+len("…")+hintTail)
	b = appendPrintable(b, s[:hintHead])
	b = append(b, "…"...)
	b = appendPrintable(b, s[len(s)-hintTail:])
	return string(b)
}

func appendPrintable(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}

// LogValue implements [slog.LogValuer] so that a Key passed to a logger by
// mistake shows its hint rather than the secret.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.Hint()) }
