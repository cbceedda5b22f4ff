package regions_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/topology"
)

// A file the compose file includes defines a service the regions define:
// compose-go (as Compose v5) merges the two definitions, so the merged
// file loads and the coordinator publishes a port the topology never
// rendered; IncludeConflicts names it, with both files' lines.
func TestIncludeConflicts(t *testing.T) {
	dir := t.TempDir()
	base := "services:\n  redis:\n    image: redis\n  citus_master:\n    ports: [\"15600:5432\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "base.yml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	top := topology.Default()
	app := filepath.Join(dir, "app.yml")
	merged, _, err := composeMerged([]byte("include:\n  - base.yml\nservices:\n  web:\n    image: nginx\n"), top, regions.MergeOptions{Name: app})
	if err != nil {
		t.Fatal(err)
	}
	p, err := composefile.LoadComposeModel(context.Background(), dir, app, merged, composefile.CheckEnv(top, nil))
	if err != nil {
		t.Fatalf("compose-go refuses the merged file, so no detection of ours is needed: %v", err)
	}
	var published []string
	for _, port := range p.Services["citus_master"].Ports {
		published = append(published, port.Published)
	}
	if len(published) < 2 {
		t.Fatalf("compose-go no longer merges the included definition (ports %v); see whether detection is still needed", published)
	}

	conflicts, err := regions.IncludeConflicts(top, app, merged)
	if err != nil {
		t.Fatal(err)
	}
	want := app + ":2 includes " + filepath.Join(dir, "base.yml") + ", which defines services.citus_master (" + filepath.Join(dir, "base.yml") + ":4), as the citusgen regions of " + app + " do"
	if len(conflicts) != 1 || !strings.HasPrefix(conflicts[0].Msg, want) || conflicts[0].File != filepath.Join(dir, "base.yml") || conflicts[0].Lines.Start != 4 {
		t.Errorf("conflicts %+v\nwant one starting %q", conflicts, want)
	}

	// Without the service, nothing conflicts.
	if err := os.WriteFile(filepath.Join(dir, "base.yml"), []byte("services:\n  redis:\n    image: redis\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if conflicts, err := regions.IncludeConflicts(top, app, merged); err != nil || len(conflicts) != 0 {
		t.Errorf("no conflict expected: %+v %v", conflicts, err)
	}
}
