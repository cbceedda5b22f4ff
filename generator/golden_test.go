package generator_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/testsupport/goldenfile"
)

func TestGolden(t *testing.T) {
	for _, c := range goldenfile.Cases(t) {
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
				if err == nil && d.IsDir() && d.Name() == "input" {
					// An import case's input files, not rendered output.
					return filepath.SkipDir
				}
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
