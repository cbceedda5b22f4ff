package atomicfile_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/citusgen/citusgen/internal/atomicfile"
)

// helperEnv makes the test binary replace one file and print the outcome,
// as another user (see TestWritableForTheUser).
const helperEnv = "ATOMICFILE_REPLACE"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		t, err := atomicfile.Open(path)
		if err == nil {
			err = t.Replace([]byte("new\n"))
		}
		var unsafe *atomicfile.UnsafeError
		switch {
		case errors.As(err, &unsafe):
			fmt.Println("refused:", unsafe.Msg)
		case err != nil:
			fmt.Println("error:", err)
		default:
			fmt.Println("replaced; notes:", strings.Join(t.Notes, "; "))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A file the user could not write is refused, unless the user owns its
// directory: then it is replaced, keeping its mode, and a note says so.
// Runs the test binary as another user, so it needs root.
func TestWritableForTheUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	const nobody = 65534
	root := sharedDir(t)
	run := replacer(t, root, nobody)

	// In someone else's directory: refused, untouched.
	theirs := filepath.Join(root, "theirs")
	os.Mkdir(theirs, 0o755)
	f := filepath.Join(theirs, "compose.yml")
	os.WriteFile(f, []byte("old\n"), 0o644)
	if got := run(f); !strings.HasPrefix(got, "refused: is not writable for you (mode 0644, owner root)") {
		t.Errorf("someone else's file: %s", got)
	}
	if b, _ := os.ReadFile(f); string(b) != "old\n" {
		t.Errorf("changed: %q", b)
	}

	// Read-only, in the user's own directory: replaced, mode kept, said.
	mine := filepath.Join(root, "mine")
	os.Mkdir(mine, 0o755)
	os.Chown(mine, nobody, nobody)
	g := filepath.Join(mine, "compose.yml")
	os.WriteFile(g, []byte("old\n"), 0o444)
	os.Chown(g, nobody, nobody)
	if got := run(g); got != "replaced; notes: "+g+" is read-only (mode 0444); citusgen replaces it because you own its directory, and keeps the mode" {
		t.Errorf("own directory: %s", got)
	}
	if fi, _ := os.Stat(g); fi.Mode().Perm() != 0o444 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(g); string(b) != "new\n" {
		t.Errorf("content %q", b)
	}
}

// sharedDir is a directory every user can reach, for files that processes
// of other users open.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "atomicfile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// replacer copies the test binary into dir, where another user can run
// it, and returns a function that runs it as uid to replace a file (see
// TestMain), answering what it said.
func replacer(t *testing.T, dir string, uid uint32) func(path string) string {
	t.Helper()
	bin := filepath.Join(dir, "helper")
	copyFile(t, os.Args[0], bin, 0o755)
	return func(path string) string {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// Replace keeps the set-group-id bit and the mode, and reports a change
// made between Open and the rename, keeping it.
func TestReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o600)
	os.Chmod(p, 0o640|os.ModeSetgid)
	tg, err := atomicfile.Open(p)
	if err != nil || string(tg.Data) != "old" {
		t.Fatal(tg, err)
	}
	if err := tg.Replace([]byte("new")); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode()&(os.ModePerm|os.ModeSetgid) != 0o640|os.ModeSetgid {
		t.Errorf("mode %v", fi.Mode())
	}

	tg, _ = atomicfile.Open(p)
	atomicfile.SetBeforeReplace(func(string) { os.WriteFile(p, []byte("theirs"), 0o640) })
	defer atomicfile.SetBeforeReplace(nil)
	err = tg.Replace([]byte("mine"))
	if !errors.Is(err, atomicfile.ErrChanged) {
		t.Errorf("error %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "theirs" {
		t.Errorf("content %q", b)
	}
	// Same size, same second: the content hash still tells.
	atomicfile.SetBeforeReplace(func(string) {
		st, _ := os.Stat(p)
		os.WriteFile(p, []byte("THEIRS"), 0o640)
		os.Chtimes(p, st.ModTime(), st.ModTime())
	})
	tg, _ = atomicfile.Open(p)
	if err := tg.Replace([]byte("mine")); !errors.Is(err, atomicfile.ErrChanged) {
		t.Errorf("same size and time: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
