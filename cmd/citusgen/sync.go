package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/topology"
)

// readExisting reads a file citusgen merges into; it must exist, so a typo
// in the path never creates a stray file.
func readExisting(path, create string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError{fmt.Sprintf("%s does not exist; create it first (for example: %s)", path, create)}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	return data, nil
}

func mergeError(path string, err error) error {
	var me *generator.MergeError
	if errors.As(err, &me) {
		if me.Line > 0 {
			return usageError{fmt.Sprintf("%s:%d: %s", path, me.Line, me.Msg)}
		}
		return usageError{fmt.Sprintf("%s: %s", path, me.Msg)}
	}
	return err
}

// intoCompose merges the managed regions into a compose file, validates the
// result with compose-go and replaces the file atomically.
func intoCompose(e *env, t *topology.Topology, path string, adopt bool) error {
	old, err := readExisting(path, "citusgen render > "+path)
	if err != nil {
		return err
	}
	merged, adopted, err := generator.MergeCompose(old, t, generator.MergeOptions{Name: path, Adopt: adopt})
	if err != nil {
		return mergeError(path, err)
	}
	if err := validateChange(e, t, path, old, merged); err != nil {
		return err
	}
	reportAdopted(e, path, adopted)
	return writeIfChanged(e, path, old, merged)
}

// validateChange loads the file before and after citusgen's change as docker
// compose would (the process environment and the .env beside it): problems
// the file already had are warnings, problems the change would bring in
// block it, all listed at once.
func validateChange(e *env, t *topology.Topology, path string, old, merged []byte) error {
	dir := filepath.Dir(path)
	composeEnv, err := generator.ComposeEnv(dir, path)
	if err != nil {
		return usageError{err.Error()}
	}
	composeEnv = generator.CheckEnv(t, composeEnv)
	ctx := context.Background()
	before := generator.ComposeProblems(ctx, dir, path, old, composeEnv)
	after := generator.ComposeProblems(ctx, dir, path, merged, composeEnv)
	had := map[string]bool{}
	for _, p := range before {
		had[p] = true
	}
	var introduced []string
	for _, p := range after {
		if had[p] {
			fmt.Fprintf(e.stderr, "citusgen: warning: %s: %s (already so before citusgen's change; docker compose needs it fixed or the variables set)\n", path, p)
		} else {
			introduced = append(introduced, p)
		}
	}
	if len(introduced) > 0 {
		return usageError{fmt.Sprintf("%s: citusgen's change would bring in %d problem(s), so the file is untouched:\n  %s", path, len(introduced), strings.Join(introduced, "\n  "))}
	}
	return nil
}

func intoSettings(e *env, t *topology.Topology, path string, adopt bool) error {
	old, err := readExisting(path, "touch "+path)
	if err != nil {
		return err
	}
	merged, adopted, err := generator.MergeSettings(context.Background(), old, t, generator.MergeOptions{Name: path, Adopt: adopt})
	if err != nil {
		return mergeError(path, err)
	}
	reportAdopted(e, path, adopted)
	// The merge refused a file that did not compile, so this is citusgen's own fault.
	if err := generator.CheckPython(context.Background(), path, merged); err != nil {
		return fmt.Errorf("internal error, please report it: %w (the file is untouched)", err)
	}
	return writeIfChanged(e, path, old, merged)
}

// reportAdopted lists on stderr what --adopt took over, by the lines it had.
func reportAdopted(e *env, path string, adopted []generator.Adopted) {
	for _, a := range adopted {
		fmt.Fprintf(e.stderr, "citusgen: adopted %s:%s: %s (removed; the citusgen region defines it now)\n", path, a.Lines, a.What)
	}
}

func writeIfChanged(e *env, path string, old, merged []byte) error {
	if string(old) == string(merged) {
		fmt.Fprintf(e.stderr, "citusgen: %s is up to date\n", path)
		return nil
	}
	if err := atomicfile.Write(path, merged); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "citusgen: updated the citusgen region of %s\n", path)
	return nil
}

type initCmd struct {
	Path string `arg:"" optional:"" default:"citusgen.yaml" help:"Where to write the starter topology ('-' prints it)."`
}

func (c initCmd) Run(e *env) error {
	spec := topology.DefaultSpec()
	if c.Path == "-" {
		_, err := e.stdout.Write(spec)
		return err
	}
	if fi, err := os.Lstat(c.Path); err == nil {
		if fi.Mode().IsRegular() && fi.Size() == 0 {
			// `citusgen init > citusgen.yaml`: the shell created the file
			// empty for our output, so writing it there loses nothing.
			if out, ok := e.stdout.(*os.File); ok {
				if ofi, err := out.Stat(); err == nil && os.SameFile(fi, ofi) {
					_, err := out.Write(spec)
					return err
				}
			}
			return usageError{fmt.Sprintf("%s already exists (empty); citusgen init never overwrites a file: remove it and run citusgen init %s, which writes it itself", c.Path, c.Path)}
		}
		return usageError{fmt.Sprintf("%s already exists; citusgen init never overwrites a file: remove it or give another path", c.Path)}
	}
	if err := atomicfile.WriteNew(c.Path, spec); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usageError{fmt.Sprintf("%s already exists; citusgen init never overwrites a file", c.Path)}
		}
		return err
	}
	next := "citusgen render"
	if filepath.Clean(c.Path) != DefaultSpecFile {
		next = "citusgen render -t " + c.Path
	}
	fmt.Fprintf(e.stderr, "citusgen: wrote %s (the default topology, commented); edit it, then: %s\n", c.Path, next)
	return nil
}

type schemaCmd struct{}

func (schemaCmd) Run(e *env) error {
	_, err := e.stdout.Write(topology.Schema())
	return err
}
