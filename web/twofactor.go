package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters every authenticator app understands (RFC 6238 defaults).
const (
	totpPeriod     = 30
	totpSecretSize = 20
	totpIssuer     = "Keygate"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpKey returns the key of secret (base32) for email, for its QR code:
// with no secret, a new random one.
func totpKey(email, secret string) (*otp.Key, error) {
	opts := totp.GenerateOpts{Issuer: totpIssuer, AccountName: email, Period: totpPeriod,
		SecretSize: totpSecretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	if secret != "" {
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
		if err != nil {
			return nil, fmt.Errorf("totp key: %w", err)
		}
		opts.Secret = raw
	}
	return totp.Generate(opts)
}

// totpQR returns the key's QR code as a PNG data: URL.
func totpQR(key *otp.Key) (string, error) {
	img, err := key.Image(220, 220)
	if err != nil {
		return "", fmt.Errorf("totp qr: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("totp qr: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// groupSecret writes a secret in groups of four, as people type it.
func groupSecret(secret string) string {
	var b strings.Builder
	for i, r := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// totpStep is the 30-second step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// matchTOTP returns the step whose code code is, among the current and the
// previous one on the server's clock (an app a little slow, or a code typed
// as it changed), or false.
func (s *Server) matchTOTP(secret, code string) (int64, bool) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != 6 {
		return 0, false
	}
	now := totpStep(s.now())
	for _, step := range []int64{now, now - 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// recoveryAlphabet is lowercase base32 without the letters and digits
// people confuse (l, o, 0, 1): 5 bits a character.
const recoveryAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// newRecoveryCodes returns n codes like "k7cm-p2xa" (40 random bits each)
// and their hashes.
func newRecoveryCodes(n int) (codes []string, hashes [][]byte) {
	for range n {
		raw := make([]byte, 8)
		rand.Read(raw)
		var b strings.Builder
		for i, c := range raw {
			if i == 4 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
		}
		codes = append(codes, b.String())
		hashes = append(hashes, hashRecoveryCode(b.String()))
	}
	return codes, hashes
}

// hashRecoveryCode is the SHA-256 of a code as typed, without case,
// spaces or dashes.
func hashRecoveryCode(code string) []byte {
	norm := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToLower(code))
	sum := sha256.Sum256([]byte(norm))
	return sum[:]
}
