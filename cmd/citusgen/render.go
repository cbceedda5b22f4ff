package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/regions"
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
	Out   string `placeholder:"DIR" predictor:"dir" xor:"target" help:"Write every artifact (compose, settings, SQL) into DIR, atomically, instead of printing one."`
	Into  string `placeholder:"FILE" predictor:"file" xor:"target" help:"Insert or replace citusgen's marked regions (in services:, volumes: and configs:) of a compose file, every other byte kept; a missing file is created with them."`
	Adopt bool   `help:"With --into: remove hand-written services and volumes the regions define, and any membership-manager service (listed on stderr), instead of refusing."`
	// A node's PostgreSQL major changing on existing data is refused
	// unless meant: the new server cannot read the old volume.
	AllowMajorChange bool `help:"With --into or --out: write the file even when a node's image moves to another PostgreSQL major than the existing file runs (after upgrading its data, or for a cluster without data)."`
}

func (c renderComposeCmd) Run(e *env) error {
	t, err := e.cli.Render.spec(e, forFiles)
	if err != nil {
		return err
	}
	if c.Into != "" {
		return intoCompose(e, t, c.Into, c.Adopt, c.AllowMajorChange)
	}
	if c.Adopt {
		return badInputf("--adopt goes with --into FILE")
	}
	if c.Out != "" {
		return writeAll(e, t, c.Out, c.AllowMajorChange)
	}
	if c.AllowMajorChange {
		return badInputf("--allow-major-change goes with --into FILE or --out DIR (the files it compares with)")
	}
	// That every document the generator emits loads in compose-go is proven
	// by the tests (every golden case and fuzzed topologies), not paid for
	// on each render: loading costs a cold render several times over.
	// The header names the file the document goes to when stdout is one.
	name := generator.ComposeFile
	if f := stdoutFile(e.stdout); f != "" {
		name = e.headerPath(f)
	}
	out, err := generator.ComposeFor(t, name)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(out)
	return err
}

type renderSettingsCmd struct {
	Into  string `placeholder:"FILE" predictor:"file" help:"Insert or replace citusgen's marked block of a localsettings.py, every other byte kept; a missing file is created with it."`
	Adopt bool   `help:"With --into: remove hand-written definitions of the block's aliases, REPORTING_DATABASES entries and flags (listed on stderr) instead of refusing."`
}

func (c renderSettingsCmd) Run(e *env) error {
	t, err := e.cli.Render.spec(e, forFiles)
	if err != nil {
		return err
	}
	if c.Adopt && c.Into == "" {
		return badInputf("--adopt goes with --into FILE")
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
	t, err := e.cli.Render.spec(e, forFiles)
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
	return badInputf("--node %q is not a node of the topology; nodes: %s", c.Node, strings.Join(names, ", "))
}

func writeAll(e *env, t *topology.Topology, dir string, allowMajorChange bool) error {
	arts, err := generator.ArtifactsIn(t, e.headerPath(dir))
	if err != nil {
		return err
	}
	composePath := filepath.Join(dir, generator.ComposeFile)
	if old, err := os.ReadFile(composePath); err == nil {
		if err := checkMajorChanges(e, t, composePath, old, allowMajorChange); err != nil {
			return err
		}
	}
	files := make([]atomicfile.File, len(arts))
	for i, a := range arts {
		files[i] = atomicfile.File{Name: a.Path, Data: a.Data}
		removeStale(e, filepath.Join(dir, a.Path))
	}
	if err := atomicfile.WriteAll(dir, files); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: wrote %d files to %s\n", len(files), dir)
	removed, err := generator.RemoveStaleScripts(dir, arts)
	for _, f := range removed {
		fmt.Fprintf(e.stderr, "citusgen: removed %s (no such node any more)\n", f)
	}
	if err != nil {
		return err
	}
	stale, err := generator.RemoveStaleCompose(dir, arts)
	switch {
	case err != nil:
		return err
	case stale == nil:
	case stale.Removed:
		fmt.Fprintf(e.stderr, "citusgen: removed %s (an earlier render --out wrote it; the topology has no compose services now: image: none)\n", stale.Path)
	default:
		fmt.Fprintf(e.stderr, "citusgen: warning: kept %s, which citusgen did not write (no generated header), but it no longer matches the topology: image: none has no compose services; remove it, or stop running it with docker compose\n", stale.Path)
	}
	return nil
}

// intoCompose merges the managed regions into a compose file, validates the
// result with compose-go and replaces the file atomically.
func intoCompose(e *env, t *topology.Topology, path string, adopt, allowMajorChange bool) error {
	composefile.PrepareValidation()
	tgt, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createCompose(e, t, path)
	}
	if err != nil {
		return err
	}
	removeStale(e, path)
	if err := checkMajorChanges(e, t, path, tgt.Data, allowMajorChange); err != nil {
		return err
	}
	m, err := regions.MergeComposeFile(tgt.Data, t, regions.MergeOptions{Name: path, Adopt: adopt})
	if err != nil {
		return mergeError(path, err)
	}
	if err := includeConflicts(t, path, tgt.Data); err != nil {
		return err
	}
	if err := validateChange(e, t, path, tgt.Data, m.Data); err != nil {
		return err
	}
	reportAdopted(e, path, m.Adopted)
	return writeIfChanged(e, tgt, m.Data)
}

