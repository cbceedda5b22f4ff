// Package regions keeps citusgen's managed regions in users' compose and
// settings files: find, merge, adopt, drift.
package regions

import (
	"bytes"
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/settingsfile"
)

// MergeOptions tune a merge into an existing file.
type MergeOptions struct {
	// Name is the file's name, for messages.
	Name string
	// Header is the file's path as the settings block's header names it,
	// relative to the spec's folder (the command line's job to work out);
	// empty: Name's base name.
	Header string
	// Adopt removes hand-written definitions of what the managed region
	// owns (services, volumes, aliases, entries, flags) instead of refusing.
	Adopt bool
}

// header is the path the settings block's header names.
func (o MergeOptions) header() string {
	if o.Header != "" {
		return o.Header
	}
	if o.Name == "" {
		return ""
	}
	return filepath.Base(o.Name)
}

// Adopted is a hand-written definition a merge removed because the managed
// region now defines it.
type Adopted struct {
	Lines settingsfile.Range // in the file as it was
	What  string
	// Kept: not removed but moved, because the rest of the file needs it
	// (an anchor other services use).
	Kept bool
}

// Merge is the result of merging citusgen's region into a user's file.
type Merge struct {
	Data    []byte
	Adopted []Adopted
	// HadRegion: the file had citusgen's region before the merge.
	HadRegion bool
	// Settings is python3's reading of a settings file as it was, and
	// Region the lines of its block (zero without one).
	Settings *settingsfile.File
	Region   settingsfile.Range
	// Rebound: the settings block moved below this binding, which came
	// after it and dropped what it added.
	Rebound *Rebinding
}

// Rebinding is a binding of a name the settings block updates.
type Rebinding struct {
	Name string
	settingsfile.Binding
}

// Problems are every problem a merge found, each at a line; nothing was
// merged.
type Problems []*MergeError

func (ps Problems) Error() string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "\n")
}

// MergeError is a problem with the file being merged into, at a line.
type MergeError struct {
	Line int // 1-based; 0 when not tied to a line
	Msg  string
}

func (e *MergeError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Managed regions are delimited by marker comments. Everything outside them
// belongs to the user and is kept byte for byte.
const (
	beginMark = "# >>> citusgen managed "
	endMark   = "# <<< citusgen managed "
)

// region is one managed region found in a file, by line index (0-based).
type region struct {
	begin, end int // marker lines
	indent     string
}

// markerLine is a line (0-based) that mentions a region.
type markerLine struct {
	i    int
	text string
}

// markerLines finds the lines of data that mention the region name,
// without splitting the whole file into lines.
func markerLines(data []byte, name string) []markerLine {
	needle := []byte("citusgen managed " + name)
	var out []markerLine
	line, counted := 0, 0
	for off := 0; ; {
		j := bytes.Index(data[off:], needle)
		if j < 0 {
			return out
		}
		at := off + j
		line += bytes.Count(data[counted:at], []byte("\n"))
		counted = at
		start := bytes.LastIndexByte(data[:at], '\n') + 1
		end := bytes.IndexByte(data[at:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += at
		}
		out = append(out, markerLine{line, string(data[start:end])})
		off = end
	}
}

// findRegion locates the region named name in data, leaving out the lines
// inside says are data (in a string).
func findRegion(data []byte, name string, inside func(i int) bool) (*region, error) {
	var begins, ends []int
	text := map[int]string{}
	for _, c := range markerLines(data, name) {
		i, l := c.i, c.text
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "#") || inside != nil && inside(i) {
			continue // only comments are markers
		}
		text[i] = l
		switch {
		case strings.HasPrefix(t, beginMark+name+":") || t == beginMark+name:
			begins = append(begins, i)
		case strings.HasPrefix(t, endMark+name) && strings.TrimSpace(strings.TrimPrefix(t, endMark+name)) == "":
			ends = append(ends, i)
		default:
			// Mentions the region but is neither marker: edited by hand.
			return nil, &MergeError{Line: i + 1, Msg: fmt.Sprintf("damaged citusgen %s marker %q; restore it as %q / %q or remove the whole region by hand", name, t, beginMark+name, endMark+name)}
		}
	}
	switch {
	case len(begins) == 0 && len(ends) == 0:
		return nil, nil
	case len(begins) > 1:
		return nil, &MergeError{Line: begins[1] + 1, Msg: fmt.Sprintf("second begin marker of the citusgen %s region (the first is at line %d); keep one region", name, begins[0]+1)}
	case len(ends) > 1:
		return nil, &MergeError{Line: ends[1] + 1, Msg: fmt.Sprintf("second end marker of the citusgen %s region (the first is at line %d); keep one region", name, ends[0]+1)}
	case len(begins) == 0:
		return nil, &MergeError{Line: ends[0] + 1, Msg: fmt.Sprintf("end marker of the citusgen %s region without its begin marker; restore %q or remove the region by hand", name, beginMark+name)}
	case len(ends) == 0:
		return nil, &MergeError{Line: begins[0] + 1, Msg: fmt.Sprintf("begin marker of the citusgen %s region without its end marker; restore %q or remove the region by hand", name, endMark+name)}
	case ends[0] < begins[0]:
		return nil, &MergeError{Line: ends[0] + 1, Msg: fmt.Sprintf("the citusgen %s region ends before it begins (line %d); fix the markers by hand", name, begins[0]+1)}
	}
	l := text[begins[0]]
	return &region{begin: begins[0], end: ends[0], indent: l[:len(l)-len(strings.TrimLeft(l, " "))]}, nil
}

// indentBlock shifts a block rendered with two-space first-level indentation
// to the given indentation.
func indentBlock(block []string, indent string) []string {
	out := make([]string, len(block))
	for i, l := range block {
		if l != "" {
			l = indent + strings.TrimPrefix(l, "  ")
		}
		out[i] = l
	}
	return out
}

func wrapRegion(name, source string, body []string, indent string) []string {
	out := []string{indent + beginMark + name + ": generated from " + quote.Comment(source) + "; change the topology, not this block"}
	out = append(out, body...)
	return append(out, indent+endMark+name)
}

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
	return []byte(strings.Join(lines, "\n") + "\n")
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
	slices.SortStableFunc(edits, func(a, b lineEdit) int { return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to)) })
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
