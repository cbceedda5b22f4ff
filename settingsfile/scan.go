package settingsfile

import (
	"bytes"
)

// Large settings files (beyond SmallFile) are not parsed whole by python3:
// its parser takes minutes and gigabytes on tens of megabytes of
// statements. scan splits such a file into its module-level statements by
// Python's lexical rules (strings, comments, brackets, backslash
// continuations, indented bodies), and only the statements that mention
// what citusgen reads go to python3's parser. A file the scanner cannot
// follow is parsed whole after all.

// SmallFile is the size up to which a settings file is parsed (and
// compiled) whole by python3: every real settings file, and fast.
const SmallFile = 1 << 20

// stmt is one module-level statement: its lines, and its bytes [start, end)
// (the line break after it excluded).
type stmt struct {
	first, last int // 1-based lines
	start, end  int
}

// scan calls each with the module-level statements of src, in order, and
// returns false where it cannot follow the file (an unterminated string or
// bracket, an f-string it does not understand): python3 then parses the
// file whole and says why.
func scan(src []byte, each func(stmt)) bool {
	s := scanner{src: src, line: 1}
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		s.pos = 3
	}
	var prev stmt
	have, afterDecorator := false, false
	for {
		s.skipBlank()
		if s.pos >= len(src) {
			if have {
				each(prev)
			}
			return true
		}
		indented := s.col() > 0
		st := stmt{first: s.line, start: s.pos}
		if !s.logicalLine() {
			return false
		}
		st.last, st.end = s.lastLine, s.lastEnd
		decorator := src[st.start] == '@'
		joins := afterDecorator
		afterDecorator = decorator
		switch {
		case !have:
			if indented {
				return false // Python refuses an indented first statement
			}
			prev, have = st, true
		case indented || continues(src[st.start:st.end]) || joins:
			// A compound statement's body, else/elif/except/finally, or
			// what a decorator decorates: part of the statement before.
			prev.last, prev.end = st.last, st.end
		default:
			each(prev)
			prev = st
		}
	}
}

// continues: a clause that carries on the compound statement before it.
func continues(line []byte) bool {
	for _, kw := range []string{"else", "elif", "except", "finally", "case"} {
		if bytes.HasPrefix(line, []byte(kw)) && len(line) > len(kw) {
			if c := line[len(kw)]; c == ':' || c == ' ' || c == '\t' || c == '*' || c == '(' {
				return kw != "case" // match's cases are indented anyway
			}
		}
	}
	return false
}

type scanner struct {
	src               []byte
	pos, line         int
	lastLine, lastEnd int // where the last logical line ended
}

// col is the column of pos in its line (after a BOM on line 1).
func (s *scanner) col() int {
	i := bytes.LastIndexByte(s.src[:s.pos], '\n')
	if i < 0 && bytes.HasPrefix(s.src, []byte("\xef\xbb\xbf")) {
		i = 2
	}
	return s.pos - i - 1
}

// skipBlank moves past blank lines, comment lines and the indentation of
// the next logical line.
func (s *scanner) skipBlank() {
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; c {
		case ' ', '\t', '\f', '\r':
			s.pos++
		case '\n':
			s.pos++
			s.line++
		case '#':
			if end := bytes.IndexByte(s.src[s.pos:], '\n'); end < 0 {
				s.pos = len(s.src)
			} else {
				s.pos += end
			}
		default:
			return
		}
	}
}

