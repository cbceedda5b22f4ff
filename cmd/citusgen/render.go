package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/specimport"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/testrunner"
	"github.com/citusgen/citusgen/topology"
)

type renderCmd struct {
	specFlag

	Compose  renderComposeCmd  `cmd:"" default:"withargs" help:"Print the compose document (the default): citusgen render > hq-compose.yml"`
	Settings renderSettingsCmd `cmd:"" help:"Print the localsettings.py fragment (DATABASES, REPORTING_DATABASES, flags)."`
	SQL      renderSQLCmd      `cmd:"" name:"sql" help:"Print the bootstrap SQL, a psql script (workers first, then the coordinator)."`
}

// Help is the detail of `citusgen help render`: the forms the docs use.
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
	return e.print(generator.ComposeFor(t, name))
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
	return e.print(generator.SettingsFor(t, generator.SettingsFile))
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
		return e.print(generator.SQLAt(t, generator.DjangoAddress(t)))
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
	// Lstat: a symlink to nowhere is refused by the merge, not replaced.
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return createCompose(e, t, path)
	}
	tgt, merged, err := mergeCompose(e, t, path, adopt, allowMajorChange)
	if err != nil {
		return err
	}
	return writeIfChanged(e, tgt, merged)
}

// mergeCompose is intoCompose up to the write, for a file that exists: the
// file read and its merged, checked content.
func mergeCompose(e *env, t *topology.Topology, path string, adopt, allowMajorChange bool) (*atomicfile.Target, []byte, error) {
	tgt, err := atomicfile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	removeStale(e, path)
	if err := checkMajorChanges(e, t, path, tgt.Data, allowMajorChange); err != nil {
		return nil, nil, err
	}
	m, err := regions.MergeComposeFile(tgt.Data, t, regions.MergeOptions{Name: path, Adopt: adopt})
	if err != nil {
		return nil, nil, mergeError(path, err)
	}
	if err := includeConflicts(t, path, tgt.Data); err != nil {
		return nil, nil, err
	}
	if err := validateChange(e, t, path, tgt.Data, m.Data); err != nil {
		return nil, nil, err
	}
	reportAdopted(e, path, m.Adopted)
	return tgt, m.Data, nil
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
	return createFile(e, path, m.Data, "the citusgen regions (add your own services beside them)")
}

// createFile writes a new file, unless a signal came or the file appeared
// meanwhile, and says what it holds.
func createFile(e *env, path string, data []byte, holding string) error {
	if err := e.ctx.Err(); err != nil {
		return stopped(e, path, err)
	}
	if err := atomicfile.WriteNew(path, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared while citusgen was creating it; run the command again", path)
		}
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: created %s with %s\n", path, holding)
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
	removeStale(e, path)
	tgt, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSettings(e, t, path)
	}
	if err != nil {
		return err
	}
	merged, err := mergeSettings(e, t, path, tgt.Data, adopt)
	if err != nil {
		return err
	}
	return writeIfChanged(e, tgt, merged)
}

// mergeSettings is intoSettings up to the write: the file's merged, checked
// content.
func mergeSettings(e *env, t *topology.Topology, path string, data []byte, adopt bool) ([]byte, error) {
	ctx := e.ctx
	m, err := regions.MergeSettingsFile(ctx, data, t, regions.MergeOptions{Name: path, Header: e.headerPath(path), Adopt: adopt})
	if err != nil {
		return nil, stopped(e, path, mergeError(path, err))
	}
	if err := m.CheckCompiles(ctx, path); err != nil {
		return nil, stopped(e, path, err)
	}
	reportAdopted(e, path, m.Adopted)
	if r := m.Rebound; r != nil {
		fmt.Fprintf(e.stderr, "citusgen: note: %s:%d: %s is rebound there (%s), after the citusgen block, which dropped the cluster's aliases when Django imported the file; the block moves below it\n", path, r.Line, r.Name, r.Describe())
	}
	return m.Data, nil
}

