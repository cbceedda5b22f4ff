package regions

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// splitLines splits a file into lines without their "\n"; a line keeps
// its "\r" in a CRLF file, so that joinLines gives back the same bytes.
func splitLines(data []byte) []string {
	s := string(data)
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

func joinLines(lines []string) []byte {
	if len(lines) == 0 {
		return nil
	}
	n := len(lines)
	for _, l := range lines {
		n += len(l)
	}
	b := make([]byte, 0, n)
	for _, l := range lines {
		b = append(b, l...)
		b = append(b, '\n')
	}
	return b
}

// lineEnding is what the lines citusgen writes into a file end with, as
// the file's own lines do: "\r" (before the "\n") in a CRLF file.
func lineEnding(data []byte) string {
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		return "\r"
	}
	return ""
}

// withEnding adds the file's line ending to citusgen's lines.
func withEnding(lines []string, eol string) []string {
	if eol == "" {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l + eol
	}
	return out
}

// checkLineBreaks refuses a carriage return that is not followed by a line
// feed: YAML and Python both take it for a line break, so every line
// number after it would differ from what an editor shows.
func checkLineBreaks(name string, data []byte) error {
	for i := bytes.IndexByte(data, '\r'); i >= 0; {
		if i+1 == len(data) || data[i+1] != '\n' {
			line := bytes.Count(data[:i], []byte("\n")) + 1
			return &MergeError{Line: line, Msg: fmt.Sprintf("%s ends a line with a carriage return alone (old Mac line endings); YAML and Python read it as a line break where editors may not, so citusgen does not edit the file: convert it to LF or CRLF line endings (for example: sed -i 's/\\r$//; s/\\r/\\n/g' %s), then run again", name, name)}
		}
		j := bytes.IndexByte(data[i+1:], '\r')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}

// lineEdit replaces the lines [from, to) with lines (an insertion when
// from == to).
type lineEdit struct {
	from, to int
	lines    []string
}

// applyEdits makes every edit in one pass. Edits never overlap, except that
// an insertion may sit where a removal ends.
func applyEdits(lines []string, edits []lineEdit) []string {
	sort.SliceStable(edits, func(i, j int) bool {
		if edits[i].from != edits[j].from {
			return edits[i].from < edits[j].from
		}
		return edits[i].to < edits[j].to
	})
	extra := 0
	for _, e := range edits {
		extra += len(e.lines)
	}
	out := make([]string, 0, len(lines)+extra)
	pos := 0
	for _, e := range edits {
		from, to := max(e.from, pos), max(e.to, pos)
		out = append(out, lines[pos:from]...)
		out = append(out, e.lines...)
		pos = to
	}
	return append(out, lines[pos:]...)
}
