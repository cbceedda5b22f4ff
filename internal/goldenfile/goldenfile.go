// Package goldenfile compares test output with files under golden/ and
// rewrites them when tests run with -update (go test ./... -update, or make
// golden). Every test package imports it so that the flag exists everywhere
// `go test ./... -update` passes it.
package goldenfile

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/aymanbagabas/go-udiff"
)

// Update is set by -update: golden files are rewritten instead of compared.
var Update = flag.Bool("update", false, "rewrite golden files with the current output")

// Check compares got with the file at path, or rewrites it under -update.
// A mismatch fails the test with a unified diff (want -> got).
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v (run 'make golden' to create it, then review the diff)", path, err)
		return
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the rendered output (run 'make golden' if the change is intended, then review the diff):\n%s",
			path, udiff.Unified("golden/"+path, "rendered/"+path, string(want), string(got)))
	}
}
