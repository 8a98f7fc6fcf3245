package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// prepareDataDir creates the data directory if needed and restricts it to
// its owner: the directory 0700 and, inside it, subdirectories 0700 and
// files without group or other permissions (0600 for the usual 0644). It
// holds password and session hashes, the session key, the key of stored
// credentials and TLS private keys, and a directory that already existed
// with looser modes (made by hand, restored from a copy) is fixed too.
// Symbolic links are neither followed nor changed.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// The directory's own mode is what keeps other users out of
	// everything in it: that one must succeed.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict data directory: %w", err)
	}
	// What is inside is tightened as well as can be: an entry this user
	// cannot read or change (a volume's root-owned lost+found) is already
	// out of others' reach through the directory and is left alone.
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		mode := info.Mode().Perm() &^ 0o077
		if d.IsDir() {
			mode = 0o700
		}
		if mode != info.Mode().Perm() {
			_ = os.Chmod(path, mode)
		}
		return nil
	})
	return nil
}
