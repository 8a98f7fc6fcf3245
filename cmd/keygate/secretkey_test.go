package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/secretbox"
	"github.com/keygate/keygate/internal/sqlstore"
)

// Secrets stored by these tests: long and recognisable.
const (
	cmdZoomSecret  = "cmd-zoom-secret-4f9a1c7e3b5d2f8a6c0e4b2d9f7a1c3e"
	cmdOtherSecret = "cmd-other-secret-sk_live_TUVWXYZabcdefghijk"
)

// credentialsDir is a data directory whose database holds two credentials
// of one organization, sealed with the key in its secret.key.
type credentialsDir struct {
	dir, org string
	key      []byte
}

// mustCredentialsDir starts a data directory as serve would (generating
// secret.key) and stores two credentials in it.
func mustCredentialsDir(t *testing.T) credentialsDir {
	t.Helper()
	ctx := context.Background()
	c := &Config{DataDir: filepath.Join(t.TempDir(), "data")}
	db, err := openDB(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	box, generated, err := openSecretBox(ctx, c, db)
	if err != nil || !generated {
		t.Fatalf("first start: generated=%v err=%v", generated, err)
	}
	users := sqlstore.NewUserService(db, password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0))
	user, org, err := users.Signup(ctx, &keygate.Signup{Name: "Ada", Email: "ada@example.com", Password: testPassword, OrganizationName: "Org A"})
	if err != nil {
		t.Fatal(err)
	}
	svc := sqlstore.NewIntegrationService(db, box)
	uctx := keygate.NewContextWithUser(ctx, user)
	for _, in := range []keygate.IntegrationSave{
		{Kind: keygate.IntegrationZoom, ClientID: "zoom-id", Secret: cmdZoomSecret},
		{Kind: keygate.IntegrationOther, Name: "Stripe", Secret: cmdOtherSecret},
	} {
		if _, err := svc.SaveIntegration(uctx, org.PublicID, &in); err != nil {
			t.Fatal(err)
		}
	}
	return credentialsDir{dir: c.DataDir, org: org.PublicID, key: mustReadKeyFile(t, filepath.Join(c.DataDir, "secret.key"))}
}

// mustReadKeyFile reads a key file, which must be owner-only.
func mustReadKeyFile(t *testing.T, path string) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("%s mode = %v, want %v", path, got, want)
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := secretbox.ParseKey(string(buf))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return key
}

