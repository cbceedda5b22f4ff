// Package yamldoc holds what citusgen's YAML readers need beyond
// go.yaml.in/yaml/v3's node tree: aliases, documents, merge keys, lines.
package yamldoc

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Resolve follows an alias (*name) to the node its anchor names; any
// other node is itself.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// Value is the value of key in mapping m, aliases followed, with merge
// keys (<<) as YAML has them: the mapping's own key wins over a merged one,
// an earlier merge over a later. nil when there is none.
func Value(m *yaml.Node, key string) *yaml.Node {
	m = Resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch {
		case k.Value == key:
			return Resolve(v)
		case k.Value == "<<" && k.Tag == "!!merge":
			merged = append(merged, v)
		}
	}
	for _, v := range merged {
		v = Resolve(v)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, s := range sources {
			if found := Value(s, key); found != nil {
				return found
			}
		}
	}
	return nil
}

// DecodeFirst decodes the first document of data into doc and, when a second
// document follows, that one too (nil when there is none): YAML decoders
// read only the first, so the caller refuses the rest rather than ignore it.
func DecodeFirst(data []byte) (doc yaml.Node, second *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return doc, nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return doc, &next, nil
	case !errors.Is(err, io.EOF):
		return doc, nil, err
	}
	return doc, nil, nil
}

// DocumentStart is the line of the "---" that starts the document whose
// first content is at line (1-based).
func DocumentStart(data []byte, line int) int {
	lines := bytes.Split(data, []byte("\n"))
	for i := min(line, len(lines)) - 1; i >= 0; i-- {
		if bytes.HasPrefix(lines[i], []byte("---")) {
			return i + 1
		}
	}
	return line
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// MaxSearch bounds the size of a document searched for an error's line:
// the search parses growing prefixes (about log2(lines) times).
const MaxSearch = 4 << 20

// Locate finds the line of a YAML syntax error that the parser reports
// without one, such as "found unknown directive name" or "unknown anchor 'x'
// referenced", so that every message can name file:line.
func Locate(data []byte, err error) (int, string) {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if len(data) > MaxSearch {
		return 0, msg
	}
	// The first prefix of whole lines that fails the same way ends at the
	// line at fault.
	starts := []int{0}
	for i, b := range data {
		if b == '\n' && i+1 < len(data) {
			starts = append(starts, i+1)
		}
	}
	end := func(k int) int { // bytes of the first k lines
		if k >= len(starts) {
			return len(data)
		}
		return starts[k]
	}
	lo, hi := 1, len(starts)
	for lo < hi {
		mid := (lo + hi) / 2
		if e := parse(data[:end(mid)]); e != nil && strings.TrimPrefix(e.Error(), "yaml: ") == msg {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, msg
}

// parse decodes every document of data, as the callers do.
func parse(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