// createSettings writes a new settings file: the block and what it needs.
func createSettings(e *env, t *topology.Topology, path string) error {
	data, err := mergeSettings(e, t, path, regions.NewSettingsFile(t, e.headerPath(path)), false)
	if err != nil {
		return err
	}
	return createFile(e, path, data, "the citusgen block (DATABASES starts empty above it: add Django's own databases there)")
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

type schemaCmd struct{}

func (schemaCmd) Run(e *env) error { return e.print(topology.Schema(), nil) }

// testrunnerCmd prints the Django test runner module; it reads no spec, since
// the module finds the cluster's aliases in the settings at run time.
type testrunnerCmd struct{}

// Run prints the module, and on stderr the TEST_RUNNER line that names it
// where stdout writes it.
func (testrunnerCmd) Run(e *env) error {
	if _, err := e.stdout.Write(testrunner.Module()); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: %s\n", testRunnerSetting(stdoutFile(e.stdout)))
	return nil
}

// runnerClass is the class settings name, in the module.
const runnerClass = "CitusDiscoverRunner"

// testRunnerSetting says what TEST_RUNNER names the module at path, an
// absolute path ("" when citusgen cannot tell where it goes). Django imports it by its
// dotted path from sys.path, which manage.py starts with its own folder:
// in a django-admin startproject layout the module beside settings.py is
// <project>.citus_testrunner, not citus_testrunner.
func testRunnerSetting(path string) string {
	if path == "" {
		return "set TEST_RUNNER = '<module>." + runnerClass + "' in your Django settings, <module> being the file's dotted path from the folder holding manage.py (citus_testrunner beside manage.py; <project>.citus_testrunner beside settings.py)"
	}
	// Paths in the message as the user would type them.
	show := func(p string) string { return p }
	if cwd, err := os.Getwd(); err == nil {
		show = func(p string) string { return relativeTo(cwd, p) }
	}
	dir := filepath.Dir(path)
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "manage.py")); err == nil && fi.Mode().IsRegular() {
			rel, err := filepath.Rel(d, path)
			if err != nil {
				break
			}
			module := strings.TrimSuffix(rel, ".py")
			parts := strings.Split(module, string(filepath.Separator))
			for _, p := range parts {
				if !pythonIdentifier(p) {
					return fmt.Sprintf("%s is no importable module: %q in its path from %s is not a Python identifier; write the runner under a name and folders that are (for example citus_testrunner.py beside settings.py)", show(path), p, show(filepath.Join(d, "manage.py")))
				}
			}
			return fmt.Sprintf("in your Django settings: TEST_RUNNER = '%s.%s' (the module's dotted path from the folder of %s)", strings.Join(parts, "."), runnerClass, show(filepath.Join(d, "manage.py")))
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	module := strings.TrimSuffix(filepath.Base(path), ".py")
	return fmt.Sprintf("in your Django settings: TEST_RUNNER = '%s.%s' if %s is on Python's path (no manage.py in %s or a folder above it, whose folder would start the module's dotted path)", module, runnerClass, show(dir), show(dir))
}

// pythonIdentifier says whether s can be a Python module name (ASCII is
// enough for the names projects give).
func pythonIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r < unicode.MaxASCII && unicode.IsLetter(r) || i > 0 && r < unicode.MaxASCII && unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

type importCmd struct {
	Compose  string `required:"" placeholder:"FILE" predictor:"file" help:"The compose file with the hand-written Citus services."`
	Settings string `placeholder:"FILE" predictor:"file" help:"The Django settings file (localsettings.py) with the cluster's aliases."`
}

func (c importCmd) Run(e *env) error {
	in := specimport.Files{ComposePath: c.Compose, SettingsPath: c.Settings}
	var err error
	if in.Compose, err = readInput(c.Compose); err != nil {
		return err
	}
	if in.Settings, err = readInput(c.Settings); err != nil {
		return err
	}
	res, err := specimport.Import(e.ctx, in)
	if err != nil {
		return badInput{err}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(e.stderr, "citusgen: warning: %s\n", w)
	}
	_, err = e.stdout.Write(res.Spec)
	return err
}

type checkCmd struct {
	specFlag
	Compose  string `placeholder:"FILE" predictor:"file" help:"Compose file holding citusgen's managed regions."`
	Settings string `placeholder:"FILE" predictor:"file" help:"Settings file (localsettings.py) holding citusgen's managed block."`
	Format   string `default:"text" enum:"text,github" help:"text: a unified diff per file and a line per other drift; github: a GitHub Actions error annotation (::error file=F,line=L::) on the lines of each drift."`
}

func (c checkCmd) Run(e *env) error {
	if c.Compose == "" && c.Settings == "" {
		return badInputf("name the files to check: --compose FILE and/or --settings FILE")
	}
	t, err := c.spec(e, forFiles)
	if err != nil {
		return err
	}
	composeData, err := readInput(c.Compose)
	if err != nil {
		return err
	}
	settingsData, err := readInput(c.Settings)
	if err != nil {
		return err
	}
	findings, notes, err := regions.Check(e.ctx, t, c.Compose, c.Settings, e.headerPath(c.Settings), composeData, settingsData)
	var fe *regions.FileError
	switch {
	case errors.As(err, &fe):
		return mergeError(fe.Path, fe.Err) // what --into would refuse: exit 2
	case err != nil:
		return badInput{err}
	}
	for _, n := range notes {
		fmt.Fprintf(e.stderr, "citusgen: note: %s\n", n)
	}
	out := &driftOutput{w: e.stdout, github: c.Format == "github"}
	for _, f := range findings {
		if f.Diff != nil {
			out.diff(f.Diff.Path, f.Diff.Fix, f.Diff.Actual, f.Diff.Want)
		} else {
			out.drift(f.File, f.Lines, f.Msg)
		}
	}
	if out.n > 0 {
		fmt.Fprintf(e.stderr, "citusgen: drift found; re-render (citusgen render --into / render settings --into) or fix the topology\n")
		return errShown
	}
	fmt.Fprintf(e.stderr, "citusgen: no drift\n")
	return nil
}

