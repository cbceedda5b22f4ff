package regions

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

// Drift is one way a user's file differs from what the topology renders
// into it, or from the other file, at lines of File (zero: the file as a
// whole).
type Drift struct {
	File  string
	Lines settingsfile.Range
	Msg   string
}

// Drift is what check reports about a file this merge was made into (actual,
// at path), beyond the merge's diff: a file without the regions (with the
// command into, which adds them) and the hand-written duplicates outside the
// regions of what they define.
func (m *Merge) Drift(path, into string, actual []byte) (drift []Drift, changed bool) {
	if !m.HadRegion {
		return []Drift{{path, settingsfile.Range{}, fmt.Sprintf("%s has no citusgen region; add it with: citusgen %s %s (with --adopt to take over hand-written definitions)", path, into, path)}}, false
	}
	if r := m.Rebound; r != nil {
		drift = append(drift, Drift{path, settingsfile.Range{Start: r.Line, End: r.Line}, fmt.Sprintf("%s:%d: %s is rebound after the citusgen block (%s), which drops the cluster's aliases when Django imports the file; citusgen %s %s moves the block below it", path, r.Line, r.Name, r.Describe(), into, path)})
	}
	for _, a := range m.Adopted {
		if a.Kept {
			continue
		}
		drift = append(drift, Drift{path, a.Lines, fmt.Sprintf("%s:%s: %s is defined by hand outside the citusgen region too; citusgen %s %s --adopt removes it", path, a.Lines, a.What, into, path)})
	}
	return drift, string(m.Data) != string(actual)
}

// CrossCheck compares the compose file and the settings with each other:
// every alias must point where the compose file puts its node.
func CrossCheck(t *topology.Topology, composePath string, ports map[string][]composefile.Port, settingsPath string, settings *Merge) []Drift {
	dbs := settingsDatabases(settings)
	var problems []Drift
	for _, n := range t.Nodes() {
		svcPorts, ok := ports[n.Service]
		if !ok {
			problems = append(problems, Drift{composePath, settingsfile.Range{}, fmt.Sprintf("%s has no service %s", composePath, n.Service)})
			continue
		}
		if n.Alias == "" {
			continue // Django does not connect to this worker
		}
		db, ok := dbs[n.Alias]
		if !ok {
			problems = append(problems, Drift{settingsPath, settings.Region, fmt.Sprintf("%s has no DATABASES[%q]", settingsPath, n.Alias)})
			continue
		}
		var published, target string
		for _, port := range svcPorts {
			published, target = port.Published, strconv.Itoa(int(port.Target))
		}
		ref := fmt.Sprintf("%s DATABASES[%q]", settingsPath, n.Alias)
		add := func(format string, args ...any) {
			problems = append(problems, Drift{settingsPath, db.lines, ref + " " + fmt.Sprintf(format, args...)})
		}
		if t.Reaches == topology.ReachNetwork {
			if db.host != n.Service {
				add("HOST is %q but the compose service is %s", db.host, n.Service)
			}
			if db.port != target {
				add("PORT is %q but %s listens on %s inside the network", db.port, n.Service, target)
			}
		} else if db.port != published {
			add("PORT is %q but %s publishes %s as %s", db.port, composePath, n.Service, published)
		}
		if n.Role == topology.Worker && n.NodeNameOverride == "" {
			want := n.Service + ":" + target
			if db.nodeName != want {
				add("CITUS_NODE_NAME is %q but %s makes the worker reachable as %s", db.nodeName, composePath, want)
			}
		}
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Msg < problems[j].Msg })
	return problems
}

type pyDB struct {
	host, port, nodeName string
	lines                settingsfile.Range // the alias's entry
}

// settingsDatabases is what the block (or, without one, the module level
// of the file) writes into DATABASES, the last write of each alias winning.
func settingsDatabases(m *Merge) map[string]pyDB {
	inBlock := func(r settingsfile.Range) bool {
		return m.Region.Start == 0 || r.Start > m.Region.Start && r.End < m.Region.End
	}
	dbs := map[string]pyDB{}
	for _, e := range m.Settings.Databases {
		if e.Nested || !inBlock(e.Stmt) {
			continue
		}
		dbs[e.Key] = pyDB{host: pyStr(e.Fields["HOST"]), port: pyStr(e.Fields["PORT"]), nodeName: pyStr(e.Fields["CITUS_NODE_NAME"]), lines: e.Lines}
	}
	return dbs
}

// pyStr is str() of a literal value, as Django would see it; "" for a value
// that is not a literal.
func pyStr(v settingsfile.Value) string {
	if !v.Literal {
		return ""
	}
	switch x := v.Value.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return ""
}

// Finding is one way a user's file differs from what the topology renders:
// a drift at lines of a file, or, with Diff, a file whose regions differ
// from the ones citusgen would write.
type Finding struct {
	Drift
	Diff *FileDiff
}

