package quote_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/quote"
	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
)

// python is one python3 process that evaluates a literal per line and
// answers with its JSON encoding; one process keeps the fuzzer fast.
type python struct {
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Scanner
}

var (
	pyOnce sync.Once
	py     *python
	pyErr  error
)

func startPython() (*python, error) {
	pyOnce.Do(func() {
		cmd := exec.CommandContext(context.Background(), "python3", "-u", "-c", `
import ast, json, sys
for line in sys.stdin:
    try:
        v = ast.literal_eval(line.rstrip("\n"))
        print(json.dumps({"ok": v}))
    except Exception as e:
        print(json.dumps({"err": repr(e)}))
`)
		in, err := cmd.StdinPipe()
		if err != nil {
			pyErr = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			pyErr = err
			return
		}
		if pyErr = cmd.Start(); pyErr != nil {
			return
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		py = &python{in: in, out: sc}
	})
	return py, pyErr
}

func (p *python) eval(t testing.TB, literal string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if strings.ContainsAny(literal, "\n\r") {
		t.Fatalf("literal spans lines: %q", literal)
	}
	if _, err := io.WriteString(p.in, literal+"\n"); err != nil {
		t.Fatal(err)
	}
	if !p.out.Scan() {
		t.Fatalf("python3 stopped: %v", p.out.Err())
	}
	var r struct {
		OK  *string `json:"ok"`
		Err string  `json:"err"`
	}
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.OK == nil {
		t.Fatalf("python3 rejected %s: %s", literal, r.Err)
	}
	return *r.OK
}

var tricky = []string{
	"", "plain", "it's", `"double"`, `back\slash`, `\'`, `\\'`, `'''`, `"""`, "tab\there",
	"new\nline", "cr\rlf", "nul\x00byte", "héllo", "✓ ünïcode", "日本語", "emoji 🐘",
	"\u2028line sep", "\u00a0nbsp", "\x7fdel", "$HOME ${X} $$", "#comment", "\\N",
	"\ufeffbom", "trailing\\",
}

func TestPyLiteral(t *testing.T) {
	p, err := startPython()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tricky {
		if got := p.eval(t, quote.PyLiteral(s)); got != s {
			t.Errorf("PyLiteral(%q) evaluates to %q", s, got)
		}
	}
	if got := quote.PyLiteral([]string{"a'b", "c"}); got != `['a\'b', 'c']` {
		t.Errorf("list: %s", got)
	}
	for v, want := range map[any]string{true: "True", false: "False", int64(-7): "-7"} {
		if got := quote.PyLiteral(v); got != want {
			t.Errorf("PyLiteral(%v) = %s", v, got)
		}
	}
}

// FuzzPyLiteral: any valid UTF-8 string survives the trip through python3.
func FuzzPyLiteral(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("the spec rejects invalid UTF-8")
		}
		p, err := startPython()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.eval(t, quote.PyLiteral(s)); got != s {
			t.Errorf("PyLiteral(%q) evaluates to %q", s, got)
		}
	})
}

// FuzzYAMLScalar: any valid UTF-8 string reads back unchanged as YAML.
func FuzzYAMLScalar(f *testing.F) {
	for _, s := range append(tricky, "yes", "No", "null", "~", "0123", "1e3", "-x", ": x", "a: b", "[x]", "{x}", "*a", "&a", "!tag", "%x", "@x", "`x") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("the spec rejects invalid UTF-8")
		}
		var got string
		doc := "k: " + quote.YAMLScalar(s) + "\n"
		var m map[string]string
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%q does not parse: %v", doc, err)
		}
		got = m["k"]
		if got != s {
			t.Errorf("YAMLScalar(%q) reads back as %q", s, got)
		}
	})
}