// decryptAll opens the data directory's database and decrypts both
// credentials with key.
func (d credentialsDir) decryptAll(t *testing.T, key []byte) (zoom, other string, err error) {
	t.Helper()
	db := sqlstore.NewDB(filepath.Join(d.dir, "keygate.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := sqlstore.NewIntegrationService(db, box)
	ctx := context.Background()
	if zoom, err = svc.DecryptSecret(ctx, d.org, keygate.IntegrationZoom, ""); err != nil {
		return "", "", err
	}
	other, err = svc.DecryptSecret(ctx, d.org, keygate.IntegrationOther, "Stripe")
	return zoom, other, err
}

// mustOpenWith fails unless key decrypts both credentials.
func (d credentialsDir) mustOpenWith(t *testing.T, key []byte) {
	t.Helper()
	zoom, other, err := d.decryptAll(t, key)
	if err != nil || zoom != cmdZoomSecret || other != cmdOtherSecret {
		t.Fatalf("decrypt: %q %q %v", zoom, other, err)
	}
}

// snapshot returns the sealed values and the key check, to compare.
func (d credentialsDir) snapshot(t *testing.T) string {
	t.Helper()
	var out string
	if err := mustOpenSQLite(t, filepath.Join(d.dir, "keygate.db")).QueryRow(
		`SELECT hex(group_concat(secret, '|')) || ':' || (SELECT hex(value) FROM secret_key_check) FROM (SELECT secret FROM integrations ORDER BY id)`).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenSecretBox(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T, c *Config) (*secretbox.Box, bool, error) {
		t.Helper()
		db, err := openDB(ctx, c, true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return openSecretBox(ctx, c, db)
	}

	t.Run("OKGeneratedOnceKeptAfter", func(t *testing.T) {
		d := mustCredentialsDir(t)
		box, generated, err := open(t, &Config{DataDir: d.dir})
		if err != nil || generated {
			t.Fatalf("second start: generated=%v err=%v", generated, err)
		}
		want, _ := secretbox.New(d.key)
		if box.ID() != want.ID() {
			t.Fatal("second start uses another key")
		}
		if got := mustReadKeyFile(t, filepath.Join(d.dir, "secret.key")); !bytes.Equal(got, d.key) {
			t.Fatal("second start replaced secret.key")
		}
		d.mustOpenWith(t, d.key)
	})

	t.Run("OKFromFlag", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		key := secretbox.GenerateKey()
		box, generated, err := open(t, &Config{DataDir: dir, SecretKey: secretbox.EncodeKey(key)})
		if err != nil || generated {
			t.Fatalf("generated=%v err=%v", generated, err)
		}
		if want, _ := secretbox.New(key); box.ID() != want.ID() {
			t.Fatal("not the flag's key")
		}
		if _, err := os.Stat(filepath.Join(dir, "secret.key")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("secret.key written although --secret-key was given (stat: %v)", err)
		}
	})

	t.Run("OKFlagWinsOverFile", func(t *testing.T) {
		d := mustCredentialsDir(t)
		if _, _, err := open(t, &Config{DataDir: d.dir, SecretKey: secretbox.EncodeKey(d.key)}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrWrongKey", func(t *testing.T) {
		d := mustCredentialsDir(t)
		before := d.snapshot(t)
		_, _, err := open(t, &Config{DataDir: d.dir, SecretKey: secretbox.EncodeKey(secretbox.GenerateKey())})
		want := "the secret key does not match the one this database's credentials were encrypted with: restore " +
			filepath.Join(d.dir, "secret.key") + " or pass the right --secret-key"
		if err == nil || err.Error() != want {
			t.Fatalf("err = %v, want %q", err, want)
		}
		if d.snapshot(t) != before {
			t.Fatal("a wrong key changed the database")
		}
		d.mustOpenWith(t, d.key)
	})

	t.Run("ErrWrongKeyFile", func(t *testing.T) {
		d := mustCredentialsDir(t)
		other := secretbox.EncodeKey(secretbox.GenerateKey()) + "\n"
		if err := os.WriteFile(filepath.Join(d.dir, "secret.key"), []byte(other), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := open(t, &Config{DataDir: d.dir}); err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("err = %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(d.dir, "secret.key")); string(b) != other {
			t.Fatal("the key file was changed")
		}
		d.mustOpenWith(t, d.key)
	})

	t.Run("ErrKeyFileLost", func(t *testing.T) {
		// A lost key must not be silently replaced by a new one.
		d := mustCredentialsDir(t)
		os.Remove(filepath.Join(d.dir, "secret.key"))
		_, _, err := open(t, &Config{DataDir: d.dir})
		if err == nil || !strings.Contains(err.Error(), "no secret key found, but this database's credentials are encrypted with one: restore "+filepath.Join(d.dir, "secret.key")) {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(filepath.Join(d.dir, "secret.key")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a new secret.key was generated for a database that uses another")
		}
	})

	t.Run("OKEmptyKeyFileRegenerated", func(t *testing.T) {
		// An empty secret.key is what an interrupted first write leaves.
		dir := t.TempDir()
		path := filepath.Join(dir, "secret.key")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		box, generated, err := open(t, &Config{DataDir: dir})
		if err != nil || !generated {
			t.Fatalf("generated=%v err=%v", generated, err)
		}
		if want, _ := secretbox.New(mustReadKeyFile(t, path)); box.ID() != want.ID() {
			t.Fatal("secret.key does not hold the key in use")
		}
	})

	t.Run("ErrEmptyKeyFileButDatabaseUsedOne", func(t *testing.T) {
		d := mustCredentialsDir(t)
		path := filepath.Join(d.dir, "secret.key")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := open(t, &Config{DataDir: d.dir})
		if err == nil || !strings.Contains(err.Error(), "no secret key found, but this database's credentials are encrypted with one: restore "+path) {
			t.Fatalf("err = %v", err)
		}
		if buf, _ := os.ReadFile(path); len(buf) != 0 {
			t.Fatal("a new secret.key was generated for a database that uses another")
		}
	})

	t.Run("ErrKeyFileDamaged", func(t *testing.T) {
		d := mustCredentialsDir(t)
		os.WriteFile(filepath.Join(d.dir, "secret.key"), []byte("not a key"), 0o600)
		_, _, err := open(t, &Config{DataDir: d.dir})
		if err == nil || !strings.Contains(err.Error(), "secret key file") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestServeSecretKey(t *testing.T) {
	t.Run("ErrWrongKeyStopsStartup", func(t *testing.T) {
		d := mustCredentialsDir(t)
		before := d.snapshot(t)
		wrong := secretbox.EncodeKey(secretbox.GenerateKey())
		for name, run := range map[string]func() result{
			"Flag": func() result {
				return runCmd(t, "", "serve", "--data-dir", d.dir, "--secret-key", wrong, "--addr", "127.0.0.1:0", "--http-addr", "")
			},
			"Env": func() result {
				t.Setenv("KEYGATE_SECRET_KEY", wrong)
				return runCmd(t, "", "serve", "--data-dir", d.dir, "--addr", "127.0.0.1:0", "--http-addr", "")
			},
		} {
			r := run().mustCode(t, 1)
			want := "keygate: the secret key does not match the one this database's credentials were encrypted with: restore " +
				filepath.Join(d.dir, "secret.key") + " or pass the right --secret-key\n"
			if r.stderr != want {
				t.Fatalf("%s: stderr = %q, want %q", name, r.stderr, want)
			}
			if strings.Contains(r.stderr+r.stdout, wrong) {
				t.Fatalf("%s: the key was printed", name)
			}
		}
		if d.snapshot(t) != before {
			t.Fatal("a refused start changed the credentials")
		}
		if _, err := os.Stat(filepath.Join(d.dir, "session.key")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a refused start went on to create the session key")
		}
		d.mustOpenWith(t, d.key)
	})

	t.Run("ErrMalformedKey", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		r := runCmd(t, "", "serve", "--data-dir", dir, "--secret-key", "c2hvcnQ=").mustCode(t, 1)
		if !strings.Contains(r.stderr, "--secret-key: secret key must be 32 bytes") || strings.Contains(r.stderr, "c2hvcnQ") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatal("a malformed key still created the data directory")
		}
	})
}

func TestRunRotateSecretKey(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		d := mustCredentialsDir(t)
		before := d.snapshot(t)
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir).mustCode(t, 0)
		oldBox, _ := secretbox.New(d.key)
		newKey := mustReadKeyFile(t, filepath.Join(d.dir, "secret.key"))
		newBox, _ := secretbox.New(newKey)
		for _, s := range []string{"Re-encrypted 2 credentials and the key check", "key id " + newBox.ID(), "the old one was " + oldBox.ID(),
			"Wrote the new key to " + filepath.Join(d.dir, "secret.key"), "kept the old key in " + filepath.Join(d.dir, "secret.key.old"), "Back up the new key"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "KEYGATE_SECRET_KEY is set") {
			t.Error("warned about a flag that was not given")
		}
		if bytes.Equal(newKey, d.key) || d.snapshot(t) == before {
			t.Fatal("nothing rotated")
		}
		if got := mustReadKeyFile(t, filepath.Join(d.dir, "secret.key.old")); !bytes.Equal(got, d.key) {
			t.Fatal("secret.key.old is not the old key")
		}
		if _, err := os.Stat(filepath.Join(d.dir, "secret.key.new")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("secret.key.new left behind")
		}
		if _, _, err := d.decryptAll(t, d.key); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("the old key still opens the credentials: %v", err)
		}
		d.mustOpenWith(t, newKey)
		// The server starts with the new key file, and refuses the old key.
		r = runCmd(t, "", "serve", "--data-dir", d.dir, "--secret-key", secretbox.EncodeKey(d.key), "--addr", "127.0.0.1:0", "--http-addr", "").mustCode(t, 1)
		if !strings.Contains(r.stderr, "does not match") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		ctx := context.Background()
		c := &Config{DataDir: d.dir}
		db, err := openDB(ctx, c, true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, generated, err := openSecretBox(ctx, c, db); err != nil || generated {
			t.Fatalf("start after rotation: generated=%v err=%v", generated, err)
		}
	})

	t.Run("OKNewKeyGiven", func(t *testing.T) {
		d := mustCredentialsDir(t)
		next := secretbox.GenerateKey()
		runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir, "--new-secret-key", secretbox.EncodeKey(next)).mustCode(t, 0)
		if got := mustReadKeyFile(t, filepath.Join(d.dir, "secret.key")); !bytes.Equal(got, next) {
			t.Fatal("secret.key is not the given key")
		}
		d.mustOpenWith(t, next)
	})

	t.Run("OKCurrentKeyFromEnv", func(t *testing.T) {
		d := mustCredentialsDir(t)
		os.Remove(filepath.Join(d.dir, "secret.key"))
		t.Setenv("KEYGATE_SECRET_KEY", secretbox.EncodeKey(d.key))
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir).mustCode(t, 0)
		if !strings.Contains(r.stdout, "KEYGATE_SECRET_KEY is set and wins over the file") {
			t.Fatalf("stdout = %q", r.stdout)
		}
		d.mustOpenWith(t, mustReadKeyFile(t, filepath.Join(d.dir, "secret.key")))
		if got := mustReadKeyFile(t, filepath.Join(d.dir, "secret.key.old")); !bytes.Equal(got, d.key) {
			t.Fatal("secret.key.old is not the old key")
		}
	})

	unchanged := func(t *testing.T, d credentialsDir, before string) {
		t.Helper()
		if d.snapshot(t) != before {
			t.Fatal("the credentials changed")
		}
		if got := mustReadKeyFile(t, filepath.Join(d.dir, "secret.key")); !bytes.Equal(got, d.key) {
			t.Fatal("secret.key changed")
		}
		for _, f := range []string{"secret.key.old", "secret.key.new"} {
			if _, err := os.Stat(filepath.Join(d.dir, f)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s written", f)
			}
		}
		d.mustOpenWith(t, d.key)
	}

	t.Run("ErrWrongCurrentKey", func(t *testing.T) {
		d := mustCredentialsDir(t)
		before := d.snapshot(t)
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir, "--secret-key", secretbox.EncodeKey(secretbox.GenerateKey())).mustCode(t, 1)
		if !strings.Contains(r.stderr, "the secret key does not match the one this database's credentials were encrypted with") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		unchanged(t, d, before)
	})

	t.Run("ErrSameKey", func(t *testing.T) {
		d := mustCredentialsDir(t)
		before := d.snapshot(t)
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir, "--new-secret-key", secretbox.EncodeKey(d.key)).mustCode(t, 1)
		if !strings.Contains(r.stderr, "the new secret key is the current one") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		unchanged(t, d, before)
	})

	t.Run("ErrBadNewKey", func(t *testing.T) {
		d := mustCredentialsDir(t)
		before := d.snapshot(t)
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir, "--new-secret-key", "short").mustCode(t, 1)
		if !strings.Contains(r.stderr, "--new-secret-key") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		unchanged(t, d, before)
	})

	t.Run("ErrInterruptedRotation", func(t *testing.T) {
		d := mustCredentialsDir(t)
		before := d.snapshot(t)
		pending := filepath.Join(d.dir, "secret.key.new")
		os.WriteFile(pending, []byte("precious\n"), 0o600)
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir).mustCode(t, 1)
		if !strings.Contains(r.stderr, "secret.key.new exists") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		if b, _ := os.ReadFile(pending); string(b) != "precious\n" {
			t.Fatal("secret.key.new overwritten")
		}
		os.Remove(pending)
		unchanged(t, d, before)
	})

	t.Run("ErrNoCurrentKey", func(t *testing.T) {
		d := mustCredentialsDir(t)
		os.Remove(filepath.Join(d.dir, "secret.key"))
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", d.dir).mustCode(t, 1)
		if !strings.Contains(r.stderr, "no current secret key") {
			t.Fatalf("stderr = %q", r.stderr)
		}
	})

	t.Run("ErrNoDatabase", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "typo")
		r := runCmd(t, "", "rotate-secret-key", "--data-dir", missing).mustCode(t, 1)
		if !strings.Contains(r.stderr, "--data-dir") {
			t.Fatalf("stderr = %q", r.stderr)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatal("created the data directory")
		}
	})

	t.Run("OKHelp", func(t *testing.T) {
		r := runCmd(t, "", "rotate-secret-key", "--help").mustCode(t, 0)
		for _, s := range []string{"keygate rotate-secret-key", "-data-dir", "-secret-key", "-new-secret-key"} {
			if !strings.Contains(r.stdout+r.stderr, s) {
				t.Errorf("help lacks %q", s)
			}
		}
		if top := runCmd(t, "", "--help").mustCode(t, 0); !strings.Contains(top.stdout, "keygate rotate-secret-key") {
			t.Error("usage does not list rotate-secret-key")
		}
	})

	t.Run("ErrArgument", func(t *testing.T) {
		runCmd(t, "", "rotate-secret-key", "--data-dir", t.TempDir(), "extra").mustCode(t, 1)
	})
}
