package composefile

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const memoDoc = `services:
  db:
    image: postgres:${PG_TAG:-15}
    environment:
      POSTGRES_PASSWORD: ${PG_PASSWORD}
    ports:
      - "${DB_PORT}:5432"
`

// loadsOnCall answers doc's ports as check's cross-check does and says
// whether compose-go loaded it (rather than the memo answering).
func loadsOnCall(t *testing.T, dir string, doc string, env map[string]string) bool {
	t.Helper()
	before := Loads.Load()
	got, err := ServicePorts(context.Background(), dir, "hq-compose.yml", []byte(doc), env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	// The memo's answer is compose-go's.
	p, err := LoadComposeModel(context.Background(), dir, "hq-compose.yml", []byte(doc), env)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range p.Services {
		var want []Port
		for _, port := range s.Ports {
			want = append(want, Port{port.Published, port.Target})
		}
		if !reflect.DeepEqual(got[name], want) && !(len(got[name]) == 0 && len(want) == 0) {
			t.Errorf("%s's ports: got %v, compose-go says %v", name, got[name], want)
		}
	}
	if len(got) != len(p.Services) {
		t.Errorf("got the ports of %d services, compose-go loads %d", len(got), len(p.Services))
	}
	return Loads.Load() > before
}

// The same input is loaded once; whatever the answer depends on (the
// bytes, a referenced variable, the file) makes compose-go load it again,
// and an unrelated variable does not. The password is written nowhere.
func TestLoadMemo(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	dir := t.TempDir()
	env := map[string]string{"DB_PORT": "5600", "UNRELATED": "a", "PG_PASSWORD": "s3cret-value"}
	steps := []struct {
		name     string
		dir, doc string
		env      map[string]string
		load     bool
	}{
		{"first load", dir, memoDoc, env, true},
		{"same input", dir, memoDoc, env, false},
		{"an unreferenced variable changed", dir, memoDoc, map[string]string{"DB_PORT": "5600", "UNRELATED": "b", "PG_PASSWORD": "s3cret-value"}, false},
		{"a referenced variable changed", dir, memoDoc, map[string]string{"DB_PORT": "5601"}, true},
		{"a defaulted variable set", dir, memoDoc, map[string]string{"DB_PORT": "5601", "PG_TAG": "17"}, true},
		{"the bytes changed", dir, memoDoc + "  # a comment\n", map[string]string{"DB_PORT": "5601", "PG_TAG": "17"}, true},
		{"another file", t.TempDir(), memoDoc + "  # a comment\n", map[string]string{"DB_PORT": "5601", "PG_TAG": "17"}, true},
	}
	for _, s := range steps {
		if got := loadsOnCall(t, s.dir, s.doc, s.env); got != s.load {
			t.Errorf("%s: loaded %v, want %v", s.name, got, s.load)
		}
	}
	filepath.WalkDir(cache, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), "s3cret-value") {
				t.Errorf("%s holds the password:\n%s", path, b)
			}
		}
		return nil
	})
}

// A document that fails validation is never remembered: every load
// reports it.
func TestLoadMemoKeepsFailures(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	bad := "services:\n  web:\n    image: web\n    restart: 5\n"
	for i := 0; i < 2; i++ {
		_, err := ServicePorts(context.Background(), t.TempDir(), "hq-compose.yml", []byte(bad), nil)
		if err == nil || !strings.Contains(err.Error(), "services.web.restart must be a string") {
			t.Fatalf("load %d: want the validation error, got %v", i+1, err)
		}
	}
}

// Documents that bring in other files (include, extends) are loaded every
// time: the memo's key covers one file's bytes only.
func TestLoadMemoSkipsOtherFiles(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	base := "services:\n  base:\n    image: postgres\n"
	if err := os.WriteFile(filepath.Join(dir, "base.yml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "services:\n  db:\n    extends:\n      file: base.yml\n      service: base\n"
	for i := 0; i < 2; i++ {
		if !loadsOnCall(t, dir, doc, nil) {
			t.Errorf("call %d for a document with extends: answered from the memo", i+1)
		}
	}
}

// An unwritable cache costs speed only.
func TestLoadMemoWithoutCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/proc/citusgen-no-cache")
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		if !loadsOnCall(t, dir, memoDoc, map[string]string{"DB_PORT": "1", "PG_PASSWORD": "x"}) {
			t.Errorf("call %d: answered without a cache", i+1)
		}
	}
}

func TestReferencedVariables(t *testing.T) {
	got := referencedVariables([]byte("a: ${B:-${C}} $D $$E ${F_1:?x} $9 ${}\n# $G\n"))
	want := []string{"B", "C", "D", "E", "F_1", "G"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A memo another user could have written is not believed: its ports would
// make check report no drift where there is some. The memo of an input is
// planted with a wrong port; compose-go loads the file instead, whether
// others can write to the cache directory, to its compose-ports folder, or
// another user owns them.
func TestLoadMemoDistrustsAnOpenCache(t *testing.T) {
	env := map[string]string{"DB_PORT": "5600", "PG_PASSWORD": "x"}
	for _, c := range []struct {
		name string
		open func(t *testing.T, cache string)
	}{
		{"citusgen's directory writable by others", func(t *testing.T, cache string) {
			os.Chmod(filepath.Join(cache, "citusgen"), 0o777)
		}},
		{"compose-ports writable by its group", func(t *testing.T, cache string) {
			os.Chmod(filepath.Join(cache, "citusgen", "compose-ports"), 0o770)
		}},
		{"owned by another user", func(t *testing.T, cache string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the directory to another user")
			}
			filepath.Walk(filepath.Join(cache, "citusgen"), func(p string, _ os.FileInfo, _ error) error {
				return os.Lchown(p, 65534, 65534) // nobody
			})
		}},
		{"held in a directory others can write, not sticky", func(t *testing.T, cache string) {
			os.Chmod(cache, 0o777)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv("XDG_CACHE_HOME", cache)
			dir := t.TempDir()
			if !loadsOnCall(t, dir, memoDoc, env) || loadsOnCall(t, dir, memoDoc, env) {
				t.Fatal("the memo does not work to begin with")
			}
			memos, _ := filepath.Glob(filepath.Join(cache, "citusgen", "compose-ports", "*"))
			if len(memos) != 1 {
				t.Fatalf("memos: %v", memos)
			}
			c.open(t, cache)
			b, _ := os.ReadFile(memos[0])
			planted := strings.Replace(string(b), `"published":"5600"`, `"published":"6666"`, 1)
			if planted == string(b) {
				t.Fatalf("memo %q has no port to change", b)
			}
			if err := os.WriteFile(memos[0], []byte(planted), 0o666); err != nil {
				t.Fatal(err)
			}
			if !loadsOnCall(t, dir, memoDoc, env) {
				t.Error("answered from a memo others could write")
			}
		})
	}
}

// A cache in a directory every user may write to but whose sticky bit
// keeps them from replacing what is not theirs (as /tmp) is used.
func TestLoadMemoInStickyDirectory(t *testing.T) {
	cache := t.TempDir()
	if err := os.Chmod(cache, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", cache)
	dir := t.TempDir()
	env := map[string]string{"DB_PORT": "5600", "PG_PASSWORD": "x"}
	if !loadsOnCall(t, dir, memoDoc, env) || loadsOnCall(t, dir, memoDoc, env) {
		t.Error("the memo was not used")
	}
}
