// Package settingsfile reads Django settings files (localsettings.py) with
// python3's own parser (the ast module, never regular expressions, never by
// executing them): where module-level names are bound, and which DATABASES
// aliases, REPORTING_DATABASES entries and top-level assignments the file
// writes, with their line ranges and literal values. It is citusgen's only
// user of python3: one interpreter, found once, and at most one process per
// run (see python.go).
package settingsfile

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
)

//go:embed analyze.py
var analyzer string

// Range is an inclusive range of 1-based lines.
type Range struct{ Start, End int }

func (r *Range) UnmarshalJSON(b []byte) error {
	var pair [2]int
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	r.Start, r.End = pair[0], pair[1]
	return nil
}

func (r Range) String() string {
	if r.Start == r.End {
		return fmt.Sprint(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// Lines says "line N" or "lines N-M".
func (r Range) Lines() string {
	if r.Start == r.End {
		return "line " + r.String()
	}
	return "lines " + r.String()
}

// Value is a Python expression: its literal value when it is one, otherwise
// its source text. Env names the variable of os.environ['X'],
// os.environ.get('X', ...) or os.getenv('X', ...).
type Value struct {
	Literal bool             `json:"literal"`
	Value   any              `json:"value"`
	Source  string           `json:"source"`
	Env     string           `json:"env"`
	Fields  map[string]Value `json:"fields"` // a dict display's string keys
}

// Entry is one key a file writes into DATABASES or REPORTING_DATABASES.
type Entry struct {
	Key string `json:"key"`
	// Via is how: "assign" (NAME = {...}), "update" (NAME.update({...})) or
	// "subscript" (NAME['key'] = ...).
	Via   string `json:"via"`
	Stmt  Range  `json:"stmt"`  // the whole statement
	Lines Range  `json:"entry"` // the key and its value
	// Shared: another entry, or the dict's braces, share the entry's lines.
	Shared bool `json:"shared"`
	// Nested: inside an if, try, for or with block, not at module level.
	Nested   bool     `json:"nested"`
	Siblings []string `json:"siblings"` // the other keys of the same dict
	// Span is the statement's bytes in the file, [start, end).
	Span Span `json:"span"`
	Value
}

// Span is a range of byte offsets in a file as stored, [Start, End).
type Span struct{ Start, End int }

func (s *Span) UnmarshalJSON(b []byte) error {
	var pair [2]int
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	s.Start, s.End = pair[0], pair[1]
	return nil
}

// Assign is a top-level NAME = value statement.
type Assign struct {
	Name   string `json:"name"`
	Stmt   Range  `json:"stmt"`
	Span   Span   `json:"span"`
	Nested bool   `json:"nested"`
	Value
}

// File is what a settings file says.
type File struct {
	// SyntaxError says why Python refuses the file; nothing else is set then.
	SyntaxError string `json:"syntax_error"`
	// Encoding is the one Python reads the file in: utf-8, utf-8-sig (a
	// BOM) or what a coding declaration names.
	Encoding string `json:"encoding"`
	// Multiline: the module-level statements that span several lines. A
	// comment-looking line inside one is part of a string or of the
	// statement, never a line of its own.
	Multiline []Range `json:"multiline"`
	// Bindings: module-level statements that bind each name (assignments,
	// imports, def, class), in file order.
	Bindings    map[string][]Range `json:"bindings"`
	StarImports []int              `json:"star_imports"`
	Databases   []Entry            `json:"databases"`
	Reporting   []Entry            `json:"reporting"`
	Assigns     []Assign           `json:"assigns"`
}

// Analyze reads a settings file with python3's parser. A file Python
// refuses (a syntax error, bytes that are not text in its encoding) is not
// an error here: File.SyntaxError says why.
func Analyze(ctx context.Context, name string, data []byte) (*File, error) {
	var f File
	if err := request(ctx, "analyze", name, data, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Compile reports why Python would refuse data as a module ("" when it
// compiles), by Python's own rules: encoding declarations, a UTF-8 BOM.
func Compile(ctx context.Context, name string, data []byte) (string, error) {
	var res struct {
		Error string `json:"error"`
	}
	if err := request(ctx, "compile", name, data, &res); err != nil {
		return "", err
	}
	return res.Error, nil
}

// LastBinding is the last module-level statement binding name, if any.
func (f *File) LastBinding(name string) (Range, bool) {
	b := f.Bindings[name]
	if len(b) == 0 {
		return Range{}, false
	}
	return b[len(b)-1], true
}

// InMultiline reports whether line (1-based) lies inside a module-level
// statement after its first line: in a string or between brackets.
func (f *File) InMultiline(line int) bool {
	i := sort.Search(len(f.Multiline), func(i int) bool { return f.Multiline[i].End >= line })
	return i < len(f.Multiline) && f.Multiline[i].Start < line
}
