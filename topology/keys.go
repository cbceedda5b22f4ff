package topology

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// A spec key is declared once: a field of the type it decodes into
// (Topology, its Django and Compose sections, Node, countForm), tagged
//
//	key       the YAML key (a field without one is no key); an embedded
//	          struct is a section, a mapping of its own fields' keys
//	doc       its description in the JSON Schema
//	default   its value when the spec leaves it out (defaults that depend
//	          on other keys are in applyDefaults)
//	pattern   a named shape of its text (patterns)
//	range     a named range of its number (ranges)
//	enum      its values, comma-separated
//	nonempty  true: a string that must not be empty
//	required  true, or the role of the nodes that require it
//
// The decoder's keys (and so "unknown key", "did you mean" and "is
// required"), the defaults and the JSON Schema are read from the tags;
// what a value means beyond that is checked in validate.go.
type key struct {
	name    string
	index   int
	typ     reflect.Type
	tag     reflect.StructTag
	section bool
	def     reflect.Value // the default tag's value; invalid without one
}

// keysOf lists the keys of a struct type in declaration order, which is the
// order messages list them in.
func keysOf(t reflect.Type) []key {
	if ks, ok := keyLists.Load(t); ok {
		return ks.([]key)
	}
	var ks []key
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("key")
		if name == "" {
			continue
		}
		k := key{name: name, index: i, typ: f.Type, tag: f.Tag, section: f.Anonymous}
		if text, ok := f.Tag.Lookup("default"); ok {
			def := reflect.New(f.Type)
			if err := yaml.Unmarshal([]byte(text), def.Interface()); err != nil {
				panic("topology: the default of " + name + " is no " + f.Type.String())
			}
			k.def = def.Elem()
		}
		ks = append(ks, k)
	}
	keyLists.Store(t, ks)
	return ks
}

var keyLists sync.Map // reflect.Type -> []key

func keyNames(ks []key) []string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.name
	}
	return names
}

// requiredKeys are the keys of t a mapping must have; role adds the keys
// only nodes of that role require.
func requiredKeys(t reflect.Type, role Role) []string {
	var out []string
	for _, k := range keysOf(t) {
		if r := k.tag.Get("required"); r == "true" || r != "" && r == string(role) {
			out = append(out, k.name)
		}
	}
	return out
}

// patterns are the shapes a pattern tag names: the schema's pattern
// (editors), and for identifiers its length limit too.
var patterns = map[string]struct {
	re         string
	identifier bool
}{
	"pgname":       {pgNameRE.String(), true},
	"env":          {envRE.String(), true},
	"env-or-empty": {"^$|" + envRE.String(), true}, // empty: no variable
	"service":      {serviceRE.String(), true},
	"alias":        {aliasRE.String(), true},
	"image":        {imageRE.String(), false},
	"hostname":     {hostnameRE.String(), false},
	"engine":       {engineRE.String(), false},
}

// ranges are the ranges a range tag names: the schema's minimum and
// maximum, and the message of a number beyond an int (outOfRange).
var ranges = map[string]struct{ min, max int }{
	"port":  {1, 65535},
	"major": {minMajor, maxMajor},
	"count": {1, MaxWorkers},
}

// declared holds the declared defaults: a spec that gives no key.
var declared = func() (t Topology) {
	declaredDefaults(reflect.ValueOf(&t).Elem(), "", &decoder{})
	return t
}()

// The defaults other packages compare with.
var (
	DefaultImage          = declared.Image
	DefaultUser           = declared.User
	DefaultHost           = declared.Host
	DefaultEngine         = declared.Engine
	DefaultContainerPort  = declared.ContainerPort
	DefaultPublishAddress = declared.PublishAddress
	DefaultVolumePrefix   = declared.VolumePrefixVariable
)

// given reports whether the spec wrote the key at path.
func (d *decoder) given(path string) bool {
	_, ok := d.pos[path]
	return ok
}

