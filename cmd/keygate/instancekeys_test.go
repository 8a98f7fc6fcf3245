package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
		ka, err := loadSessionKey(a, discardLogger)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := loadSessionKey(b, discardLogger)
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
		other, _ := loadSessionKey(pg(secretbox.EncodeKey(secretbox.GenerateKey())), discardLogger)
		if bytes.Equal(ka, other) {
			t.Fatal("another secret key gave the same session key")
		}
	})

	t.Run("ErrNoSecretKey", func(t *testing.T) {
		if _, err := loadSessionKey(pg(""), discardLogger); !errors.Is(err, errReplicaSecretKey) {
			t.Fatalf("err = %v, want errReplicaSecretKey", err)
		}
	})

	t.Run("OKSQLiteKeepsItsFile", func(t *testing.T) {
		c := &Config{DataDir: t.TempDir()}
		k1, err := loadSessionKey(c, discardLogger)
		if err != nil {
			t.Fatal(err)
		}
		k2, _ := loadSessionKey(c, discardLogger)
		if !bytes.Equal(k1, k2) {
			t.Fatal("a second start got another session key")
		}
		if _, err := os.Stat(filepath.Join(c.DataDir, "session.key")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("OKEmptyFileRegenerated", func(t *testing.T) {
		// An empty session.key is what an interrupted first write leaves.
		c := &Config{DataDir: t.TempDir()}
		path := filepath.Join(c.DataDir, "session.key")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		key, err := loadSessionKey(c, slog.New(slog.NewTextHandler(&log, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(key), 64; got != want {
			t.Fatalf("key of %d bytes, want %d", got, want)
		}
		if onDisk, _ := os.ReadFile(path); !bytes.Equal(onDisk, key) {
			t.Fatal("session.key does not hold the key in use")
		}
		if !strings.Contains(log.String(), "session.key was empty") || !strings.Contains(log.String(), path) {
			t.Fatalf("log %q does not report the empty file", log.String())
		}
	})

	t.Run("ErrTruncatedFile", func(t *testing.T) {
		c := &Config{DataDir: t.TempDir()}
		path := filepath.Join(c.DataDir, "session.key")
		truncated := bytes.Repeat([]byte{7}, 40)
		if err := os.WriteFile(path, truncated, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadSessionKey(c, discardLogger)
		if err == nil {
			t.Fatal("a 40-byte session.key was accepted")
		}
		if got, want := err.Error(), "key file "+path+" is 40 bytes, want 64: it is damaged; delete it to generate a new one (everyone will have to sign in again)"; got != want {
			t.Fatalf("err = %q, want %q", got, want)
		}
		if onDisk, _ := os.ReadFile(path); !bytes.Equal(onDisk, truncated) {
			t.Fatal("the damaged session.key was changed")
		}
	})
}

// discardLogger is a logger for tests that do not look at the log.
var discardLogger = slog.New(slog.DiscardHandler)

func mustParseKey(t *testing.T, s string) []byte {
	t.Helper()
	k, err := secretbox.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
