package regions_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/topology"
)

// pyModule runs a settings file as Django imports it (runpy honours its
// BOM and coding declaration) and returns its upper-case names.
func pyModule(t *testing.T, data []byte) map[string]any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "localsettings.py")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	pythonJSON(t, data, nil, &got, `import json, runpy, sys
ns = runpy.run_path(sys.argv[1], init_globals={"DATABASES": {}, "REPORTING_DATABASES": {}})
json.dump({k: v for k, v in ns.items() if k.isupper()}, sys.stdout)`, path)
	return got
}

// pythonJSON runs script with python3 and args, its environment with env
// added, and decodes what it prints into v; when Python fails, so does
// the test, showing its complaint and the settings file data.
func pythonJSON(t *testing.T, data []byte, env []string, v any, script string, args ...string) {
	t.Helper()
	py, err := settingsfile.Interpreter()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python3: %s\n%s", ee.Stderr, data)
		}
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatal(err)
	}
}

func adoptSettings(t *testing.T, existing string) (string, []regions.Adopted, error) {
	t.Helper()
	out, adopted, err := settingsMerged(context.Background(), []byte(existing), topology.Default(), regions.MergeOptions{Adopt: true})
	return string(out), adopted, err
}

// Adoption removes exactly the statement it owns: statements that share its
// line with ';' stay, with what they mean.
func TestAdoptRemovesExactlyTheStatement(t *testing.T) {
	const head = "DATABASES = {}\nREPORTING_DATABASES = {}\n"
	cases := []struct {
		name, in, keep string // keep: the file's lines outside the block after adoption
	}{
		{"first of three", `ICDS_USE_CITUS = True; DEBUG = False; SECRET_KEY = "keep-me"` + "\n", `DEBUG = False; SECRET_KEY = "keep-me"` + "\n"},
		{"middle", `DEBUG = False; ICDS_USE_CITUS = True; SECRET_KEY = "keep-me"` + "\n", `DEBUG = False; SECRET_KEY = "keep-me"` + "\n"},
		{"last, with a comment", `DEBUG = False; ICDS_USE_CITUS = True  # why` + "\n", `DEBUG = False  # why` + "\n"},
		{"subscript then another", `DATABASES['icds-ucr'] = {'NAME': 'x'}; X = 1` + "\n", "X = 1\n"},
		{"multi-line subscript after another", "X = 1; DATABASES['icds-ucr'] = {\n    'NAME': 'x',\n}\nY = 2\n", "X = 1\nY = 2\n"},
		{"whole lines", "ICDS_USE_CITUS = True  # the flag\nDEBUG = False\n", "DEBUG = False\n"},
		{"update of own aliases only", "DATABASES.update({\n    'icds-ucr': {},\n    'citus-ucr-worker1': {},\n}); Z = 3\n", "Z = 3\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, adopted, err := adoptSettings(t, head+c.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(adopted) == 0 {
				t.Fatal("nothing adopted")
			}
			// (and the blank line set before the appended block)
			if got := withoutRegions(out); got != head+c.keep+"\n" {
				t.Errorf("left:\n%s\nwant:\n%s", got, head+c.keep)
			}
			// What the kept statements mean is unchanged.
			before, after := pyModule(t, []byte(head+c.keep)), pyModule(t, []byte(out))
			for k, v := range before {
				if k == "DATABASES" || k == "REPORTING_DATABASES" || k == "ICDS_USE_CITUS" {
					continue
				}
				if !reflect.DeepEqual(after[k], v) {
					t.Errorf("%s = %v after adoption, %v before", k, after[k], v)
				}
			}
			if after["ICDS_USE_CITUS"] != true {
				t.Errorf("ICDS_USE_CITUS = %v", after["ICDS_USE_CITUS"])
			}
		})
	}
	// What cannot be removed exactly is refused, naming the line.
	refused := []struct{ name, in, want string }{
		{"backslash continuation", head + "X = 1; \\\nICDS_USE_CITUS = True\n", "line 4: cannot adopt ICDS_USE_CITUS: line 4 continues line 3 (a backslash ends it)"},
		{"entry sharing a line", head + "DATABASES.update({'icds-ucr': {}, 'other': {}})\n", "line 3: cannot adopt DATABASES[\"icds-ucr\"]: it shares its lines with other entries or with the braces"},
		{"inside if", head + "if True:\n    ICDS_USE_CITUS = False\n", "line 4: cannot adopt ICDS_USE_CITUS: it is inside an if"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := adoptSettings(t, c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// A fragment appended with `render settings >> FILE` is adopted with its
// header comments: nothing is left describing a block that is gone.
func TestAdoptAppendedFragmentWithItsHeader(t *testing.T) {
	frag, err := generator.SettingsFor(topology.Default(), generator.SettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	user := "SECRET_KEY = 'x'\nDATABASES = {}\nREPORTING_DATABASES = {}\n\n"
	out, _, err := adoptSettings(t, user+string(frag))
	if err != nil {
		t.Fatal(err)
	}
	left := withoutRegions(out)
	if strings.Contains(left, "#") || strings.TrimSpace(left) != strings.TrimSpace(user) {
		t.Errorf("left outside the block:\n%s", left)
	}
}

// Python's rules decide what a file is: a BOM, a coding declaration. What
// Python refuses is a problem at a line, never a traceback.
func TestSettingsEncodings(t *testing.T) {
	bom := "\ufeffDATABASES = {}\nREPORTING_DATABASES = {}\nICDS_USE_CITUS = False\n"
	out, adopted, err := adoptSettings(t, bom)
	if err != nil || len(adopted) != 1 {
		t.Fatalf("BOM: %v %v", adopted, err)
	}
	if !strings.HasPrefix(out, "\ufeffDATABASES = {}\n") || pyModule(t, []byte(out))["ICDS_USE_CITUS"] != true {
		t.Errorf("BOM lost or flag wrong:\n%q", out[:40])
	}

	// Latin-1, and a spec whose password is not ASCII: the block is written
	// in escapes, so the file stays Latin-1 and means the same.
	latin := "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\nDATABASES = {}\nREPORTING_DATABASES = {}\n"
	top, err := topology.Parse("spec.yaml", []byte("password: pässwörd\ncoordinator: {service: c, alias: icds-ucr, port: 7000}\nworkers: [{service: w, alias: w, port: 7001}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	merged, _, err := settingsMerged(context.Background(), []byte(latin), top, regions.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(merged), latin) {
		t.Errorf("the user's bytes changed")
	}
	got := pyModule(t, merged)
	if got["NAME"] != "café" || got["DATABASES"].(map[string]any)["icds-ucr"].(map[string]any)["PASSWORD"] != "pässwörd" {
		t.Errorf("read back: %v", got)
	}

	for name, bad := range map[string]string{
		"garbage":    "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
		"not latin":  "DATABASES = {}\nX = '\xff'\n",
		"null bytes": "DATABASES = {}\x00\n",
		"cookie":     "# -*- coding: klingon -*-\nDATABASES = {}\n",
	} {
		_, _, err := settingsMerged(context.Background(), []byte(bad), topology.Default(), regions.MergeOptions{Name: "s.py"})
		var me *regions.MergeError
		if !errors.As(err, &me) || !strings.Contains(me.Msg, "s.py") || strings.Contains(err.Error(), "Traceback") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Marker text inside a Python string or a YAML block scalar is data.
func TestMarkerTextInsideStrings(t *testing.T) {
	py := "DATABASES = {}\nREPORTING_DATABASES = {}\nDOC = '''\n# >>> citusgen managed settings: not a marker\n'''\nNOTE = \"# <<< citusgen managed settings\"\n"
	out, err := mergeSettings(t, []byte(py), topology.Default())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), py) || pyModule(t, out)["DOC"] != "\n# >>> citusgen managed settings: not a marker\n" {
		t.Errorf("string taken for a marker:\n%s", out)
	}
	again, err := mergeSettings(t, out, topology.Default())
	if err != nil || string(again) != string(out) {
		t.Errorf("second merge: %v\n%s", err, again)
	}

	yml := "x-doc: |\n  # >>> citusgen managed services: not a marker\n  text\nx-q: \"a\n  # <<< citusgen managed services\n  b\"\nservices:\n  web:\n    image: web\n    command: |\n      # >>> citusgen managed volumes\n"
	merged, err := mergeCompose(t, []byte(yml), topology.Default())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(merged), yml) {
		t.Errorf("scalar changed:\n%s", merged)
	}
	p, err := dockertest.Load(context.Background(), "c.yml", merged, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["citus_master"]; !ok {
		t.Error("no region merged")
	}
	if again, err := mergeCompose(t, merged, topology.Default()); err != nil || string(again) != string(merged) {
		t.Errorf("second merge: %v", err)
	}
}

// CRLF files get their region in CRLF; every other byte stays.
func TestCRLF(t *testing.T) {
	yml := "services:\r\n  web:\r\n    image: web\r\n"
	merged, err := mergeCompose(t, []byte(yml), topology.Default())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(merged), "\n") != strings.Count(string(merged), "\r\n") || !strings.HasPrefix(string(merged), yml) {
		t.Errorf("line endings mixed:\n%q", merged)
	}
	if again, err := mergeCompose(t, merged, topology.Default()); err != nil || string(again) != string(merged) {
		t.Errorf("second merge: %v", err)
	}
	py := "DATABASES = {}\r\nREPORTING_DATABASES = {}\r\nICDS_USE_CITUS = False\r\n"
	out, _, err := adoptSettings(t, py)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != strings.Count(out, "\r\n") || !strings.HasPrefix(out, "DATABASES = {}\r\nREPORTING_DATABASES = {}\r\n") {
		t.Errorf("line endings mixed:\n%q", out)
	}
	if problem, err := settingsfile.Compile(context.Background(), "s.py", []byte(out)); problem != "" || err != nil {
		t.Error(problem, err)
	}
}

// Files citusgen cannot edit line by line are refused at the line, with
// what to do, never blamed on citusgen's change.
func TestRefusedShapes(t *testing.T) {
	cases := []struct {
		name, in string
		line     int
		want     string
	}{
		{"CR-only compose", "services:\r  web:\r    image: web\r", 1, "ends a line with a carriage return alone (old Mac line endings)"},
		{"lone CR inside", "services:\n  web:\n    image: web\r    x: 1\n", 3, "ends a line with a carriage return alone"},
		{"second document", "services:\n  web: {image: web}\n---\nservices:\n  db: {image: db}\n", 3, "a second YAML document starts here; docker compose merges the documents of a file, but citusgen manages its regions in one-document files"},
		{"unknown anchor", "services:\n  web:\n    image: web\n    environment: *env\n", 4, "not valid YAML: unknown anchor 'env' referenced"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := composeMerged([]byte(c.in), topology.Default(), regions.MergeOptions{Name: "c.yml", Adopt: true})
			var me *regions.MergeError
			if !errors.As(err, &me) || me.Line != c.line || !strings.Contains(me.Msg, c.want) {
				t.Errorf("error %v, want line %d: %s", err, c.line, c.want)
			}
		})
	}
	_, _, err := settingsMerged(context.Background(), []byte("DATABASES = {}\rX = 1\r"), topology.Default(), regions.MergeOptions{Name: "s.py"})
	var me *regions.MergeError
	if !errors.As(err, &me) || me.Line != 1 || !strings.Contains(me.Msg, "carriage return alone") {
		t.Errorf("CR-only settings: %v", err)
	}
}

// An anchor inside an adopted service that other services use is kept, as
// a top-level x- key, so the file stays valid and means the same.
func TestAdoptKeepsAnchorsUsedElsewhere(t *testing.T) {
	yml := `services:
  citus_master:
    image: citusdata/citus:12
    environment: &pgenv
      POSTGRES_USER: commcarehq
      TZ: UTC
  web:
    image: web
    environment: *pgenv
`
	merged, adopted, err := composeMerged([]byte(yml), topology.Default(), regions.MergeOptions{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	var kept bool
	for _, a := range adopted {
		kept = kept || a.Kept && strings.Contains(a.What, "&pgenv")
	}
	if !kept {
		t.Errorf("adopted: %+v", adopted)
	}
	p, err := dockertest.Load(context.Background(), "c.yml", merged, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, merged)
	}
	if env := p.Services["web"].Environment; env["TZ"] == nil || *env["TZ"] != "UTC" || *env["POSTGRES_USER"] != "commcarehq" {
		t.Errorf("web's environment: %v", env)
	}
	if !strings.Contains(string(merged), "x-citusgen-adopted-pgenv: &pgenv\n") {
		t.Errorf("anchor not kept:\n%s", merged)
	}
}

// An anchor inside another anchor that --adopt keeps moves with the outer
// one: moved on its own too, it would be defined twice.
func TestAdoptMovesNestedAnchorWithItsOuter(t *testing.T) {
	yml := `services:
  citus_master: &node
    image: citusdata/citus:12
    environment: &pgenv
      TZ: UTC
  web:
    <<: *node
    image: web
  cron:
    image: web
    environment: *pgenv
`
	merged, adopted, err := composeMerged([]byte(yml), topology.Default(), regions.MergeOptions{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, a := range adopted {
		if a.Kept {
			kept = append(kept, a.What)
		}
	}
	if len(kept) != 1 || !strings.Contains(kept[0], "&node") {
		t.Errorf("kept: %q", kept)
	}
	if !strings.Contains(string(merged), "x-citusgen-adopted-node: &node\n") || strings.Contains(string(merged), "x-citusgen-adopted-pgenv") {
		t.Errorf("anchors:\n%s", merged)
	}
	p, err := dockertest.Load(context.Background(), "c.yml", merged, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, merged)
	}
	if env := p.Services["cron"].Environment; env["TZ"] == nil || *env["TZ"] != "UTC" {
		t.Errorf("cron's environment: %v", env)
	}
}
