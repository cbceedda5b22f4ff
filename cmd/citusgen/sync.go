package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/regions"
	"github.com/citusgen/citusgen/topology"
)

// openTarget reads a file citusgen merges into, refusing (exit 2, without
// blocking) anything but a regular file; a missing file is reported with
// the command that creates it, so a typo in the path never creates a stray
// file.
func openTarget(path, create string) (*atomicfile.Target, error) {
	t, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError{fmt.Sprintf("%s does not exist; create it first (for example: %s)", path, create)}
	}
	return t, fileError(err)
}

// readInput reads a file citusgen only reads (check, import), with the
// same refusals as openTarget.
func readInput(path string) ([]byte, error) {
	t, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError{path + " does not exist"}
	}
	if err != nil {
		return nil, fileError(err)
	}
	return t.Data, nil
}

// fileError maps atomicfile's refusals to bad input (exit 2); a file that
// changed under citusgen, or could not be written, is a failure (exit 1).
func fileError(err error) error {
	var unsafe *atomicfile.UnsafeError
	if errors.As(err, &unsafe) {
		return usageError{unsafe.Error()}
	}
	return err
}

func mergeError(path string, err error) error {
	var problems regions.Problems
	if errors.As(err, &problems) {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = locate(path, p)
		}
		return usageError{fmt.Sprintf("%s has %s; nothing was written:\n%s", path, english.Plural(len(problems), "problem"), strings.Join(msgs, "\n"))}
	}
	var me *regions.MergeError
	if errors.As(err, &me) {
		return usageError{locate(path, me)}
	}
	return err
}

func locate(path string, me *regions.MergeError) string {
	if me.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", path, me.Line, me.Msg)
	}
	return fmt.Sprintf("%s: %s", path, me.Msg)
}

// intoCompose merges the managed regions into a compose file, validates the
// result with compose-go and replaces the file atomically.
func intoCompose(e *env, t *topology.Topology, path string, adopt bool) error {
	composefile.PrepareValidation()
	tgt, err := openTarget(path, "citusgen render > "+path)
	if err != nil {
		return err
	}
	m, err := regions.MergeComposeFile(tgt.Data, t, regions.MergeOptions{Name: path, Adopt: adopt})
	if err != nil {
		return mergeError(path, err)
	}
	if err := validateChange(e, t, path, tgt.Data, m.Data); err != nil {
		return err
	}
	reportAdopted(e, path, m.Adopted)
	return writeIfChanged(e, tgt, m.Data)
}

// validateChange loads the file before and after citusgen's change as docker
// compose would: problems the file already had are warnings, problems the
// change would bring in block it, all listed at once.
func validateChange(e *env, t *topology.Topology, path string, old, merged []byte) error {
	introduced, had, err := composefile.ChangeProblems(context.Background(), t, path, old, merged)
	if err != nil {
		return usageError{err.Error()}
	}
	for _, p := range had {
		fmt.Fprintf(e.stderr, "citusgen: warning: %s: %s (already so before citusgen's change; docker compose needs it fixed or the variables set)\n", path, p)
	}
	if len(introduced) > 0 {
		return usageError{fmt.Sprintf("%s: citusgen's change would bring in %s, so the file is untouched:\n  %s", path, english.Plural(len(introduced), "problem"), strings.Join(introduced, "\n  "))}
	}
	return nil
}

func intoSettings(e *env, t *topology.Topology, path string, adopt bool) error {
	ctx := context.Background()
	tgt, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSettings(e, t, path)
	}
	if err != nil {
		return fileError(err)
	}
	m, err := regions.MergeSettingsFile(ctx, tgt.Data, t, regions.MergeOptions{Name: path, Adopt: adopt})
	if err != nil {
		return mergeError(path, err)
	}
	if err := m.CheckCompiles(ctx, path); err != nil {
		return err
	}
	reportAdopted(e, path, m.Adopted)
	return writeIfChanged(e, tgt, m.Data)
}

// createSettings writes a new settings file: the block and what it needs.
func createSettings(e *env, t *topology.Topology, path string) error {
	ctx := context.Background()
	m, err := regions.MergeSettingsFile(ctx, regions.NewSettingsFile(t, path), t, regions.MergeOptions{Name: path})
	if err != nil {
		return mergeError(path, err)
	}
	if err := m.CheckCompiles(ctx, path); err != nil {
		return err
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
	if err := tgt.Replace(merged); err != nil {
		return fileError(err)
	}
	for _, n := range tgt.Notes {
		fmt.Fprintf(e.stderr, "citusgen: note: %s\n", n)
	}
	fmt.Fprintf(e.stderr, "citusgen: updated the citusgen region of %s\n", tgt.Path)
	return nil
}

type schemaCmd struct{}

func (schemaCmd) Run(e *env) error {
	_, err := e.stdout.Write(topology.Schema())
	return err
}
