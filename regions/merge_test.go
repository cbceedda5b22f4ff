package regions_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/testsupport/goldenfile"
	"github.com/citusgen/citusgen/testsupport/pyeval"
	"github.com/citusgen/citusgen/topology"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withoutRegions removes every managed region (markers included).
func withoutRegions(s string) string {
	var out []string
	in := false
	for _, l := range strings.SplitAfter(s, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "# >>> citusgen managed "):
			in = true
		case strings.HasPrefix(t, "# <<< citusgen managed "):
			in = false
		case !in:
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func TestMergeComposeKeepsEveryOtherByte(t *testing.T) {
	orig := readTestdata(t, "hq-compose.yml")
	merged, err := mergeCompose(t, orig, topology.Default())
	if err != nil {
		t.Fatal(err)
	}
	// The file has no configs: section, so the setup service's config gets one.
	if got := withoutRegions(string(merged)); got != string(orig)+"\nconfigs:\n" {
		t.Fatalf("bytes outside the regions changed:\n%s", got)
	}
	if !strings.Contains(string(merged), "\nconfigs:\n  # >>> citusgen managed configs: generated from embedded default topology; change the topology, not this block\n  citus_setup_sql:\n    content: |\n") {
		t.Errorf("configs region misplaced:\n%s", merged)
	}
	// The region sits inside services:, at the services' indentation, after
	// the last service and before the comment that belongs to volumes:.
	if !strings.Contains(string(merged), "    ports: [\"5984:5984\"]\n  # >>> citusgen managed services: generated from embedded default topology; change the topology, not this block\n  citus_master:\n") {
		t.Errorf("services region misplaced:\n%s", merged)
	}
	if !strings.Contains(string(merged), "  redis:\n  # >>> citusgen managed volumes: generated from embedded default topology; change the topology, not this block\n  citus_master:\n  citus_worker1:\n  citus_worker2:\n  # <<< citusgen managed volumes\n\nnetworks:") {
		t.Errorf("volumes region misplaced:\n%s", merged)
	}

	p, err := dockertest.Load(context.Background(), "hq-compose.yml", merged, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"web", "postgres", "redis", "couch", "citus_master", "citus_worker1", "citus_worker2"} {
		if _, ok := p.Services[s]; !ok {
			t.Errorf("service %s missing after merge", s)
		}
	}
	// Anchors and merge keys still work for the user's services.
	if p.Services["web"].Restart != "unless-stopped" || *p.Services["postgres"].Environment["POSTGRES_USER"] != "commcarehq" {
		t.Errorf("merge keys lost: web restart %q", p.Services["web"].Restart)
	}
	if p.Services[citus.SetupService].DependsOn["citus_worker1"].Condition != types.ServiceConditionHealthy {
		t.Error("managed services incomplete")
	}

	// Merging again is a no-op; merging another topology only changes the region.
	again, err := mergeCompose(t, merged, topology.Default())
	if err != nil || string(again) != string(merged) {
		t.Fatalf("second merge changed the file (%v)", err)
	}
	four := goldenTopology(t, "four-workers-custom")
	replaced, err := mergeCompose(t, merged, four)
	if err != nil {
		t.Fatal(err)
	}
	if withoutRegions(string(replaced)) != string(orig)+"\nconfigs:\n" || strings.Contains(string(replaced), "citus_worker1") || !strings.Contains(string(replaced), "  shard-d:\n") {
		t.Errorf("replace went wrong:\n%s", replaced)
	}
	if _, err := dockertest.Load(context.Background(), "hq-compose.yml", replaced, nil); err != nil {
		t.Fatal(err)
	}
	// A topology without the setup service takes its config region away.
	manager := goldenTopology(t, "membership-manager")
	noSetup, err := mergeCompose(t, replaced, manager)
	if err != nil {
		t.Fatal(err)
	}
	if withoutRegions(string(noSetup)) != string(orig) || strings.Contains(string(noSetup), "citusgen managed configs") || strings.Contains(string(noSetup), citus.SetupService) {
		t.Errorf("setup service or its config left behind:\n%s", noSetup)
	}
	if _, err := dockertest.Load(context.Background(), "hq-compose.yml", noSetup, nil); err != nil {
		t.Fatal(err)
	}
}

func goldenTopology(t *testing.T, name string) *topology.Topology {
	t.Helper()
	for _, c := range goldenfile.Cases(t) {
		if c.Name == name {
			return c.Top
		}
	}
	t.Fatalf("no golden case %s", name)
	return nil
}

func TestMergeComposeIntoSparseFiles(t *testing.T) {
	cases := map[string]string{
		"empty":              "",
		"no volumes":         "services:\n    app:\n        image: app:1\n",
		"empty services":     "name: hq\nservices:\nvolumes:\n  data:\n",
		"services at bottom": "volumes:\n  data:\nservices:\n  app:\n    image: app:1\n    volumes: [data:/d]\n",
	}
	for name, orig := range cases {
		t.Run(name, func(t *testing.T) {
			merged, err := mergeCompose(t, []byte(orig), topology.Default())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dockertest.Load(context.Background(), "hq-compose.yml", merged, nil); err != nil {
				t.Fatalf("%v\n%s", err, merged)
			}
			again, _ := mergeCompose(t, merged, topology.Default())
			if string(again) != string(merged) {
				t.Errorf("not idempotent:\n%s\n---\n%s", merged, again)
			}
		})
	}
	// The managed services align with four-space-indented services.
	merged, _ := mergeCompose(t, []byte(cases["no volumes"]), topology.Default())
	if !strings.Contains(string(merged), "\n    citus_master:\n      image:") {
		t.Errorf("indentation not matched:\n%s", merged)
	}
}

func TestMergeComposeRefusesToGuess(t *testing.T) {
	begin := "  # >>> citusgen managed services: generated from x; change the topology, not this block\n"
	end := "  # <<< citusgen managed services\n"
	cases := map[string]struct{ file, want string }{
		"begin without end":   {"services:\n" + begin + "  a:\n    image: a\n", "line 2: begin marker of the citusgen services region without its end marker"},
		"end without begin":   {"services:\n  a:\n    image: a\n" + end, "line 4: end marker of the citusgen services region without its begin marker"},
		"duplicated region":   {"services:\n" + begin + end + begin + end, "line 4: second begin marker of the citusgen services region (the first is at line 2)"},
		"end before begin":    {"services:\n" + end + begin, "line 2: the citusgen services region ends before it begins (line 3)"},
		"damaged marker":      {"services:\n  # >> citusgen managed services (edited)\n" + end, "line 2: damaged citusgen services marker"},
		"conflicting service": {"services:\n  citus_master:\n    image: mine\n", "line 2: defined by hand outside the citusgen regions, and the topology defines them too: services.citus_master (lines 2-3); run again with --adopt"},
		"conflicting volume":  {"services: {}\nvolumes:\n  citus_worker2: {}\n", "flow style"},
		"flow services":       {"services: {a: {image: a}}\n", "line 1: services: is written in flow style"},
		"not yaml":            {"services:\n  a: [\n", "not valid YAML"},
	}
	cases["conflicting volume"] = struct{ file, want string }{"services:\n  app:\n    image: a\nvolumes:\n  citus_worker2:\n", "line 5: defined by hand outside the citusgen regions, and the topology defines them too: volumes.citus_worker2 (line 5); run again with --adopt"}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := mergeCompose(t, []byte(c.file), topology.Default())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestMergeSettings(t *testing.T) {
	orig := readTestdata(t, "localsettings.py")
	merged, err := mergeSettings(t, orig, topology.Default())
	if err != nil {
		t.Fatal(err)
	}
	// Appended after a blank line; everything before is untouched.
	if !strings.HasPrefix(string(merged), string(orig)+"\n# >>> citusgen managed settings: ") {
		t.Fatalf("not appended:\n%s", merged)
	}
	if problem, err := settingsfile.Compile(context.Background(), "localsettings.py", merged); err != nil || problem != "" {
		t.Fatal(problem, err)
	}
	got := pyeval.Settings(t, []byte("DATABASES = {}\nREPORTING_DATABASES = {}\n"+string(merged)))
	dbs := got["DATABASES"].(map[string]any)
	if _, ok := dbs["default"]; !ok || dbs["icds-ucr"] == nil {
		t.Errorf("DATABASES = %v", dbs)
	}
	if got["REPORTING_DATABASES"].(map[string]any)["icds-ucr-citus"] != "icds-ucr" {
		t.Errorf("REPORTING_DATABASES = %v", got["REPORTING_DATABASES"])
	}

	// A block in the middle is replaced in place; the rest stays.
	mid := strings.Replace(string(merged), "\nLOCAL_APPS = ()\n", "\n", 1)
	mid = mid + "LOCAL_APPS = ()\n"
	replaced, err := mergeSettings(t, []byte(mid), goldenTopology(t, "ci-profile"))
	if err != nil {
		t.Fatal(err)
	}
	if withoutRegions(string(replaced)) != withoutRegions(mid) || strings.Contains(string(replaced), "'ROLE'") {
		t.Errorf("replace went wrong:\n%s", replaced)
	}
	again, _ := mergeSettings(t, replaced, goldenTopology(t, "ci-profile"))
	if string(again) != string(replaced) {
		t.Error("not idempotent")
	}

	if _, err := mergeSettings(t, []byte("x = 1\n# >>> citusgen managed settings: a\n"), topology.Default()); err == nil || !strings.Contains(err.Error(), "line 2: begin marker of the citusgen settings region without its end marker") {
		t.Errorf("lone marker: %v", err)
	}
	if problem, err := settingsfile.Compile(context.Background(), "localsettings.py", []byte("DATABASES = {\n")); err != nil || problem != "line 1: '{' was never closed" {
		t.Errorf("Compile: %q %v", problem, err)
	}
}

func mergeCompose(t *testing.T, existing []byte, top *topology.Topology) ([]byte, error) {
	t.Helper()
	merged, _, err := composeMerged(existing, top, regions.MergeOptions{})
	return merged, err
}

func mergeSettings(t *testing.T, existing []byte, top *topology.Topology) ([]byte, error) {
	t.Helper()
	merged, _, err := settingsMerged(context.Background(), existing, top, regions.MergeOptions{})
	return merged, err
}

// The block updates DATABASES and REPORTING_DATABASES: a block above the
// last binding of either is moved below it, where the update survives.
func TestMergeSettingsMovesBlockBelowBindings(t *testing.T) {
	first, err := mergeSettings(t, []byte("DATABASES = {}\nREPORTING_DATABASES = {}\n"), topology.Default())
	if err != nil {
		t.Fatal(err)
	}
	// The user reassigns REPORTING_DATABASES after the block.
	file := string(first) + "\nREPORTING_DATABASES = {'default': 'default'}\nDEBUG = True\n"
	moved, err := mergeSettings(t, []byte(file), topology.Default())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(moved), "REPORTING_DATABASES = {'default': 'default'}\n# >>> citusgen managed settings") ||
		!strings.HasSuffix(string(moved), "# <<< citusgen managed settings\nDEBUG = True\n") {
		t.Fatalf("block not moved below the reassignment:\n%s", moved)
	}
	got := pyeval.Settings(t, moved)
	if got["REPORTING_DATABASES"].(map[string]any)["icds-ucr-citus"] != "icds-ucr" {
		t.Errorf("REPORTING_DATABASES = %v", got["REPORTING_DATABASES"])
	}
	if again, _ := mergeSettings(t, moved, topology.Default()); string(again) != string(moved) {
		t.Error("not idempotent")
	}
}

// --adopt removes what it can remove without touching anything else, and
// refuses, naming the line, what it cannot.
func TestMergeSettingsAdoptRefusals(t *testing.T) {
	for name, c := range map[string]struct{ file, want string }{
		"shares lines": {"DATABASES = {'default': {}, 'icds-ucr': {}}\nREPORTING_DATABASES = {}\n",
			"line 1: cannot adopt DATABASES[\"icds-ucr\"]: it shares its lines with other entries or with the braces"},
		"inside a block": {"import os\nDATABASES = {}\nREPORTING_DATABASES = {}\nif os.environ.get('X'):\n    ICDS_USE_CITUS = True\n",
			"line 5: cannot adopt ICDS_USE_CITUS: it is inside an if, try, for or with block"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := settingsMerged(context.Background(), []byte(c.file), topology.Default(), regions.MergeOptions{Adopt: true})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// A file citusgen rendered whole, for a topology that has since lost a
// worker: --into takes every citusgen service, the lost worker's too.
func TestMergeComposeAdoptsGeneratedFile(t *testing.T) {
	four := goldenTopology(t, "four-workers-custom")
	whole, err := generator.ComposeFor(four, generator.ComposeFile)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(goldenSpec(t, "four-workers-custom"), "  - {service: shard-d,", "  # - {service: shard-d,", 1)
	three, err := topology.Parse("topology.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	merged, adopted, err := composeMerged(whole, three, regions.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var what []string
	for _, a := range adopted {
		what = append(what, a.What)
	}
	if !strings.Contains(strings.Join(what, "; "), "services.shard-d (citusgen's, no longer in the topology)") {
		t.Errorf("adopted: %v", what)
	}
	p, err := dockertest.Load(context.Background(), "hq-compose.yml", merged, composefile.CheckEnv(three, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["shard-d"]; ok || len(p.Services) != len(three.Nodes())+1 {
		t.Errorf("services after adoption: %d, shard-d kept: %v", len(p.Services), ok)
	}
}

func goldenSpec(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../golden/" + name + "/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The names of the user's services reach the terminal in what --adopt
// reports: one holding an escape sequence is shown quoted.
func TestMergeComposeQuotesUnprintableNames(t *testing.T) {
	file := "services:\n  web:\n    image: web\n  \"\\e[2Jmanager\":\n    image: citusdata/membership-manager:0.3.0\n"
	_, adopted, err := composeMerged([]byte(file), topology.Default(), regions.MergeOptions{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	var what []string
	for _, a := range adopted {
		what = append(what, a.What)
	}
	if want := `services."\x1b[2Jmanager" (a membership manager)`; len(what) != 1 || what[0] != want {
		t.Errorf("adopted %q, want %q", what, want)
	}
}
