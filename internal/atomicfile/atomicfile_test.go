package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/citusgen/citusgen/internal/atomicfile"
	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
)

func TestWriteAllReplacesFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteAll(dir, []atomicfile.File{{"a", []byte("new")}, {"sub/b", []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "new", "sub/b": "b"} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if string(got) != want {
			t.Errorf("%s = %q", name, got)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "a")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v: an existing file keeps its permissions", st.Mode())
	}
}

// A failure on any file changes none: earlier files keep their content and
// no temp file is left behind. ("sql" is a regular file, so sql/x cannot be
// created, even by root.)
func TestWriteAllFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dir, "sql"), []byte("file"), 0o644)
	err := atomicfile.WriteAll(dir, []atomicfile.File{{"a", []byte("new")}, {"sql/x.sql", []byte("x")}})
	if err == nil {
		t.Fatal("no error")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "old" {
		t.Errorf("a = %q after a failed write", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left behind: %v", names)
	}
}
