package yamldoc_test

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/internal/yamldoc"
)

// Errors the parser reports without a line get the line at fault.
func TestLocate(t *testing.T) {
	cases := []struct {
		doc  string
		line int
		msg  string
	}{
		{"a: 1\n%FOO\n---\nb: 1\n", 2, "found unknown directive name"},
		{"a: 1\nb: 2\nc: *x\nd: 4\n", 3, "unknown anchor 'x' referenced"},
		{"a: 1\n\tb: 2\n", 2, "found a tab character that violates indentation"},
		{"a: 1\n b: [\n", 2, "mapping values are not allowed in this context"},
	}
	for _, c := range cases {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(c.doc), &n)
		if err == nil {
			t.Fatalf("%q parsed", c.doc)
		}
		if line, msg := yamldoc.Locate([]byte(c.doc), err); line != c.line || msg != c.msg {
			t.Errorf("%q: line %d %q, want %d %q", c.doc, line, msg, c.line, c.msg)
		}
	}
	if line, _ := yamldoc.Locate(make([]byte, yamldoc.MaxSearch+1), errors.New("yaml: x")); line != 0 {
		t.Errorf("a large document is not searched: line %d", line)
	}
}
