package topology

import (
	"encoding/json"
	"reflect"
	"strings"
)

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
