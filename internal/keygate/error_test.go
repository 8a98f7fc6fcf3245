package keygate_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

func TestErrorCodeMessageFields(t *testing.T) {
	field := keygate.FieldError("email", "Email is required.")
	var v keygate.ValidationErrors
	v.Add("name", "Name is required.")
	v.Add("password", "Too short.")
	validation := v.Err()

	tests := []struct {
		name       string
		err        error
		wantCode   string
		wantMsg    string
		wantFields map[string]string
	}{
		{"Nil", nil, "", "", nil},
		{"Error", keygate.Errorf(keygate.ENOTFOUND, "Organization %s not found.", "org_x"), keygate.ENOTFOUND, "Organization org_x not found.", nil},
		{"Wrapped", fmt.Errorf("find organization: %w", keygate.Errorf(keygate.EFORBIDDEN, "No.")), keygate.EFORBIDDEN, "No.", nil},
		{"WrappedTwice", fmt.Errorf("b: %w", fmt.Errorf("a: %w", keygate.Errorf(keygate.ECONFLICT, "Already exists."))), keygate.ECONFLICT, "Already exists.", nil},
		{"FieldError", field, keygate.EINVALID, "Email is required.", map[string]string{"email": "Email is required."}},
		{"FieldErrorWrapped", fmt.Errorf("signup: %w", field), keygate.EINVALID, "Email is required.", map[string]string{"email": "Email is required."}},
		{"ValidationWrapped", fmt.Errorf("x: %w", validation), keygate.EINVALID, "Please correct the errors below.",
			map[string]string{"name": "Name is required.", "password": "Too short."}},
		{"Joined", errors.Join(errors.New("other"), keygate.Errorf(keygate.ERATELIMIT, "Slow down.")), keygate.ERATELIMIT, "Slow down.", nil},
		// Anything else is internal, and its text never reaches a person.
		{"Plain", errors.New("disk I/O error: /var/lib/keygate"), keygate.EINTERNAL, "Internal error.", nil},
		{"PlainWrapped", fmt.Errorf("x: %w", errors.New("secret detail")), keygate.EINTERNAL, "Internal error.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := keygate.ErrorCode(tt.err), tt.wantCode; got != want {
				t.Errorf("ErrorCode=%q, want %q", got, want)
			}
			if got, want := keygate.ErrorMessage(tt.err), tt.wantMsg; got != want {
				t.Errorf("ErrorMessage=%q, want %q", got, want)
			}
			if got := keygate.ErrorFields(tt.err); !maps.Equal(got, tt.wantFields) {
				t.Errorf("ErrorFields=%v, want %v", got, tt.wantFields)
			}
		})
	}
}

func TestError_Error(t *testing.T) {
	err := keygate.Errorf(keygate.EINVALID, "Name is %s.", "required")
	if got, want := err.Error(), "keygate error: code=invalid message=Name is required."; got != want {
		t.Fatalf("Error()=%q, want %q", got, want)
	}
	// Errorf formats its message as fmt.Sprintf does.
	if got, want := keygate.Errorf(keygate.EINVALID, "100%% sure").Message, "100% sure"; got != want {
		t.Fatalf("Message=%q, want %q", got, want)
	}
}

func TestValidationErrors(t *testing.T) {
	t.Run("OK/Empty", func(t *testing.T) {
		var v keygate.ValidationErrors
		if err := v.Err(); err != nil {
			t.Fatalf("Err()=%v, want nil", err)
		}
	})

	t.Run("ErrInvalid/FirstMessageWins", func(t *testing.T) {
		var v keygate.ValidationErrors
		v.Add("name", "Name is required.")
		v.Add("name", "Name must be at most 100 characters.")
		v.Add("email", "Email is required.")
		err := v.Err()
		if got, want := keygate.ErrorCode(err), keygate.EINVALID; got != want {
			t.Fatalf("code=%q, want %q", got, want)
		}
		if got, want := keygate.ErrorMessage(err), "Please correct the errors below."; got != want {
			t.Fatalf("message=%q, want %q", got, want)
		}
		want := map[string]string{"name": "Name is required.", "email": "Email is required."}
		if got := keygate.ErrorFields(err); !maps.Equal(got, want) {
			t.Fatalf("fields=%v, want %v", got, want)
		}
	})
}
