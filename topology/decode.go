package topology

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/levenshtein"
	"github.com/citusgen/citusgen/internal/yamldoc"
)

// DefaultSource names the embedded default in messages and headers.
const DefaultSource = "embedded default topology"

//go:embed default.yaml
var defaultSpec []byte

// DefaultSpec returns the commented YAML of the embedded default topology.
func DefaultSpec() []byte { return bytes.Clone(defaultSpec) }

// Default returns the embedded default topology: CommCare HQ's documented
// three-node setup.
func Default() *Topology {
	t, err := Parse(DefaultSource, defaultSpec)
	if err != nil {
		// The embedded spec is tested; failing here is a build defect.
		panic("citusgen: embedded default topology is invalid: " + err.Error())
	}
	return t
}

// Load reads, decodes and validates the spec at path ("-" reads stdin).
func Load(path string) (*Topology, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = readAllStdin()
		path = "<stdin>"
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, &FieldError{File: path, Msg: fmt.Sprintf("cannot read the topology: %v", unwrapPathError(err))}
	}
	return Parse(path, data)
}

var readAllStdin = func() ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(os.Stdin)
	return b.Bytes(), err
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// FieldError is one problem in a spec, located at file:line:column.
type FieldError struct {
	File  string
	Pos   Pos // zero when the problem has no single place (a missing key in a document)
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	loc := e.File
	if e.Pos.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Pos.Line, e.Pos.Column)
	}
	if e.Field == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Field + ": " + e.Msg
}

// Errors is every problem found in one spec, in file order.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return es
}

// Parse decodes and validates a spec. name is used in messages. Every problem
// is reported at once as Errors.
func Parse(name string, data []byte) (*Topology, error) {
	if err := checkUTF8(name, data); err != nil {
		return nil, Errors{err}
	}
	doc, second, err := yamldoc.DecodeFirst(data)
	if err != nil {
		return nil, Errors{yamlSyntaxError(name, data, err)}
	}
	// Everything after a second "---" would be ignored silently.
	if second != nil {
		line := second.Line
		if len(second.Content) > 0 {
			line = second.Content[0].Line
		}
		line = yamldoc.DocumentStart(data, line)
		return nil, Errors{{File: name, Pos: Pos{Line: line, Column: 1}, Msg: "a second YAML document starts here; a topology is one document: remove the '---' and what follows, or move it to a file of its own"}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, Errors{{File: name, Msg: "the topology is empty: it needs at least 'coordinator' and 'workers' (see 'citusgen init' for a starter)"}}
	}
	d := &decoder{file: name, pos: map[string]Pos{"": posOf(yamldoc.Resolve(doc.Content[0]))}}
	// Headers name the spec by its base name, so the same spec reached by
	// another path renders the same bytes (check would see drift otherwise).
	t := &Topology{Source: sourceName(name)}
	d.topology(doc.Content[0], t)
	// Validate even after decode errors so one run reports every problem;
	// a field already reported (missing, wrong type) is not reported twice.
	applyDefaults(t, d)
	t.positions = d.pos
	validate(t, d)
	if len(d.errs) > 0 {
		return nil, d.errs.dedupe().sorted()
	}
	return t, nil
}

// sourceName is the spec's base name, made safe for the one-line comments
// that name it in rendered files.
func sourceName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, filepath.Base(name))
}

// checkUTF8 reports the first byte that is not UTF-8, or the first
// character YAML does not allow in a file (control characters), at its
// line and column, which the YAML parser would report without either.
func checkUTF8(name string, data []byte) *FieldError {
	at := func(i int) Pos {
		line := bytes.Count(data[:i], []byte("\n")) + 1
		return Pos{Line: line, Column: utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i]) + 1}
	}
	for i := 0; i < len(data); {
		c := data[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' || c == '\r' {
			i++ // ASCII, the common case
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return &FieldError{File: name, Pos: at(i), Msg: fmt.Sprintf("byte 0x%02x is not UTF-8; a topology is UTF-8 text: save the file as UTF-8", c)}
		case !yamlPrintable(r) && !(r == 0xFEFF && i == 0):
			return &FieldError{File: name, Pos: at(i), Msg: fmt.Sprintf("the character %U is not allowed in YAML; remove it, or write it as an escape (\\u%04X) inside a double-quoted string", r, r)}
		}
		i += n
	}
	return nil
}

