package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
// error, when there is neither.
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
// only. It never replaces an existing file.
func createKeyFile(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.WriteString(secretbox.EncodeKey(key) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write secret key: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// replaceKeyFile writes key to path atomically: a temporary file in the
// same directory (0600), synced, then renamed over path.
func replaceKeyFile(path string, key []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600) // CreateTemp already uses 0600; say it anyway
	if err == nil {
		_, err = f.WriteString(secretbox.EncodeKey(key) + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries (a new or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
