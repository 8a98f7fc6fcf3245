// Package apikey owns the format of Keygate API keys.
//
// A key reads
//
//	kg_ + 32 random base62 characters + 6 base62 checksum characters
//
// for 41 characters in all, for example
//
//	kg_0123456789ABCDEFGHIJKLMNOPQRSTUV3E6O7i
//
// The random part is drawn from crypto/rand by rejection sampling, so each
// character is uniform over 0-9A-Za-z and a key carries 32 × log2(62) ≈ 190.5
// bits. The checksum is the CRC-32 (IEEE) of everything before it, in base62,
// most significant digit first, padded with '0' to six characters. It is not
// a security measure: it lets Keygate and secret scanners reject a mistyped
// or made-up key without a database lookup. The underscore, unlike a hyphen,
// keeps the key one word when double-clicked.
//
// Keys are secrets. Store only [Hash] of one, show only its [Key.Hint], and
// never log [Key.String].
package apikey