// yamlPrintable is YAML 1.2's set of characters a file may hold.
func yamlPrintable(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0x7E || r == 0x85 ||
		r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// dedupe keeps the first problem reported for each field.
func (es Errors) dedupe() Errors {
	seen := map[string]bool{}
	out := es[:0]
	for _, e := range es {
		if e.Field != "" && seen[e.Field] {
			continue
		}
		seen[e.Field] = true
		out = append(out, e)
	}
	return out
}

func yamlSyntaxError(file string, data []byte, err error) *FieldError {
	line, msg := yamldoc.Locate(data, err)
	if line == 0 {
		line = 1
	}
	return &FieldError{File: file, Pos: Pos{Line: line, Column: 1}, Msg: "invalid YAML: " + msg}
}

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
	e := &FieldError{File: d.file, Field: path, Msg: fmt.Sprintf(format, args...)}
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
	d.errs = append(d.errs, e)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping walks a mapping node strictly: unknown and repeated keys are errors.
// It records the position of every value under its path.
func (d *decoder) mapping(n *yaml.Node, path string, keys []string, each func(key string, v *yaml.Node, p string)) bool {
	n = yamldoc.Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of keys (%s), found %s", strings.Join(keys, ", "), kindName(n))
		return false
	}
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
		if !contains(keys, k.Value) {
			d.errorf(k, p, "unknown key%s; valid keys here: %s", suggest(k.Value, keys), strings.Join(keys, ", "))
			continue
		}
		d.pos[p] = posOf(v)
		each(k.Value, v, p)
	}
	return true
}

func (d *decoder) require(n *yaml.Node, path string, keys ...string) {
	n = yamldoc.Resolve(n)
	if n.Kind != yaml.MappingNode {
		return
	}
	for _, k := range keys {
		found := false
		for i := 0; i < len(n.Content); i += 2 {
			if yamldoc.Resolve(n.Content[i]).Value == k {
				found = true
				break
			}
		}
		if !found {
			field := path
			if field == "" {
				field = k
			} else {
				field = path + "." + k
			}
			d.errorf(n, field, "is required but missing")
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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

func (d *decoder) integer(n *yaml.Node, path string) int {
	n = yamldoc.Resolve(n)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!str") {
		if v, err := strconv.Atoi(strings.TrimSpace(n.Value)); err == nil {
			return v
		}
	}
	d.errorf(n, path, "must be a whole number, found %s", kindName(n))
	return 0
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	n = yamldoc.Resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
	}
	d.errorf(n, path, "must be true or false, found %s", kindName(n))
	return false
}

var topKeys = []string{"image", "database", "database_variable", "user", "password", "password_env", "trust_authentication", "profile", "django", "coordinator", "workers", "compose"}

func (d *decoder) topology(root *yaml.Node, t *Topology) {
	ok := d.mapping(root, "", topKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "image":
			t.Image = d.str(v, p)
		case "database":
			t.Database = d.str(v, p)
		case "database_variable":
			t.DatabaseVariable = d.str(v, p)
		case "user":
			t.User = d.str(v, p)
		case "password":
			t.Password = d.str(v, p)
		case "password_env":
			t.PasswordEnv = d.str(v, p)
		case "trust_authentication":
			t.TrustAuthentication = d.boolean(v, p)
		case "profile":
			t.Profile = Profile(d.str(v, p))
		case "django":
			d.django(v, p, t)
		case "coordinator":
			t.Coordinator = d.node(v, p, Coordinator)
		case "workers":
			t.Workers = d.workers(v, p)
		case "compose":
			d.compose(v, p, t)
		}
	})
	if ok {
		d.require(root, "", "coordinator", "workers")
	}
}

var djangoKeys = []string{"reaches", "host", "engine", "disable_server_side_cursors", "roles", "reporting_databases", "settings"}

