package regions

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

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

// Check is `citusgen check`: the compose file and the settings file, each
// against the regions the topology renders, and each against the other.
// StartCheck begins what takes longest before the topology and the files
// are read: python3's start and compose's environment.
type Check struct {
	ComposePath, SettingsPath string
	// SettingsHeader is SettingsPath as the block's header names it
	// (MergeOptions.Header).
	SettingsHeader string
	cross          *crossLoad
}

// StartCheck starts a check of the files named ("" for none).
func StartCheck(composePath, settingsPath string) *Check {
	if settingsPath != "" {
		settingsfile.Prestart() // python3 starts while the compose file is read
	}
	c := &Check{ComposePath: composePath, SettingsPath: settingsPath}
	if composePath != "" && settingsPath != "" {
		c.cross = startCrossLoad(composePath)
	}
	return c
}

// Close ends what StartCheck started and Run did not use.
func (c *Check) Close() {
	if c.cross != nil {
		close(c.cross.input)
		c.cross = nil
	}
}

// Run compares the files' contents (nil for a file not checked) with what
// t renders. notes are what could not be compared, and why. A file the
// merge refuses is a *FileError.
func (c *Check) Run(ctx context.Context, t *topology.Topology, composeData, settingsData []byte) (findings []Finding, notes []string, err error) {
	defer c.Close()
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
	if c.ComposePath != "" {
		if c.cross != nil {
			c.cross.input <- crossInput{t, composeData}
		}
		// A file --into would refuse is refused here too.
		m, err := MergeComposeFile(composeData, t, MergeOptions{Name: c.ComposePath, Adopt: true})
		if err != nil {
			return nil, nil, &FileError{c.ComposePath, err}
		}
		conflicts, err := IncludeConflicts(t, c.ComposePath, composeData)
		if err != nil {
			return nil, nil, err
		}
		add(conflicts...)
		diff(c.ComposePath, "render --into", composeData, m)
		// The old images are read with docker compose's environment: a
		// ${VAR:-default} image set in the .env beside the file runs what
		// the .env says.
		env, err := composefile.Env(filepath.Dir(c.ComposePath), c.ComposePath)
		if err != nil {
			return nil, nil, err
		}
		if changes := MajorChanges(composeData, t, env); len(changes) > 0 {
			add(Drift{File: c.ComposePath, Lines: settingsfile.Range{Start: changes[0].Line, End: changes[len(changes)-1].Line}, Msg: MajorChangeText(c.ComposePath, changes, "")})
		}
	}
	if c.SettingsPath != "" {
		settings, err := MergeSettingsFile(ctx, settingsData, t, MergeOptions{Name: c.SettingsPath, Header: c.SettingsHeader, Adopt: true})
		if err != nil {
			return nil, nil, &FileError{c.SettingsPath, err}
		}
		// No more requests: python3 exits while the rest runs.
		settingsfile.Release()
		diff(c.SettingsPath, "render settings --into", settingsData, settings)
		if c.cross != nil {
			if m := <-c.cross.done; m.err != nil {
				notes = append(notes, fmt.Sprintf("could not compare the two files with each other: %v", m.err))
			} else {
				add(CrossCheck(t, c.ComposePath, m.ports, c.SettingsPath, settings)...)
			}
		}
	}
	return findings, notes, nil
}

// crossLoad loads the compose file for the cross-check beside the check's
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
			ports, err := CrossCheckPorts(context.Background(), in.t, path, in.data, env)
			l.done <- crossModel{ports, err}
		}
	}()
	return l
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
