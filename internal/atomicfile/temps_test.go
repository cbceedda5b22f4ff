package atomicfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/citusgen/citusgen/internal/atomicfile"
)

// RemoveStale removes only what citusgen left: its exact temporary-file
// name for this file, a regular file, old enough that no write can still
// be in progress.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "localsettings.py")
	old := time.Now().Add(-atomicfile.StaleAge - time.Minute)
	files := map[string]time.Time{
		"localsettings.py":                    old,
		".localsettings.py.tmp-1234567":       old,                  // stale: removed
		".localsettings.py.tmp-42":            time.Now(),           // young: a write in progress
		".localsettings.py.tmp-abc":           old,                  // not citusgen's name
		".localsettings.py.tmp-":              old,                  // not citusgen's name
		".localsettings.py.tmp-12.bak":        old,                  // not citusgen's name
		".other.py.tmp-1234":                  old,                  // another file's
		"localsettings.py.tmp-1234":           old,                  // no leading dot
		".localsettings.py.tmp-99":            old.Add(time.Minute), // stale too
		".localsettings.pyX.tmp-1":            old,
		".localsettings.py.tmp-1234567.other": old,
	}
	for name, mtime := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	// A directory and a symlink of the pattern are not regular files.
	os.Mkdir(filepath.Join(dir, ".localsettings.py.tmp-7"), 0o700)
	os.Chtimes(filepath.Join(dir, ".localsettings.py.tmp-7"), old, old)
	os.Symlink(filepath.Join(dir, ".other.py.tmp-1234"), filepath.Join(dir, ".localsettings.py.tmp-8"))

	// Another user's file of the pattern is not citusgen's to remove.
	others := filepath.Join(dir, ".localsettings.py.tmp-31")
	os.WriteFile(others, []byte("x"), 0o600)
	os.Chtimes(others, old, old)
	if os.Geteuid() == 0 {
		if err := os.Chown(others, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else {
		others = "" // cannot give a file away without root
	}

	removed := atomicfile.RemoveStale(target)
	slices.Sort(removed)
	want := []string{filepath.Join(dir, ".localsettings.py.tmp-1234567"), filepath.Join(dir, ".localsettings.py.tmp-99")}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	for name := range files {
		_, err := os.Lstat(filepath.Join(dir, name))
		gone := slices.Contains(want, filepath.Join(dir, name))
		if gone != (err != nil) {
			t.Errorf("%s: gone %v, err %v", name, gone, err)
		}
	}
	if others != "" {
		if _, err := os.Lstat(others); err != nil {
			t.Errorf("another user's file removed: %v", err)
		}
	}
	for _, name := range []string{".localsettings.py.tmp-7", ".localsettings.py.tmp-8"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed: %v", name, err)
		}
	}

	// Through a symlink, the leftovers beside the real file go.
	real := filepath.Join(dir, "real")
	os.Mkdir(real, 0o700)
	os.WriteFile(filepath.Join(real, "s.py"), []byte("x"), 0o600)
	stale := filepath.Join(real, ".s.py.tmp-5")
	os.WriteFile(stale, []byte("x"), 0o600)
	os.Chtimes(stale, old, old)
	os.Symlink(filepath.Join(real, "s.py"), filepath.Join(dir, "s.py"))
	if got := atomicfile.RemoveStale(filepath.Join(dir, "s.py")); !slices.Equal(got, []string{stale}) {
		t.Errorf("through a symlink: removed %q", got)
	}
}

// A canceled context stops a replacement before its rename: the file is
// as it was and no temporary file is left.
func TestReplaceContextCanceled(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "settings.py")
	os.WriteFile(p, []byte("old\n"), 0o640)
	tgt, err := atomicfile.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("interrupted by SIGINT")
	cancel(stop)
	err = tgt.ReplaceContext(ctx, make([]byte, 9<<20))
	if !errors.Is(err, stop) {
		t.Fatalf("err %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old\n" {
		t.Errorf("file changed: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left: %v", entries)
	}
}
