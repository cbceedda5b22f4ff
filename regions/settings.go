package regions

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

// owned is a definition outside the region of something the region owns.
type owned struct {
	Adopted
	lines bool              // remove whole lines (an entry of a dict display)
	stmt  settingsfile.Span // else: remove this statement (at Lines)
	why   string            // non-empty: it cannot be removed safely
}

// MergeSettingsFile inserts or replaces the managed block of a Python
// settings file.
func MergeSettingsFile(ctx context.Context, existing []byte, t *topology.Topology, opts MergeOptions) (*Merge, error) {
	if opts.Name == "" {
		opts.Name = generator.SettingsFile
	}
	if err := checkLineBreaks(opts.Name, existing); err != nil {
		return nil, err
	}
	f, err := settingsfile.Analyze(ctx, opts.Name, existing)
	if err != nil {
		return nil, err
	}
	if f.SyntaxError != "" {
		return nil, &MergeError{Msg: fmt.Sprintf("%s does not compile (%s); fix it first", opts.Name, f.SyntaxError)}
	}
	reg, err := findRegion(existing, "settings", func(i int) bool { return f.InMultiline(i + 1) })
	if err != nil {
		return nil, err
	}
	if reg != nil && reg.indent != "" {
		return nil, &MergeError{Line: reg.begin + 1, Msg: "the citusgen settings block must start at column 1 (module level)"}
	}
	m := &Merge{HadRegion: reg != nil, Settings: f}
	if reg != nil {
		m.Region = settingsfile.Range{Start: reg.begin + 1, End: reg.end + 1}
	}
	ix := newLineIndex(existing)
	removals, problems := adoptSettings(existing, ix, f, t, reg, opts.Adopt, m)
	after, rebound, placeProblems := blockPlace(opts.Name, f, t, m.Region)
	problems = append(problems, placeProblems...)
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
		if len(problems) == 1 {
			return nil, problems[0]
		}
		return nil, problems
	}
	block, err := settingsBlock(t, opts.header(), f, lineEnding(existing))
	if err != nil {
		return nil, err
	}
	at := len(existing)
	if reg != nil {
		removals = append(removals, span{ix.start(reg.begin + 1), ix.next(reg.end + 1)})
		at = ix.start(reg.begin + 1)
		if reg.begin+1 <= after {
			// The block sits above a binding it updates: it moves below.
			at, m.Rebound = ix.next(after), rebound
		}
	}
	m.Data = splice(existing, removals, at, block, lineEnding(existing))
	return m, nil
}

// adoptSettings finds the definitions outside the block of what it
// defines: without adopt each is a problem; with it, each is removed
// (recorded in m.Adopted), or a problem when it cannot be removed exactly.
func adoptSettings(existing []byte, ix *lineIndex, f *settingsfile.File, t *topology.Topology, reg *region, adopt bool, m *Merge) ([]span, Problems) {
	inRegion := func(r settingsfile.Range) bool {
		return reg != nil && r.Start > reg.begin && r.End <= reg.end+1
	}
	conflicts := settingsConflicts(f, t, inRegion)
	if len(conflicts) > 0 && !adopt {
		var parts []string
		for _, c := range conflicts {
			parts = append(parts, fmt.Sprintf("%s (%s)", c.What, c.Lines.Lines()))
		}
		return nil, Problems{{Line: conflicts[0].Lines.Start, Msg: fmt.Sprintf(
			"defined by hand outside the citusgen block, and the topology defines them too: %s; run again with --adopt to replace them with the block, or remove them by hand",
			strings.Join(parts, "; "))}}
	}
	var removals []span
	var problems Problems
	for _, c := range conflicts {
		why, r := c.why, []span{{ix.start(c.Lines.Start), ix.next(c.Lines.End)}}
		if why == "" && !c.lines {
			r[0], why = ix.statementRemoval(existing, c.stmt, c.Lines)
			if r[0].start == ix.start(c.Lines.Start) {
				r = append(r, ix.fragmentHeader(existing, c.Lines.Start)...)
			}
		}
		if why != "" {
			problems = append(problems, &MergeError{Line: c.Lines.Start, Msg: fmt.Sprintf("cannot adopt %s: %s", c.What, why)})
			continue
		}
		removals = append(removals, r...)
		m.Adopted = append(m.Adopted, c.Adopted)
	}
	return removals, problems
}

