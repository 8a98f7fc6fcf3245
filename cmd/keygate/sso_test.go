package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSSOConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "OKNone"},
		{name: "OKOIDC", args: []string{"--base-url", "https://keys.example.com", "--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "kg"}},
		{name: "OKLoopbackHTTP", args: []string{"--base-url", "https://localhost:8443", "--oidc-issuer", "http://127.0.0.1:9998/", "--oidc-client-id", "kg"}},
		{name: "OKFromEnvironment", env: map[string]string{"KEYGATE_BASE_URL": "https://k.example.com", "KEYGATE_OIDC_ISSUER": "https://idp.example.com", "KEYGATE_OIDC_CLIENT_ID": "kg"}},
		{name: "ErrPlainHTTPIssuer", args: []string{"--base-url", "https://k.example.com", "--oidc-issuer", "http://idp.example.com", "--oidc-client-id", "kg"}, wantErr: "https://"},
		{name: "ErrNoClientID", args: []string{"--base-url", "https://k.example.com", "--oidc-issuer", "https://idp.example.com"}, wantErr: "go together"},
		{name: "ErrNoBaseURL", args: []string{"--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "kg"}, wantErr: "--base-url"},
		{name: "ErrBothSecrets", args: []string{"--base-url", "https://k.example.com", "--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "kg",
			"--oidc-client-secret", "a", "--oidc-client-secret-file", "/x"}, wantErr: "not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := parse(newServeFlags(&c), tt.args, fakeEnv(tt.env)); err != nil {
				t.Fatal(err)
			}
			err := c.validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("validate = %v", err)
			} else if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readSecret("", path); err != nil || got != "s3cret" {
		t.Fatalf("readSecret = %q, %v", got, err)
	}
}

func TestSSOConfigSocial(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "OKGoogle", args: []string{"--base-url", "https://k.example.com", "--google-client-id", "g", "--google-client-secret", "s"}},
		{name: "OKMicrosoftTenant", args: []string{"--base-url", "https://k.example.com", "--microsoft-client-id", "m", "--microsoft-client-secret-file", "/run/secrets/ms", "--microsoft-tenant", "organizations"}},
		{name: "ErrGitHubWithoutSecret", args: []string{"--base-url", "https://k.example.com", "--github-client-id", "g"}, wantErr: "--github-client-secret"},
		{name: "ErrSecretWithoutID", args: []string{"--base-url", "https://k.example.com", "--google-client-secret", "s"}, wantErr: "--google-client-id"},
		{name: "ErrNoBaseURL", args: []string{"--github-client-id", "g", "--github-client-secret", "s"}, wantErr: "--base-url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := parse(newServeFlags(&c), tt.args, fakeEnv(nil)); err != nil {
				t.Fatal(err)
			}
			err := c.validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("validate = %v", err)
			} else if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
