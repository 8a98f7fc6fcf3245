package atomicfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/internal/atomicfile"
)

// mustOnlyFile fails unless dir holds exactly the file name.
func mustOnlyFile(tb testing.TB, dir, name string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		tb.Fatalf("directory holds %q, want only %q", names, name)
	}
}

// mustContent fails unless path holds want with mode 0600.
func mustContent(tb testing.TB, path, want string) {
	tb.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if string(got) != want {
		tb.Fatalf("content %q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		tb.Fatalf("mode %v, want %v", got, want)
	}
}

func TestWrite(t *testing.T) {
	t.Run("OKReplacesAndLeavesNoTempFile", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "session.key")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.Write(path, []byte("new"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustContent(t, path, "new")
		mustOnlyFile(t, dir, "session.key")
	})

	t.Run("ErrNoDirectoryLeavesNothing", func(t *testing.T) {
		dir := t.TempDir()
		if err := atomicfile.Write(filepath.Join(dir, "missing", "k"), []byte("x"), 0o600); err == nil {
			t.Fatal("no error writing into a missing directory")
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("left %d entries", len(entries))
		}
	})
}

func TestCreate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "secret.key")
		if err := atomicfile.Create(path, []byte("key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustContent(t, path, "key\n")
		mustOnlyFile(t, dir, "secret.key")
	})

	t.Run("ErrExistKeepsOldAndLeavesNoTempFile", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "secret.key")
		if err := atomicfile.Create(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := atomicfile.Create(path, []byte("new"), 0o600)
		if !errors.Is(err, os.ErrExist) {
			t.Fatalf("err = %v, want os.ErrExist", err)
		}
		mustContent(t, path, "old")
		mustOnlyFile(t, dir, "secret.key")
	})
}
