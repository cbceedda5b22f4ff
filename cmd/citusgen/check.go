package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

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
	if c.Settings != "" {
		// python3 starts while the compose file is read (cmd/citusgen/pyearly
		// has started it already when run from a command line).
		settingsfile.Prestart()
	}
	// Back to Go's default collector target (internal/gcearly raises it for
	// the initialisers): check allocates most of its memory from here on,
	// and reusing it is faster than faulting in fresh pages (measured by
	// BenchmarkCheck).
	debug.SetGCPercent(100)
	var cross *crossLoad
	if c.Compose != "" && c.Settings != "" {
		cross = startCrossLoad(c.Compose)
		defer close(cross.input)
	}
	t, err := c.load(e)
	if err != nil {
		return err
	}
	out := &driftOutput{w: e.stdout, github: c.Format == "github"}
	if c.Compose != "" {
		composeData, err := readInput(c.Compose)
		if err != nil {
			return err
		}
		if cross != nil {
			cross.input <- crossInput{t, composeData}
		}
		// A file --into would refuse is bad input here too (exit 2).
		m, err := regions.MergeComposeFile(composeData, t, regions.MergeOptions{Name: c.Compose, Adopt: true})
		if err != nil {
			return mergeError(c.Compose, err)
		}
		conflicts, err := regions.IncludeConflicts(t, c.Compose, composeData)
		if err != nil {
			return badInput{err}
		}
		for _, d := range conflicts {
			out.drift(d.File, d.Lines, d.Msg)
		}
		checkDiff(out, c.Compose, "render --into", composeData, m)
		if changes := regions.MajorChanges(composeData, t); len(changes) > 0 {
			out.drift(c.Compose, settingsfile.Range{Start: changes[0].Line, End: changes[len(changes)-1].Line}, majorChangeText(c.Compose, changes, ""))
		}
	}
	if c.Settings != "" {
		data, err := readInput(c.Settings)
		if err != nil {
			return err
		}
		settings, err := regions.MergeSettingsFile(context.Background(), data, t, regions.MergeOptions{Name: c.Settings, Adopt: true})
		if err != nil {
			return mergeError(c.Settings, err)
		}
		// No more requests: python3 exits while the rest runs.
		settingsfile.Release()
		checkDiff(out, c.Settings, "render settings --into", data, settings)
		if cross != nil {
			if m := <-cross.done; m.err != nil {
				fmt.Fprintf(e.stderr, "citusgen: note: could not compare the two files with each other: %v\n", m.err)
			} else {
				for _, p := range regions.CrossCheck(t, c.Compose, m.ports, c.Settings, settings) {
					out.drift(p.File, p.Lines, p.Msg)
				}
			}
		}
	}
	if out.n > 0 {
		fmt.Fprintf(e.stderr, "citusgen: drift found; re-render (citusgen render --into / render settings --into) or fix the topology\n")
		return errShown
	}
	fmt.Fprintf(e.stderr, "citusgen: no drift\n")
	return nil
}

// crossLoad loads the compose file for the cross-check beside check's
// other work, which is mostly the settings file's analysis: docker
// compose's environment at once, the document when input brings the
// topology and the file's bytes. Closing input unsent ends it.
type crossLoad struct {
	input chan crossInput
	done  chan crossModel
}

type crossInput struct {
	t    *topology.Topology
	data []byte
}

// crossModel is the compose file as the cross-check loads it.
type crossModel struct {
	ports map[string][]composefile.Port
	err   error
}

func startCrossLoad(path string) *crossLoad {
	l := &crossLoad{input: make(chan crossInput, 1), done: make(chan crossModel, 1)}
	go func() {
		env, err := composefile.Env(filepath.Dir(path), path)
		in, ok := <-l.input
		switch {
		case !ok:
			return
		case err != nil:
			l.done <- crossModel{err: err}
		default:
			ports, err := regions.CrossCheckPorts(context.Background(), in.t, path, in.data, env)
			l.done <- crossModel{ports, err}
		}
	}()
	return l
}

// checkDiff reports a file against what it should be: the file with its
// managed regions merged.
func checkDiff(out *driftOutput, path, into string, actual []byte, m *regions.Merge) {
	drift, changed := m.Drift(path, into, actual)
	for _, d := range drift {
		out.drift(d.File, d.Lines, d.Msg)
	}
	if changed {
		out.diff(path, "citusgen "+into+" "+path, string(actual), string(m.Data))
	}
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
	var text strings.Builder
	old, added := h.FromLine, 0
	oldN, newN := 0, 0
	for _, l := range h.Lines {
		if l.Kind != udiff.Insert {
			oldN++
		}
		if l.Kind != udiff.Delete {
			newN++
		}
	}
	fmt.Fprintf(&text, "@@ -%d,%d +%d,%d @@\n", h.FromLine, oldN, h.ToLine, newN)
	for _, l := range h.Lines {
		content := strings.TrimSuffix(l.Content, "\n")
		switch l.Kind {
		case udiff.Equal:
			text.WriteString(" " + content + "\n")
			old++
		case udiff.Delete:
			text.WriteString("-" + content + "\n")
			if r.Start == 0 {
				r.Start = old
			}
			r.End = old
			old++
		case udiff.Insert:
			text.WriteString("+" + content + "\n")
			if added == 0 && r.Start == 0 {
				added = old
			}
		}
	}
	if r.Start == 0 {
		r.Start = min(max(added, 1), max(total, 1))
		r.End = r.Start
	}
	return r, strings.TrimSuffix(text.String(), "\n")
}

// annotation is a GitHub Actions workflow command that shows msg on lines
// of file (the file as a whole for a zero range), in the job's log and on
// the pull request's diff. The path is taken relative to the workspace,
// where GitHub looks for it.
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
