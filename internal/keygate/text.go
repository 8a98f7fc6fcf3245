package keygate

import "unicode"

// MsgUnsafeText is the message beside a name that holds a control
// character or a text-direction mark.
const MsgUnsafeText = "Names cannot contain control characters or text-direction marks."

// UnsafeTextMessage returns MsgUnsafeText if s holds a control character
// (Unicode category Cc) or a mark that changes the direction of the text
// around it, and "" otherwise. Names are shown to other people (members,
// admins, the audit log): a right-to-left override makes "Alice
// \u202eenwO\u202c" read as "Alice Owner", and control characters hide
// or break text. Every name a person or a key chooses is checked with it.
func UnsafeTextMessage(s string) string {
	for _, r := range s {
		if unicode.IsControl(r) || isDirectionMark(r) {
			return MsgUnsafeText
		}
	}
	return ""
}

// isDirectionMark reports whether r is a bidirectional embedding, override
// or isolate (U+202A-U+202E, U+2066-U+2069) or an implicit direction mark
// (LRM U+200E, RLM U+200F, ALM U+061C).
func isDirectionMark(r rune) bool {
	switch {
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return r == '\u200e' || r == '\u200f' || r == '\u061c'
}
