package keygate_test

import (
	"testing"

	"github.com/keygate/keygate/internal/keygate"
)

func TestStatusClassOf(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   string
	}{
		{0, ""}, {99, ""}, {100, ""}, {101, ""}, {199, ""},
		{200, keygate.Class2xx}, {204, keygate.Class2xx}, {302, keygate.Class2xx}, {399, keygate.Class2xx},
		{400, keygate.Class4xx}, {428, keygate.Class4xx}, {429, keygate.Class429}, {430, keygate.Class4xx}, {499, keygate.Class4xx},
		{500, keygate.Class5xx}, {599, keygate.Class5xx},
		{600, ""}, {999, ""}, {-429, ""},
	} {
		if got := keygate.StatusClassOf(tt.status); got != tt.want {
			t.Errorf("StatusClassOf(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}
