// Package specimport derives a topology spec from a project's compose file
// and Django settings; what it cannot map is a warning at file:line.
package specimport

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/internal/yamldoc"
)

// Warning is something the files say that the spec cannot express.
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
	}
	return w.File + ": " + w.Msg
}

// composeNode is one Citus service as the compose file writes it.
type composeNode struct {
	service string
	line    int
	role    string // "coordinator" or "worker"
	image   string
	// published port, its variable (empty for a literal) and the
	// container port; published 0 when the node publishes none.
	published, target int
	portVar           string
	// hostIP is the address the port is published on; "" for every
	// interface (docker's default when a ports entry names none).
	hostIP string
	env    map[string]envValue
	volume volumeStyle
}

type envValue struct {
	raw  string
	line int
}

// volumeStyle is how the data volume is written.
type volumeStyle struct {
	prefixVar, blankVar string
	ok                  bool
}

type composeFile struct {
	nodes    []*composeNode
	manager  *managerService
	warnings []Warning
}

type managerService struct{ service, image string }

// mapping is a YAML mapping with merge keys (<<) resolved, keys to values.
type mapping struct {
	keys   []*yaml.Node
	values map[string]*yaml.Node
}

func asMapping(n *yaml.Node) *mapping {
	n = yamldoc.Resolve(n)
	m := &mapping{values: map[string]*yaml.Node{}}
	if n == nil || n.Kind != yaml.MappingNode {
		return m
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.Tag != "!!str" {
			v = yamldoc.Resolve(v)
			if v.Kind == yaml.SequenceNode {
				merged = append(merged, v.Content...)
			} else {
				merged = append(merged, v)
			}
			continue
		}
		m.keys = append(m.keys, k)
		m.values[k.Value] = v
	}
	// Explicit keys win over merged ones; earlier merges over later.
	for _, src := range merged {
		sub := asMapping(src)
		for _, k := range sub.keys {
			if _, ok := m.values[k.Value]; !ok {
				m.keys = append(m.keys, k)
				m.values[k.Value] = sub.values[k.Value]
			}
		}
	}
	return m
}

func (m *mapping) str(key string) (string, int, bool) {
	v := yamldoc.Resolve(m.values[key])
	if v == nil || v.Kind != yaml.ScalarNode {
		return "", 0, false
	}
	return v.Value, v.Line, true
}

// items lists a sequence's scalars, or a mapping's entries as KEY=VALUE (the
// two ways compose writes environment and labels).
func items(n *yaml.Node) []envValue {
	n = yamldoc.Resolve(n)
	if n == nil {
		return nil
	}
	var out []envValue
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			c = yamldoc.Resolve(c)
			out = append(out, envValue{c.Value, c.Line})
		}
	case yaml.MappingNode:
		m := asMapping(n)
		for _, k := range m.keys {
			v := yamldoc.Resolve(m.values[k.Value])
			val := ""
			if v != nil && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
				val = v.Value
			}
			out = append(out, envValue{k.Value + "=" + val, k.Line})
		}
	}
	return out
}

