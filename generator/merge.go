package generator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/topology"
)

// Managed regions are delimited by marker comments. Everything outside them
// belongs to the user and is kept byte for byte.
const (
	beginMark = "# >>> citusgen managed "
	endMark   = "# <<< citusgen managed "
)

// MergeError is a problem with the file being merged into, at a line.
type MergeError struct {
	Line int // 1-based; 0 when not tied to a line
	Msg  string
}

func (e *MergeError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// region is one managed region found in a file, by line index (0-based).
type region struct {
	begin, end int // marker lines
	indent     string
}

// findRegion locates the region named name. A missing region is (nil, nil);
// a lone, repeated or out-of-order marker is an error, never a guess.
func findRegion(lines []string, name string) (*region, error) {
	var begins, ends []int
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, beginMark+name+":") || t == beginMark+name:
			begins = append(begins, i)
		case strings.HasPrefix(t, endMark+name) && strings.TrimSpace(strings.TrimPrefix(t, endMark+name)) == "":
			ends = append(ends, i)
		case strings.Contains(t, "citusgen managed "+name):
			// Mentions the region but is neither marker: edited by hand.
			return nil, &MergeError{Line: i + 1, Msg: fmt.Sprintf("damaged citusgen %s marker %q; restore it as %q / %q or remove the whole region by hand", name, t, beginMark+name, endMark+name)}
		}
	}
	switch {
	case len(begins) == 0 && len(ends) == 0:
		return nil, nil
	case len(begins) > 1:
		return nil, &MergeError{Line: begins[1] + 1, Msg: fmt.Sprintf("second begin marker of the citusgen %s region (the first is at line %d); keep one region", name, begins[0]+1)}
	case len(ends) > 1:
		return nil, &MergeError{Line: ends[1] + 1, Msg: fmt.Sprintf("second end marker of the citusgen %s region (the first is at line %d); keep one region", name, ends[0]+1)}
	case len(begins) == 0:
		return nil, &MergeError{Line: ends[0] + 1, Msg: fmt.Sprintf("end marker of the citusgen %s region without its begin marker; restore %q or remove the region by hand", name, beginMark+name)}
	case len(ends) == 0:
		return nil, &MergeError{Line: begins[0] + 1, Msg: fmt.Sprintf("begin marker of the citusgen %s region without its end marker; restore %q or remove the region by hand", name, endMark+name)}
	case ends[0] < begins[0]:
		return nil, &MergeError{Line: ends[0] + 1, Msg: fmt.Sprintf("the citusgen %s region ends before it begins (line %d); fix the markers by hand", name, begins[0]+1)}
	}
	l := lines[begins[0]]
	return &region{begin: begins[0], end: ends[0], indent: l[:len(l)-len(strings.TrimLeft(l, " "))]}, nil
}

func splitLines(data []byte) []string {
	s := string(data)
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

func joinLines(lines []string) []byte {
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// indentBlock shifts a block rendered with two-space first-level indentation
// to the given indentation.
func indentBlock(block []string, indent string) []string {
	out := make([]string, len(block))
	for i, l := range block {
		if l == "" {
			out[i] = l
			continue
		}
		out[i] = indent + strings.TrimPrefix(l, "  ")
	}
	return out
}

func wrapRegion(name, source string, body []string, indent string) []string {
	out := []string{indent + beginMark + name + ": generated from " + source + "; change the topology, not this block"}
	out = append(out, body...)
	return append(out, indent+endMark+name)
}

// composeSections are the top-level sections that hold a managed region,
// each rendered by the template of the same name.
var composeSections = []string{"services", "volumes", "configs"}

// managedCompose renders what each managed compose region holds, at
// two-space indentation: the services, their named volumes, the setup
// service's config. A section with nothing to hold is empty.
func managedCompose(t *topology.Topology) (map[string][]string, error) {
	doc, err := composeView(t)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, section := range composeSections {
		b, err := execute("compose-"+section, doc)
		if err != nil {
			return nil, err
		}
		out[section] = splitLines(bytes.TrimLeft(b, "\n"))
	}
	return out, nil
}

// topKey is a top-level key of a YAML document and the lines it spans.
type topKey struct {
	name       string
	line       int // 0-based line of the key
	next       int // 0-based line of the next top-level key, or len(lines)
	value      *yaml.Node
	childKeys  map[string]int // for block mappings: key -> 0-based line
	childIndex string
}

func topKeys(data []byte, lines []string) (map[string]*topKey, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &MergeError{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	keys := map[string]*topKey{}
	if len(doc.Content) == 0 {
		return keys, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &MergeError{Line: root.Line, Msg: "a compose file is a mapping at the top level"}
	}
	var ordered []*topKey
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		tk := &topKey{name: k.Value, line: k.Line - 1, value: v, childKeys: map[string]int{}}
		if v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				ck := v.Content[j]
				tk.childKeys[ck.Value] = ck.Line - 1
				if tk.childIndex == "" {
					tk.childIndex = strings.Repeat(" ", ck.Column-1)
				}
			}
		}
		keys[k.Value] = tk
		ordered = append(ordered, tk)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].line < ordered[j].line })
	for i, tk := range ordered {
		tk.next = len(lines)
		if i+1 < len(ordered) {
			tk.next = ordered[i+1].line
		}
	}
	return keys, nil
}

