package settingsfile

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// plantBytecode writes, as an attacker with write access to the cache
// would, bytecode that python3 takes for the cached analyzer's (its header
// names the source's size and modification time): it writes marker, then
// runs the real analyzer, so that nothing else shows.
func plantBytecode(t *testing.T, source, marker string) {
	t.Helper()
	py, err := Interpreter()
	if err != nil {
		t.Fatal(err)
	}
	const plant = `import importlib._bootstrap_external as be, importlib.util, os, sys
src, marker = sys.argv[1], sys.argv[2]
st = os.stat(src)
code = compile("open(%r, 'w').write('planted')\nexec(compile(open(%r).read(), %r, 'exec'))" % (marker, src, src), src, "exec")
pyc = importlib.util.cache_from_source(src)
with open(pyc, "wb") as f:
    f.write(be._code_to_timestamp_pyc(code, st.st_mtime, st.st_size))
`
	if out, err := exec.Command(py, "-c", plant, source, marker).CombinedOutput(); err != nil {
		t.Fatalf("planting bytecode: %v\n%s", err, out)
	}
}

// The analyzer's bytecode in citusgen's cache directory is run by every
// citusgen run that reads a settings file. Where another user could have
// written it (the directory writable by others or by its group, or owned
// by someone else), citusgen does not use the cache: bytecode planted
// there never runs, and settings files are still read.
func TestCacheOthersCouldWriteIsNotRun(t *testing.T) {
	for _, c := range []struct {
		name string
		open func(t *testing.T, dir string)
	}{
		{"writable by others", func(t *testing.T, dir string) { os.Chmod(dir, 0o777) }},
		{"bytecode folder writable by its group", func(t *testing.T, dir string) { os.Chmod(filepath.Join(dir, "__pycache__"), 0o775) }},
		{"owned by another user", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the directory to another user")
			}
			filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
				return os.Lchown(p, 65534, 65534) // nobody
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			cache := t.TempDir()
			t.Setenv("XDG_CACHE_HOME", cache)
			Close()
			defer Close()
			// A first run fills the cache: the analyzer and its bytecode.
			if _, err := Analyze(ctx, "a.py", []byte("DATABASES = {}\n")); err != nil {
				t.Fatal(err)
			}
			Close()
			dir := filepath.Join(cache, "citusgen")
			sources, _ := filepath.Glob(filepath.Join(dir, "citusgen_analyze_*.py"))
			compiled, _ := filepath.Glob(filepath.Join(dir, "__pycache__", "citusgen_analyze_*.pyc"))
			if len(sources) != 1 || len(compiled) != 1 {
				t.Fatalf("the cache holds %v and %v, not the analyzer and its bytecode", sources, compiled)
			}
			c.open(t, dir)
			marker := filepath.Join(t.TempDir(), "planted")
			plantBytecode(t, sources[0], marker)

			f, err := Analyze(ctx, "b.py", []byte("DATABASES = {}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Bindings["DATABASES"]) != 1 {
				t.Errorf("the settings file was not read: %+v", f)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("citusgen ran bytecode from a cache directory others could write")
			}
		})
	}
}
