// Package quote writes values as YAML, Python and SQL literals that no
// value from a spec can break out of.
package quote

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

var plainYAML = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_./-]*$`)

// YAML 1.1 readers (docker compose v1 among them) take these as booleans or null.
var yamlSpecial = map[string]bool{
	"y": true, "yes": true, "n": true, "no": true, "on": true, "off": true,
	"true": true, "false": true, "null": true, "nan": true, "inf": true,
}

// YAMLScalar renders s as a YAML scalar: plain when that is unambiguous,
// double-quoted otherwise.
func YAMLScalar(s string) string {
	if plainYAML.MatchString(s) && !yamlSpecial[strings.ToLower(s)] {
		return s
	}
	return escaped(s, '"', `\u%04X`, `\U%08X`)
}

// ComposeLiteral renders a value compose must take literally: '$' is doubled
// so that interpolation leaves it alone, then it is quoted for YAML.
func ComposeLiteral(s string) string {
	return YAMLScalar(strings.ReplaceAll(s, "$", "$$"))
}

// ComposeBlock renders a multi-line value compose must take literally (a
// config's content) as a YAML literal block indented by indent spaces, so
// the document stays readable; '$' is doubled against interpolation.
func ComposeBlock(s string, indent int) string {
	s = strings.ReplaceAll(s, "$", "$$")
	if !blockSafe(s) {
		return YAMLScalar(s)
	}
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	b.Grow(len(s) + len(s)/20*indent + 2)
	b.WriteString("|")
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteByte('\n')
		if line != "" {
			b.WriteString(pad)
			b.WriteString(line)
		}
	}
	return b.String()
}

func blockSafe(s string) bool {
	if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") {
		return false // clipping (|) keeps exactly one final newline
	}
	first := strings.TrimLeft(s, "\n")
	if first == "" || first[0] == ' ' || first[0] == '\t' || first != s {
		return false // the first line sets the block's indentation
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return r != '\n' && r != '\t' && (r == utf8.RuneError || !unicode.IsPrint(r) || r == '\uFEFF')
	}) {
		return false
	}
	// Trailing white space on a line survives a literal block, but editors
	// strip it; keep such text quoted so it cannot change by accident. (s
	// ends in a line break: every line is followed by one.)
	return !strings.Contains(s, " \n") && !strings.Contains(s, "\t\n")
}

// PyLiteral renders a Go value as a Python literal: strings single-quoted
// with escapes for quotes, backslashes and anything unprintable; bools as
// True/False; integers in decimal.
func PyLiteral(v any) string {
	switch x := v.(type) {
	case string:
		return pyString(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case []string:
		parts := make([]string, len(x))
		for i, s := range x {
			parts[i] = pyString(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	panic(fmt.Sprintf("templates: no Python literal for %T", v))
}

func pyString(s string) string { return escaped(s, '\'', `\u%04x`, `\U%08x`) }

// escaped quotes s with q and the backslash escapes YAML and Python share;
// hex4 and hex8 spell \u and \U (the case each language's own output uses).
func escaped(s string, q rune, hex4, hex8 string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteRune(q)
	for _, r := range s {
		switch {
		case r == q || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError || !unicode.IsPrint(r):
			// Invalid UTF-8 included, which spec validation refuses: the
			// output stays parseable.
			if r > 0xFFFF {
				fmt.Fprintf(&b, hex8, r)
			} else {
				fmt.Fprintf(&b, hex4, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteRune(q)
	return b.String()
}

// SQLIdent quotes an identifier the way pgx does.
func SQLIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// SQLLiteral quotes a string constant. Backslashes use the E'...' form so the
// result means the same whatever standard_conforming_strings is.
func SQLLiteral(s string) string {
	q := strings.ReplaceAll(s, "'", "''")
	if strings.Contains(s, `\`) {
		return "E'" + strings.ReplaceAll(q, `\`, `\\`) + "'"
	}
	return "'" + q + "'"
}

// Comment makes s safe inside a one-line comment of any of those
// languages: line breaks, other unprintable characters and bytes that are
// not UTF-8 become '?'.
func Comment(s string) string {
	return strings.Map(func(r rune) rune {
		if notPrintable(r) {
			return '?'
		}
		return r
	}, s)
}

// Key shows a name or value from the user's input (a spec key, a service
// name) in a message: as it is when every character is printable, else
// quoted as Go does ("\x1b[31m"), so that no escape sequence in it reaches
// a terminal or a CI log, and messages about ordinary names read as before.
func Key(s string) string {
	if strings.ContainsFunc(s, notPrintable) { // a byte that is not UTF-8 too: 0x9b is a terminal's CSI
		return strconv.Quote(s)
	}
	return s
}

func notPrintable(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }

// Text is a message for a terminal, with the user's text among citusgen's
// own words: every character a terminal would act on, but line breaks and
// tabs, written as its Go escape (\x1b, \a, \u202e), and bytes that are
// not UTF-8 as \xNN; anything else as it is.
func Text(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && r != '\t' && notPrintable(r) }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t' || unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// ConninfoValue quotes a value for a libpq connection string
// (key='value'): single quotes around it, backslash before ' and \, so
// any character survives.
func ConninfoValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Shell quotes s as one POSIX shell word: in single quotes, each single
// quote in it closed, escaped with a backslash and reopened (a word of safe
// characters alone stays as it is).
func Shell(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:=@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
