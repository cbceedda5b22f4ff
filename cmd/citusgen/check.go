package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

type checkCmd struct {
	specFlag
	Compose  string `placeholder:"FILE" predictor:"file" help:"Compose file holding citusgen's managed regions."`
	Settings string `placeholder:"FILE" predictor:"file" help:"Settings file (localsettings.py) holding citusgen's managed block."`
}

// checkDrift is drift found: the diffs are printed already; exit 1 quietly.
type checkDrift struct{ n int }

func (d checkDrift) Error() string { return "" }

func (c checkCmd) Run(e *env) error {
	if c.Compose == "" && c.Settings == "" {
		return usageError{"name the files to check: --compose FILE and/or --settings FILE"}
	}
	if c.Settings != "" {
		// python3 starts while the compose file is read (internal/pyearly
		// has started it already when run from a command line).
		settingsfile.Prestart()
	}
	if c.Compose != "" && c.Settings != "" {
		generator.PrepareValidation() // for the cross-check's load
	}
	t, err := c.load(e)
	if err != nil {
		return err
	}
	drift := 0
	var composeData []byte
	var settings *generator.Merge
	if c.Compose != "" {
		var m *generator.Merge
		if composeData, m, err = checkFile(e, c.Compose, "render --into",
			func(old []byte) (*generator.Merge, error) {
				return generator.MergeComposeFile(old, t, generator.MergeOptions{Name: c.Compose, Adopt: true})
			}); err != nil {
			return err
		}
		drift += checkDiff(e, c.Compose, "render --into", composeData, m)
	}
	if c.Settings != "" {
		var data []byte
		if data, settings, err = checkFile(e, c.Settings, "render settings --into",
			func(old []byte) (*generator.Merge, error) {
				return generator.MergeSettingsFile(context.Background(), old, t, generator.MergeOptions{Name: c.Settings, Adopt: true})
			}); err != nil {
			return err
		}
		drift += checkDiff(e, c.Settings, "render settings --into", data, settings)
	}
	if composeData != nil && settings != nil {
		problems, err := crossCheck(t, c.Compose, composeData, c.Settings, settings)
		if err != nil {
			fmt.Fprintf(e.stderr, "citusgen: note: could not compare the two files with each other: %v\n", err)
		}
		for _, p := range problems {
			fmt.Fprintln(e.stdout, "drift: "+p)
		}
		drift += len(problems)
	}
	if drift > 0 {
		fmt.Fprintf(e.stderr, "citusgen: drift found; re-render (citusgen render --into / render settings --into) or fix the topology\n")
		return checkDrift{drift}
	}
	fmt.Fprintf(e.stderr, "citusgen: no drift\n")
	return nil
}

// checkFile reads path and merges the regions into it, as --into would: a
// file --into would refuse is bad input here too (exit 2), whether or not
// it has citusgen's regions.
func checkFile(e *env, path, into string, merge func([]byte) (*generator.Merge, error)) ([]byte, *generator.Merge, error) {
	actual, err := readInput(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := merge(actual)
	if err != nil {
		return nil, nil, mergeError(path, err)
	}
	return actual, m, nil
}

// checkDiff prints a unified diff of the file against what it should be:
// the file with its managed regions merged. A file without citusgen's
// regions is reported as such (with the command that adds them), and a
// hand-written duplicate outside the regions of what they define is drift
// of its own. It returns how many drifts it found.
func checkDiff(e *env, path, into string, actual []byte, m *generator.Merge) int {
	if !m.HadRegion {
		fmt.Fprintf(e.stdout, "drift: %s has no citusgen region; add it with: citusgen %s %s (with --adopt to take over hand-written definitions)\n", path, into, path)
		return 1
	}
	n := 0
	for _, a := range m.Adopted {
		if a.Kept {
			continue
		}
		n++
		fmt.Fprintf(e.stdout, "drift: %s:%s: %s is defined by hand outside the citusgen region too; citusgen %s %s --adopt removes it\n", path, a.Lines, a.What, into, path)
	}
	if string(m.Data) == string(actual) {
		return n
	}
	fmt.Fprint(e.stdout, udiff.Unified(path, path+" (rendered from the topology)", string(actual), string(m.Data)))
	return n + 1
}

// crossCheck compares the compose file and the settings with each other:
// every alias must point where the compose file puts its node. The
// settings' values are the literals python3's parser read; nothing in the
// file is run.
func crossCheck(t *topology.Topology, composePath string, composeData []byte, settingsPath string, settings *generator.Merge) ([]string, error) {
	composeEnv, err := generator.ComposeEnv(filepath.Dir(composePath), composePath)
	if err != nil {
		return nil, err
	}
	// Other services' unresolved volumes must not hide the cluster's drift.
	p, err := generator.LoadComposeModel(context.Background(), filepath.Dir(composePath), composePath, composeData, generator.CheckEnv(t, composeEnv))
	if err != nil {
		return nil, err
	}
	dbs := settingsDatabases(settings)
	var problems []string
	for _, n := range t.Nodes() {
		svc, ok := p.Services[n.Service]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no service %s", composePath, n.Service))
			continue
		}
		if n.Alias == "" {
			continue // Django does not connect to this worker
		}
		db, ok := dbs[n.Alias]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has no DATABASES[%q]", settingsPath, n.Alias))
			continue
		}
		var published, target string
		for _, port := range svc.Ports {
			published, target = port.Published, strconv.Itoa(int(port.Target))
		}
		ref := fmt.Sprintf("%s DATABASES[%q]", settingsPath, n.Alias)
		if t.Reaches == topology.ReachNetwork {
			if db.host != n.Service {
				problems = append(problems, fmt.Sprintf("%s HOST is %q but the compose service is %s", ref, db.host, n.Service))
			}
			if db.port != target {
				problems = append(problems, fmt.Sprintf("%s PORT is %q but %s listens on %s inside the network", ref, db.port, n.Service, target))
			}
		} else if db.port != published {
			problems = append(problems, fmt.Sprintf("%s PORT is %q but %s publishes %s as %s", ref, db.port, composePath, n.Service, published))
		}
		if n.Role == topology.Worker && n.NodeNameOverride == "" {
			want := n.Service + ":" + target
			if db.nodeName != want {
				problems = append(problems, fmt.Sprintf("%s CITUS_NODE_NAME is %q but %s makes the worker reachable as %s", ref, db.nodeName, composePath, want))
			}
		}
	}
	sort.Strings(problems)
	return problems, nil
}

type pyDB struct{ host, port, nodeName string }

// settingsDatabases is what the block (or, without one, the module level
// of the file) writes into DATABASES, the last write of each alias winning.
func settingsDatabases(m *generator.Merge) map[string]pyDB {
	inBlock := func(r settingsfile.Range) bool {
		return m.Region.Start == 0 || r.Start > m.Region.Start && r.End < m.Region.End
	}
	dbs := map[string]pyDB{}
	for _, e := range m.Settings.Databases {
		if e.Nested || !inBlock(e.Stmt) {
			continue
		}
		dbs[e.Key] = pyDB{host: pyStr(e.Fields["HOST"]), port: pyStr(e.Fields["PORT"]), nodeName: pyStr(e.Fields["CITUS_NODE_NAME"])}
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
