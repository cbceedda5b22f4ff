package regions

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/yamldoc"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

// MergeComposeFile inserts or replaces the managed regions of an existing
// compose file: the services inside services:, their named volumes inside
// volumes:, the setup script inside configs:. Bytes outside the regions are
// kept; the regions' lines end as the file's do (LF or CRLF).
func MergeComposeFile(existing []byte, t *topology.Topology, opts MergeOptions) (*Merge, error) {
	name := opts.Name
	if name == "" {
		name = generator.ComposeFile
	}
	if err := checkLineBreaks(name, existing); err != nil {
		return nil, err
	}
	sections, err := managedCompose(t)
	if err != nil {
		return nil, err
	}
	lines := splitLines(existing)
	doc, err := parseCompose(existing, lines)
	if err != nil {
		return nil, err
	}
	m := &Merge{}
	regions := map[string]*region{}
	for _, s := range sections {
		if regions[s.key], err = findRegion(existing, s.key, doc.inScalar); err != nil {
			return nil, err
		}
		m.HadRegion = m.HadRegion || regions[s.key] != nil
	}
	eol := lineEnding(existing)
	edits, adopted, err := adoptCompose(doc, lines, regions, sections, opts, eol)
	if err != nil {
		return nil, err
	}
	m.Adopted = adopted
	var appended []string
	for _, s := range sections {
		e, add, err := mergeSection(doc, lines, regions[s.key], s.key, s.lines, t.Source, eol)
		if err != nil {
			return nil, err
		}
		edits = append(edits, e...)
		if len(add) > 0 {
			// A blank line before each section appended, as a person would.
			if n := len(lines); len(appended) > 0 || n > 0 && strings.TrimSpace(lines[n-1]) != "" && !removesLast(edits, n) {
				appended = append(appended, eol)
			}
			appended = append(appended, add...)
		}
	}
	if len(appended) > 0 {
		edits = append(edits, lineEdit{from: len(lines), to: len(lines), lines: appended})
	}
	m.Data = joinLines(applyEdits(lines, edits))
	return m, nil
}

// removesLast: an edit removes the file's last line.
func removesLast(edits []lineEdit, n int) bool {
	for _, e := range edits {
		if e.from < n && e.to == n && len(e.lines) == 0 {
			return true
		}
	}
	return false
}

// mergeSection is the edit that puts one section's region in place, or the
// lines to append at the end of the file when the section is missing.
func mergeSection(doc *userCompose, lines []string, reg *region, section string, body []string, source, eol string) ([]lineEdit, []string, error) {
	tk := doc.keys[section]
	if tk != nil && tk.value.Kind == yaml.MappingNode && tk.value.Style&yaml.FlowStyle != 0 {
		return nil, nil, &MergeError{Line: tk.line + 1, Msg: section + ": is written in flow style ({...}); citusgen manages a region in block style, so rewrite it as a block mapping"}
	}
	if tk != nil && tk.value.Kind != yaml.MappingNode && !(tk.value.Kind == yaml.ScalarNode && tk.value.Tag == "!!null") {
		return nil, nil, &MergeError{Line: tk.line + 1, Msg: section + ": must be a mapping"}
	}
	if reg != nil && tk == nil {
		return nil, nil, &MergeError{Line: reg.begin + 1, Msg: fmt.Sprintf("the citusgen %s region is not inside a top-level %s: key; move it there or remove it by hand", section, section)}
	}
	switch {
	case len(body) == 0 && reg == nil:
		// Nothing to hold (no setup service) and nothing to remove.
		return nil, nil, nil
	case len(body) == 0:
		// The region goes; so does its section when nothing else is left
		// in it (compose refuses a null configs:).
		from, to := reg.begin, reg.end+1
		if sectionOnlyHolds(lines, tk, reg) {
			from = tk.line
			if to == len(lines) && from > 0 && strings.TrimSpace(lines[from-1]) == "" {
				from-- // the blank line citusgen put before a section it appended
			}
		}
		return []lineEdit{{from: from, to: to}}, nil, nil
	case reg != nil:
		block := withEnding(wrapRegion(section, source, indentBlock(body, reg.indent), reg.indent), eol)
		return []lineEdit{{from: reg.begin, to: reg.end + 1, lines: block}}, nil, nil
	case tk == nil:
		// No such section yet: append it.
		return nil, withEnding(append([]string{section + ":"}, wrapRegion(section, source, body, "  ")...), eol), nil
	}
	indent := tk.childIndex
	if indent == "" {
		indent = "  "
	}
	at := blockEnd(lines, tk)
	if tk.value.Kind == yaml.ScalarNode {
		at = tk.line + 1 // "services:" with no value yet
	}
	block := withEnding(wrapRegion(section, source, indentBlock(body, indent), indent), eol)
	return []lineEdit{{from: at, to: at, lines: block}}, nil, nil
}

