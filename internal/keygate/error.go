// Package keygate holds Keygate's domain: its entities, the services that act
// on them, and the error codes every layer speaks. It imports only the
// standard library.
package keygate

import (
	"errors"
	"fmt"
)

// Application error codes. The web layer maps each to an HTTP status.
const (
	ECONFLICT     = "conflict"
	EFORBIDDEN    = "forbidden"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ERATELIMIT    = "rate_limited"
	EUNAUTHORIZED = "unauthorized"
)

// Error is an application error: a code for programs and a message for people.
// Fields, when set, holds messages that belong beside named form fields.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("keygate error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error whose message belongs beside field.
func FieldError(field, message string) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: map[string]string{field: message}}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message for any other error, so internals never reach a user.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ValidationErrors collects field errors so a form can show every message at
// once. It is an EINVALID error.
type ValidationErrors struct {
	Fields map[string]string
}

// Add records message for field unless the field already has one.
func (v *ValidationErrors) Add(field, message string) {
	if v.Fields == nil {
		v.Fields = map[string]string{}
	}
	if _, ok := v.Fields[field]; !ok {
		v.Fields[field] = message
	}
}

// Err returns nil when no field failed, or an *Error carrying v.
func (v *ValidationErrors) Err() error {
	if len(v.Fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "Please correct the errors below.", Fields: v.Fields}
}

// ErrorFields returns the per-field messages of the first *Error in err's
// chain, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
