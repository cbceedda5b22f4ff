// Package atomicfile writes files so that readers see either the old content
// or the new, never a half-written file, and a failed write of several files
// leaves every existing file as it was.
package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File is one file to write, its Name relative to the target directory.
type File struct {
	Name string
	Data []byte
}

// NewFileMode is the mode of the files citusgen creates: what it writes
// may hold the cluster's password (compose files, settings, specs), so only
// their owner reads them. An existing file keeps its own mode.
const NewFileMode os.FileMode = 0o600

// WriteAll writes every file under dir.
func WriteAll(dir string, files []File) error {
	type pending struct{ tmp, final string }
	var done []pending
	cleanup := func() {
		for _, p := range done {
			os.Remove(p.tmp)
			settled(p.tmp)
		}
	}
	for _, f := range files {
		final := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
			cleanup()
			return fmt.Errorf("cannot create directory for %s: %w", final, errors.Unwrap(err))
		}
		tmp, err := writeTemp(final, f.Data)
		if err != nil {
			cleanup()
			return err
		}
		done = append(done, pending{tmp, final})
	}
	for i, p := range done {
		if err := os.Rename(p.tmp, p.final); err != nil {
			for _, q := range done[i:] {
				os.Remove(q.tmp)
				settled(q.tmp)
			}
			return fmt.Errorf("cannot replace %s: %w", p.final, errors.Unwrap(err))
		}
		settled(p.tmp)
	}
	return nil
}

func writeTemp(final string, data []byte) (string, error) {
	mode := NewFileMode
	if st, err := os.Stat(final); err == nil {
		mode = st.Mode().Perm()
	}
	return writeTempAs(context.Background(), final, data, mode, os.Geteuid(), os.Getegid())
}

// WriteNew creates path with data, atomically, and fails with an error
// wrapping fs.ErrExist if the path exists: the file appears whole through a
// hard link, which never replaces an existing file.
func WriteNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer func() {
		os.Remove(tmp)
		settled(tmp)
	}()
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	return nil
}
