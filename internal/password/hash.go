package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters used to create a hash.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
	// SaltLen is the length in bytes of the random salt.
	SaltLen uint32
	// KeyLen is the length in bytes of the derived hash.
	KeyLen uint32
}

// DefaultParams are the parameters recommended by OWASP for argon2id:
// 19 MiB of memory, two passes and one lane, with a 16-byte salt and a
// 32-byte hash.
var DefaultParams = Params{
	Memory:  19456,
	Time:    2,
	Threads: 1,
	SaltLen: 16,
	KeyLen:  32,
}

// Limits applied to parameters, both those a Hasher is configured with and
// those read back from a stored hash, so that a corrupt or hostile encoding
// cannot make Verify allocate unbounded memory or spin for minutes.
const (
	maxMemory  = 1 << 20 // KiB, i.e. 1 GiB
	maxTime    = 20
	minSaltLen = 8 // RFC 9106 minimum
	maxSaltLen = 1024
	minKeyLen  = 4 // RFC 9106 minimum tag length
	maxKeyLen  = 1024
	// maxEncodedLen bounds the input accepted by the parser; it comfortably
	// exceeds the longest encoding the limits above permit.
	maxEncodedLen = 4096
)

const (
	algorithm = "argon2id"
	prefix    = "$" + algorithm + "$"
)

// ErrInvalidHash is returned (wrapped, with detail) by Verify when the
// stored encoding is malformed, is not argon2id version 19, or carries
// parameters outside the accepted limits.
var ErrInvalidHash = errors.New("password: invalid argon2id hash encoding")

// ErrInvalidParams is returned (wrapped, with detail) by Hash when the
// Hasher's Params are outside the accepted limits.
var ErrInvalidParams = errors.New("password: invalid argon2id parameters")

// Hasher hashes and verifies passwords with argon2id. It bounds how many
// hashes run at once, since each one holds Params.Memory KiB for its
// duration. A Hasher is safe for concurrent use; create one with NewHasher.
type Hasher struct {
	// Params are the parameters used by Hash and the baseline for
	// NeedsRehash. Verify uses the parameters stored in each hash instead.
	Params Params

	sem chan struct{}

	dummyOnce sync.Once
	dummy     string
	dummyErr  error
}

// NewHasher returns a Hasher that hashes with p and runs at most
// maxConcurrent argon2id computations at a time. A maxConcurrent of zero
// or less means runtime.NumCPU().
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	return &Hasher{Params: p, sem: make(chan struct{}, maxConcurrent)}
}

// acquire takes a computation slot, waiting until one is free or ctx is
// done. A cancelled ctx fails even when a slot is free.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.sem == nil {
		return nil
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() {
	if h.sem != nil {
		<-h.sem
	}
}

// derive computes the argon2id key of plain while holding a slot.
func (h *Hasher) derive(ctx context.Context, plain string, salt []byte, p Params) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.release()
	return argon2.IDKey([]byte(plain), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// Hash derives an argon2id hash of plain with a fresh random salt and
// h.Params and returns it in PHC string format. It waits for a free
// computation slot, returning ctx.Err() if ctx is done first; once started,
// the computation itself is not interrupted.
func (h *Hasher) Hash(ctx context.Context, plain string) (string, error) {
	p := h.Params
	if err := checkParams(p); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidParams, err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading salt: %w", err)
	}
	key, err := h.derive(ctx, plain, salt, p)
	if err != nil {
		return "", err
	}
	return encode(p, salt, key), nil
}

// Verify reports whether plain matches the encoded hash, using the
// parameters stored in encoded and a constant-time comparison. It returns
// an error wrapping ErrInvalidHash if encoded is malformed or its parameters
// are outside the accepted limits, and ctx.Err() if ctx is done before a
// computation slot is free.
func (h *Hasher) Verify(ctx context.Context, encoded, plain string) (ok bool, err error) {
	d, err := decode(encoded)
	if err != nil {
		return false, err
	}
	key, err := h.derive(ctx, plain, d.salt, d.params)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}

