package topology

import (
	"reflect"
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
// (editors), and for identifiers its length limit too. Validation checks
// the same regular expressions, with a message per key.
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