// driftOutput prints each drift found, in check's --format, and counts them.
type driftOutput struct {
	w      io.Writer
	github bool
	n      int
}

// drift reports one drift at lines of file (a zero range: the whole file).
func (o *driftOutput) drift(file string, lines settingsfile.Range, msg string) {
	o.n++
	if !o.github {
		fmt.Fprintln(o.w, "drift: "+msg)
		return
	}
	fmt.Fprintln(o.w, annotation(file, lines, msg))
}

// diff reports a file that differs from what it should be: a unified diff,
// or an annotation per hunk on the lines it changes.
func (o *driftOutput) diff(path, fix, actual, want string) {
	o.n++
	if !o.github {
		fmt.Fprint(o.w, udiff.Unified(path, path+" (rendered from the topology)", actual, want))
		return
	}
	u, err := udiff.ToUnifiedDiff(path, path+" (rendered from the topology)", actual, udiff.Lines(actual, want), udiff.DefaultContextLines)
	if err != nil { // cannot happen: the edits come from the same texts
		fmt.Fprintln(o.w, annotation(path, settingsfile.Range{}, fmt.Sprintf("%s differs from what the topology renders; %s rewrites it", path, fix)))
		return
	}
	total := strings.Count(actual, "\n")
	if !strings.HasSuffix(actual, "\n") {
		total++
	}
	for _, h := range u.Hunks {
		lines, text := hunkLines(h, total)
		msg := fmt.Sprintf("%s %s differ from what the topology renders; %s rewrites them:\n%s", path, lines.Lines(), fix, text)
		if lines.Start == lines.End {
			msg = fmt.Sprintf("%s %s differs from what the topology renders; %s rewrites it:\n%s", path, lines.Lines(), fix, text)
		}
		fmt.Fprintln(o.w, annotation(path, lines, msg))
	}
}

// hunkLines finds the lines of the file (of total lines) that a hunk
// removes or replaces, or, for a hunk that only adds, the line the
// addition goes before (the last line at the end of the file); and the
// hunk as a unified diff shows it.
func hunkLines(h *udiff.Hunk, total int) (settingsfile.Range, string) {
	var r settingsfile.Range
	old, added := h.FromLine, 0
	for _, l := range h.Lines {
		switch l.Kind {
		case udiff.Equal:
			old++
		case udiff.Delete:
			if r.Start == 0 {
				r.Start = old
			}
			r.End = old
			old++
		case udiff.Insert:
			if added == 0 && r.Start == 0 {
				added = old
			}
		}
	}
	if r.Start == 0 {
		r.Start = min(max(added, 1), max(total, 1))
		r.End = r.Start
	}
	// udiff's text of the hunk alone, without the ---/+++ lines.
	text := udiff.UnifiedDiff{Hunks: []*udiff.Hunk{h}}.String()
	return r, strings.TrimSuffix(text[strings.Index(text, "@@"):], "\n")
}

// annotation is a GitHub Actions workflow command that shows msg on lines of
// file (the file as a whole for a zero range), in the job's log and on the
// pull request's diff.
func annotation(file string, lines settingsfile.Range, msg string) string {
	props := "file=" + escapeProperty(annotationPath(file))
	if lines.Start > 0 {
		props += ",line=" + strconv.Itoa(lines.Start)
		if lines.End > lines.Start {
			props += ",endLine=" + strconv.Itoa(lines.End)
		}
	}
	props += ",title=" + escapeProperty("citusgen check")
	return "::error " + props + "::" + escapeData(msg)
}

// annotationPath is file relative to $GITHUB_WORKSPACE (else the current
// directory) when it lies below it.
func annotationPath(file string) string {
	base := os.Getenv("GITHUB_WORKSPACE")
	if base == "" {
		base, _ = os.Getwd()
	}
	abs, err := filepath.Abs(file)
	if err != nil || base == "" {
		return filepath.ToSlash(file)
	}
	if rel, err := filepath.Rel(base, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(file)
}

// escapeData and escapeProperty escape what a workflow command's message
// and property values cannot hold as is (as GitHub's own toolkit does).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
