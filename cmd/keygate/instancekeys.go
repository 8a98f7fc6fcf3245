package main

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/keygate/keygate/internal/secretbox"
)

// errReplicaSecretKey is serve's answer on PostgreSQL without a secret key.
var errReplicaSecretKey = errors.New("--database is PostgreSQL, so --secret-key (or KEYGATE_SECRET_KEY) is required: " +
	"every replica must start with the same key, from which the session key is derived, and none may generate its own; " +
	"a new key is 32 random bytes in base64, such as the output of: openssl rand -base64 32")

// sessionKeyInfo names the session key among the keys derived from the
// secret key. The device-cookie and single sign-on keys are derived from
// the session key in turn (package web).
const sessionKeyInfo = "keygate session key v1"

// loadSessionKey returns the key that signs session cookies. On SQLite it
// is <data-dir>/session.key, created on first start. On PostgreSQL it is
// derived with HKDF-SHA256 from the secret key, so that replicas with
// data directories of their own accept each other's cookies without a
// file being copied between them; it is never stored anywhere.
func loadSessionKey(c *Config, logger *slog.Logger) ([]byte, error) {
	if !c.onPostgres() {
		return loadOrCreateKey(filepath.Join(c.DataDir, "session.key"), 64, logger)
	}
	if c.SecretKey == "" {
		return nil, errReplicaSecretKey
	}
	secret, err := secretbox.ParseKey(c.SecretKey)
	if err != nil {
		return nil, err
	}
	return hkdf.Key(sha256.New, secret, nil, sessionKeyInfo, 64)
}
