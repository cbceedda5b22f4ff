package topology

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/citusgen/citusgen/internal/yamldoc"
	"github.com/citusgen/citusgen/quote"
)

// DefaultSource names the embedded default in messages and headers.
const DefaultSource = "embedded default topology"

//go:embed default.yaml
var defaultSpec []byte

// DefaultSpec returns the commented YAML of the embedded default topology.
func DefaultSpec() []byte { return bytes.Clone(defaultSpec) }

// Default returns the embedded default topology: CommCare HQ's documented
// three-node setup.
func Default() *Topology {
	t, err := Parse(DefaultSource, defaultSpec)
	if err != nil {
		// The embedded spec is tested; failing here is a build defect.
		panic("citusgen: embedded default topology is invalid: " + err.Error())
	}
	return t
}

// Load reads, decodes and validates the spec at path.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{File: path, Msg: fmt.Sprintf("cannot read the topology: %v", unwrapPathError(err))}
	}
	return Parse(path, data)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse decodes and validates a spec. name is used in messages. Every problem
// is reported at once as Errors.
func Parse(name string, data []byte) (*Topology, error) {
	if err := checkUTF8(name, data); err != nil {
		return nil, Errors{err}
	}
	doc, second, err := yamldoc.DecodeFirst(data)
	if err != nil {
		return nil, Errors{yamlSyntaxError(name, data, err)}
	}
	// Everything after a second "---" would be ignored silently.
	if second != nil {
		line := second.Line
		if len(second.Content) > 0 {
			line = second.Content[0].Line
		}
		line = yamldoc.DocumentStart(data, line)
		return nil, Errors{{File: name, Pos: Pos{Line: line, Column: 1}, Msg: "a second YAML document starts here; a topology is one document: remove the '---' and what follows, or move it to a file of its own"}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, Errors{{File: name, Msg: "the topology is empty: it needs at least 'coordinator' and 'workers' (see 'citusgen init' for a starter)"}}
	}
	d := &decoder{file: name, pos: map[string]Pos{"": posOf(yamldoc.Resolve(doc.Content[0]))}}
	// Headers name the spec by its base name, so the same spec reached by
	// another path renders the same bytes (check would see drift otherwise),
	// made safe for the one-line comments that name it.
	t := &Topology{Source: quote.Comment(filepath.Base(name))}
	d.section(doc.Content[0], "", reflect.ValueOf(t).Elem(), "")
	// Validate even after decode errors so one run reports every problem;
	// a field already reported (missing, wrong type) is not reported twice.
	applyDefaults(t, d)
	validate(t, d)
	if len(d.errs) > 0 {
		return nil, d.errs.dedupe().sorted()
	}
	return t, nil
}

// checkUTF8 reports the first byte that is not UTF-8, or the first
// character YAML does not allow in a file (control characters), at its
// line and column, which the YAML parser would report without either.
func checkUTF8(name string, data []byte) *FieldError {
	at := func(i int) Pos {
		line := bytes.Count(data[:i], []byte("\n")) + 1
		return Pos{Line: line, Column: utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i]) + 1}
	}
	for i := 0; i < len(data); {
		c := data[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' || c == '\r' {
			i++ // ASCII, the common case
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return &FieldError{File: name, Pos: at(i), Msg: fmt.Sprintf("byte 0x%02x is not UTF-8; a topology is UTF-8 text: save the file as UTF-8", c)}
		case !yamlPrintable(r) && !(r == 0xFEFF && i == 0):
			return &FieldError{File: name, Pos: at(i), Msg: fmt.Sprintf("the character %U is not allowed in YAML; remove it, or write it as an escape (\\u%04X) inside a double-quoted string", r, r)}
		}
		i += n
	}
	return nil
}

// yamlPrintable is YAML 1.2's set of characters a file may hold.
func yamlPrintable(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0x7E || r == 0x85 ||
		r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

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
	slices.SortStableFunc(es, func(a, b *FieldError) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Column, b.Pos.Column))
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

var passwordLineRE = regexp.MustCompile(`(?m)^((?:#.*\n)*)password: .*\n`)

// DefaultSpecWithPasswordEnv is the default spec (DefaultSpec) with its
// password line, and the comment above it, turned into password_env: name
// and a comment naming envFile, the file that sets it (init --password-env).
func DefaultSpecWithPasswordEnv(name, envFile string) ([]byte, error) {
	spec := defaultSpec
	loc := passwordLineRE.FindIndex(spec)
	if loc == nil {
		return nil, errors.New("the embedded default topology has no password: line to replace; this is a bug in citusgen")
	}
	repl := fmt.Sprintf("# Password of that user: read from the environment variable %s.\n"+
		"# docker compose reads it from the .env file beside the compose file\n"+
		"# (citusgen init --password-env wrote %s); keep that file out of version control.\n"+
		"password_env: %s\n", name, envFile, name)
	out := append(append(append([]byte{}, spec[:loc[0]]...), repl...), spec[loc[1]:]...)
	t, err := Parse(DefaultSource, out)
	var errs Errors
	if errors.As(err, &errs) && errs[0].Field == "password_env" {
		// A name the default spec uses for something else: the user's choice.
		return nil, &FieldError{File: "--password-env " + name, Msg: errs[0].Msg}
	}
	if err != nil || t.PasswordEnv != name || t.Password != "" {
		return nil, fmt.Errorf("the default topology with password_env %s does not read back (%v); this is a bug in citusgen", name, err)
	}
	return out, nil
}
