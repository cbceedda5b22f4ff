package generator_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/goldenfile"
	"github.com/citusgen/citusgen/topology"
)

const goldenDir = "../golden"

// goldenCase is one directory of golden/: a topology and every file that
// `citusgen render --out` writes for it.
type goldenCase struct {
	Name string
	Dir  string
	Top  *topology.Topology
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
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
		cases = append(cases, goldenCase{e.Name(), dir, top})
	}
	if len(cases) < 5 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	return cases
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			arts, err := generator.Artifacts(c.Top)
			if err != nil {
				t.Fatal(err)
			}
			rendered := map[string]bool{}
			for _, a := range arts {
				rendered[a.Path] = true
			}
			// Files that are no longer rendered are stale: removed under
			// -update, an error otherwise.
			var existing []string
			filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(c.Dir, p)
					if rel != "topology.yaml" {
						existing = append(existing, filepath.ToSlash(rel))
					}
				}
				return nil
			})
			sort.Strings(existing)
			for _, rel := range existing {
				if rendered[rel] {
					continue
				}
				if *goldenfile.Update {
					os.Remove(filepath.Join(c.Dir, rel))
				} else {
					t.Errorf("golden/%s/%s is not rendered any more; run 'make golden'", c.Name, rel)
				}
			}
			for _, a := range arts {
				goldenfile.Check(t, filepath.Join(c.Dir, a.Path), a.Data)
			}
		})
	}
}
