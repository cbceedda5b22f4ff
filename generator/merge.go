package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/yamlerr"
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

// findRegionOutside locates the region named name. A missing region is
// (nil, nil); a lone, repeated or out-of-order marker is an error, never a
// guess. The lines for which inside(i) holds are not the file's own lines
// but part of a string or a block scalar: marker text there is data.
func findRegionOutside(lines []string, name string, inside func(i int) bool) (*region, error) {
	var cands []markerLine
	for i, l := range lines {
		if strings.Contains(l, "citusgen managed "+name) {
			cands = append(cands, markerLine{i, l})
		}
	}
	return findRegionAmong(cands, name, inside)
}

// markerLine is a line (0-based) that mentions a region.
type markerLine struct {
	i    int
	text string
}

// markerLines finds the lines of data that mention the region name,
// without splitting the whole file into lines.
func markerLines(data []byte, name string) []markerLine {
	needle := []byte("citusgen managed " + name)
	var out []markerLine
	line, counted := 0, 0
	for off := 0; ; {
		j := bytes.Index(data[off:], needle)
		if j < 0 {
			return out
		}
		at := off + j
		line += bytes.Count(data[counted:at], []byte("\n"))
		counted = at
		start := bytes.LastIndexByte(data[:at], '\n') + 1
		end := bytes.IndexByte(data[at:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += at
		}
		out = append(out, markerLine{line, string(data[start:end])})
		off = end
	}
}

func findRegionAmong(cands []markerLine, name string, inside func(i int) bool) (*region, error) {
	var begins, ends []int
	text := map[int]string{}
	for _, c := range cands {
		i, l := c.i, c.text
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "#") || inside != nil && inside(i) {
			continue // only comments are markers
		}
		text[i] = l
		switch {
		case strings.HasPrefix(t, beginMark+name+":") || t == beginMark+name:
			begins = append(begins, i)
		case strings.HasPrefix(t, endMark+name) && strings.TrimSpace(strings.TrimPrefix(t, endMark+name)) == "":
			ends = append(ends, i)
		default:
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
	l := text[begins[0]]
	return &region{begin: begins[0], end: ends[0], indent: l[:len(l)-len(strings.TrimLeft(l, " "))]}, nil
}

// splitLines splits a file into lines without their "\n"; a line keeps
// its "\r" in a CRLF file, so that joinLines gives back the same bytes.
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
	n := len(lines)
	for _, l := range lines {
		n += len(l)
	}
	b := make([]byte, 0, n)
	for _, l := range lines {
		b = append(b, l...)
		b = append(b, '\n')
	}
	return b
}

// lineEnding is what the lines citusgen writes into a file end with, as
// the file's own lines do: "\r" (before the "\n") in a CRLF file.
func lineEnding(data []byte) string {
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		return "\r"
	}
	return ""
}

// withEnding adds the file's line ending to citusgen's lines.
func withEnding(lines []string, eol string) []string {
	if eol == "" {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l + eol
	}
	return out
}

