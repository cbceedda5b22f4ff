package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/citusgen/citusgen/settingsfile"
)

const (
	userCompose  = "services:\n  web:\n    image: web\n"
	userSettings = "SECRET_KEY = 'keep'\nDATABASES = {}\nREPORTING_DATABASES = {}\n"
)

// target is one shape a file named on the command line can have.
type target struct {
	name string
	// make creates it in dir from content and returns the path to name.
	make func(t *testing.T, dir, content string) string
	// code is the exit status of --into, --into --adopt and check;
	// stderr what --into says.
	code   int
	stderr string
	// checkCode, when set, is check's exit status (check only reads).
	checkCode int
	// after checks the file system once every command ran.
	after func(t *testing.T, dir, path, content string)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func unchanged(t *testing.T, path, content string) {
	t.Helper()
	if b, err := os.ReadFile(path); err != nil || string(b) != content {
		t.Errorf("%s changed: %v\n%s", path, err, b)
	}
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func targets() []target {
	plain := func(t *testing.T, dir, content string) string {
		p := filepath.Join(dir, "file")
		writeFile(t, p, content, 0o644)
		return p
	}
	return []target{
		{name: "regular file", make: plain, code: 0, stderr: "updated the citusgen region of",
			after: func(t *testing.T, dir, path, content string) {
				b, _ := os.ReadFile(path)
				if !strings.HasPrefix(string(b), content) || !strings.Contains(string(b), "citusgen managed") {
					t.Errorf("not merged:\n%s", b)
				}
				noTempFiles(t, dir)
			}},
		{name: "symlink", code: 0,
			make: func(t *testing.T, dir, content string) string {
				writeFile(t, filepath.Join(dir, "real"), content, 0o644)
				p := filepath.Join(dir, "link")
				if err := os.Symlink("real", p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			after: func(t *testing.T, dir, path, content string) {
				if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("the link is no longer a link: %v", err)
				}
				b, _ := os.ReadFile(filepath.Join(dir, "real"))
				if !strings.Contains(string(b), "citusgen managed") {
					t.Errorf("the link's target was not updated:\n%s", b)
				}
			}},
		{name: "dangling symlink", code: 2, stderr: "is a symlink to nowhere, which does not exist",
			make: func(t *testing.T, dir, content string) string {
				p := filepath.Join(dir, "link")
				if err := os.Symlink("nowhere", p); err != nil {
					t.Fatal(err)
				}
				return p
			},
			after: func(t *testing.T, dir, path, content string) {
				if _, err := os.Stat(filepath.Join(dir, "nowhere")); err == nil {
					t.Error("created the link's target")
				}
			}},
		{name: "hard link", code: 2, checkCode: 1, stderr: "has 2 hard links; replacing it would leave the other names with the old content",
			make: func(t *testing.T, dir, content string) string {
				p := plain(t, dir, content)
				if err := os.Link(p, filepath.Join(dir, "other")); err != nil {
					t.Fatal(err)
				}
				return p
			},
			after: func(t *testing.T, dir, path, content string) {
				unchanged(t, path, content)
				a, _ := os.Stat(path)
				b, _ := os.Stat(filepath.Join(dir, "other"))
				if !os.SameFile(a, b) {
					t.Error("the hard link was broken")
				}
			}},
		{name: "FIFO without a writer", code: 2, stderr: "is a named pipe (FIFO), not a regular file",
			make: func(t *testing.T, dir, content string) string {
				p := filepath.Join(dir, "fifo")
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			},
			after: func(t *testing.T, dir, path, content string) {
				if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
					t.Errorf("the FIFO was replaced: %v", err)
				}
			}},
		{name: "character device", code: 2, stderr: "is a character device, not a regular file",
			make: func(t *testing.T, dir, content string) string {
				if os.Geteuid() != 0 {
					return "/dev/null" // only read: every command refuses before writing
				}
				p := filepath.Join(dir, "null")
				if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
					t.Skip("cannot create a device here:", err)
				}
				return p
			},
			after: func(t *testing.T, dir, path, content string) {
				if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
					t.Errorf("the device was replaced: %v", err)
				}
			}},
		{name: "directory", code: 2, stderr: "is a directory, not a regular file",
			make: func(t *testing.T, dir, content string) string {
				p := filepath.Join(dir, "d")
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			}},
		{name: "another user's file", code: 0,
			make: func(t *testing.T, dir, content string) string {
				p := plain(t, dir, content)
				if os.Geteuid() != 0 {
					t.Skip("needs root to give a file to another user")
				}
				if err := os.Chown(p, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, 0o640); err != nil {
					t.Fatal(err)
				}
				return p
			},
			after: func(t *testing.T, dir, path, content string) {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if st.Uid != 65534 || st.Gid != 65534 || fi.Mode().Perm() != 0o640 {
					t.Errorf("owner %d:%d mode %v; want 65534:65534 0640", st.Uid, st.Gid, fi.Mode().Perm())
				}
			}},
	}
}

