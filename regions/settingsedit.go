package regions

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/settingsfile"
)

// span is a range of bytes [start, end) of a file.
type span struct{ start, end int }

// insert puts text at a byte offset.
type insert struct {
	at   int
	text []byte
}

// lineIndex finds where each line of a file starts, in bytes. Line 1
// starts after a UTF-8 BOM, which stays whatever happens to the line.
type lineIndex struct {
	starts []int
	size   int
}

func newLineIndex(data []byte) *lineIndex {
	ix := &lineIndex{starts: make([]int, 1, bytes.Count(data, []byte("\n"))+1), size: len(data)}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		ix.starts[0] = 3
	}
	for i := bytes.IndexByte(data, '\n'); i >= 0 && i+1 < len(data); {
		ix.starts = append(ix.starts, i+1)
		j := bytes.IndexByte(data[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ix
}

// start is the offset of line n (1-based).
func (ix *lineIndex) start(n int) int {
	if n-1 >= len(ix.starts) {
		return ix.size
	}
	return ix.starts[n-1]
}

// next is the offset just after line n, its line break included.
func (ix *lineIndex) next(n int) int { return ix.start(n + 1) }

// statementRemoval is the bytes that remove one module-level statement:
// its whole lines when it has them to itself (a comment after it goes
// too), else the statement and the ';' that separates it from its
// neighbours on the line. Anything else is refused with the reason.
func (ix *lineIndex) statementRemoval(data []byte, s settingsfile.Span, at settingsfile.Range) (span, string) {
	first, last := ix.start(at.Start), ix.next(at.End)
	before := data[first:s.Start]
	after := bytes.TrimRight(data[s.End:last], "\r\n")
	rest := bytes.TrimLeft(after, " \t")
	if len(bytes.Trim(before, " \t\f")) == 0 && (len(rest) == 0 || rest[0] == '#') {
		if at.Start > 1 && bytes.HasSuffix(bytes.TrimRight(data[ix.start(at.Start-1):first], "\r\n"), []byte(`\`)) {
			return span{}, fmt.Sprintf("line %d continues line %d (a backslash ends it); put the statement on a line of its own, or remove it by hand", at.Start, at.Start-1)
		}
		return span{first, last}, ""
	}
	if len(rest) > 0 && rest[0] == ';' {
		// `X = 1; Y = 2` loses `X = 1; `.
		end := s.End + len(after) - len(rest) + 1
		for end < len(data) && (data[end] == ' ' || data[end] == '\t') {
			end++
		}
		return span{s.Start, end}, ""
	}
	if trimmed := bytes.TrimRight(before, " \t"); len(trimmed) > 0 && trimmed[len(trimmed)-1] == ';' {
		// `X = 1; Y = 2  # why` loses `; Y = 2`.
		return span{first + len(trimmed) - 1, s.End}, ""
	}
	return span{}, fmt.Sprintf("line %d holds other code beside it; put the statement on a line of its own, or remove it by hand", at.Start)
}

// fragmentHeader is the comment lines a `citusgen render settings` fragment
// starts with, when they sit right above the statement at line n (blank
// lines and the fragment's `import os` may lie between): adopting the
// fragment's statements would otherwise leave them behind, describing
// nothing.
func (ix *lineIndex) fragmentHeader(data []byte, n int) []span {
	var out []span
	for i := n - 2; i >= 0; i-- {
		l := strings.TrimSpace(string(data[ix.start(i+1):ix.next(i+1)]))
		switch {
		case l == "" || l == "import os":
			continue
		case strings.HasPrefix(l, "# Change the topology, then run: citusgen render settings") ||
			strings.HasPrefix(l, "# Needs DATABASES"):
			out = append(out, span{ix.start(i + 1), ix.next(i + 1)})
			continue
		case strings.HasPrefix(l, generator.GeneratedComment):
			return append(out, span{ix.start(i + 1), ix.next(i + 1)})
		}
		return nil
	}
	return nil
}

// splice removes the spans and makes the inserts, in one pass over data.
func splice(data []byte, removals []span, inserts []insert, eol string) []byte {
	sort.Slice(removals, func(i, j int) bool { return removals[i].start < removals[j].start })
	merged := removals[:0]
	for _, r := range removals {
		if n := len(merged); n > 0 && r.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, r.end)
			continue
		}
		merged = append(merged, r)
	}
	for i := range inserts {
		for _, r := range merged {
			if inserts[i].at > r.start && inserts[i].at < r.end {
				inserts[i].at = r.end
			}
		}
	}
	sort.SliceStable(inserts, func(i, j int) bool { return inserts[i].at < inserts[j].at })
	size := len(data) + 2*len(eol) + 4
	for _, in := range inserts {
		size += len(in.text)
	}
	out := bytes.NewBuffer(make([]byte, 0, size)) // one allocation, whatever the file's size
	pos := 0
	ri := 0
	for _, in := range inserts {
		for ri < len(merged) && merged[ri].start < in.at {
			out.Write(data[pos:merged[ri].start])
			pos = max(pos, merged[ri].end)
			ri++
		}
		out.Write(data[pos:in.at])
		pos = in.at
		if in.at == len(data) {
			written := out.Bytes()
			if len(written) > 0 && written[len(written)-1] != '\n' {
				out.WriteString(eol + "\n")
				written = out.Bytes()
			}
			if trimmed := bytes.TrimRight(written, "\r\n"); len(trimmed) > 0 && len(written)-len(trimmed) < 2+len(eol) {
				out.WriteString(eol + "\n") // a blank line before the block
			}
		}
		out.Write(in.text)
	}
	for ; ri < len(merged); ri++ {
		out.Write(data[pos:merged[ri].start])
		pos = max(pos, merged[ri].end)
	}
	out.Write(data[pos:])
	return out.Bytes()
}

// asciiPython writes the non-ASCII characters of a rendered block as
// escapes, for a file in another encoding than UTF-8: they only occur in
// its string literals (where \uXXXX means the character) and its comments.
func asciiPython(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(b[0])
		case r > 0xFFFF:
			fmt.Fprintf(&out, `\U%08x`, r)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[n:]
	}
	return out.Bytes()
}