func TestSQLQuoting(t *testing.T) {
	cases := map[string][2]string{
		"plain":    {`"plain"`, `'plain'`},
		`a"b`:      {`"a""b"`, `'a"b'`},
		"it's":     {`"it's"`, `'it''s'`},
		`back\sl`:  {`"back\sl"`, `E'back\\sl'`},
		`\'; DROP`: {`"\'; DROP"`, `E'\\''; DROP'`},
	}
	for in, want := range cases {
		if got := quote.SQLIdent(in); got != want[0] {
			t.Errorf("SQLIdent(%q) = %s, want %s", in, got, want[0])
		}
		if got := quote.SQLLiteral(in); got != want[1] {
			t.Errorf("SQLLiteral(%q) = %s, want %s", in, got, want[1])
		}
	}
}

// composeBlockReads parses a config content rendered by ComposeBlock and
// undoes compose's $$ escaping, as compose does.
func composeBlockReads(t *testing.T, s string) string {
	t.Helper()
	doc := "configs:\n  x:\n    content: " + quote.ComposeBlock(s, 6) + "\n  y:\n    content: after\n"
	var m map[string]map[string]map[string]string
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("%q does not parse: %v", doc, err)
	}
	if m["configs"]["y"]["content"] != "after" {
		t.Fatalf("the block swallowed the next key:\n%s", doc)
	}
	return strings.ReplaceAll(m["configs"]["x"]["content"], "$$", "$")
}

func TestComposeBlock(t *testing.T) {
	script := "-- a script\n\\set x 1\nSELECT $tag$ a $tag$;\n\n  indented\tline\n"
	got := quote.ComposeBlock(script, 6)
	want := "|\n      -- a script\n      \\set x 1\n      SELECT $$tag$$ a $$tag$$;\n\n        indented\tline"
	if got != want {
		t.Errorf("ComposeBlock:\n%s\nwant:\n%s", got, want)
	}
	for _, s := range append(tricky, script, " leading space\n", "no newline", "two\n\n", "trailing \n", "\n", "", "bom\ufeff\n", "cr\r\n") {
		if got := composeBlockReads(t, s); got != s {
			t.Errorf("ComposeBlock(%q) reads back as %q", s, got)
		}
	}
}

// FuzzComposeBlock: any valid UTF-8 text survives as a config's content.
func FuzzComposeBlock(f *testing.F) {
	for _, s := range append(tricky, "a\n", "a\n  b\n", "$x\n", "# c\n") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("the spec rejects invalid UTF-8")
		}
		if got := composeBlockReads(t, s); got != s {
			t.Errorf("ComposeBlock(%q) reads back as %q", s, got)
		}
	})
}

func TestKeyAndText(t *testing.T) {
	for in, want := range map[string]string{
		"citus_master":       "citus_master",
		"naïve-ünïcode":      "naïve-ünïcode",
		"\x1b[31mred":        `"\x1b[31mred"`,
		"bidi\u202eevil":     `"bidi\u202eevil"`,
		"not utf-8 \x9b31m":  `"not utf-8 \x9b31m"`,
		"tab\tin a key name": `"tab\tin a key name"`,
	} {
		if got := quote.Key(in); got != want {
			t.Errorf("Key(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"line 1\n\tline 2":             "line 1\n\tline 2",
		"service \x1b]0;t\a runs":      `service \x1b]0;t\a runs`,
		"a \x9b b \u202e c \uFFFD d é": "a \\x9b b \\u202e c \uFFFD d é",
		"\r carriage returns too":      `\r carriage returns too`,
	} {
		if got := quote.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShell(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path-1.2": "plain/path-1.2",
		"":               "''",
		"it's $HOME":     `'it'\''s $HOME'`,
		"a b":            "'a b'",
	} {
		if got := quote.Shell(in); got != want {
			t.Errorf("Shell(%q) = %s, want %s", in, got, want)
		}
		out, err := exec.Command("sh", "-c", "printf %s "+quote.Shell(in)).Output()
		if err != nil || string(out) != in {
			t.Errorf("sh read %s as %q (%v), want %q", quote.Shell(in), out, err, in)
		}
	}
}