func (d *decoder) django(n *yaml.Node, path string, t *Topology) {
	d.mapping(n, path, djangoKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "reaches":
			t.Reaches = Reach(d.str(v, p))
		case "host":
			t.Host = d.str(v, p)
		case "engine":
			t.Engine = d.str(v, p)
		case "disable_server_side_cursors":
			t.DisableServerSideCursors = d.boolean(v, p)
		case "roles":
			t.Roles = d.boolean(v, p)
		case "reporting_databases":
			d.orderedMap(v, p, func(name string, val *yaml.Node, vp string) {
				t.ReportingDatabases = append(t.ReportingDatabases, Reporting{Name: name, Alias: d.str(val, vp)})
			})
		case "settings":
			d.orderedMap(v, p, func(name string, val *yaml.Node, vp string) {
				t.Settings = append(t.Settings, Setting{Name: name, Value: d.settingValue(val, vp)})
			})
		}
	})
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
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamldoc.Resolve(n.Content[i]), yamldoc.Resolve(n.Content[i+1])
		p := path + "." + k.Value
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain names")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, p, "is given twice (first at line %d); keep one", line)
			continue
		}
		seen[k.Value] = k.Line
		d.pos[p] = posOf(v)
		d.pos[p+"#key"] = posOf(k)
		each(k.Value, v, p)
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

var nodeKeys = []string{"service", "alias", "port", "image", "port_variable", "node_name"}

func (d *decoder) node(n *yaml.Node, path string, role Role) Node {
	node := Node{Role: role, path: path}
	if d.mapping(n, path, nodeKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "service":
			node.Service = d.str(v, p)
		case "alias":
			node.Alias = d.str(v, p)
		case "port":
			node.Port = d.integer(v, p)
		case "image":
			node.Image = d.str(v, p)
		case "port_variable":
			node.PortVariable = d.str(v, p)
		case "node_name":
			node.NodeNameOverride = d.str(v, p)
		}
	}) {
		d.pos[path] = posOf(yamldoc.Resolve(n))
		if role == Coordinator {
			d.require(n, path, "service", "alias")
		} else {
			d.require(n, path, "service")
		}
	}
	return node
}

var countKeys = []string{"count", "service_prefix", "alias_prefix", "first_port", "image"}

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
		var count, first int
		var servicePrefix, aliasPrefix, image string
		if !d.mapping(n, path, countKeys, func(key string, v *yaml.Node, p string) {
			switch key {
			case "count":
				count = d.integer(v, p)
			case "service_prefix":
				servicePrefix = d.str(v, p)
			case "alias_prefix":
				aliasPrefix = d.str(v, p)
			case "first_port":
				first = d.integer(v, p)
			case "image":
				image = d.str(v, p)
			}
		}) {
			return nil
		}
		d.require(n, path, "count", "service_prefix", "alias_prefix", "first_port")
		if count < 1 || count > MaxWorkers {
			if _, given := d.pos[path+".count"]; given {
				d.errorAt(path+".count", "must be between 1 and %d, found %d", MaxWorkers, count)
			}
			return nil
		}
		workers := make([]Node, count)
		for i := range workers {
			workers[i] = Node{
				Role:    Worker,
				Service: servicePrefix + strconv.Itoa(i+1),
				Alias:   aliasPrefix + strconv.Itoa(i+1),
				Port:    first + i,
				Image:   image,
				path:    path,
			}
		}
		return workers
	}
	d.errorf(n, path, "must be a list of workers or a count form {count, service_prefix, alias_prefix, first_port}, found %s", kindName(n))
	return nil
}

var composeKeys = []string{"container_port", "setup", "membership_manager", "manager_image", "volume_prefix_variable", "volume_blank_variable", "worker_password"}

func (d *decoder) compose(n *yaml.Node, path string, t *Topology) {
	d.mapping(n, path, composeKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "container_port":
			t.ContainerPort = d.integer(v, p)
		case "setup":
			t.Setup = d.boolean(v, p)
		case "membership_manager":
			t.MembershipManager = d.boolean(v, p)
		case "manager_image":
			t.ManagerImage = d.str(v, p)
		case "volume_prefix_variable":
			t.VolumePrefixVariable = d.str(v, p)
		case "volume_blank_variable":
			t.VolumeBlankVariable = d.str(v, p)
		case "worker_password":
			t.WorkerPassword = d.boolean(v, p)
		}
	})
}