var (
	portVarRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*):?-([0-9]+)\}$`)
	// ${VOLUME_PREFIX}service:/var/lib/postgresql/data, or with an empty
	// default (${VOLUME_PREFIX:-}, as citusgen writes it); /var/lib/postgresql
	// for PostgreSQL 18 images
	namedVolRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-)?\}([a-z0-9][a-z0-9_.-]*):` + dataVolumes + `$`)
	// ${VOLUME_PREFIX}${BLANK_IF_TESTS-service:}/var/lib/postgresql/data
	blankVolRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-)?\}\$\{([A-Za-z_][A-Za-z0-9_]*)-([a-z0-9][a-z0-9_.-]*):\}` + dataVolumes + `$`)
	// dataVolumeRE finds a data volume's target, of either layout.
	dataVolumeRE = regexp.MustCompile(`(^|[:}])` + dataVolumes + `$`)
)

// dataVolumes matches where the images of any PostgreSQL major keep data.
var dataVolumes = func() string {
	alts := make([]string, len(citus.DataVolumes))
	for i, d := range citus.DataVolumes {
		alts[i] = regexp.QuoteMeta(d)
	}
	return "(?:" + strings.Join(alts, "|") + ")"
}()

// readCompose finds the Citus services of a compose document.
func readCompose(path string, data []byte) (*composeFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	f := &composeFile{}
	warn := func(line int, format string, args ...any) {
		f.warnings = append(f.warnings, Warning{path, line, fmt.Sprintf(format, args...)})
	}
	services := asMapping(asMapping(doc.Content[0]).values["services"])
	for _, k := range services.keys {
		svc := asMapping(services.values[k.Value])
		image, _, _ := svc.str("image")
		switch {
		case citus.IsManagerImage(image):
			if f.manager != nil {
				warn(k.Line, "a second membership manager, %s; only %s is imported", k.Value, f.manager.service)
				continue
			}
			f.manager = &managerService{service: k.Value, image: image}
		case !citus.IsCitusImage(image):
		case runsOwnCommand(svc):
			// A citus image running something else: citusgen's setup
			// service (left out quietly), or a one-off of the user's.
			if k.Value != citus.SetupService {
				warn(k.Line, "service %s runs the citus image with its own command; not a node, left out", k.Value)
			}
		default:
			f.nodes = append(f.nodes, readNode(k, svc, image, warn))
		}
	}
	return f, nil
}

// runsOwnCommand: the service runs something other than the server.
func runsOwnCommand(svc *mapping) bool {
	var argv []string
	if cmd, _, ok := svc.str("command"); ok {
		argv = strings.Fields(cmd)
	}
	for _, a := range items(svc.values["command"]) {
		argv = append(argv, a.raw)
	}
	return len(argv) > 0 && argv[0] != "postgres" && !strings.HasPrefix(argv[0], "-")
}

// knownKeys are the keys of a node's service the import reads or that a
// rendered service has too; any other is a warning.
var knownKeys = map[string]bool{"image": true, "ports": true, "labels": true, "volumes": true, "environment": true,
	"depends_on": true, "healthcheck": true, "expose": true, "command": true, "restart": true}

// readNode reads the service k of a Citus node: its role, port,
// environment and data volume.
func readNode(k *yaml.Node, svc *mapping, image string, warn warnFunc) *composeNode {
	n := &composeNode{service: k.Value, line: k.Line, image: image, env: map[string]envValue{}}
	for _, l := range items(svc.values["labels"]) {
		switch l.raw {
		case citus.RoleLabel + "=" + citus.RoleMaster:
			n.role = "coordinator"
		case citus.RoleLabel + "=" + citus.RoleWorker:
			n.role = "worker"
		}
	}
	if n.role == "" {
		n.role = "worker"
		if strings.Contains(k.Value, "master") || strings.Contains(k.Value, "coordinator") {
			n.role = "coordinator"
		}
		warn(k.Line, "%s has no %s label; taken as the %s by its name", k.Value, citus.RoleLabel, n.role)
	}
	n.readPorts(svc, warn)
	for _, e := range items(svc.values["environment"]) {
		name, val, _ := strings.Cut(e.raw, "=")
		n.env[name] = envValue{val, e.line}
	}
	n.readVolumes(svc, warn)
	for _, key := range svc.keys {
		if !knownKeys[key.Value] {
			warn(key.Line, "%s.%s is not part of a topology; the region will not have it", k.Value, key.Value)
		}
	}
	return n
}

// readPorts takes the node's first published port.
func (n *composeNode) readPorts(svc *mapping, warn warnFunc) {
	for _, p := range items(svc.values["ports"]) {
		if n.published != 0 {
			warn(p.line, "%s publishes more than one port; only the first is imported", n.service)
			continue
		}
		n.published, n.target, n.portVar, n.hostIP = parsePort(p.raw)
		if n.published == 0 {
			warn(p.line, "port %q of %s is not HOST:CONTAINER or ${VAR:-HOST}:CONTAINER; not imported", p.raw, n.service)
		} else if n.portVar == "" {
			warn(p.line, "port %q of %s is a literal; the topology writes it as ${VAR:-%d} (the same while the variable is unset)", p.raw, n.service, n.published)
		}
	}
	if svc.values["ports"] == nil {
		if _, line, ok := svc.str("ports"); ok {
			warn(line, "ports of %s is not a list; not imported", n.service)
		}
	}
}

// readVolumes takes how the node's data volume is written.
func (n *composeNode) readVolumes(svc *mapping, warn warnFunc) {
	for _, v := range volumeItems(svc.values["volumes"]) {
		if !dataVolumeRE.MatchString(v.raw) {
			warn(v.line, "volume %q of %s is not the data directory; not imported", v.raw, n.service)
			continue
		}
		if m := blankVolRE.FindStringSubmatch(v.raw); m != nil && m[3] == n.service {
			n.volume = volumeStyle{prefixVar: m[1], blankVar: m[2], ok: true}
		} else if m := namedVolRE.FindStringSubmatch(v.raw); m != nil && m[2] == n.service {
			n.volume = volumeStyle{prefixVar: m[1], ok: true}
		} else {
			warn(v.line, "data volume %q of %s is not ${VOLUME_PREFIX}%s or ${VOLUME_PREFIX}${VAR-%s:}; the topology writes its own", v.raw, n.service, n.service, n.service)
		}
	}
}

// blankSourceRE is the long syntax's source of the blank-variable form,
// ${VOLUME_PREFIX}${VAR-service} (citusgen writes it for one-letter names).
var blankSourceRE = regexp.MustCompile(`^(\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-)?\})\$\{([A-Za-z_][A-Za-z0-9_]*)-([a-z0-9][a-z0-9_.-]*)\}$`)

// volumeItems are a service's volumes, each as its short syntax: an entry
// in the long syntax (type, source, target) is read as SOURCE:TARGET, so
// both are imported alike.
func volumeItems(n *yaml.Node) []envValue {
	n = yamldoc.Resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return items(n)
	}
	var out []envValue
	for _, c := range n.Content {
		c = yamldoc.Resolve(c)
		if c.Kind != yaml.MappingNode {
			out = append(out, envValue{c.Value, c.Line})
			continue
		}
		m := asMapping(c)
		source, _, _ := m.str("source")
		target, _, _ := m.str("target")
		raw := source + ":" + target
		if b := blankSourceRE.FindStringSubmatch(source); b != nil {
			raw = b[1] + "${" + b[2] + "-" + b[3] + ":}" + target
		}
		out = append(out, envValue{strings.TrimPrefix(raw, ":"), c.Line})
	}
	return out
}

// parsePort reads "${VAR:-5600}:5432", "5600:5432", "127.0.0.1:5600:5432"
// or "[::1]:5600:5432", and the address it publishes on ("" for none).
func parsePort(raw string) (published, target int, variable, hostIP string) {
	i := strings.LastIndexByte(raw, ':')
	if i < 0 {
		return 0, 0, "", ""
	}
	target, err := strconv.Atoi(strings.TrimSuffix(raw[i+1:], "/tcp"))
	if err != nil {
		return 0, 0, "", ""
	}
	host := raw[:i]
	if j := strings.Index(host, "${"); j > 0 && host[j-1] == ':' {
		hostIP, host = host[:j-1], host[j:]
	} else if j := strings.LastIndexByte(host, ':'); j >= 0 && !strings.Contains(host, "${") {
		hostIP, host = host[:j], host[j+1:]
	}
	hostIP = strings.TrimSuffix(strings.TrimPrefix(hostIP, "["), "]")
	if m := portVarRE.FindStringSubmatch(host); m != nil {
		p, _ := strconv.Atoi(m[2])
		return p, target, m[1], hostIP
	}
	p, err := strconv.Atoi(host)
	if err != nil {
		return 0, 0, "", ""
	}
	return p, target, "", hostIP
}

// envRef reads ${VAR}, ${VAR:-x}, ${VAR-x}, ${VAR:?msg}, ${VAR?msg}: the
// variable and its default.
var envRefRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)[^}]*)?\}$`)

func envRef(raw string) (name, def string, hasDefault, ok bool) {
	m := envRefRE.FindStringSubmatch(raw)
	if m == nil {
		return "", "", false, false
	}
	return m[1], m[3], m[2] != "", true
}

func sortedWarnings(ws []Warning) []Warning {
	slices.SortStableFunc(ws, func(a, b Warning) int { return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line)) })
	return ws
}
