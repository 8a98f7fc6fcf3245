package apikey

import "strconv"

// Reason is why a string is not a key. Its values are stable and safe to
// expose, for example in an API error body.
type Reason string

// Reasons, in the order Parse checks them.
const (
	ReasonEmpty    Reason = "empty"             // ""
	ReasonPrefix   Reason = "missing_prefix"    // does not start with kg_
	ReasonLength   Reason = "wrong_length"      // not 41 bytes
	ReasonCharset  Reason = "invalid_character" // a byte outside base62 after the prefix
	ReasonChecksum Reason = "bad_checksum"      // checksum does not match
)

// ParseError says why a string is not a key. Its message never includes
// the string, which may be a real secret.
type ParseError struct {
	Reason Reason

	// n is the length in bytes for ReasonLength and the 1-based byte
	// position for ReasonCharset.
	n int
}

// Error returns a message fit to show the person who presented the key.
func (e *ParseError) Error() string {
	switch e.Reason {
	case ReasonEmpty:
		return "api key: empty"
	case ReasonPrefix:
		return "api key: missing " + Prefix + " prefix"
	case ReasonLength:
		return "api key: must be " + strconv.Itoa(Len) + " characters, got " + strconv.Itoa(e.n)
	case ReasonCharset:
		return "api key: invalid character at position " + strconv.Itoa(e.n)
	case ReasonChecksum:
		return "api key: checksum does not match (mistyped or not a Keygate key)"
	}
	return "api key: invalid"
}
