package password

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/trustelem/zxcvbn/frequency"
)

// Length limits, counted in Unicode code points.
const (
	// MinLength is the fewest code points Validate accepts.
	MinLength = 12
	// MaxLength is the most code points Validate accepts.
	MaxLength = 256
	// MaxBytes is the longest input, in bytes, that is ever hashed or
	// verified: MaxLength code points take at most this many. Callers
	// refuse longer input before any argon2 work.
	MaxBytes = 1024
)

// These are EINVALID domain errors: their messages are shown to users beside
// the password field, so they are full sentences; read them with
// keygate.ErrorMessage.
var (
	// ErrTooShort is returned by Validate for a password shorter than
	// MinLength code points.
	ErrTooShort = &keygate.Error{Code: keygate.EINVALID, Message: "Password must be at least 12 characters."}
	// ErrTooLong is returned by Validate for a password longer than
	// MaxLength code points.
	ErrTooLong = &keygate.Error{Code: keygate.EINVALID, Message: "Password must be at most 256 characters."}
	// ErrCommon is returned by Validate for a password found in, or
	// trivially derived from, the list of common passwords.
	ErrCommon = &keygate.Error{Code: keygate.EINVALID, Message: "This password is too common. Choose a less predictable one."}
)

// extraCommon lists common passwords of at least MinLength code points.
// Most entries of the zxcvbn list are shorter than MinLength and so are
// already rejected by length; these cover the usual ways people stretch
// them. Entries are lower case.
var extraCommon = []string{
	"password1234",
	"password12345",
	"password123456",
	"password123!",
	"password1234!",
	"passw0rd1234",
	"p@ssw0rd1234",
	"p@ssword1234",
	"mypassword123",
	"mypassword1234",
	"secretpassword",
	"passwordpassword",
	"password2024",
	"password2025",
	"password2026",
	"123456789012",
	"1234567890123",
	"12345678901234",
	"123456789000",
	"098765432109",
	"111111111111",
	"000000000000",
	"aaaaaaaaaaaa",
	"abcdefghijkl",
	"abcdefg12345",
	"abc123456789",
	"abcd12345678",
	"qwertyuiopas",
	"qwertyuiop12",
	"qwertyuiop123",
	"qwerty123456",
	"qwerty1234567",
	"qwertyqwerty",
	"asdfghjkl123",
	"zxcvbnm12345",
	"1qaz2wsx3edc",
	"1q2w3e4r5t6y",
	"q1w2e3r4t5y6",
	"zaq12wsxcde3",
	"iloveyou1234",
	"iloveyou12345",
	"iloveyouforever",
	"iloveyousomuch",
	"letmein12345",
	"letmeinletmein",
	"welcome12345",
	"welcome123456",
	"welcome2024!",
	"changeme1234",
	"changemenow!",
	"administrator",
	"administrator1",
	"admin1234567",
	"adminadmin123",
	"trustno1trustno1",
	"football1234",
	"baseball1234",
	"monkey123456",
	"dragon123456",
	"sunshine1234",
	"princess1234",
	"superman1234",
	"correcthorsebatterystaple",
	"thequickbrownfox",
	"keygate12345",
	"keygateadmin",
	"keygate-admin",
}

var (
	commonOnce sync.Once
	commonSet  map[string]struct{}
)

// common returns the set of common passwords, building it on first use
// from the zxcvbn "passwords" frequency list and extraCommon.
func common() map[string]struct{} {
	commonOnce.Do(func() {
		list := frequency.FrequencyLists["passwords"]
		commonSet = make(map[string]struct{}, len(list)+len(extraCommon))
		for _, s := range list {
			commonSet[strings.ToLower(s)] = struct{}{}
		}
		for _, s := range extraCommon {
			commonSet[strings.ToLower(s)] = struct{}{}
		}
	})
	return commonSet
}

// CommonCount returns the number of distinct entries in the common-password
// set that Validate checks against.
func CommonCount() int {
	return len(common())
}

// Validate checks plain against the NIST SP 800-63B rules: it returns
// ErrTooShort or ErrTooLong if plain has fewer than MinLength or more than
// MaxLength Unicode code points, ErrCommon if it is a common password, and
// nil otherwise. There are no composition rules.
//
// A password is common if, lower-cased and also with surrounding white
// space trimmed, it is in the common-password set, consists of a single
// repeated character, or is a repetition of a set entry or of a unit of at
// most three characters (such as "passwordpassword" or "abcabcabcabc").
func Validate(plain string) error {
	if len(plain) > MaxBytes {
		return ErrTooLong // without counting a huge input's code points
	}
	n := utf8.RuneCountInString(plain)
	if n < MinLength {
		return ErrTooShort
	}
	if n > MaxLength {
		return ErrTooLong
	}
	lower := strings.ToLower(plain)
	if isCommon(lower) {
		return ErrCommon
	}
	if trimmed := strings.TrimSpace(lower); trimmed != lower && isCommon(trimmed) {
		return ErrCommon
	}
	return nil
}

// maxShortUnit is the longest repeated unit treated as common on its own,
// whether or not it is in the set.
const maxShortUnit = 3

// isCommon reports whether the lower-cased s is in the common set or is a
// repetition (two or more copies) of a set entry or of a short unit.
func isCommon(s string) bool {
	if s == "" {
		return true
	}
	set := common()
	if _, ok := set[s]; ok {
		return true
	}
	runes := []rune(s)
	n := len(runes)
	for d := 1; d <= n/2; d++ {
		if n%d != 0 {
			continue
		}
		unit := string(runes[:d])
		if strings.Repeat(unit, n/d) != s {
			continue
		}
		if d <= maxShortUnit {
			return true
		}
		if _, ok := set[unit]; ok {
			return true
		}
	}
	return false
}
