package topology

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/citusgen/citusgen/internal/yamldoc"
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
	// another path renders the same bytes (check would see drift otherwise).
	t := &Topology{Source: sourceName(name)}
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

// sourceName is the spec's base name, made safe for the one-line comments
// that name it in rendered files.
func sourceName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, filepath.Base(name))
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
