package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/internal/secretbox"
)

func TestLoadSessionKey(t *testing.T) {
	secret := secretbox.EncodeKey(secretbox.GenerateKey())
	pg := func(secretKey string) *Config {
		return &Config{DataDir: t.TempDir(), Database: "postgres://keygate@127.0.0.1:5432/keygate", SecretKey: secretKey}
	}

	t.Run("OKSameOnEveryReplica", func(t *testing.T) {
		a, b := pg(secret), pg(secret)
		ka, err := loadSessionKey(a)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := loadSessionKey(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(ka) != 64 || !bytes.Equal(ka, kb) {
			t.Fatalf("keys of two replicas: %d bytes, equal %v; want 64 and equal", len(ka), bytes.Equal(ka, kb))
		}
		if bytes.Contains(ka, mustParseKey(t, secret)) {
			t.Fatal("the session key holds the secret key")
		}
		for _, c := range []*Config{a, b} {
			if _, err := os.Stat(filepath.Join(c.DataDir, "session.key")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("session.key written on PostgreSQL (%v)", err)
			}
		}
		other, _ := loadSessionKey(pg(secretbox.EncodeKey(secretbox.GenerateKey())))
		if bytes.Equal(ka, other) {
			t.Fatal("another secret key gave the same session key")
		}
	})

	t.Run("ErrNoSecretKey", func(t *testing.T) {
		if _, err := loadSessionKey(pg("")); !errors.Is(err, errReplicaSecretKey) {
			t.Fatalf("err = %v, want errReplicaSecretKey", err)
		}
	})

	t.Run("OKSQLiteKeepsItsFile", func(t *testing.T) {
		c := &Config{DataDir: t.TempDir()}
		k1, err := loadSessionKey(c)
		if err != nil {
			t.Fatal(err)
		}
		k2, _ := loadSessionKey(c)
		if !bytes.Equal(k1, k2) {
			t.Fatal("a second start got another session key")
		}
		if _, err := os.Stat(filepath.Join(c.DataDir, "session.key")); err != nil {
			t.Fatal(err)
		}
	})
}

func mustParseKey(t *testing.T, s string) []byte {
	t.Helper()
	k, err := secretbox.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