// logicalLine moves past one logical line: to its NEWLINE outside brackets
// and strings, a comment ending it included.
func (s *scanner) logicalLine() bool {
	depth := 0
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\n':
			if depth == 0 {
				s.lastLine, s.lastEnd = s.line, s.pos
				s.pos++
				s.line++
				return true
			}
			s.pos++
			s.line++
		case c == '#':
			end := bytes.IndexByte(s.src[s.pos:], '\n')
			if end < 0 {
				s.pos = len(s.src)
			} else {
				s.pos += end
			}
		case c == '\\':
			if s.pos+1 < len(s.src) && s.src[s.pos+1] == '\n' {
				s.pos += 2
				s.line++
			} else if s.pos+2 < len(s.src) && s.src[s.pos+1] == '\r' && s.src[s.pos+2] == '\n' {
				s.pos += 3
				s.line++
			} else {
				s.pos++
			}
		case c == '(' || c == '[' || c == '{':
			depth++
			s.pos++
		case c == ')' || c == ']' || c == '}':
			depth--
			if depth < 0 {
				return false
			}
			s.pos++
		case c == '\'' || c == '"':
			if !s.str(s.pos, false) {
				return false
			}
		case isIdentStart(c):
			if !s.word() {
				return false
			}
		default:
			s.pos++
		}
	}
	if depth != 0 {
		return false
	}
	s.lastLine, s.lastEnd = s.line, len(s.src)
	return true
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// stringPrefix: r, b, u, f and their pairs, in either case.
func stringPrefix(p []byte) bool {
	if len(p) > 2 {
		return false
	}
	for _, c := range p {
		switch c | 0x20 {
		case 'r', 'b', 'u', 'f':
		default:
			return false
		}
	}
	return true
}

// str moves past the string literal whose quote is at q. In an f-string, a
// replacement field's expression may hold strings of its own.
func (s *scanner) str(q int, fstring bool) bool {
	quote := s.src[q]
	triple := q+2 < len(s.src) && s.src[q+1] == quote && s.src[q+2] == quote
	i := q + 1
	if triple {
		i = q + 3
	}
	for i < len(s.src) {
		c := s.src[i]
		switch {
		case c == '\\':
			switch {
			case i+1 < len(s.src) && s.src[i+1] == '\n':
				s.line++
			case i+2 < len(s.src) && s.src[i+1] == '\r' && s.src[i+2] == '\n':
				s.line++
				i++
			}
			i += 2
			continue
		case c == '\n':
			if !triple {
				return false
			}
			s.line++
		case c == quote:
			if !triple {
				s.pos = i + 1
				return true
			}
			if i+2 < len(s.src) && s.src[i+1] == quote && s.src[i+2] == quote {
				s.pos = i + 3
				return true
			}
		case fstring && c == '{':
			if i+1 < len(s.src) && s.src[i+1] == '{' {
				i += 2
				continue
			}
			s.pos = i + 1
			if !s.field() {
				return false
			}
			i = s.pos
			continue
		}
		i++
	}
	return false
}

// field moves past an f-string's replacement field, after its '{': an
// expression (brackets and strings nest), then perhaps a format spec with
// fields of its own, to the closing '}'.
func (s *scanner) field() bool {
	depth := 0
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\n':
			s.line++
			s.pos++
		case c == '\'' || c == '"':
			if !s.str(s.pos, false) {
				return false
			}
		case isIdentStart(c):
			if !s.word() {
				return false
			}
		case c == '(' || c == '[' || c == '{':
			depth++
			s.pos++
		case c == ')' || c == ']':
			depth--
			s.pos++
		case c == '}':
			s.pos++
			if depth == 0 {
				return true
			}
			depth--
		case c == ':' && depth == 0 && !(s.pos+1 < len(s.src) && s.src[s.pos+1] == '='):
			// The format spec: text up to '}', with nested fields.
			s.pos++
			for s.pos < len(s.src) && s.src[s.pos] != '}' {
				switch s.src[s.pos] {
				case '{':
					s.pos++
					if !s.field() {
						return false
					}
					continue
				case '\n':
					s.line++
				}
				s.pos++
			}
			if s.pos >= len(s.src) {
				return false
			}
			s.pos++
			return true
		default:
			s.pos++
		}
	}
	return false
}

// word skips a name, and the string after it when the name is a string
// prefix (r"…", f'…'): an f-string's braces hold code, not text.
func (s *scanner) word() bool {
	start := s.pos
	for s.pos < len(s.src) && isIdent(s.src[s.pos]) {
		s.pos++
	}
	if s.pos < len(s.src) && (s.src[s.pos] == '\'' || s.src[s.pos] == '"') && stringPrefix(s.src[start:s.pos]) {
		return s.str(s.pos, bytes.ContainsAny(s.src[start:s.pos], "fF"))
	}
	return true
}