// createCompose writes a new compose file holding the regions, so that
// check and later render --into keep it in sync (a whole document printed
// by render has no regions). Like every file citusgen creates, it is mode
// 0600: it may hold the password.
func createCompose(e *env, t *topology.Topology, path string) error {
	m, err := regions.MergeComposeFile(regions.NewComposeFile(t, e.headerPath(path)), t, regions.MergeOptions{Name: path})
	if err != nil {
		return mergeError(path, err)
	}
	if err := validateChange(e, t, path, nil, m.Data); err != nil {
		return err
	}
	if err := e.ctx.Err(); err != nil {
		return stopped(e, path, err)
	}
	if err := atomicfile.WriteNew(path, m.Data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared while citusgen was creating it; run the command again", path)
		}
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: created %s with the citusgen regions (add your own services beside them)\n", path)
	return nil
}

// checkMajorChanges refuses to write a compose file that moves a node to
// another PostgreSQL major than the file runs, unless allowed; allowed, it
// says which nodes change.
func checkMajorChanges(e *env, t *topology.Topology, path string, old []byte, allow bool) error {
	// Compose interpolates the old image with the process environment and
	// the .env beside the file: that is the image the nodes run.
	env, err := composefile.Env(filepath.Dir(path), path)
	if err != nil {
		return badInput{err}
	}
	changes := regions.MajorChanges(old, t, env)
	if len(changes) == 0 {
		return nil
	}
	if allow {
		for _, c := range changes {
			fmt.Fprintf(e.stderr, "citusgen: note: %s:%d: %s (allowed by --allow-major-change: its volume needs data of the new major)\n", path, c.Line, c.Describe())
		}
		return nil
	}
	return badInput{errors.New(regions.MajorChangeText(path, changes, " (the file is untouched)"))}
}

// validateChange loads the file before and after citusgen's change as docker
// compose would: problems the file already had are warnings, problems the
// change would bring in block it, all listed at once.
func validateChange(e *env, t *topology.Topology, path string, old, merged []byte) error {
	introduced, had, err := composefile.ChangeProblems(e.ctx, t, path, old, merged)
	if err != nil {
		return badInput{err}
	}
	for _, p := range had {
		fmt.Fprintf(e.stderr, "citusgen: warning: %s: %s (already so before citusgen's change; docker compose needs it fixed or the variables set)\n", path, p)
	}
	if len(introduced) > 0 {
		return badInputf("%s: citusgen's change would bring in %s, so the file is untouched:\n  %s", path, english.Plural(len(introduced), "problem"), strings.Join(introduced, "\n  "))
	}
	return nil
}