func applyDefaults(t *Topology, d *decoder) {
	declaredDefaults(reflect.ValueOf(t).Elem(), "", d)
	// The defaults that depend on other keys.
	if !d.given("database_variable") {
		// CommCare HQ's CI exported UCR_CITUS_DB; developer compose files used CITUS_DB.
		t.DatabaseVariable = "CITUS_DB"
		if t.Profile == ProfileCI {
			t.DatabaseVariable = "UCR_CITUS_DB"
		}
	}
	if !d.given("django.roles") {
		t.Roles = t.Profile != ProfileCI
	}
	if !d.given("compose.setup") {
		// The setup service and the membership manager both register
		// workers (by service and by container name): one flow at a time.
		t.Setup = !t.MembershipManager
	}
	fill := func(n *Node) {
		if n.Image == "" {
			n.Image = t.Image
		}
		if n.PortVariable == "" {
			n.PortVariable = PortVariable(n.Service)
		}
	}
	fill(&t.Coordinator)
	for i := range t.Workers {
		fill(&t.Workers[i])
	}
}

// declaredDefaults gives every key of v (and its sections) that the spec
// leaves out its default tag.
func declaredDefaults(v reflect.Value, path string, d *decoder) {
	for _, k := range keysOf(v.Type()) {
		p := join(path, k.name)
		if k.section {
			declaredDefaults(v.Field(k.index), p, d)
		} else if k.def.IsValid() && !d.given(p) {
			v.Field(k.index).Set(k.def)
		}

	}
}

// PortVariable derives the compose variable for a node's published port the
// way CommCare HQ named them: citus_master -> CITUS_MASTER_EXTERNAL_PORT.
func PortVariable(service string) string {
	v := strings.ToUpper(nonWord.ReplaceAllString(service, "_"))
	if !strings.HasPrefix(v, "CITUS_") {
		v = "CITUS_" + v
	}
	return v + "_EXTERNAL_PORT"
}

// Schema returns a JSON Schema (draft 2020-12) of the topology spec, for
// editors, read from the keys' declarations (keys.go); its patterns are the
// validator's own regular expressions.
func Schema() []byte {
	s := object(reflect.TypeFor[Topology](), "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://citusgen.invalid/topology.schema.json"
	s["title"] = "citusgen topology"
	s["description"] = "One Citus cluster beside a Django app: the source of the compose services, the Django settings and the bootstrap SQL."
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // static data
	}
	return append(out, '\n')
}

// object is the schema of a mapping of t's keys, as a node of role has it.
func object(t reflect.Type, role Role) map[string]any {
	props := map[string]any{}
	for _, k := range keysOf(t) {
		props[k.name] = property(k)
	}
	o := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if req := requiredKeys(t, role); len(req) > 0 {
		o["required"] = req
	}
	return o
}

// property is the schema of one key.
func property(k key) map[string]any {
	var p map[string]any
	switch reflect.Zero(k.typ).Interface().(type) {
	case Node:
		p = object(k.typ, Coordinator)
	case []Node:
		worker := object(reflect.TypeFor[Node](), Worker)
		worker["description"] = "A worker node."
		p = map[string]any{"oneOf": []any{
			map[string]any{"type": "array", "minItems": 1, "items": worker},
			object(reflect.TypeFor[countForm](), ""),
		}}
	case []Reporting:
		p = map[string]any{"type": "object",
			"propertyNames":        map[string]any{"pattern": aliasRE.String()},
			"additionalProperties": map[string]any{"type": "string"}}
	case []Setting:
		p = map[string]any{"type": "object",
			"propertyNames":        map[string]any{"pattern": settingRE.String(), "not": map[string]any{"enum": []string{"DATABASES", "REPORTING_DATABASES"}}},
			"additionalProperties": map[string]any{"type": []string{"boolean", "integer", "string"}}}
	default:
		if k.section {
			p = object(k.typ, "")
			break
		}
		p = map[string]any{}
		if enum := k.tag.Get("enum"); enum != "" {
			p["enum"] = strings.Split(enum, ",")
		} else {
			p["type"] = map[reflect.Kind]string{reflect.String: "string", reflect.Int: "integer", reflect.Bool: "boolean"}[k.typ.Kind()]
		}
		if pat, ok := patterns[k.tag.Get("pattern")]; ok {
			p["pattern"] = pat.re
			if pat.identifier {
				p["maxLength"] = maxIdentifier
			}
		}
		if r, ok := ranges[k.tag.Get("range")]; ok {
			p["minimum"], p["maximum"] = r.min, r.max
		}
		if k.tag.Get("nonempty") == "true" {
			p["minLength"] = 1
		}
		if k.def.IsValid() {
			p["default"] = k.def.Interface()
		}
	}
	if doc := k.tag.Get("doc"); doc != "" {
		p["description"] = doc
	}
	return p
}