// blockEnd is where new content goes at the end of a top-level block: after
// its last line that is neither blank nor a column-0 comment (those belong
// to whatever follows).
func blockEnd(lines []string, tk *topKey) int {
	end := tk.next
	for end > tk.line+1 {
		l := lines[end-1]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			end--
			continue
		}
		break
	}
	return end
}

// MergeCompose inserts or replaces the managed regions of an existing compose
// file: the services inside services:, their named volumes inside volumes:,
// the setup script inside configs:. Bytes outside the regions are kept.
//
// A definition outside the regions of a name a region defines (a node's
// service or volume, the setup service and its config, the membership
// manager) is a conflict; with opts.Adopt it is removed and reported, and so
// is a membership-manager service under another name. A whole file that
// `citusgen render` wrote is adopted without asking: it is all citusgen's.
func MergeCompose(existing []byte, t *topology.Topology, opts MergeOptions) ([]byte, []Adopted, error) {
	bodies, err := managedCompose(t)
	if err != nil {
		return nil, nil, err
	}
	existing, adopted, err := adoptCompose(existing, bodies, opts)
	if err != nil {
		return nil, nil, err
	}
	merged, err := mergeCompose(existing, t, bodies)
	return merged, adopted, err
}

func mergeCompose(existing []byte, t *topology.Topology, bodies map[string][]string) ([]byte, error) {
	lines := splitLines(existing)
	type part struct {
		name string
		body []string
		at   int // where the section is, for ordering
	}
	keys, err := topKeys(existing, lines)
	if err != nil {
		return nil, err
	}
	var parts []part
	for i, name := range composeSections {
		p := part{name, bodies[name], len(lines) + i} // absent: appended at the end
		if tk := keys[name]; tk != nil {
			p.at = tk.line
		}
		if len(p.body) == 0 {
			// Nothing to hold (no setup service): an existing region is
			// removed, none is added.
			if reg, err := findRegion(lines, name); err != nil || reg == nil {
				if err != nil {
					return nil, err
				}
				continue
			}
		}
		parts = append(parts, p)
	}
	// Bottom-most first: splicing never shifts the lines above, so every
	// error names a line of the file as the user has it.
	sort.Slice(parts, func(i, j int) bool { return parts[i].at > parts[j].at })
	for _, p := range parts {
		lines, err = mergeSection(existing, lines, p.name, p.body, t.Source)
		if err != nil {
			return nil, err
		}
		existing = joinLines(lines)
	}
	return existing, nil
}