// sectionOnlyHolds: the section's only content is the region, right below
// its key, followed by nothing but blank lines and column-0 comments.
func sectionOnlyHolds(lines []string, tk *topKey, reg *region) bool {
	if reg.begin != tk.line+1 {
		return false
	}
	for i := reg.end + 1; i < tk.next; i++ {
		if l := lines[i]; strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// blockEnd is where new content goes at the end of a top-level block: after
// its last line that is neither blank nor a column-0 comment (those belong
// to whatever follows).
func blockEnd(lines []string, tk *topKey) int {
	end := tk.next
	for end > tk.line+1 && (strings.TrimSpace(lines[end-1]) == "" || strings.HasPrefix(lines[end-1], "#")) {
		end--
	}
	return end
}

// sectionBody is what one managed compose region holds: the section it
// sits in, its lines at two-space indentation, and the names it defines
// (its keys as YAML reads them).
type sectionBody struct {
	key   string
	lines []string
	names []string
}

// managedCompose renders what each managed compose region holds: the
// services, their named volumes, the setup service's config.
func managedCompose(t *topology.Topology) ([]sectionBody, error) {
	sections, err := generator.ComposeSections(t)
	if err != nil {
		return nil, err
	}
	out := make([]sectionBody, len(sections))
	for i, s := range sections {
		var keys yaml.Node
		if err := yaml.Unmarshal(s.Body, &keys); err != nil {
			return nil, fmt.Errorf("internal error, please report it: the %s region does not parse: %w", s.Key, err)
		}
		body := sectionBody{key: s.Key, lines: splitLines(s.Body)}
		if len(keys.Content) > 0 {
			m := keys.Content[0]
			for i := 0; i+1 < len(m.Content); i += 2 {
				body.names = append(body.names, m.Content[i].Value)
			}
		}
		out[i] = body
	}
	return out, nil
}

// NewComposeFile starts the compose file that render --into creates: a
// header and the services: key, into which the merge writes the regions
// (volumes: and configs: with them). header is its path relative to the
// spec's folder, for the command the header gives.
func NewComposeFile(t *topology.Topology, header string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Compose file started by citusgen from %s. citusgen keeps the regions between\n", t.Source)
	b.WriteString("# its >>> and <<< markers in sync: change the topology, then run:\n")
	fmt.Fprintf(&b, "#   %s\n", generator.Rerun(t, "render --into "+quote.Shell(header)))
	b.WriteString("# The rest of the file is yours: add your own services beside them.\n")
	b.WriteString("services:\n")
	return []byte(b.String())
}

// topKey is a top-level key of a YAML document and the lines it spans.
type topKey struct {
	line       int // 0-based line of the key
	next       int // 0-based line of the next top-level key, or len(lines)
	value      *yaml.Node
	childIndex string // the indentation of its first child key
}

// userCompose is a compose file parsed for merging: its top-level keys and
// the lines that belong to multi-line scalars (where marker text is data).
type userCompose struct {
	root    *yaml.Node
	keys    map[string]*topKey
	scalars map[int]bool // 0-based lines inside a block or multi-line quoted scalar
}

func (d *userCompose) inScalar(i int) bool { return d.scalars[i] }

// parseCompose parses a compose file for merging.
func parseCompose(data []byte, lines []string) (*userCompose, error) {
	doc, second, err := yamldoc.DecodeFirst(data)
	if err != nil {
		line, msg := yamldoc.Locate(data, err)
		return nil, &MergeError{Line: line, Msg: "not valid YAML: " + msg}
	}
	if second != nil {
		return nil, &MergeError{Line: yamldoc.DocumentStart(data, second.Line), Msg: "a second YAML document starts here; docker compose merges the documents of a file, but citusgen manages its regions in one-document files: move this document to a file of its own (docker compose -f FILE -f OTHER merges them just the same), then run again"}
	}
	d := &userCompose{keys: map[string]*topKey{}}
	if len(doc.Content) == 0 {
		return d, nil
	}
	root := doc.Content[0]
	d.root = root
	if root.Kind != yaml.MappingNode {
		return nil, &MergeError{Line: root.Line, Msg: "a compose file is a mapping at the top level"}
	}
	// The keys come in file order.
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		tk := &topKey{line: k.Line - 1, next: len(lines), value: v}
		if i+2 < len(root.Content) {
			tk.next = root.Content[i+2].Line - 1
		}
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			tk.childIndex = strings.Repeat(" ", v.Content[0].Column-1)
		}
		d.keys[k.Value] = tk
	}
	d.scalars = scalarLines(root, lines)
	return d, nil
}

// scalarLines finds the lines that belong to a multi-line scalar whose text
// mentions citusgen's markers: a literal or folded block, or a quoted scalar
// over several lines.
func scalarLines(root *yaml.Node, lines []string) map[int]bool {
	var out map[int]bool
	mark := func(i int) {
		if out == nil {
			out = map[int]bool{}
		}
		out[i] = true
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "citusgen managed") && n.Line >= 1 && n.Line <= len(lines) {
			switch {
			case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
				// The content is every following line that is blank or
				// indented at least as far as its first non-blank line.
				start := indentOf(lines[n.Line-1])
				content := -1
				for i := n.Line; i < len(lines); i++ {
					l := strings.TrimRight(lines[i], "\r")
					if strings.TrimSpace(l) == "" {
						mark(i)
						continue
					}
					ind := indentOf(l)
					if content < 0 {
						if ind <= start {
							break
						}
						content = ind
					}
					if ind < content {
						break
					}
					mark(i)
				}
			case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
				for i := n.Line; i < len(lines) && i <= quotedEnd(lines, n); i++ {
					mark(i)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	return out
}

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// quotedEnd is the 0-based line holding the closing quote of a quoted
// scalar that starts at n.Line, n.Column.
func quotedEnd(lines []string, n *yaml.Node) int {
	line := lines[n.Line-1]
	// Column counts characters; find the opening quote at or after it.
	col := 0
	for i := range line {
		if col == n.Column-1 {
			col = i
			break
		}
		col++
	}
	double := n.Style&yaml.DoubleQuotedStyle != 0
	q := byte('\'')
	if double {
		q = '"'
	}
	i, pos := n.Line-1, strings.IndexByte(line[min(col, len(line)):], q)+min(col, len(line))+1
	for i < len(lines) {
		l := lines[i]
		for ; pos < len(l); pos++ {
			switch {
			case double && l[pos] == '\\':
				pos++
			case l[pos] == q && !double && pos+1 < len(l) && l[pos+1] == q:
				pos++
			case l[pos] == q:
				return i
			}
		}
		i, pos = i+1, 0
	}
	return len(lines) - 1
}