func intoSettings(e *env, t *topology.Topology, path string, adopt bool) error {
	ctx := e.ctx
	removeStale(e, path)
	tgt, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSettings(e, t, path)
	}
	if err != nil {
		return err
	}
	m, err := regions.MergeSettingsFile(ctx, tgt.Data, t, regions.MergeOptions{Name: path, Header: e.headerPath(path), Adopt: adopt})
	if err != nil {
		return stopped(e, path, mergeError(path, err))
	}
	if err := m.CheckCompiles(ctx, path); err != nil {
		return stopped(e, path, err)
	}
	reportAdopted(e, path, m.Adopted)
	if r := m.Rebound; r != nil {
		fmt.Fprintf(e.stderr, "citusgen: note: %s:%d: %s is rebound there (%s), after the citusgen block, which dropped the cluster's aliases when Django imported the file; the block moves below it\n", path, r.Line, r.Name, r.Describe())
	}
	return writeIfChanged(e, tgt, m.Data)
}

// createSettings writes a new settings file: the block and what it needs.
func createSettings(e *env, t *topology.Topology, path string) error {
	ctx := e.ctx
	header := e.headerPath(path)
	m, err := regions.MergeSettingsFile(ctx, regions.NewSettingsFile(t, header), t, regions.MergeOptions{Name: path, Header: header})
	if err != nil {
		return stopped(e, path, mergeError(path, err))
	}
	if err := m.CheckCompiles(ctx, path); err != nil {
		return stopped(e, path, err)
	}
	if err := ctx.Err(); err != nil {
		return stopped(e, path, err)
	}
	if err := atomicfile.WriteNew(path, m.Data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared while citusgen was creating it; run the command again", path)
		}
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: created %s with the citusgen block (DATABASES starts empty above it: add Django's own databases there)\n", path)
	return nil
}

// reportAdopted lists on stderr what --adopt took over, by the lines it had.
func reportAdopted(e *env, path string, adopted []regions.Adopted) {
	for _, a := range adopted {
		if a.Kept {
			fmt.Fprintf(e.stderr, "citusgen: kept %s:%s: %s\n", path, a.Lines, a.What)
			continue
		}
		fmt.Fprintf(e.stderr, "citusgen: adopted %s:%s: %s (removed; the citusgen region defines it now)\n", path, a.Lines, a.What)
	}
}

func writeIfChanged(e *env, tgt *atomicfile.Target, merged []byte) error {
	if string(tgt.Data) == string(merged) {
		fmt.Fprintf(e.stderr, "citusgen: %s is up to date\n", tgt.Path)
		return nil
	}
	if err := tgt.ReplaceContext(e.ctx, merged); err != nil {
		return stopped(e, tgt.Path, err)
	}
	for _, n := range tgt.Notes {
		fmt.Fprintf(e.stderr, "citusgen: note: %s\n", n)
	}
	fmt.Fprintf(e.stderr, "citusgen: updated the citusgen region of %s\n", tgt.Path)
	return nil
}

// includeConflicts refuses a file whose included files define what its
// regions define (--adopt cannot help: the definitions are in other files).
func includeConflicts(t *topology.Topology, path string, data []byte) error {
	conflicts, err := regions.IncludeConflicts(t, path, data)
	if err != nil {
		return badInput{err}
	}
	if len(conflicts) == 0 {
		return nil
	}
	msgs := make([]string, len(conflicts))
	for i, c := range conflicts {
		msgs[i] = c.Msg
	}
	return badInputf("%s\n(%s is untouched)", strings.Join(msgs, "\n"), path)
}

// stopped says, for a write a signal stopped, that the file is as it was
// and no temporary file is left; other errors pass.
func stopped(e *env, path string, err error) error {
	if err == nil || e.ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("stopped before writing %s: it is as it was, and no temporary file of citusgen's is left beside it", path)
}

// removeStale removes what an interrupted citusgen left beside path
// (atomicfile.RemoveStale says which files), saying so.
func removeStale(e *env, path string) {
	for _, f := range atomicfile.RemoveStale(path) {
		fmt.Fprintf(e.stderr, "citusgen: removed %s, a temporary file an interrupted citusgen left (older than %s)\n", f, atomicfile.StaleAge)
	}
}
