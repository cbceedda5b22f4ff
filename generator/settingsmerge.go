package generator

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

// MergeOptions tune a merge into an existing file.
type MergeOptions struct {
	// Name is the file's name, for python3's messages.
	Name string
	// Adopt removes hand-written definitions of what the managed region
	// owns (services, volumes, aliases, entries, flags) instead of refusing.
	Adopt bool
}

// Adopted is a hand-written definition a merge removed because the managed
// region now defines it.
type Adopted struct {
	Lines settingsfile.Range // in the file as it was
	What  string
}

// owned is a definition outside the region of something the region owns.
type owned struct {
	Adopted
	remove settingsfile.Range // the lines that go
	why    string             // non-empty: it cannot be removed safely
}

// MergeSettings inserts or replaces the managed block of a Python settings
// file. Without a block, it is appended at the end. The block updates
// DATABASES (and REPORTING_DATABASES), so it must come after the file's last
// binding of each; a file that never binds one is refused with what to add.
// Hand-written definitions of the block's aliases, reporting entries and
// flags are conflicts, or, with Adopt, removed and reported.
func MergeSettings(ctx context.Context, existing []byte, t *topology.Topology, opts MergeOptions) ([]byte, []Adopted, error) {
	if opts.Name == "" {
		opts.Name = SettingsFile
	}
	frag, err := Settings(t)
	if err != nil {
		return nil, nil, err
	}
	lines := splitLines(existing)
	reg, err := findRegion(lines, "settings")
	if err != nil {
		return nil, nil, err
	}
	if reg != nil && reg.indent != "" {
		return nil, nil, &MergeError{Line: reg.begin + 1, Msg: "the citusgen settings block must start at column 1 (module level)"}
	}
	f, err := settingsfile.Analyze(ctx, opts.Name, existing)
	if err != nil {
		return nil, nil, err
	}
	if f.SyntaxError != "" {
		return nil, nil, &MergeError{Msg: fmt.Sprintf("%s does not compile (%s); fix it first", opts.Name, f.SyntaxError)}
	}
	inRegion := func(r settingsfile.Range) bool {
		return reg != nil && r.Start > reg.begin && r.End <= reg.end+1
	}

	conflicts := settingsConflicts(f, t, inRegion)
	if len(conflicts) > 0 && !opts.Adopt {
		var parts []string
		for _, c := range conflicts {
			parts = append(parts, fmt.Sprintf("%s (%s)", c.What, c.Lines.Lines()))
		}
		return nil, nil, &MergeError{Line: conflicts[0].Lines.Start, Msg: fmt.Sprintf(
			"defined by hand outside the citusgen block, and the topology defines them too: %s; run again with --adopt to replace them with the block, or remove them by hand",
			strings.Join(parts, "; "))}
	}
	removed := map[int]bool{}
	var adopted []Adopted
	for _, c := range conflicts {
		if c.why != "" {
			return nil, nil, &MergeError{Line: c.Lines.Start, Msg: fmt.Sprintf("cannot adopt %s: %s", c.What, c.why)}
		}
		for l := c.remove.Start; l <= c.remove.End; l++ {
			removed[l] = true
		}
		adopted = append(adopted, c.Adopted)
	}

	// Where the block must go: after the last binding of each name it
	// updates, which removal does not move (bindings are never removed).
	needs := []string{"DATABASES"}
	if len(t.ReportingDatabases) > 0 {
		needs = append(needs, "REPORTING_DATABASES")
	}
	after := 0 // 1-based line the block must follow
	for _, name := range needs {
		b, ok := f.LastBinding(name)
		if !ok {
			if len(f.StarImports) > 0 {
				continue // from x import * may bind it; python3 cannot tell
			}
			return nil, nil, &MergeError{Msg: fmt.Sprintf(
				"%s never defines %s, which the citusgen block updates (%s.update(...) would raise NameError); add `%s = {}` (or your full %s) before the block, then run again",
				opts.Name, name, name, name, name)}
		}
		after = max(after, b.End)
	}

	body := wrapRegion("settings", t.Source, splitLines(frag), "")
	var out []string
	placed := false
	moved := reg != nil && reg.begin+1 <= after
	for i, l := range lines {
		n := i + 1
		if reg != nil && i >= reg.begin && i <= reg.end {
			if i == reg.begin && !moved {
				out = append(out, body...)
				placed = true
			}
			continue
		}
		if removed[n] {
			continue
		}
		out = append(out, l)
		if moved && n == after {
			out = append(out, body...)
			placed = true
		}
	}
	if !placed {
		if len(out) > 0 && strings.TrimSpace(out[len(out)-1]) != "" {
			out = append(out, "")
		}
		out = append(out, body...)
	}
	return joinLines(out), adopted, nil
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
			o := owned{Adopted: Adopted{Lines: e.Lines, What: fmt.Sprintf("%s[%q]", name, e.Key)}, remove: e.Lines}
			allMine := true
			for _, s := range e.Siblings {
				allMine = allMine && mine[s]
			}
			switch {
			case e.Nested:
				o.why = "it is inside an if, try, for or with block; move it out or remove it by hand"
			case e.Via == "subscript" || (e.Via == "update" && allMine):
				// The statement defines nothing else.
				o.remove, o.Lines = e.Stmt, e.Stmt
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
			o := owned{Adopted: Adopted{Lines: a.Stmt, What: a.Name}, remove: a.Stmt}
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
		if len(dedup) > 0 && dedup[len(dedup)-1].remove == o.remove && dedup[len(dedup)-1].why == "" {
			dedup[len(dedup)-1].What += ", " + o.What
			continue
		}
		dedup = append(dedup, o)
	}
	return dedup
}
