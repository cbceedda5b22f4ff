package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/topology"
)

type checkCmd struct {
	specFlag
	Compose  string `placeholder:"FILE" help:"Compose file holding citusgen's managed regions."`
	Settings string `placeholder:"FILE" help:"Settings file (localsettings.py) holding citusgen's managed block."`
}

// checkDrift is drift found: the diffs are printed already; exit 1 quietly.
type checkDrift struct{ n int }

func (d checkDrift) Error() string { return "" }

func (c checkCmd) Run(e *env) error {
	if c.Compose == "" && c.Settings == "" {
		return usageError{"name the files to check: --compose FILE and/or --settings FILE"}
	}
	t, err := c.load(e)
	if err != nil {
		return err
	}
	drift := 0
	var composeData, settingsData []byte
	if c.Compose != "" {
		var n int
		if composeData, n, err = checkFile(e, c.Compose, "services", "render --into",
			func(old []byte) ([]byte, []generator.Adopted, error) {
				return generator.MergeCompose(old, t, generator.MergeOptions{Name: c.Compose, Adopt: true})
			}); err != nil {
			return err
		}
		drift += n
	}
	if c.Settings != "" {
		var n int
		if settingsData, n, err = checkFile(e, c.Settings, "settings", "render settings --into",
			func(old []byte) ([]byte, []generator.Adopted, error) {
				return generator.MergeSettings(context.Background(), old, t, generator.MergeOptions{Name: c.Settings, Adopt: true})
			}); err != nil {
			return err
		}
		drift += n
	}
	if composeData != nil && settingsData != nil {
		problems, err := crossCheck(t, c.Compose, composeData, c.Settings, settingsData)
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

func readChecked(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError{path + " does not exist"}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	return data, nil
}

// checkFile reads path and prints a unified diff against what it should be:
// the file with its managed regions merged. A file without citusgen's
// regions is reported as such (with the command that adds them), and a
// hand-written duplicate outside the regions of what they define is drift
// of its own. It returns the file and how many drifts it found.
func checkFile(e *env, path, region, into string, merge func([]byte) ([]byte, []generator.Adopted, error)) ([]byte, int, error) {
	actual, err := readChecked(path)
	if err != nil {
		return nil, 0, err
	}
	// A damaged region counts as present, so the merge reports the damage.
	if r, rerr := generator.ExtractRegion(actual, region); rerr == nil && r == nil {
		fmt.Fprintf(e.stdout, "drift: %s has no citusgen region; add it with: citusgen %s %s (with --adopt to take over hand-written definitions)\n", path, into, path)
		return actual, 1, nil
	}
	expected, adopted, err := merge(actual)
	if err != nil {
		return nil, 0, mergeError(path, err)
	}
	for _, a := range adopted {
		fmt.Fprintf(e.stdout, "drift: %s:%s: %s is defined by hand outside the citusgen region too; citusgen %s %s --adopt removes it\n", path, a.Lines, a.What, into, path)
	}
	if string(expected) == string(actual) {
		return actual, len(adopted), nil
	}
	fmt.Fprint(e.stdout, udiff.Unified(path, path+" (rendered from the topology)", string(actual), string(expected)))
	return actual, 1 + len(adopted), nil
}

// crossCheck compares the compose file and the settings with each other:
// every alias must point where the compose file puts its node.
func crossCheck(t *topology.Topology, composePath string, composeData []byte, settingsPath string, settingsData []byte) ([]string, error) {
	composeEnv, err := generator.ComposeEnv(filepath.Dir(composePath), composePath)
	if err != nil {
		return nil, err
	}
	// Other services' unresolved volumes must not hide the cluster's drift.
	p, err := generator.LoadComposeModel(context.Background(), filepath.Dir(composePath), composePath, composeData, generator.CheckEnv(t, composeEnv))
	if err != nil {
		return nil, err
	}
	code := settingsData
	if region, err := generator.ExtractRegion(settingsData, "settings"); err == nil && region != nil {
		code = region
	}
	dbs, err := pyDatabases(code)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", settingsPath, err)
	}
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
			if db.Host != n.Service {
				problems = append(problems, fmt.Sprintf("%s HOST is %q but the compose service is %s", ref, db.Host, n.Service))
			}
			if db.Port != target {
				problems = append(problems, fmt.Sprintf("%s PORT is %q but %s listens on %s inside the network", ref, db.Port, n.Service, target))
			}
		} else if db.Port != published {
			problems = append(problems, fmt.Sprintf("%s PORT is %q but %s publishes %s as %s", ref, db.Port, composePath, n.Service, published))
		}
		if n.Role == topology.Worker && n.NodeNameOverride == "" {
			want := n.Service + ":" + target
			if db.NodeName != want {
				problems = append(problems, fmt.Sprintf("%s CITUS_NODE_NAME is %q but %s makes the worker reachable as %s", ref, db.NodeName, composePath, want))
			}
		}
	}
	sort.Strings(problems)
	return problems, nil
}

type pyDB struct {
	Host     string `json:"HOST"`
	Port     string `json:"PORT"`
	NodeName string `json:"CITUS_NODE_NAME"`
}

// pyDatabases runs the settings code the way localsettings.py does and
// returns its DATABASES.
func pyDatabases(code []byte) (map[string]pyDB, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, errors.New("python3 is needed to read the settings")
	}
	script := "import json, sys\nDATABASES = {}\nREPORTING_DATABASES = {}\nexec(compile(sys.stdin.read(), 'settings', 'exec'))\n" +
		"json.dump({k: {f: str(v.get(f, '')) for f in ('HOST', 'PORT', 'CITUS_NODE_NAME')} for k, v in DATABASES.items()}, sys.stdout)\n"
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(string(code))
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n")
			return nil, fmt.Errorf("python3 could not run it: %s", lines[len(lines)-1])
		}
		return nil, err
	}
	dbs := map[string]pyDB{}
	return dbs, json.Unmarshal(out, &dbs)
}
