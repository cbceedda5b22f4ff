package topology

import (
	"fmt"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/internal/yamldoc"
	"github.com/citusgen/citusgen/quote"
)

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
	// The field is the path of the user's keys: quoted when one holds
	// what a terminal would act on.
	return loc + ": " + quote.Key(e.Field) + ": " + e.Msg
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

// Pos is a position in the spec file, 1-based.
type Pos struct{ Line, Column int }
