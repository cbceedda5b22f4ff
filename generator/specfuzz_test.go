package generator_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/topology"
)

// hostileNames are service names a probe tried: YAML reads most of them
// as something other than a string when they are written plain.
var hostileNames = []string{
	"13", "5600", "007", "0x10", "1e5", "true", "false", "null", "~", "yes", "no", "on", "off", "y", "n",
	"2026-01-01", "1_000", "0o17", ".inf", "-.5", "nan", "<<", "a: b", "- x", "#x", "x#y", "'q'", `"q"`,
	"citus_worker1", "UPPER", "with space", "tab\there", "ünïcode", "",
}

// FuzzSpec: whatever bytes a spec holds, parsing and rendering never
// panic, and either the spec is refused with every problem at a line of
// the file, or every artifact is accepted by what consumes it: compose-go
// (validation on) loads the compose document with one service per node,
// every key of it reads back as a string, and python3 compiles the
// settings fragment.
func FuzzSpec(f *testing.F) {
	specs, _ := filepath.Glob("../golden/*/topology.yaml")
	for _, s := range specs {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	base := "trust_authentication: true\ncoordinator: {service: c, alias: c, port: 7000}\n"
	for _, n := range hostileNames {
		f.Add([]byte(base + "workers: [{service: " + yamlString(n) + ", alias: w, port: 7001}]\n"))
		f.Add([]byte(base + "workers: [{service: " + n + ", alias: w, port: 7001}]\n"))
		f.Add([]byte(base + "workers: {count: 3, service_prefix: " + n + ", alias_prefix: w, first_port: 7001}\n"))
		f.Add([]byte(base + "workers: [{service: w, alias: w, port: 7001}]\ndjango: {settings: {FLAG: " + n + "}}\n"))
	}
	f.Add([]byte(base + "workers: [{service: w, alias: w, port: 7001, node_name: 'w:5432'}]\ndjango: {host: " + strings.Repeat("h", 300) + "}\n"))
	f.Add([]byte("\xff\xfe" + base))
	f.Add([]byte(base + "workers: []\n---\nx: 1\n"))
	f.Fuzz(func(t *testing.T, spec []byte) {
		top, err := topology.Parse("fuzz.yaml", spec)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		checkArtifacts(t, top, spec)
	})
}

// FuzzServiceNames: a service name is either refused at its line or every
// key that carries it reads back as the same string, in the compose file
// compose-go loads.
func FuzzServiceNames(f *testing.F) {
	for _, n := range hostileNames {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		spec := "trust_authentication: true\ncoordinator: {service: c, alias: c, port: 7000}\n" +
			"workers: [{service: " + yamlString(name) + ", alias: w, port: 7001}]\n"
		top, err := topology.Parse("fuzz.yaml", []byte(spec))
		if err != nil {
			checkRefusal(t, err)
			return
		}
		checkArtifacts(t, top, []byte(spec))
	})
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	errs, ok := err.(topology.Errors)
	if !ok {
		t.Fatalf("not a spec error: %T %v", err, err)
	}
	for _, e := range errs {
		if e.File != "fuzz.yaml" || e.Pos.Line == 0 && !strings.Contains(e.Msg, "the topology is empty") {
			t.Errorf("a problem without file:line: %v", e)
		}
	}
}

func checkArtifacts(t *testing.T, top *topology.Topology, spec []byte) {
	t.Helper()
	if err := top.ComposeErrors(); err != nil {
		// A spec compose cannot run (image: none, an image of unknown
		// PostgreSQL major) is refused at its line like any other.
		checkRefusal(t, err)
		if _, err := generator.ComposeFor(top, generator.ComposeFile); err == nil {
			t.Fatalf("rendered a compose document despite: %v", top.ComposeErrors())
		}
		return
	}
	doc, err := generator.ComposeFor(top, generator.ComposeFile)
	if err != nil {
		t.Fatal(err)
	}
	env := composefile.CheckEnv(top, nil)
	p, err := dockertest.Load(context.Background(), "hq-compose.yml", doc, env)
	if err != nil {
		t.Fatalf("%v\n--- spec ---\n%s\n--- document ---\n%s", err, spec, doc)
	}
	for _, n := range top.Nodes() {
		if _, ok := p.Services[n.Service]; !ok {
			t.Errorf("no service %q\n%s", n.Service, doc)
		}
		if top.Setup {
			if _, ok := p.Services[citus.SetupService].DependsOn[n.Service]; !ok {
				t.Errorf("%s does not depend on %q", citus.SetupService, n.Service)
			}
		}
	}
	checkKeysAreStrings(t, doc)
	settings, err := generator.SettingsFor(top, generator.SettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	prelude := "DATABASES = {}\nREPORTING_DATABASES = {}\n"
	if problem, err := settingsfile.Compile(context.Background(), "localsettings.py", append([]byte(prelude), settings...)); err != nil || problem != "" {
		t.Fatalf("python3: %s %v\n%s", problem, err, settings)
	}
	if _, err := generator.SQLAt(top, generator.DjangoAddress(top)); err != nil {
		t.Fatal(err)
	}
}

// yaml11Words are read as booleans or null by YAML 1.1 readers (PyYAML,
// docker compose v1) when written plain.
var yaml11Words = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "on": true, "off": true, "true": true, "false": true, "null": true, "~": true}

// checkKeysAreStrings: every mapping key of a YAML document is a string for
// a YAML 1.2 reader (compose-go), and no plain key is a word a YAML 1.1
// reader takes for a boolean or null.
func checkKeysAreStrings(t *testing.T, doc []byte) {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Tag != "!!str" || k.Style == 0 && yaml11Words[strings.ToLower(k.Value)] {
					t.Errorf("line %d: key %q reads as %s", k.Line, k.Value, k.Tag)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
}

// docker compose itself (its CLI; `config` needs no engine) accepts what
// citusgen renders for every hostile name it does not refuse, and reads
// the service names the spec gives.
func TestDockerComposeConfigAcceptsNames(t *testing.T) {
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skip("docker compose is not installed: ", err)
	}
	for _, name := range hostileNames {
		spec := "trust_authentication: true\ncoordinator: {service: c, alias: c, port: 7000}\n" +
			"workers: [{service: " + yamlString(name) + ", alias: w, port: 7001}]\n"
		top, err := topology.Parse("spec.yaml", []byte(spec))
		if err != nil {
			continue // refused at its line: FuzzServiceNames checks that
		}
		doc, err := generator.ComposeFor(top, generator.ComposeFile)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "compose.yml"), doc, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("docker", "compose", "-f", "compose.yml", "-p", "citusgen", "config", "--services")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: docker compose config: %v\n%s\n%s", name, err, out, doc)
			continue
		}
		if !strings.Contains("\n"+string(out), "\n"+name+"\n") {
			t.Errorf("%q: docker compose sees the services:\n%s", name, out)
		}
	}
}
