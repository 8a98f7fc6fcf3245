package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDataDirModes: every command that opens the data directory restricts
// it to its owner, even when it already existed with looser modes: the
// directory and its subdirectories 0700, its files 0600. A symbolic link is
// not followed.
func TestDataDirModes(t *testing.T) {
	tests := []struct {
		name string
		// before runs before the modes are loosened.
		before func(t *testing.T, dir string)
		run    func(t *testing.T, dir string)
	}{
		{"OKServe", nil, func(t *testing.T, dir string) {
			var c Config
			if err := parse(newServeFlags(&c), []string{"--data-dir", dir, "--addr", "127.0.0.1:0", "--http-addr", ""}, fakeEnv(nil)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			log := &lockedBuffer{}
			done := make(chan error, 1)
			go func() { done <- serve(ctx, &c, slog.New(slog.NewTextHandler(log, nil))) }()
			deadline := time.After(20 * time.Second)
			for {
				if strings.Contains(log.String(), `msg="Keygate is running"`) {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("serve returned %v before it was running; log:\n%s", err, log)
				case <-deadline:
					t.Fatalf("not running after 20s; log:\n%s", log)
				case <-time.After(10 * time.Millisecond):
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}},
		{"OKMigrate", nil, func(t *testing.T, dir string) {
			runCmd(t, "", "migrate", "--data-dir", dir).mustCode(t, 0)
		}},
		{"OKUserCreate", nil, func(t *testing.T, dir string) {
			runCmd(t, testPassword+"\n", "user", "create", "--data-dir", dir, "--email", "ada@example.com", "--name", "Ada", "--organization", "Org A").mustCode(t, 0)
		}},
		{"OKBackup", func(t *testing.T, dir string) {
			runCmd(t, "", "migrate", "--data-dir", dir).mustCode(t, 0)
		}, func(t *testing.T, dir string) {
			runCmd(t, "", "backup", "--data-dir", dir, filepath.Join(t.TempDir(), "backup.db")).mustCode(t, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			mustMkdir(t, dir)
			if tt.before != nil {
				tt.before(t, dir)
			}
			// A directory someone made by hand, with files others may read.
			mustMkdir(t, filepath.Join(dir, "tls"))
			mustMkdir(t, filepath.Join(dir, "old"))
			mustWrite(t, filepath.Join(dir, "notes.txt"))
			mustWrite(t, filepath.Join(dir, "tls", "cert.pem"))
			mustWrite(t, filepath.Join(dir, "old", "keygate.db.bak"))
			outside := filepath.Join(t.TempDir(), "outside.txt")
			mustWrite(t, outside)
			if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.Type()&os.ModeSymlink != 0 {
					return err
				}
				if d.IsDir() {
					return os.Chmod(path, 0o755)
				}
				return os.Chmod(path, 0o644)
			})
			if err != nil {
				t.Fatal(err)
			}

			tt.run(t, dir)

			for path, want := range map[string]os.FileMode{
				"":                   0o700,
				"tls":                0o700,
				"old":                0o700,
				"notes.txt":          0o600,
				"keygate.db":         0o600,
				"tls/cert.pem":       0o600,
				"old/keygate.db.bak": 0o600,
			} {
				fi, err := os.Stat(filepath.Join(dir, path))
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s: mode = %v, want %v", path, got, want)
				}
			}
			if fi, err := os.Stat(outside); err != nil {
				t.Fatal(err)
			} else if got, want := fi.Mode().Perm(), os.FileMode(0o644); got != want {
				t.Errorf("file behind a symbolic link: mode = %v, want %v (not followed)", got, want)
			}
		})
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer is a log that a server writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