// checkLineBreaks refuses a carriage return that is not followed by a line
// feed: YAML and Python both take it for a line break, so every line
// number after it would differ from what an editor shows.
func checkLineBreaks(name string, data []byte) error {
	for i := bytes.IndexByte(data, '\r'); i >= 0; {
		if i+1 == len(data) || data[i+1] != '\n' {
			line := bytes.Count(data[:i], []byte("\n")) + 1
			return &MergeError{Line: line, Msg: fmt.Sprintf("%s ends a line with a carriage return alone (old Mac line endings); YAML and Python read it as a line break where editors may not, so citusgen does not edit the file: convert it to LF or CRLF line endings (for example: sed -i 's/\\r$//; s/\\r/\\n/g' %s), then run again", name, name)}
		}
		j := bytes.IndexByte(data[i+1:], '\r')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
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
	out := []string{indent + beginMark + name + ": generated from " + commentText(source) + "; change the topology, not this block"}
	out = append(out, body...)
	return append(out, indent+endMark+name)
}

// composeSections are the top-level sections that hold a managed region,
// each rendered by the template of the same name.
var composeSections = []string{"services", "volumes", "configs"}

// sectionBody is what one managed compose region holds, at two-space
// indentation, and the names it defines (its keys as YAML reads them).
type sectionBody struct {
	lines []string
	names []string
}

// managedCompose renders what each managed compose region holds: the
// services, their named volumes, the setup service's config. A section
// with nothing to hold is empty.
func managedCompose(t *topology.Topology) (map[string]sectionBody, error) {
	doc, err := composeView(t)
	if err != nil {
		return nil, err
	}
	out := map[string]sectionBody{}
	for _, section := range composeSections {
		b, err := execute("compose-"+section, doc)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimLeft(b, "\n")
		var keys yaml.Node
		if err := yaml.Unmarshal(b, &keys); err != nil {
			return nil, fmt.Errorf("internal error, please report it: the %s region does not parse: %w", section, err)
		}
		body := sectionBody{lines: splitLines(b)}
		if len(keys.Content) > 0 {
			m := keys.Content[0]
			for i := 0; i+1 < len(m.Content); i += 2 {
				body.names = append(body.names, m.Content[i].Value)
			}
		}
		out[section] = body
	}
	return out, nil
}

// topKey is a top-level key of a YAML document and the lines it spans.
type topKey struct {
	name       string
	line       int // 0-based line of the key
	next       int // 0-based line of the next top-level key, or len(lines)
	key        *yaml.Node
	value      *yaml.Node
	childKeys  map[string]int // for block mappings: key -> 0-based line
	childIndex string
}

// userCompose is a compose file parsed for merging: its top-level keys and
// the lines that belong to multi-line scalars (where marker text is data).
type userCompose struct {
	root    *yaml.Node
	keys    map[string]*topKey
	scalars map[int]bool // 0-based lines inside a block or multi-line quoted scalar
}

func (d *userCompose) inScalar(i int) bool { return d.scalars[i] }

// parseCompose parses a compose file for merging. One document only: a
// second one (which docker compose would merge into the first) is refused
// at its "---" line.
func parseCompose(data []byte, lines []string) (*userCompose, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(data, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, &MergeError{Line: documentStart(lines, second.Line), Msg: "a second YAML document starts here; docker compose merges the documents of a file, but citusgen manages its regions in one-document files: move this document to a file of its own (docker compose -f FILE -f OTHER merges them just the same), then run again"}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(data, err)
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
	var ordered []*topKey
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		tk := &topKey{name: k.Value, line: k.Line - 1, key: k, value: v, childKeys: map[string]int{}}
		if v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				ck := v.Content[j]
				tk.childKeys[ck.Value] = ck.Line - 1
				if tk.childIndex == "" {
					tk.childIndex = strings.Repeat(" ", ck.Column-1)
				}
			}
		}
		d.keys[k.Value] = tk
		ordered = append(ordered, tk)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].line < ordered[j].line })
	for i, tk := range ordered {
		tk.next = len(lines)
		if i+1 < len(ordered) {
			tk.next = ordered[i+1].line
		}
	}
	d.scalars = scalarLines(root, lines)
	return d, nil
}

func yamlError(data []byte, err error) error {
	line, msg := yamlerr.Locate(data, err)
	return &MergeError{Line: line, Msg: "not valid YAML: " + msg}
}

// documentStart is the line of the "---" that starts the document whose
// first content is at line (1-based).
func documentStart(lines []string, line int) int {
	for i := min(line, len(lines)) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "---") {
			return i + 1
		}
	}
	return line
}

// scalarLines finds the lines that belong to a multi-line scalar whose text
// mentions citusgen's markers: a literal or folded block, or a quoted
// scalar over several lines. Only such scalars can hold a line that looks
// like a marker.
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

// commentText makes text safe inside a one-line comment: no line breaks
// or other control characters.
func commentText(s string) string {
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
