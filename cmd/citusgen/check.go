package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aymanbagabas/go-udiff"

	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/settingsfile"
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
	check := regions.StartCheck(c.Compose, c.Settings)
	defer check.Close()
	t, err := c.spec(e, forFiles)
	if err != nil {
		return err
	}
	check.SettingsHeader = e.headerPath(c.Settings)
	var composeData, settingsData []byte
	if c.Compose != "" {
		if composeData, err = readInput(c.Compose); err != nil {
			return err
		}
	}
	if c.Settings != "" {
		if settingsData, err = readInput(c.Settings); err != nil {
			return err
		}
	}
	findings, notes, err := check.Run(e.ctx, t, composeData, settingsData)
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
