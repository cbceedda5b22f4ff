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
    ports:
      - "${DB_PORT}:5432"
`

// validatesOnLoad loads doc as check's cross-check does and says whether
// compose-go's schema validation ran.
func validatesOnLoad(t *testing.T, dir string, doc string, env map[string]string) bool {
	t.Helper()
	before := Validations.Load()
	if _, err := LoadComposeModel(context.Background(), dir, "hq-compose.yml", []byte(doc), env); err != nil {
		t.Fatalf("load: %v", err)
	}
	return Validations.Load() > before
}

// The same input is validated once; whatever validation depends on (the
// bytes, a referenced variable, the file) makes it validate again, and an
// unrelated variable does not.
func TestValidationMemo(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	if validatorVersions() == "" {
		t.Fatal("the test binary records no compose-go version: nothing would be remembered")
	}
	dir := t.TempDir()
	env := map[string]string{"DB_PORT": "5600", "UNRELATED": "a"}
	steps := []struct {
		name     string
		dir, doc string
		env      map[string]string
		validate bool
	}{
		{"first load", dir, memoDoc, env, true},
		{"same input", dir, memoDoc, env, false},
		{"an unreferenced variable changed", dir, memoDoc, map[string]string{"DB_PORT": "5600", "UNRELATED": "b"}, false},
		{"a referenced variable changed", dir, memoDoc, map[string]string{"DB_PORT": "5601"}, true},
		{"a defaulted variable set", dir, memoDoc, map[string]string{"DB_PORT": "5601", "PG_TAG": "17"}, true},
		{"the bytes changed", dir, memoDoc + "  # a comment\n", map[string]string{"DB_PORT": "5601", "PG_TAG": "17"}, true},
		{"another file", t.TempDir(), memoDoc + "  # a comment\n", map[string]string{"DB_PORT": "5601", "PG_TAG": "17"}, true},
	}
	for _, s := range steps {
		if got := validatesOnLoad(t, s.dir, s.doc, s.env); got != s.validate {
			t.Errorf("%s: validated %v, want %v", s.name, got, s.validate)
		}
	}
}

// A document that fails validation is never remembered: every load
// reports it.
func TestValidationMemoKeepsFailures(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	bad := "services:\n  web:\n    image: web\n    restart: 5\n"
	for i := 0; i < 2; i++ {
		_, err := LoadComposeModel(context.Background(), t.TempDir(), "hq-compose.yml", []byte(bad), nil)
		if err == nil || !strings.Contains(err.Error(), "services.web.restart must be a string") {
			t.Fatalf("load %d: want the validation error, got %v", i+1, err)
		}
	}
}

// Documents that bring in other files (include, extends) are validated on
// every load: the memo's key covers one file's bytes only.
func TestValidationMemoSkipsOtherFiles(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	base := "services:\n  base:\n    image: postgres\n"
	if err := os.WriteFile(filepath.Join(dir, "base.yml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "services:\n  db:\n    extends:\n      file: base.yml\n      service: base\n"
	for i := 0; i < 2; i++ {
		if !validatesOnLoad(t, dir, doc, nil) {
			t.Errorf("load %d of a document with extends: was not validated", i+1)
		}
	}
}

// An unwritable cache costs speed only.
func TestValidationMemoWithoutCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/proc/citusgen-no-cache")
	for i := 0; i < 2; i++ {
		if !validatesOnLoad(t, t.TempDir(), memoDoc, map[string]string{"DB_PORT": "1"}) {
			t.Errorf("load %d: not validated without a cache", i+1)
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
