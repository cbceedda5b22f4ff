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

// Check is `citusgen check`: the compose file and the settings file (nil
// for a file not checked), each against the regions t renders, and each
// against the other. notes are what could not be compared, and why. A file
// the merge refuses is a *FileError.
func Check(ctx context.Context, t *topology.Topology, composePath, settingsPath string, composeData, settingsData []byte) (findings []Finding, notes []string, err error) {
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
		settings, err := MergeSettingsFile(ctx, settingsData, t, MergeOptions{Name: settingsPath, Adopt: true})
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
