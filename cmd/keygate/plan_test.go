package main

import (
	"strings"
	"testing"
)

func TestDefaultPlanFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "OKDefault", want: ""}, // Professional: sqlite.DB's fallback
		{name: "OKFlag", args: []string{"--default-plan", "free"}, want: "free"},
		{name: "OKEnv", env: map[string]string{"KEYGATE_DEFAULT_PLAN": "enterprise"}, want: "enterprise"},
		{name: "OKFlagBeatsEnv", args: []string{"--default-plan", "free"}, env: map[string]string{"KEYGATE_DEFAULT_PLAN": "enterprise"}, want: "free"},
		{name: "ErrUnknownPlan", args: []string{"--default-plan", "gold"}, want: "gold",
			wantErr: `--default-plan must be free, professional or enterprise, not "gold"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := parse(newServeFlags(&c), tt.args, fakeEnv(tt.env)); err != nil {
				t.Fatal(err)
			}
			if got := c.DefaultPlan; got != tt.want {
				t.Fatalf("DefaultPlan = %q, want %q", got, tt.want)
			}
			err := c.validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("validate: %v", err)
			} else if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