// Every shape a target file can have, for the compose file and the
// settings file, under --into, --into --adopt and check: regular files
// (through symlinks too) are merged keeping owner and mode; anything else
// is refused with exit 2, nothing touched and nothing blocking.
func TestTargetFiles(t *testing.T) {
	kinds := []struct {
		name, content string
		into, check   []string
	}{
		{"compose", userCompose, []string{"render", "--into"}, []string{"check", "--compose"}},
		{"settings", userSettings, []string{"render", "settings", "--into"}, []string{"check", "--settings"}},
	}
	for _, k := range kinds {
		for _, tg := range targets() {
			t.Run(k.name+"/"+tg.name, func(t *testing.T) {
				dir := t.TempDir()
				path := tg.make(t, dir, k.content)
				commands := [][]string{
					append(append([]string{}, k.into...), path),
					append(append([]string{}, k.into...), path, "--adopt"),
					append(append([]string{}, k.check...), path),
				}
				for i, args := range commands {
					code, errOut := runWithin(t, 20*time.Second, args...)
					// (a merged file is then up to date, and without drift)
					want := tg.code
					if i == 2 && tg.checkCode != 0 {
						want = tg.checkCode // read only: a file without regions is drift
					}
					if code != want {
						t.Errorf("%v: exit %d, want %d: %s", args, code, want, errOut)
					}
					if i == 0 && tg.stderr != "" && !strings.Contains(errOut, tg.stderr) {
						t.Errorf("%v: stderr %q, want %q", args, errOut, tg.stderr)
					}
					if strings.Contains(errOut, "Traceback") {
						t.Errorf("%v: %s", args, errOut)
					}
				}
				if tg.after != nil {
					tg.after(t, dir, path, k.content)
				}
			})
		}
	}
}

// runWithin runs the CLI and fails the test if it does not return in time
// (a FIFO opened for reading would block forever).
func runWithin(t *testing.T, limit time.Duration, args ...string) (int, string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, errOut := runCLI(t, nil, args...)
		done <- result{code, errOut}
	}()
	select {
	case r := <-done:
		return r.code, r.stderr
	case <-time.After(limit):
		t.Fatalf("%v did not return within %v", args, limit)
		return 0, ""
	}
}

// Contents of the target that are refused before anything is written, and
// check's verdict on the same files: exit 2 with the same message, not a
// drift report.
func TestTargetContents(t *testing.T) {
	cases := []struct {
		name, kind, content, want string
		line                      int
	}{
		{"CR-only compose", "compose", "services:\r  web:\r    image: web\r", "ends a line with a carriage return alone", 1},
		{"two documents", "compose", "services:\n  web: {image: web}\n---\nvolumes: {}\n", "a second YAML document starts here", 3},
		{"invalid YAML", "compose", "services:\n  web: [\n", "not valid YAML", 2},
		{"syntax error", "settings", "DATABASES = {\n", "does not compile (line 1: '{' was never closed); fix it first", 0},
		{"binary", "settings", "\x89PNG\r\n\x1a\n\x00\xff", "does not compile (source code string cannot contain null bytes)", 0},
		{"CR-only settings", "settings", "DATABASES = {}\rX = 1\r", "ends a line with a carriage return alone", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			writeFile(t, path, c.content, 0o644)
			into := []string{"render", "--into", path}
			check := []string{"check", "--compose", path}
			if c.kind == "settings" {
				into = []string{"render", "settings", "--into", path}
				check = []string{"check", "--settings", path}
			}
			loc := path + ": "
			if c.line > 0 {
				loc = path + ":" + strconv.Itoa(c.line) + ": "
			}
			for _, args := range [][]string{into, append(into, "--adopt"), check} {
				code, out, errOut := runCLI(t, nil, args...)
				if code != 2 || !strings.Contains(errOut, loc) || !strings.Contains(errOut, c.want) || strings.Contains(out, "drift") || strings.Contains(errOut, "citusgen's change") {
					t.Errorf("%v: exit %d\nstdout %s\nstderr %s\nwant %q at %q", args, code, out, errOut, c.want, loc)
				}
			}
			unchanged(t, path, c.content)
		})
	}
}

