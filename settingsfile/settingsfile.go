// Package settingsfile reads Django settings files (localsettings.py) with
// python3's own parser (the ast module, never regular expressions, never by
// executing them): where module-level names are bound, and which DATABASES
// aliases, REPORTING_DATABASES entries and top-level assignments the file
// writes, with their line ranges and literal values.
package settingsfile

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
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
	Value
}

// Assign is a top-level NAME = value statement.
type Assign struct {
	Name   string `json:"name"`
	Stmt   Range  `json:"stmt"`
	Nested bool   `json:"nested"`
	Value
}

// File is what a settings file says.
type File struct {
	SyntaxError string `json:"syntax_error"`
	// Bindings: module-level statements that bind each name (assignments,
	// imports, def, class), in file order.
	Bindings    map[string][]Range `json:"bindings"`
	StarImports []int              `json:"star_imports"`
	Databases   []Entry            `json:"databases"`
	Reporting   []Entry            `json:"reporting"`
	Assigns     []Assign           `json:"assigns"`
}

// Analyze parses a settings file with python3.
func Analyze(ctx context.Context, name string, data []byte) (*File, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, errors.New("python3 is needed to read Django settings files; install it")
	}
	cmd := exec.CommandContext(ctx, py, "-c", analyzer, name)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("python3 could not analyse %s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	var f File
	if err := json.Unmarshal(out, &f); err != nil {
		return nil, fmt.Errorf("reading python3's analysis of %s: %w", name, err)
	}
	return &f, nil
}

// LastBinding is the last module-level statement binding name, if any.
func (f *File) LastBinding(name string) (Range, bool) {
	b := f.Bindings[name]
	if len(b) == 0 {
		return Range{}, false
	}
	return b[len(b)-1], true
}