func mergeSection(data []byte, lines []string, section string, body []string, source string) ([]string, error) {
	reg, err := findRegion(lines, section)
	if err != nil {
		return nil, err
	}
	keys, err := topKeys(data, lines)
	if err != nil {
		return nil, err
	}
	tk := keys[section]
	if tk != nil && tk.value.Kind == yaml.MappingNode && tk.value.Style&yaml.FlowStyle != 0 {
		return nil, &MergeError{Line: tk.line + 1, Msg: section + ": is written in flow style ({...}); citusgen manages a region in block style, so rewrite it as a block mapping"}
	}
	if tk != nil && tk.value.Kind != yaml.MappingNode && !(tk.value.Kind == yaml.ScalarNode && tk.value.Tag == "!!null") {
		return nil, &MergeError{Line: tk.line + 1, Msg: section + ": must be a mapping"}
	}
	// Names the region will define must not exist outside it.
	if tk != nil {
		var conflicts []string
		for _, l := range body {
			name := strings.TrimSuffix(strings.TrimSpace(l), ":")
			if !strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "   ") || !strings.HasSuffix(l, ":") {
				continue
			}
			if line, ok := tk.childKeys[name]; ok && (reg == nil || line < reg.begin || line > reg.end) {
				conflicts = append(conflicts, fmt.Sprintf("%s (line %d)", name, line+1))
			}
		}
		if len(conflicts) > 0 {
			return nil, &MergeError{Line: tk.line + 1, Msg: fmt.Sprintf("%s outside the citusgen region already define %s; remove or rename them so the topology owns those names", section, strings.Join(conflicts, ", "))}
		}
	}
	if reg != nil && len(body) == 0 {
		out := append([]string{}, lines[:reg.begin]...)
		out = append(out, lines[reg.end+1:]...)
		return dropEmptySection(out, section), nil
	}
	if reg != nil {
		block := wrapRegion(section, source, indentBlock(body, reg.indent), reg.indent)
		out := append([]string{}, lines[:reg.begin]...)
		out = append(out, block...)
		return append(out, lines[reg.end+1:]...), nil
	}
	if tk == nil {
		// No such section yet: append it.
		out := append([]string{}, lines...)
		if len(out) > 0 && strings.TrimSpace(out[len(out)-1]) != "" {
			out = append(out, "")
		}
		out = append(out, section+":")
		return append(out, wrapRegion(section, source, body, "  ")...), nil
	}
	indent := tk.childIndex
	if indent == "" {
		indent = "  "
	}
	at := blockEnd(lines, tk)
	if tk.value.Kind == yaml.ScalarNode {
		// "services:" with no value yet.
		at = tk.line + 1
	}
	out := append([]string{}, lines[:at]...)
	out = append(out, wrapRegion(section, source, indentBlock(body, indent), indent)...)
	return append(out, lines[at:]...), nil
}

// dropEmptySection removes a top-level key left with no value once its
// region is gone (compose refuses a null configs:), with the blank line
// citusgen put before it when it appended the section at the end.
func dropEmptySection(lines []string, section string) []string {
	keys, err := topKeys(joinLines(lines), lines)
	if err != nil {
		return lines
	}
	tk := keys[section]
	if tk == nil || tk.value.Kind != yaml.ScalarNode || tk.value.Tag != "!!null" || blockEnd(lines, tk) != tk.line+1 {
		return lines
	}
	out := append([]string{}, lines[:tk.line]...)
	rest := lines[tk.line+1:]
	if len(rest) == 0 && len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	return append(out, rest...)
}

// ExtractRegion returns the lines of a managed region (markers included) or
// nil when the file has none.
func ExtractRegion(data []byte, name string) ([]byte, error) {
	lines := splitLines(data)
	reg, err := findRegion(lines, name)
	if err != nil || reg == nil {
		return nil, err
	}
	return joinLines(lines[reg.begin : reg.end+1]), nil
}

// CheckPython compiles a Python file with python3, so a settings file is
// never written in a state Django cannot import.
func CheckPython(ctx context.Context, name string, data []byte) error {
	py, err := exec.LookPath("python3")
	if err != nil {
		return errors.New("python3 is needed to validate the settings file; install it")
	}
	cmd := exec.CommandContext(ctx, py, "-c", "import sys; compile(sys.stdin.read(), sys.argv[1], 'exec')", name)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			// The last lines of a traceback say where and what.
			lines := strings.Split(msg, "\n")
			msg = strings.Join(lines[max(0, len(lines)-4):], "\n")
		}
		return fmt.Errorf("%s would not compile: %s", name, msg)
	}
	return nil
}
