package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keygate/keygate/internal/atomicfile"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// Files of the master key in the data directory.
const (
	secretKeyFile    = "secret.key"
	secretKeyNewFile = "secret.key.new" // the next key, during a rotation
	secretKeyOldFile = "secret.key.old" // the key before the last rotation
)

// secretKeyPath is the key file of c's data directory.
func secretKeyPath(c *Config) string { return filepath.Join(c.DataDir, secretKeyFile) }

// readSecretKey returns the master key from --secret-key (or
// KEYGATE_SECRET_KEY), else from <data-dir>/secret.key; nil, with no
// error, when there is neither. An empty secret.key, which a write
// interrupted before key files were written atomically can leave, counts
// as none: the database's key check still refuses a new key where an old
// one was used.
func readSecretKey(c *Config) (key []byte, fromFlag bool, err error) {
	if c.SecretKey != "" {
		key, err := secretbox.ParseKey(c.SecretKey)
		if err != nil {
			return nil, false, fmt.Errorf("--secret-key: %w", err)
		}
		return key, true, nil
	}
	path := secretKeyPath(c)
	buf, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read secret key: %w", err)
	}
	if len(buf) == 0 {
		return nil, false, nil
	}
	if key, err = secretbox.ParseKey(string(buf)); err != nil {
		return nil, false, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return key, false, nil
}

// errKeyMismatch is the start-up error for a master key that cannot open
// what the database holds. It says what to do, and never prints a key.
func errKeyMismatch(c *Config) error {
	msg := fmt.Sprintf("the secret key does not match the one this database's credentials were encrypted with: restore %s or pass the right --secret-key", secretKeyPath(c))
	if _, err := os.Stat(filepath.Join(c.DataDir, secretKeyNewFile)); err == nil {
		msg += fmt.Sprintf(" (%s, left by an interrupted rotate-secret-key, may hold it)", filepath.Join(c.DataDir, secretKeyNewFile))
	}
	return errors.New(msg)
}

// openSecretBox loads the master key, generating <data-dir>/secret.key on
// first start, and checks it against the database's key check (storing
// one at first use). A key that does not match is refused with
// errKeyMismatch and nothing is written. Serve and rotate-secret-key use it.
func openSecretBox(ctx context.Context, c *Config, db *sqlstore.DB) (box *secretbox.Box, generated bool, err error) {
	key, _, err := readSecretKey(c)
	if err != nil {
		return nil, false, err
	}
	generated = key == nil
	if generated {
		key = secretbox.GenerateKey()
	}
	if box, err = secretbox.New(key); err != nil {
		return nil, false, err
	}
	svc := sqlstore.NewIntegrationService(db, box)
	if generated {
		// A database that already used a key must get that key back, not a
		// new one that would leave its credentials unreadable.
		if has, err := svc.HasSecretKeyCheck(ctx); err != nil {
			return nil, false, err
		} else if has {
			return nil, false, fmt.Errorf("no secret key found, but this database's credentials are encrypted with one: restore %s or pass the right --secret-key", secretKeyPath(c))
		}
		// The file is written before the database depends on the key.
		if err := createKeyFile(secretKeyPath(c), key); err != nil {
			return nil, false, err
		}
	}
	if _, err := svc.CheckSecretKey(ctx); errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
		return nil, false, errKeyMismatch(c)
	} else if err != nil {
		return nil, false, fmt.Errorf("check secret key: %w", err)
	}
	return box, generated, nil
}

// createKeyFile writes key to a new file at path, readable by the owner
// only and never partly written. It never replaces an existing file, except
// an empty one (see readSecretKey).
func createKeyFile(path string, key []byte) error {
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return replaceKeyFile(path, key)
	}
	if err := atomicfile.Create(path, []byte(secretbox.EncodeKey(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("create secret key: %w", err)
	}
	return nil
}

// replaceKeyFile writes key to path atomically, readable by the owner only.
func replaceKeyFile(path string, key []byte) error {
	return atomicfile.Write(path, []byte(secretbox.EncodeKey(key)+"\n"), 0o600)
}
