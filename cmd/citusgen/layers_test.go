package main

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestLayers holds the import graph to the floors README's Development
// section lists, so the list cannot drift from the code: every package of
// the module is listed once, and each imports only packages on floors
// below its own.
func TestLayers(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	floors := map[string]int{}
	for _, m := range regexp.MustCompile("(?m)^- `([a-z/]+)` \\((?:floor )?(\\d+)\\): ").FindAllSubmatch(readme, -1) {
		pkg, floor := string(m[1]), string(m[2])
		if _, dup := floors[pkg]; dup {
			t.Errorf("README lists %s twice", pkg)
		}
		floors[pkg], _ = strconv.Atoi(floor)
	}
	if len(floors) == 0 {
		t.Fatal("README's Development section lists no package as - `pkg` (floor N): ...")
	}

	const module = "github.com/citusgen/citusgen/"
	seen := map[string]bool{}
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		switch name := d.Name(); {
		case path == "../..":
		case strings.HasPrefix(name, "."), name == "testdata", name == "golden", name == "docs", name == "bin", name == "testsupport":
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if _, none := err.(*build.NoGoError); none || len(pkg.GoFiles) == 0 {
			return nil // tests only (composetest) or no Go at all
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../..", path)
		rel = filepath.ToSlash(rel)
		floor, listed := floors[rel]
		if !listed {
			t.Errorf("package %s is not in README's package list: add it with its floor", rel)
			return nil
		}
		seen[rel] = true
		for _, imp := range pkg.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			switch {
			case !ours:
			case strings.HasPrefix(dep, "testsupport/"):
				t.Errorf("%s imports %s: test support in production code", rel, dep)
			case floors[dep] >= floor:
				t.Errorf("%s (floor %d) imports %s (floor %d): an import running back up; move the shared code down or fix README's floors", rel, floor, dep, floors[dep])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range floors {
		if !seen[pkg] {
			t.Errorf("README lists %s, which is not a package of the module", pkg)
		}
	}
}
