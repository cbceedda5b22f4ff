package regions

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

// owned is a definition outside the region of something the region owns.
type owned struct {
	Adopted
	lines bool               // remove whole lines (an entry of a dict display)
	stmt  settingsfile.Span  // else: remove this statement
	at    settingsfile.Range // its lines
	why   string             // non-empty: it cannot be removed safely
}

// MergeSettingsFile inserts or replaces the managed block of a Python
// settings file. Without a block, it is appended at the end. The block
// updates DATABASES (and REPORTING_DATABASES), so it must come after the
// file's last binding of each; a file that never binds one is refused with
// the lines to add. Hand-written definitions of the block's aliases,
// reporting entries and flags are conflicts, or, with Adopt, removed
// (exactly the statement, or the entry's own lines) and reported. Every
// problem is reported at once, as Problems. python3 judges the file by
// Python's rules (a BOM, a coding declaration); the block is written in
// the file's line endings, and in ASCII when the file is not UTF-8.
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
	reg, err := findRegionAmong(markerLines(existing, "settings"), "settings", func(i int) bool { return f.InMultiline(i + 1) })
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
	var in insert
	switch {
	case reg != nil && reg.begin+1 <= after:
		// The block sits above a binding it updates: it moves below.
		removals = append(removals, span{ix.start(reg.begin + 1), ix.next(reg.end + 1)})
		in = insert{ix.next(after), block}
		m.Rebound = rebound
	case reg != nil:
		removals = append(removals, span{ix.start(reg.begin + 1), ix.next(reg.end + 1)})
		in = insert{ix.start(reg.begin + 1), block}
	default:
		in = insert{len(existing), block}
	}
	m.Data = splice(existing, removals, []insert{in}, lineEnding(existing))
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
		if c.why != "" {
			problems = append(problems, &MergeError{Line: c.Lines.Start, Msg: fmt.Sprintf("cannot adopt %s: %s", c.What, c.why)})
			continue
		}
		if c.lines {
			removals = append(removals, span{ix.start(c.at.Start), ix.next(c.at.End)})
		} else {
			r, why := ix.statementRemoval(existing, c.stmt, c.at)
			if why != "" {
				problems = append(problems, &MergeError{Line: c.at.Start, Msg: fmt.Sprintf("cannot adopt %s: %s", c.What, why)})
				continue
			}
			removals = append(removals, r)
			if r.start == ix.start(c.at.Start) {
				removals = append(removals, ix.fragmentHeader(existing, c.at.Start)...)
			}
		}
		m.Adopted = append(m.Adopted, c.Adopted)
	}
	return removals, problems
}

// blockPlace is the line the block must follow: the end of the last
// module-level statement that binds, or may bind, a name it updates
// (DATABASES, and REPORTING_DATABASES when the topology has entries),
// however deep in if, try, for, with or match statements, through :=,
// globals(), imports or from x import *; adoption never moves one.
// rebound is the last of those below the block (region, its lines), which
// the block must move below. Problems: a function that rebinds a name
// (global NAME) whenever it is called, a name bound to a module, and a
// name that some path to the block leaves unbound (never bound, bound in
// some branches only, deleted), each at its line, with what to do.
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
	var block bytes.Buffer
	for _, l := range withEnding(wrapRegion("settings", t.Source, splitLines(frag), ""), eol) {
		block.WriteString(l)
		block.WriteByte('\n')
	}
	return block.Bytes(), nil
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
			o := owned{Adopted: Adopted{Lines: e.Lines, What: fmt.Sprintf("%s[%q]", name, e.Key)}, lines: true, at: e.Lines}
			allMine := true
			for _, s := range e.Siblings {
				allMine = allMine && mine[s]
			}
			switch {
			case e.Nested:
				o.why = "it is inside an if, try, for or with block; move it out or remove it by hand"
			case e.Via == "subscript" || (e.Via == "update" && allMine):
				// The statement defines nothing else: it goes, exactly.
				o.lines, o.stmt, o.at, o.Lines = false, e.Span, e.Stmt, e.Stmt
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
			o := owned{Adopted: Adopted{Lines: a.Stmt, What: a.Name}, stmt: a.Span, at: a.Stmt}
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
// The merge refused a file that did not compile, so a failure is
// citusgen's own (an internal error).
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
