package regions

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/citusgen/citusgen/composefile"
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

// Drift is what check reports about a file this merge was made into
// (actual, at path), beyond the merge's diff: a file without the regions
// (with the command into, which adds them) and the hand-written duplicates
// outside the regions of what they define. changed says whether the merge
// changes the file, which check shows as a diff; without the regions it
// shows only their absence.
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
// every alias must point where the compose file puts its node. The
// settings' values are the literals python3's parser read; nothing in the
// file is run.
// ports are the compose file's, as CrossCheckPorts loaded them.
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
