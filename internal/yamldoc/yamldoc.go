// Package yamldoc holds what citusgen's readers of YAML documents (the
// topology spec, users' compose files) need beyond go.yaml.in/yaml/v3's node
// tree, written once: aliases followed to their anchors, a file of one
// document told from one of several, and syntax errors located at a line
// (Locate), so that every message can name file:line.
package yamldoc

import (
	"bytes"
	"errors"
	"io"

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

// DecodeFirst decodes the first document of data into doc and, when a
// second document follows, that one too (nil when there is none): YAML
// decoders read only the first, so the caller refuses the rest rather than
// ignore it. A syntax error in either is err.
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
