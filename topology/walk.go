package topology

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/levenshtein"
	"github.com/citusgen/citusgen/internal/yamldoc"
)

// decoder walks a spec's YAML node tree strictly (unknown and repeated
// keys, values of the wrong kind are errors), collecting every problem in
// errs rather than stopping at the first, and recording under pos where
// each spec path ("workers[1].port") was written, for the messages of
// validation.
type decoder struct {
	file string
	errs Errors
	pos  map[string]Pos
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &FieldError{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Pos = posOf(n)
	}
	d.errs = append(d.errs, e)
}

// errorAt reports a problem at a spec path recorded earlier.
func (d *decoder) errorAt(path, format string, args ...any) {
	d.errs = append(d.errs, d.problemAt(path, path, format, args...))
}

// problemAt is a problem of field, placed where the spec wrote path (or
// its nearest written parent); the field may be a key the spec lacks.
func (d *decoder) problemAt(path, field, format string, args ...any) *FieldError {
	e := &FieldError{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	for p := path; p != ""; {
		if pos, ok := d.pos[p]; ok {
			e.Pos = pos
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	if e.Pos.Line == 0 {
		// A key the spec leaves out: the document is the place to add it.
		e.Pos = d.pos[""]
	}
	return e
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// section walks the mapping n strictly into the tagged fields of the struct
// v (keys.go): unknown, repeated and missing required keys (role: those of a
// node of that role) are errors.
func (d *decoder) section(n *yaml.Node, path string, v reflect.Value, role Role) bool {
	n = yamldoc.Resolve(n)
	keys := keysOf(v.Type())
	names := keyNames(keys)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of keys (%s), found %s", strings.Join(names, ", "), kindName(n))
		return false
	}
	seen := d.entries(n, path, func(k, y *yaml.Node, p string) {
		j := slices.Index(names, k.Value)
		if j < 0 {
			d.errorf(k, p, "unknown key%s; valid keys here: %s", suggest(k.Value, names), strings.Join(names, ", "))
			return
		}
		d.pos[p] = posOf(y)
		d.value(keys[j], y, p, v.Field(keys[j].index))
	})
	for _, k := range requiredKeys(v.Type(), role) {
		if _, ok := seen[k]; !ok {
			d.errorf(n, join(path, k), "is required but missing")
		}
	}
	return true
}

// entries walks the entries of the mapping n, whose keys must be plain
// names, each given once; it returns the line of each key.
func (d *decoder) entries(n *yaml.Node, path string, each func(k, v *yaml.Node, p string)) map[string]int {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamldoc.Resolve(n.Content[i]), yamldoc.Resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain names")
			continue
		}
		p := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, p, "is given twice (first at line %d); keep one", line)
			continue
		}
		seen[k.Value] = k.Line
		each(k, v, p)
	}
	return seen
}

// suggest names the closest valid key, to catch typos such as "wokers".
func suggest(key string, keys []string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if dist := levenshtein.Distance(key, k); dist < bestD {
			best, bestD = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (d *decoder) str(n *yaml.Node, path string) string {
	n = yamldoc.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!binary" {
		d.errorf(n, path, "must be a string, found %s", kindName(n))
		return ""
	}
	// The raw text keeps what the user wrote: a password of 0123 stays "0123".
	return n.Value
}

// integer reads a whole number of the named range (keys.go).
func (d *decoder) integer(n *yaml.Node, path, rng string) int {
	n = yamldoc.Resolve(n)
	// YAML tags digits beyond 64 bits as a float.
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!str" || n.Tag == "!!float") {
		s := strings.TrimSpace(n.Value)
		v, err := strconv.Atoi(s)
		if err == nil {
			return v
		}
		if errors.Is(err, strconv.ErrRange) {
			d.errorf(n, path, "%s", outOfRange(rng, shortNumber(s)))
			return 0
		}
	}
	d.errorf(n, path, "must be a whole number, found %s", kindName(n))
	return 0
}

// outOfRange is the problem of a whole number too large for an int, in the
// terms of the range of its key: that of a port, of the count.
func outOfRange(rng, digits string) string {
	switch rng {
	case "port":
		return portOutOfRange(digits)
	case "count":
		return fmt.Sprintf("must be between 1 and %d, found %s", MaxWorkers, digits)
	}
	return digits + " is out of range"
}

// portOutOfRange is the problem of a port number outside 1-65535.
func portOutOfRange(digits string) string {
	return digits + " is out of range; a TCP port is between 1 and 65535"
}

