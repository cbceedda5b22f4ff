// Package settingsfile reads Django settings files with python3's own
// parser, never executing them; it is citusgen's only user of python3.
package settingsfile

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed analyze.py
var analyzer string

// Range is an inclusive range of 1-based lines.
type Range struct{ Start, End int }

func (r *Range) UnmarshalJSON(b []byte) error { return unmarshalPair(b, &r.Start, &r.End) }

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
// its source text.
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

func (s *Span) UnmarshalJSON(b []byte) error { return unmarshalPair(b, &s.Start, &s.End) }

// unmarshalPair reads analyze.py's [start, end].
func unmarshalPair(b []byte, start, end *int) error {
	var pair [2]int
	err := json.Unmarshal(b, &pair)
	*start, *end = pair[0], pair[1]
	return err
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
	// Multiline: the module-level statements that span several lines.
	Multiline []Range `json:"multiline"`
	// Bindings: for DATABASES and REPORTING_DATABASES, every place the
	// file binds, may bind or unbinds the name in the module's namespace,
	// however deep in if, try, for, with or match statements, in file
	// order.
	Bindings map[string][]Binding `json:"bindings"`
	// Defined: for the same names, whether each is bound on every path
	// through the module after each module-level statement that binds or
	// unbinds it, or that ends the import (raise, sys.exit()).
	Defined   map[string][]Defined `json:"defined"`
	Databases []Entry              `json:"databases"`
	Reporting []Entry              `json:"reporting"`
	Assigns   []Assign             `json:"assigns"`
}

// Binding is one place where a settings file binds, may bind or unbinds a
// name in its module's namespace.
type Binding struct {
	Stmt Range  `json:"stmt"` // the module-level statement it is part of
	Line int    `json:"line"`
	How  string `json:"how"`  // the code, in short: "DATABASES = ...", "from x import *"
	Kind string `json:"kind"` // Binds, MayBind, Unbinds or BindsModule
	// In is the compound statement around it ("if statement"), "" for a
	// statement of its own.
	In string `json:"in"`
	// Later is the function whose body binds it (global NAME): that
	// happens whenever the function is called.
	Later string `json:"later"`
}

// How a Binding binds its name.
const (
	Binds       = "bind"   // to a value
	MayBind     = "may"    // perhaps: from x import *, exec(...), globals().update(d)
	Unbinds     = "del"    // del NAME; except ... as NAME deletes it when the handler ends
	BindsModule = "module" // to a module (import x as NAME), never a dict
)

// Describe is the binding for a message: its code and where it sits.
func (b Binding) Describe() string {
	var notes []string
	if b.Kind == MayBind {
		notes = append(notes, "which may bind it")
	}
	if b.In != "" {
		notes = append(notes, fmt.Sprintf("in the %s at %s", b.In, b.Stmt.Lines()))
	}
	if len(notes) == 0 {
		return b.How
	}
	return b.How + " (" + strings.Join(notes, ", ") + ")"
}

// Defined says whether a name is bound on every path through the module
// up to the end of the statement Stmt.
type Defined struct {
	Stmt    Range  `json:"stmt"`
	Defined bool   `json:"defined"`
	What    string `json:"what"` // the statement: "if statement", "del statement"
}

// DefinedBefore is what the module-level statements ending before line say
// of name: whether it is bound on every path there; ok is false when none
// of them binds it.
func (f *File) DefinedBefore(name string, line int) (d Defined, ok bool) {
	for _, x := range f.Defined[name] {
		if x.Stmt.End >= line {
			break
		}
		d, ok = x, true
	}
	return d, ok
}

// Analyze reads a settings file with python3's parser.
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

// InMultiline reports whether line (1-based) lies inside a module-level
// statement after its first line: in a string or between brackets.
func (f *File) InMultiline(line int) bool {
	i := sort.Search(len(f.Multiline), func(i int) bool { return f.Multiline[i].End >= line })
	return i < len(f.Multiline) && f.Multiline[i].Start < line
}

// PythonEnv names the interpreter to use instead of the one found on PATH.
const PythonEnv = "CITUSGEN_PYTHON"

// Interpreter is the python3 citusgen runs: $CITUSGEN_PYTHON, else python3
// on PATH.
func Interpreter() (string, error) {
	if p := os.Getenv(PythonEnv); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s is not a program citusgen can run: %v", PythonEnv, p, errors.Unwrap(err))
		}
		return path, nil
	}
	path, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("python3 is needed to read Django settings files and is not on PATH; install it, or set %s to its path", PythonEnv)
	}
	return path, nil
}

// proc is the python3 process that serves analyze.py's requests.
type proc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
	path   string
}

var (
	mu      sync.Mutex
	current *proc
	// starts counts the python3 processes started, for the tests that hold
	// citusgen to one per run (export_test.go).
	starts int
)

func start(ctx context.Context) (*proc, error) {
	path, err := Interpreter()
	if err != nil {
		return nil, err
	}
	// Not CommandContext: the process outlives one request; a cancelled
	// request kills it below.
	cmd := exec.Command(path, "-I", "-S", "-c", analyzer)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16), stderr: &bytes.Buffer{}, path: path}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s to read Django settings files: %v; install python3 or set %s", path, errors.Unwrap(err), PythonEnv)
	}
	starts++
	return p, nil
}

// request sends one request to the process (started on first use) and
// decodes its answer into v.
func request(ctx context.Context, op, name string, data []byte, v any) error {
	mu.Lock()
	defer mu.Unlock()
	if current == nil {
		p, err := start(ctx)
		if err != nil {
			return err
		}
		current = p
	}
	p := current
	stop := context.AfterFunc(ctx, func() { p.cmd.Process.Kill() })
	body, err := p.exchange(op, name, data)
	stopped := !stop()
	if err != nil {
		// The process is gone or out of step: the next request starts anew.
		p.cmd.Process.Kill()
		p.cmd.Wait()
		current = nil
		if stopped && ctx.Err() != nil {
			return ctx.Err()
		}
		return p.failure(err)
	}
	var fatal struct {
		Fatal string `json:"fatal"`
	}
	if json.Unmarshal(body, &fatal) == nil && fatal.Fatal != "" {
		return fmt.Errorf("internal error, please report it: %s could not read %s: %s", p.path, name, fatal.Fatal)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("internal error, please report it: reading %s's answer about %s: %w", p.path, name, err)
	}
	return nil
}

func (p *proc) exchange(op, name string, data []byte) ([]byte, error) {
	header := fmt.Sprintf("%s %d %d\n", op, len(name), len(data))
	for _, b := range [][]byte{[]byte(header), []byte(name), data} {
		if _, err := p.in.Write(b); err != nil {
			return nil, err
		}
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("unexpected answer %q", line)
	}
	body := make([]byte, n)
	_, err = io.ReadFull(p.out, body)
	return body, err
}

// failure explains a process that stopped answering: its last words, and
// that citusgen needs Python 3.8 or newer (the usual reason).
func (p *proc) failure(err error) error {
	msg := strings.TrimSpace(p.stderr.String())
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%s stopped while reading a settings file (%s); citusgen needs Python 3.8 or newer: install it or set %s", p.path, msg, PythonEnv)
}

// Close ends the python3 process, if one was started, and waits for it.
// Requests after it start a new one.
func Close() {
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		current.in.Close()
		current.cmd.Wait()
		current = nil
	}
}
