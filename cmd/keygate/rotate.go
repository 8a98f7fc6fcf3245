package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keygate/keygate/internal/atomicfile"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// runRotateSecretKey re-encrypts every stored credential under a new
// master key. The order makes every crash recoverable: the new key reaches
// the disk (secret.key.new) before the database depends on it; the
// database moves to it in one transaction; only then is the old key
// renamed to secret.key.old and the new one to secret.key.
func runRotateSecretKey(args []string, stdout, stderr io.Writer) error {
	var c Config
	var newKey string
	fs := newFlagSet("rotate-secret-key", "keygate rotate-secret-key [flags]", stderr)
	commonFlags(fs, &c)
	databaseFlag(fs, &c)
	secretKeyFlag(fs, &c)
	fs.StringVar(&newKey, "new-secret-key", "", "the new master key, 32 bytes in base64 (default: a new random key)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("rotate-secret-key takes no arguments, got %q", fs.Args())
	}
	if err := c.checkDatabase(); err != nil {
		return err
	}
	// Opening creates a missing SQLite database: a mistyped --data-dir
	// must not "rotate" an empty one.
	if _, err := os.Stat(sqlitePath(&c)); err != nil && !c.onPostgres() {
		return fmt.Errorf("rotate-secret-key: %w; check --data-dir", err)
	}
	oldKey, fromFlag, err := readSecretKey(&c)
	if err != nil {
		return err
	}
	if oldKey == nil {
		return fmt.Errorf("rotate-secret-key: no current secret key: %s does not exist and --secret-key (KEYGATE_SECRET_KEY) is not set", secretKeyPath(&c))
	}
	next := secretbox.GenerateKey()
	if newKey != "" {
		if next, err = secretbox.ParseKey(newKey); err != nil {
			return fmt.Errorf("--new-secret-key: %w", err)
		}
	}
	if bytes.Equal(next, oldKey) {
		return errors.New("rotate-secret-key: the new secret key is the current one")
	}
	oldBox, err := secretbox.New(oldKey)
	if err != nil {
		return err
	}
	newBox, err := secretbox.New(next)
	if err != nil {
		return err
	}

	ctx := context.Background()
	db, err := openDB(ctx, &c, true)
	if err != nil {
		return err
	}
	defer db.Close()

	newPath := filepath.Join(c.DataDir, secretKeyNewFile)
	if err := createKeyFile(newPath, next); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("rotate-secret-key: %s exists: an earlier rotation was interrupted. If the server starts with %s, delete it and run again; if not, it may be the key the database needs", newPath, secretKeyFile)
		}
		return err
	}
	n, err := sqlstore.NewIntegrationService(db, oldBox).RotateSecretKey(ctx, oldBox, newBox)
	if err != nil {
		os.Remove(newPath) // the database still uses the old key
		if errors.Is(err, sqlstore.ErrSecretKeyMismatch) {
			return errKeyMismatch(&c)
		}
		return err
	}
	// From here the database needs the new key: it is in secret.key.new
	// until the rename below puts it in place.
	oldPath := filepath.Join(c.DataDir, secretKeyOldFile)
	if err := replaceKeyFile(oldPath, oldKey); err != nil {
		return fmt.Errorf("the credentials now use the new key, which is in %s; move it to %s by hand: %w", newPath, secretKeyPath(&c), err)
	}
	if err := os.Rename(newPath, secretKeyPath(&c)); err != nil {
		return fmt.Errorf("the credentials now use the new key, which is in %s; move it to %s by hand: %w", newPath, secretKeyPath(&c), err)
	}
	if err := atomicfile.SyncDir(c.DataDir); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Re-encrypted %d %s and the key check under a new secret key (key id %s; the old one was %s), in one transaction.\n",
		n, plural(n, "credential", "credentials"), newBox.ID(), oldBox.ID())
	fmt.Fprintf(stdout, "Wrote the new key to %s; kept the old key in %s.\n", secretKeyPath(&c), oldPath)
	fmt.Fprintln(stdout, "Back up the new key now, away from the database's backups: without it the credentials cannot be decrypted.")
	fmt.Fprintln(stdout, "Restart a running keygate serve: until then it cannot save credentials.")
	if c.onPostgres() {
		fmt.Fprintln(stdout, "Every replica needs the new key: give each the new --secret-key (KEYGATE_SECRET_KEY) before it restarts.")
	}
	if fromFlag {
		fmt.Fprintf(stdout, "--secret-key or KEYGATE_SECRET_KEY is set and wins over the file: replace its value with the contents of %s before the next start.\n", secretKeyPath(&c))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
