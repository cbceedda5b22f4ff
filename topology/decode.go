package topology

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/yamldoc"
)

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