// FileDiff is a file as it is and as `Fix` would write it.
type FileDiff struct {
	Path, Fix, Actual, Want string
}

// FileError is a file the merge refuses (damaged markers, a second
// document, a definition it may not adopt): nothing can be compared.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Check is `citusgen check`: the compose file and the settings file (nil for
// a file not checked), each against the regions t renders, and each against
// the other.
func Check(ctx context.Context, t *topology.Topology, composePath, settingsPath, settingsHeader string, composeData, settingsData []byte) (findings []Finding, notes []string, err error) {
	add := func(ds ...Drift) {
		for _, d := range ds {
			findings = append(findings, Finding{Drift: d})
		}
	}
	diff := func(path, into string, actual []byte, m *Merge) {
		drift, changed := m.Drift(path, into, actual)
		add(drift...)
		if changed {
			findings = append(findings, Finding{Diff: &FileDiff{Path: path, Fix: "citusgen " + into + " " + path, Actual: string(actual), Want: string(m.Data)}})
		}
	}
	var env map[string]string
	if composePath != "" {
		// A file --into would refuse is refused here too.
		m, err := MergeComposeFile(composeData, t, MergeOptions{Name: composePath, Adopt: true})
		if err != nil {
			return nil, nil, &FileError{composePath, err}
		}
		conflicts, err := IncludeConflicts(t, composePath, composeData)
		if err != nil {
			return nil, nil, err
		}
		add(conflicts...)
		diff(composePath, "render --into", composeData, m)
		// Old images are read with docker compose's environment: a
		// ${VAR:-default} image set in the .env beside the file runs what
		// the .env says.
		if env, err = composefile.Env(filepath.Dir(composePath), composePath); err != nil {
			return nil, nil, err
		}
		if changes := MajorChanges(composeData, t, env); len(changes) > 0 {
			add(Drift{File: composePath, Lines: settingsfile.Range{Start: changes[0].Line, End: changes[len(changes)-1].Line}, Msg: MajorChangeText(composePath, changes, "")})
		}
	}
	if settingsPath != "" {
		settings, err := MergeSettingsFile(ctx, settingsData, t, MergeOptions{Name: settingsPath, Header: settingsHeader, Adopt: true})
		if err != nil {
			return nil, nil, &FileError{settingsPath, err}
		}
		diff(settingsPath, "render settings --into", settingsData, settings)
		if composePath != "" {
			// Other services' unresolved volumes must not hide the cluster's drift.
			if ports, err := composefile.ServicePorts(ctx, filepath.Dir(composePath), composePath, composeData, composefile.CheckEnv(t, env)); err != nil {
				notes = append(notes, fmt.Sprintf("could not compare the two files with each other: %v", err))
			} else {
				add(CrossCheck(t, composePath, ports, settingsPath, settings)...)
			}
		}
	}
	return findings, notes, nil
}

// MajorChangeText names the nodes whose PostgreSQL major changes, each at
// its line, and the ways out; consequence, when given, says what was not
// done.
func MajorChangeText(path string, changes []MajorChange, consequence string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the topology changes the PostgreSQL major of %s%s:\n", path, english.Plural(len(changes), "node"), consequence)
	for _, c := range changes {
		fmt.Fprintf(&b, "  %s:%d: %s\n", path, c.Line, c.Describe())
	}
	b.WriteString(MajorChangeAdvice(changes))
	return b.String()
}

// IncludeConflicts finds what the files a compose file includes (include:,
// followed as docker compose does) define of what its managed regions
// define.
func IncludeConflicts(t *topology.Topology, path string, data []byte) ([]Drift, error) {
	included, err := composefile.Includes(path, data)
	if err != nil || len(included) == 0 {
		return nil, err
	}
	sections, err := managedCompose(t)
	if err != nil {
		return nil, err
	}
	var out []Drift
	for _, inc := range included {
		var names []string
		first := 0
		for _, s := range sections {
			for _, d := range inc.Defines[s.key] {
				if !slices.Contains(s.names, d.Name) {
					continue
				}
				names = append(names, fmt.Sprintf("%s.%s (%s:%d)", s.key, d.Name, inc.Path, d.Line))
				if first == 0 {
					first = d.Line
				}
			}
		}
		if len(names) == 0 {
			continue
		}
		them := "them"
		if len(names) == 1 {
			them = "it"
		}
		out = append(out, Drift{inc.Path, settingsfile.Range{Start: first, End: first}, fmt.Sprintf(
			"%s:%d includes %s, which defines %s, as the citusgen regions of %s do: docker compose cannot have both (Compose v2 refuses the file, %q; later versions merge the two definitions, so what runs is not what the topology renders); remove %s from %s, or stop including it",
			inc.By, inc.Line, inc.Path, strings.Join(names, " and "), path, "conflicts with imported resource", them, inc.Path)})
	}
	return out, nil
}