// NeedsRehash reports whether encoded should be replaced by a fresh Hash
// of the password: true if any of its parameters (memory, time, threads,
// salt length, key length) is below h.Params, or if it cannot be parsed.
// Call it after a successful Verify, when the plain password is at hand.
func (h *Hasher) NeedsRehash(encoded string) bool {
	d, err := decode(encoded)
	if err != nil {
		return true
	}
	s, want := d.params, h.Params
	return s.Memory < want.Memory ||
		s.Time < want.Time ||
		s.Threads < want.Threads ||
		s.SaltLen < want.SaltLen ||
		s.KeyLen < want.KeyLen
}

// VerifyDummy performs the same work as a Verify of plain against a hash
// made with h.Params and discards the result. Call it when a login names an
// unknown account so that response timing does not reveal whether the
// account exists. The dummy hash (a random salt and a random digest, which
// no password matches in practice) is created once, on first use.
func (h *Hasher) VerifyDummy(ctx context.Context, plain string) {
	h.dummyOnce.Do(func() {
		p := h.Params
		salt := make([]byte, p.SaltLen)
		key := make([]byte, p.KeyLen)
		if _, err := rand.Read(salt); err != nil {
			h.dummyErr = err
			return
		}
		if _, err := rand.Read(key); err != nil {
			h.dummyErr = err
			return
		}
		h.dummy = encode(p, salt, key)
	})
	if h.dummyErr != nil {
		return
	}
	_, _ = h.Verify(ctx, h.dummy, plain)
}

// checkParams reports whether p is within the accepted limits.
func checkParams(p Params) error {
	switch {
	case p.Threads == 0:
		return errors.New("threads must be at least 1")
	case p.Time == 0:
		return errors.New("time must be at least 1")
	case p.Time > maxTime:
		return fmt.Errorf("time %d exceeds %d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("memory %d KiB is below 8 KiB per thread", p.Memory)
	case p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB exceeds %d KiB", p.Memory, maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

var b64 = base64.RawStdEncoding.Strict()

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s",
		prefix, argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

type decoded struct {
	params Params
	salt   []byte
	key    []byte
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidHash, fmt.Sprintf(format, args...))
}

// decode parses a PHC string produced by encode. It is strict: the
// parameters must appear as m, t, p in that order, numbers must be plain
// decimal, and salt and hash must be canonical unpadded standard base64.
func decode(encoded string) (decoded, error) {
	var d decoded
	if len(encoded) > maxEncodedLen {
		return d, invalid("encoding longer than %d bytes", maxEncodedLen)
	}
	// The base64 decoder silently skips CR and LF; refuse them outright.
	if strings.ContainsAny(encoded, "\r\n") {
		return d, invalid("encoding contains a line break")
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return d, invalid("want 5 $-separated fields")
	}
	if parts[1] != algorithm {
		return d, invalid("algorithm %q is not %s", parts[1], algorithm)
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return d, invalid("missing version")
	}
	ver, err := parseDecimal(v)
	if err != nil {
		return d, invalid("version: %v", err)
	}
	if ver != argon2.Version {
		return d, invalid("unsupported version %d", ver)
	}

	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return d, invalid("want parameters m, t and p")
	}
	var vals [3]uint64
	for i, name := range [3]string{"m", "t", "p"} {
		s, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return d, invalid("parameter %d is not %s", i+1, name)
		}
		if vals[i], err = parseDecimal(s); err != nil {
			return d, invalid("parameter %s: %v", name, err)
		}
	}
	if vals[2] > 255 {
		return d, invalid("threads %d exceeds 255", vals[2])
	}

	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return d, invalid("salt: %v", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return d, invalid("hash: %v", err)
	}

	d.params = Params{
		Memory:  uint32(vals[0]),
		Time:    uint32(vals[1]),
		Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := checkParams(d.params); err != nil {
		return d, invalid("%v", err)
	}
	d.salt, d.key = salt, key
	return d, nil
}

// parseDecimal parses a canonical unsigned decimal that fits in 32 bits:
// digits only, no sign and no leading zeros.
func parseDecimal(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("leading zero in %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a decimal number: %q", s)
		}
	}
	return strconv.ParseUint(s, 10, 32)
}
