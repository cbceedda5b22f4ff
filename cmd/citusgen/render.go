package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

type renderCmd struct {
	specFlag

	Compose  renderComposeCmd  `cmd:"" default:"withargs" help:"Print the compose document (the default): citusgen render > hq-compose.yml"`
	Settings renderSettingsCmd `cmd:"" help:"Print the localsettings.py fragment (DATABASES, REPORTING_DATABASES, flags)."`
	SQL      renderSQLCmd      `cmd:"" name:"sql" help:"Print the bootstrap SQL, a psql script (workers first, then the coordinator)."`
}

// Help is the detail of `citusgen help render`: the forms the README uses.
func (renderCmd) Help() string {
	return `Forms:

    citusgen render > hq-compose.yml
    citusgen render --into hq-compose.yml [--adopt]
    citusgen render --out DIR
    citusgen render settings [--into localsettings.py [--adopt]]
    citusgen render sql [--node SERVICE]`
}

type renderComposeCmd struct {
	Out   string `placeholder:"DIR" predictor:"dir" help:"Write every artifact (compose, settings, SQL) into DIR, atomically, instead of printing one."`
	Into  string `placeholder:"FILE" predictor:"file" help:"Insert or replace citusgen's marked regions (in services:, volumes: and configs:) of an existing compose file; every other byte is kept."`
	Adopt bool   `help:"With --into: remove hand-written services and volumes the regions define, and any membership-manager service (listed on stderr), instead of refusing."`
}

func (c renderComposeCmd) Run(e *env) error {
	t, err := e.cli.Render.load(e)
	if err != nil {
		return err
	}
	if c.Into != "" {
		if c.Out != "" {
			return usageError{"--into and --out do not go together"}
		}
		return intoCompose(e, t, c.Into, c.Adopt)
	}
	if c.Adopt {
		return usageError{"--adopt goes with --into FILE"}
	}
	if c.Out != "" {
		return writeAll(e, t, c.Out)
	}
	out, err := renderCompose(t)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}

// renderCompose renders the document. That every document the generator
// emits loads in compose-go is proven by the tests (every golden case and a
// fuzzed set of topologies), not paid for on each render: loading costs a
// cold render several times over.
func renderCompose(t *topology.Topology) ([]byte, error) {
	return generator.Compose(t)
}

type renderSettingsCmd struct {
	Into  string `placeholder:"FILE" predictor:"file" help:"Insert or replace citusgen's marked block of an existing localsettings.py; every other byte is kept."`
	Adopt bool   `help:"With --into: remove hand-written definitions of the block's aliases, REPORTING_DATABASES entries and flags (listed on stderr) instead of refusing."`
}

func (c renderSettingsCmd) Run(e *env) error {
	t, err := e.cli.Render.load(e)
	if err != nil {
		return err
	}
	if c.Adopt && c.Into == "" {
		return usageError{"--adopt goes with --into FILE"}
	}
	if c.Into != "" {
		return intoSettings(e, t, c.Into, c.Adopt)
	}
	out, err := generator.Settings(t)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}

type renderSQLCmd struct {
	Node string `placeholder:"SERVICE" help:"Print only the script of this node (its compose service name)."`
}

func (c renderSQLCmd) Run(e *env) error {
	t, err := e.cli.Render.load(e)
	if err != nil {
		return err
	}
	if c.Node == "" {
		out, err := generator.SQL(t)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}
	scripts, err := generator.NodeSQL(t)
	if err != nil {
		return err
	}
	var names []string
	for i, p := range steps.BootstrapSteps(t) {
		if p.Node.Service == c.Node {
			_, err = e.stdout.Write(scripts[i])
			return err
		}
		names = append(names, p.Node.Service)
	}
	return usageError{fmt.Sprintf("--node %q is not a node of the topology; nodes: %s", c.Node, strings.Join(names, ", "))}
}

func writeAll(e *env, t *topology.Topology, dir string) error {
	arts, err := generator.Artifacts(t)
	if err != nil {
		return err
	}
	files := make([]atomicfile.File, len(arts))
	for i, a := range arts {
		files[i] = atomicfile.File{Name: a.Path, Data: a.Data}
	}
	if err := atomicfile.WriteAll(dir, files); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: wrote %d files to %s\n", len(files), dir)
	removed, err := removeStaleNodeScripts(dir, arts)
	for _, f := range removed {
		fmt.Fprintf(e.stderr, "citusgen: removed %s (no such node any more)\n", f)
	}
	return err
}

// nodeScriptRE is the name `render --out` gives per-node scripts.
var nodeScriptRE = regexp.MustCompile(`^[0-9]+-[a-z0-9][a-z0-9_-]*\.sql$`)

// removeStaleNodeScripts deletes the per-node scripts an earlier run wrote
// for nodes (or positions) the topology no longer has, so sql/ never holds a
// script that bootstraps a removed worker. Only files with that name and
// citusgen's header go; anything else in sql/ is the user's.
func removeStaleNodeScripts(dir string, arts []generator.Artifact) ([]string, error) {
	current := map[string]bool{}
	for _, a := range arts {
		current[filepath.Clean(a.Path)] = true
	}
	entries, err := os.ReadDir(filepath.Join(dir, "sql"))
	if err != nil {
		return nil, nil // nothing there to clean
	}
	var removed []string
	for _, ent := range entries {
		rel := filepath.Join("sql", ent.Name())
		if !ent.Type().IsRegular() || !nodeScriptRE.MatchString(ent.Name()) || current[rel] {
			continue
		}
		path := filepath.Join(dir, rel)
		head := make([]byte, len(generator.GeneratedHeader))
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		n, _ := io.ReadFull(f, head)
		f.Close()
		if string(head[:n]) != generator.GeneratedHeader {
			continue
		}
		if err := os.Remove(path); err != nil {
			return removed, fmt.Errorf("cannot remove the stale %s: %w", path, errors.Unwrap(err))
		}
		removed = append(removed, path)
	}
	return removed, nil
}
