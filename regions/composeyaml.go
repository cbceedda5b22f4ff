package regions

import (
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/yamldoc"
)

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

// parseCompose parses a compose file for merging.
func parseCompose(data []byte, lines []string) (*userCompose, error) {
	doc, second, err := yamldoc.DecodeFirst(data)
	if err != nil {
		return nil, yamlError(data, err)
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
	line, msg := yamldoc.Locate(data, err)
	return &MergeError{Line: line, Msg: "not valid YAML: " + msg}
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
