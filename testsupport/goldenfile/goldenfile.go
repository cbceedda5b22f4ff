// Package goldenfile compares test output with files under golden/ and
// rewrites them when tests run with -update (go test ./... -update, or make
// golden). Every test package imports it so that the flag exists everywhere
// `go test ./... -update` passes it.
package goldenfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/topology"
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

// goldenDir is golden/ as the tests of a package at the top of the module
// see it.
const goldenDir = "../golden"

// Case is one directory of golden/: a topology and every file that
// `citusgen render --out` writes for it.
type Case struct {
	Name string
	Dir  string
	Top  *topology.Topology
}

// Cases reads every case of golden/, each spec decoded.
func Cases(t testing.TB) []Case {
	t.Helper()
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []Case
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(goldenDir, e.Name())
		spec, err := os.ReadFile(filepath.Join(dir, "topology.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var top *topology.Topology
		if e.Name() == "default" {
			// The default case documents the embedded spec; keep them one.
			if !bytes.Equal(spec, topology.DefaultSpec()) {
				t.Fatalf("golden/default/topology.yaml differs from topology/default.yaml; copy it over")
			}
			top = topology.Default()
		} else if top, err = topology.Parse("topology.yaml", spec); err != nil {
			t.Fatalf("golden/%s: %v", e.Name(), err)
		}
		cases = append(cases, Case{e.Name(), dir, top})
	}
	if len(cases) < 5 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	return cases
}

// Spec parses a spec a test writes, failing the test where it is invalid.
func Spec(t testing.TB, spec string) *topology.Topology {
	t.Helper()
	top, err := topology.Parse("t.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return top
}