// blockPlace is the line the block must follow: the end of the last
// module-level statement that binds, or may bind, a name it updates
// (DATABASES, and REPORTING_DATABASES when the topology has entries),
// however deep in if, try, for, with or match statements, through :=,
// globals(), imports or from x import *; adoption never moves one.
func blockPlace(file string, f *settingsfile.File, t *topology.Topology, region settingsfile.Range) (after int, rebound *Rebinding, problems Problems) {
	needs := []string{"DATABASES"}
	if len(t.ReportingDatabases) > 0 {
		needs = append(needs, "REPORTING_DATABASES")
	}
	var missing []string
	lastStmt := map[string]settingsfile.Range{}
	for _, need := range needs {
		for _, b := range f.Bindings[need] {
			switch {
			case region.Start > 0 && b.Stmt.Start >= region.Start && b.Stmt.End <= region.End:
				// In the block, which is rewritten.
			case b.Later != "":
				problems = append(problems, &MergeError{Line: b.Line, Msg: fmt.Sprintf(
					"%s() rebinds %s (global %s), whenever it is called, after the citusgen block too, and then Django loses the cluster's aliases; have it return the dict and bind %s at module level (%s = %s()), then run again",
					b.Later, need, need, need, need, b.Later)})
			default:
				lastStmt[need] = b.Stmt
				// The last binding names the rebinding; of one statement
				// that binds both names, DATABASES does.
				if region.Start > 0 && b.Stmt.Start > region.Start && (b.Stmt.End > after || rebound == nil || rebound.Name == need) {
					rebound = &Rebinding{need, b}
				}
				after = max(after, b.Stmt.End)
			}
		}
		for _, b := range f.Bindings[need] {
			if b.Kind == settingsfile.BindsModule && b.Stmt == lastStmt[need] {
				problems = append(problems, &MergeError{Line: b.Line, Msg: fmt.Sprintf(
					"%s binds %s to a module, which the citusgen block cannot update (%s.update(...) would raise AttributeError); bind it to a dict instead, then run again",
					b.How, need, need)})
			}
		}
	}
	// Where the block will be: it stays where it is unless a binding is
	// below it; a new one goes at the end.
	at := math.MaxInt
	if region.Start > after {
		at = region.Start
	} else if region.Start > 0 {
		at = after + 1
	}
	for _, need := range needs {
		d, ok := f.DefinedBefore(need, at)
		switch {
		case !ok:
			missing = append(missing, need)
		case d.Defined:
		case d.What == "del statement":
			problems = append(problems, &MergeError{Line: d.Stmt.Start, Msg: fmt.Sprintf(
				"%s is unbound after del %s at %s, the last statement that binds or unbinds it before the citusgen block, whose %s.update(...) would raise NameError; bind it after line %d, or remove the del, then run again",
				need, need, d.Stmt.Lines(), need, d.Stmt.End)})
		default:
			problems = append(problems, &MergeError{Line: d.Stmt.Start, Msg: fmt.Sprintf(
				"%s is not bound on every path through the %s at %s, the last statement that binds or unbinds it before the citusgen block, whose %s.update(...) would raise NameError on the others; bind it on every path (or add \"%s = {}\" above line %d), then run again",
				need, d.What, d.Stmt.Lines(), need, need, d.Stmt.Start)})
		}
	}
	if len(missing) > 0 {
		var add []string
		for _, need := range missing {
			add = append(add, "    "+need+" = {}")
		}
		problems = append(problems, &MergeError{Msg: fmt.Sprintf(
			"%s never defines %s, which the citusgen block updates (%s.update(...) would raise NameError); add these lines (or your full definitions) before the block, then run again:\n%s",
			file, strings.Join(missing, " or "), missing[0], strings.Join(add, "\n"))})
	}
	return after, rebound, problems
}

// settingsBlock is the block as written into the file whose header names
// it name: the
// fragment in markers, in the file's line endings, and in ASCII escapes
// when the file is not UTF-8.
func settingsBlock(t *topology.Topology, name string, f *settingsfile.File, eol string) ([]byte, error) {
	frag, err := generator.SettingsFor(t, name)
	if err != nil {
		return nil, err
	}
	if f.Encoding != "utf-8" && f.Encoding != "utf-8-sig" {
		frag = asciiPython(frag)
	}
	return joinLines(withEnding(wrapRegion("settings", t.Source, splitLines(frag), ""), eol)), nil
}