// shortNumber is a number's digits for a message, abbreviated when there
// are too many to read.
func shortNumber(digits string) string {
	if len(digits) > 24 {
		return fmt.Sprintf("%s... (%d digits)", digits[:20], len(strings.TrimLeft(digits, "+-")))
	}
	return digits
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	n = yamldoc.Resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	}
	d.errorf(n, path, "must be true or false, found %s", kindName(n))
	return false
}

// orderedMap walks a free-form mapping (user-chosen keys) in file order, so
// the rendered output follows the spec.
func (d *decoder) orderedMap(n *yaml.Node, path string, each func(key string, v *yaml.Node, p string)) {
	n = yamldoc.Resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, found %s", kindName(n))
		return
	}
	d.entries(n, path, func(k, v *yaml.Node, p string) {
		d.pos[p] = posOf(v)
		d.pos[p+"#key"] = posOf(k)
		each(k.Value, v, p)
	})
}

// value decodes a key's value into its field, by the field's type.
func (d *decoder) value(k key, y *yaml.Node, p string, f reflect.Value) {
	switch x := f.Addr().Interface().(type) {
	case *Node:
		*x = d.node(y, p, Coordinator)
	case *[]Node:
		*x = d.workers(y, p)
	case *[]Reporting:
		d.orderedMap(y, p, func(name string, val *yaml.Node, vp string) {
			*x = append(*x, Reporting{Name: name, Alias: d.str(val, vp)})
		})
	case *[]Setting:
		d.orderedMap(y, p, func(name string, val *yaml.Node, vp string) {
			*x = append(*x, Setting{Name: name, Value: d.settingValue(val, vp)})
		})
	default:
		switch f.Kind() {
		case reflect.Struct:
			d.section(y, p, f, "")
		case reflect.String:
			f.SetString(d.str(y, p))
		case reflect.Int:
			f.SetInt(int64(d.integer(y, p, k.tag.Get("range"))))
		case reflect.Bool:
			f.SetBool(d.boolean(y, p))
		}
	}
}

// yaml11Bool are the words YAML 1.1 (PyYAML, docker compose v1) reads as
// booleans and YAML 1.2 as strings, beyond true and false.
var yaml11Bool = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

func (d *decoder) settingValue(n *yaml.Node, path string) any {
	n = yamldoc.Resolve(n)
	if n.Kind == yaml.ScalarNode {
		switch n.Tag {
		case "!!bool":
			return d.boolean(n, path)
		case "!!int":
			if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return v
			}
		case "!!str":
			if n.Style == 0 && yaml11Bool[n.Value] {
				d.errorf(n, path, "%s is a boolean in YAML 1.1 but the string %q here (Python would take it as true); write true or false, or quote it (%q) if you mean the string", n.Value, n.Value, n.Value)
				return nil
			}
			return n.Value
		}
	}
	d.errorf(n, path, "must be true, false, a whole number or a string, found %s", kindName(n))
	return nil
}

func (d *decoder) node(n *yaml.Node, path string, role Role) Node {
	node := Node{Role: role, path: path}
	if d.section(n, path, reflect.ValueOf(&node).Elem(), role) {
		d.pos[path] = posOf(yamldoc.Resolve(n))
	}
	return node
}

// MaxWorkers bounds the count form; far beyond any real cluster, it keeps a
// typo such as count: 80000 from rendering megabytes.
const MaxWorkers = 10000

// workers accepts an explicit list of nodes or the count form
// {count, service_prefix, alias_prefix, first_port}.
func (d *decoder) workers(n *yaml.Node, path string) []Node {
	n = yamldoc.Resolve(n)
	switch n.Kind {
	case yaml.SequenceNode:
		workers := make([]Node, 0, len(n.Content))
		for i, item := range n.Content {
			workers = append(workers, d.node(item, fmt.Sprintf("%s[%d]", path, i), Worker))
		}
		return workers
	case yaml.MappingNode:
		var c countForm
		if !d.section(n, path, reflect.ValueOf(&c).Elem(), "") {
			return nil
		}
		if c.Count < 1 || c.Count > MaxWorkers {
			if _, given := d.pos[path+".count"]; given {
				d.errorAt(path+".count", "must be between 1 and %d, found %d", MaxWorkers, c.Count)
			}
			return nil
		}
		workers := make([]Node, c.Count)
		for i := range workers {
			workers[i] = Node{
				Role:     Worker,
				Service:  c.ServicePrefix + strconv.Itoa(i+1),
				Alias:    c.AliasPrefix + strconv.Itoa(i+1),
				Port:     c.FirstPort + i,
				Image:    c.Image,
				Postgres: c.Postgres,
				path:     path,
			}
		}
		return workers
	}
	d.errorf(n, path, "must be a list of workers or a count form {%s}, found %s", strings.Join(requiredKeys(reflect.TypeFor[countForm](), ""), ", "), kindName(n))
	return nil
}
