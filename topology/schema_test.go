package topology

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func mapKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// The schema describes exactly the keys the decoder accepts.
func TestSchemaKeysMatchDecoder(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	props := func(m any) map[string]any { return m.(map[string]any)["properties"].(map[string]any) }
	root := props(s)
	workers := root["workers"].(map[string]any)["oneOf"].([]any)
	decoder := func(v any) []string { return keyNames(keysOf(reflect.TypeOf(v))) }
	for name, pair := range map[string][2][]string{
		"top":         {mapKeys(root), decoder(Topology{})},
		"django":      {mapKeys(props(root["django"])), decoder(Django{})},
		"compose":     {mapKeys(props(root["compose"])), decoder(Compose{})},
		"coordinator": {mapKeys(props(root["coordinator"])), decoder(Node{})},
		"worker":      {mapKeys(props(workers[0].(map[string]any)["items"])), decoder(Node{})},
		"count form":  {mapKeys(props(workers[1])), decoder(countForm{})},
	} {
		if got, want := strings.Join(pair[0], ","), strings.Join(sorted(pair[1]), ","); got != want {
			t.Errorf("%s: schema keys %s, decoder keys %s", name, got, want)
		}
	}
}

// Every golden spec and the default validate against the schema; specs the
// decoder rejects for their shape are rejected by the schema too.
func TestSchemaValidatesSpecs(t *testing.T) {
	c := jsonschema.NewCompiler()
	var doc any
	if err := json.Unmarshal(Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("topology.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("topology.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	asJSON := func(y []byte) any {
		var v any
		if err := yaml.Unmarshal(y, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		var j any
		json.Unmarshal(b, &j)
		return j
	}
	files, _ := filepath.Glob("../golden/*/topology.yaml")
	if len(files) < 5 {
		t.Fatalf("found %d golden specs", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if err := sch.Validate(asJSON(b)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, bad := range []string{
		"coordinator: {service: c, alias: c, port: 1}\nworkers: []\n",
		"coordinator: {service: c, alias: c, port: 1}\nwokers: [{service: w, alias: w, port: 2}]\nworkers: [{service: w, alias: w, port: 2}]\n",
		"coordinator: {service: c, alias: c, port: 70000}\nworkers: [{service: w, alias: w, port: 2}]\n",
		"profile: prod\ncoordinator: {service: c, alias: c, port: 1}\nworkers: [{service: w, alias: w, port: 2}]\n",
		"coordinator: {service: C!, alias: c, port: 1}\nworkers: [{service: w, alias: w, port: 2}]\n",
		// Validation refuses variable names beyond 63 bytes; so does the schema.
		"database_variable: " + strings.Repeat("A", 64) + "\ncoordinator: {service: c, alias: c, port: 1}\nworkers: [{service: w, alias: w, port: 2}]\n",
		"compose: {volume_prefix_variable: " + strings.Repeat("A", 64) + "}\ncoordinator: {service: c, alias: c, port: 1}\nworkers: [{service: w, alias: w, port: 2}]\n",
		"compose: {volume_blank_variable: " + strings.Repeat("A", 64) + "}\ncoordinator: {service: c, alias: c, port: 1}\nworkers: [{service: w, alias: w, port: 2}]\n",
	} {
		if err := sch.Validate(asJSON([]byte(bad))); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
	}
}