// settingsConflicts finds what the block defines that the file also defines
// outside it, and how each would be removed.
func settingsConflicts(f *settingsfile.File, t *topology.Topology, inRegion func(settingsfile.Range) bool) []owned {
	aliases := map[string]bool{}
	for _, n := range t.Nodes() {
		if n.Alias != "" {
			aliases[n.Alias] = true
		}
	}
	reporting := map[string]bool{}
	for _, r := range t.ReportingDatabases {
		reporting[r.Name] = true
	}
	var out []owned
	entries := func(name string, list []settingsfile.Entry, mine map[string]bool) {
		for _, e := range list {
			if !mine[e.Key] || inRegion(e.Stmt) {
				continue
			}
			o := owned{Adopted: Adopted{Lines: e.Lines, What: fmt.Sprintf("%s[%q]", name, e.Key)}, lines: true}
			allMine := true
			for _, s := range e.Siblings {
				allMine = allMine && mine[s]
			}
			switch {
			case e.Nested:
				o.why = "it is inside an if, try, for or with block; move it out or remove it by hand"
			case e.Via == "subscript" || (e.Via == "update" && allMine):
				// The statement defines nothing else: it goes, exactly.
				o.lines, o.stmt, o.Lines = false, e.Span, e.Stmt
			case e.Shared:
				o.why = "it shares its lines with other entries or with the braces; put it on lines of its own, or remove it by hand"
			}
			out = append(out, o)
		}
	}
	entries("DATABASES", f.Databases, aliases)
	entries("REPORTING_DATABASES", f.Reporting, reporting)
	for _, s := range t.Settings {
		for _, a := range f.Assigns {
			if a.Name != s.Name || inRegion(a.Stmt) {
				continue
			}
			o := owned{Adopted: Adopted{Lines: a.Stmt, What: a.Name}, stmt: a.Span}
			if a.Nested {
				o.why = "it is inside an if, try, for or with block; move it out or remove it by hand"
			}
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Lines.Start < out[j].Lines.Start })
	// One statement may hold several adopted entries: remove it once.
	dedup := out[:0]
	for _, o := range out {
		if n := len(dedup); n > 0 && !o.lines && !dedup[n-1].lines && dedup[n-1].stmt == o.stmt && dedup[n-1].why == "" {
			dedup[n-1].What += ", " + o.What
			continue
		}
		dedup = append(dedup, o)
	}
	return dedup
}

// CheckCompiles proves python3 accepts what the merge would write to path.
func (m *Merge) CheckCompiles(ctx context.Context, path string) error {
	problem, err := settingsfile.Compile(ctx, path, m.Data)
	if err != nil {
		return err
	}
	if problem != "" {
		return fmt.Errorf("internal error, please report it: %s would not compile (%s); the file is untouched", path, problem)
	}
	return nil
}

// NewSettingsFile starts the settings file that render settings --into
// creates: the names the block updates, bound empty above it. header is
// its path as headers name it (MergeOptions.Header).
func NewSettingsFile(t *topology.Topology, header string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Django settings, started by %s.\n", generator.SettingsRerun(t, header))
	b.WriteString("# Put Django's own databases into DATABASES here; the citusgen block below adds the cluster's.\n")
	b.WriteString("DATABASES = {}\n")
	if len(t.ReportingDatabases) > 0 {
		b.WriteString("REPORTING_DATABASES = {}\n")
	}
	return []byte(b.String())
}

// span is a range of bytes [start, end) of a file.
type span struct{ start, end int }

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

// splice removes the spans and puts text at offset at, in one pass over
// data.
func splice(data []byte, removals []span, at int, text []byte, eol string) []byte {
	sort.Slice(removals, func(i, j int) bool { return removals[i].start < removals[j].start })
	merged := removals[:0]
	for _, r := range removals {
		if n := len(merged); n > 0 && r.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, r.end)
			continue
		}
		merged = append(merged, r)
	}
	for _, r := range merged {
		if at > r.start && at < r.end {
			at = r.end
		}
	}
	out := bytes.NewBuffer(make([]byte, 0, len(data)+len(text)+2*len(eol)+4)) // one allocation, whatever the file's size
	pos, inserted := 0, false
	// The last span, empty at the end of data, makes sure the text goes in.
	for _, r := range append(merged, span{len(data), len(data)}) {
		if !inserted && r.start >= at {
			out.Write(data[pos:at])
			pos, inserted = at, true
			if at == len(data) {
				written := out.Bytes()
				if len(written) > 0 && written[len(written)-1] != '\n' {
					out.WriteString(eol + "\n")
					written = out.Bytes()
				}
				if trimmed := bytes.TrimRight(written, "\r\n"); len(trimmed) > 0 && len(written)-len(trimmed) < 2+len(eol) {
					out.WriteString(eol + "\n") // a blank line before the block
				}
			}
			out.Write(text)
		}
		out.Write(data[pos:r.start])
		pos = max(pos, r.end)
	}
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