// A change made to the file between citusgen's read and its rename is
// kept: citusgen writes nothing, exits 1 and says to run it again. The
// other writer strikes while citusgen waits in the middle of its work:
// for a compose file, on the .env beside it (a FIFO, read as docker
// compose reads it), for a settings file, as its python3 starts.
func TestConcurrentEditIsKept(t *testing.T) {
	const theirs = "# the other writer's bytes\n"
	edit := func(path string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		f.WriteString(theirs)
		f.Close()
	}
	for _, k := range []struct {
		name    string
		content string
		args    []string
		// meddle arranges for the edit of path while citusgen works.
		meddle func(t *testing.T, path string)
	}{
		{"compose", userCompose, []string{"render", "--into"}, func(t *testing.T, path string) {
			env := filepath.Join(filepath.Dir(path), ".env")
			if err := syscall.Mkfifo(env, 0o600); err != nil {
				t.Fatal(err)
			}
			// citusgen reads the .env each time it takes the file's
			// environment (the major check, compose-go's load): the first
			// read is the edit's moment, later ones read it empty.
			done := make(chan struct{})
			go func() {
				for first := true; ; first = false {
					// Opening the FIFO waits for a reader.
					f, err := os.OpenFile(env, os.O_WRONLY, 0)
					if err != nil {
						t.Error(err)
						return
					}
					select {
					case <-done:
						f.Close()
						return
					default:
					}
					if first {
						edit(path)
					}
					f.Close()
				}
			}()
			t.Cleanup(func() {
				close(done)
				// A reader of our own lets the waiting open return.
				if r, err := os.OpenFile(env, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
					r.Close()
				}
			})
		}},
		{"settings", userSettings, []string{"render", "settings", "--into"}, func(t *testing.T, path string) {
			py, err := settingsfile.Interpreter()
			if err != nil {
				t.Skip(err)
			}
			tmp := t.TempDir()
			src, wrapper := filepath.Join(tmp, "theirs"), filepath.Join(tmp, "python3")
			writeFile(t, src, theirs, 0o644)
			writeFile(t, wrapper, "#!/bin/sh\ncat '"+src+"' >> '"+path+"'\nexec '"+py+"' \"$@\"\n", 0o755)
			t.Setenv(settingsfile.PythonEnv, wrapper)
		}},
	} {
		t.Run(k.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			writeFile(t, path, k.content, 0o644)
			k.meddle(t, path)
			code, _, errOut := runCLI(t, nil, append(k.args, path)...)
			if code != 1 || !strings.Contains(errOut, path+" changed while citusgen was working on it (another program wrote it); citusgen wrote nothing: run the command again") {
				t.Errorf("%v: exit %d: %s", k.args, code, errOut)
			}
			unchanged(t, path, k.content+theirs)
			noTempFiles(t, dir)
		})
	}
}

// A new settings file: --into creates it with what the block needs, and
// check finds no drift in it. Outside the spec's folder (here the current
// one: the embedded default), the header names it by its absolute path.
func TestIntoCreatesSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "localsettings.py")
	code, _, errOut := runCLI(t, nil, "render", "settings", "--into", path)
	if code != 0 || !strings.Contains(errOut, "created "+path) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "\nDATABASES = {}\nREPORTING_DATABASES = {}\n\n# >>> citusgen managed settings") ||
		!strings.Contains(string(b), "# Change the topology, then run: citusgen render settings --into "+path+"\n") {
		t.Errorf("created:\n%s", b)
	}
	if code, out, errOut := runCLI(t, nil, "check", "--settings", path); code != 0 {
		t.Errorf("check: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "render", "settings", "--into", path); code != 0 || !strings.Contains(errOut, "up to date") {
		t.Errorf("again: %d %s", code, errOut)
	}
}
