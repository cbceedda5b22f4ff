package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/topology"
)

// specFlag is the --topology flag, on the commands that read a spec. Read
// it only through spec (or liveFlags.live), which holds the rule below.
type specFlag struct {
	Topology string `short:"t" env:"CITUSGEN_TOPOLOGY" placeholder:"FILE" predictor:"file" help:"Topology spec (YAML); '-' reads stdin. Without it, the nearest citusgen.yaml in this folder or a folder above it; with none, render and check use the embedded CommCare HQ topology (and say so), commands that reach the cluster refuse."`
}

// specUse is what a command does with the spec; it decides whether the
// embedded default may stand in when the user named no spec and none is
// found.
type specUse int

const (
	// forFiles: the command prints text or writes files a person reads
	// (render, check, bootstrap --dry-run). The embedded default may
	// stand in, named on stderr.
	forFiles specUse = iota
	// forCluster: the command connects to the live cluster (verify, plan,
	// bootstrap, reset, and every command that changes a cluster). It runs
	// only on a spec the user chose: named with -t or CITUSGEN_TOPOLOGY,
	// or a citusgen.yaml found from the current folder up. A cluster read
	// or changed against a topology nobody chose is how plan came to
	// propose removing a real worker.
	forCluster
)

// spec is the one rule for which topology a command runs on:
//
//  1. -t FILE on the command line, else CITUSGEN_TOPOLOGY ('-': stdin);
//  2. else the nearest citusgen.yaml: in the current folder, then in each
//     folder above it, up to the filesystem root;
//  3. else, for forFiles only, the embedded default; forCluster refuses
//     (exit 2), saying how to name or write a spec.
//
// Whenever the spec is not ./citusgen.yaml nor what -t names on the
// command line, stderr says which it is. Paths on the command line (--into,
// --compose, --settings, --out) are relative to the current folder, as in
// any command; the spec holds no paths. The spec's folder is recorded in e
// (specDir): headers name files relative to it (headerPath).
func (f specFlag) spec(e *env, use specUse) (*topology.Topology, error) {
	path, origin := f.Topology, ""
	if path != "" && e.source("topology") != "--topology" {
		origin = " (from CITUSGEN_TOPOLOGY)"
	}
	if path == "-" {
		if origin != "" {
			fmt.Fprintf(e.stderr, "citusgen: topology: stdin%s\n", origin)
		}
		data, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, err
		}
		return topology.Parse(topology.StdinSource, data)
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("cannot tell the current folder, where citusgen looks for %s: %w", topology.SpecFile, err)
	}
	if path == "" {
		found, err := topology.FindSpec(cwd)
		if err != nil {
			return nil, badInput{err}
		}
		if found == "" {
			if use == forCluster {
				return nil, badInputf("%s connects to the live cluster, so it runs only on a topology you chose, and there is no %s in %s or any folder above it: run it in the project that has one, name one with -t FILE (or CITUSGEN_TOPOLOGY), or write one with citusgen init (the default topology, to edit)", e.kctx.Command(), topology.SpecFile, cwd)
			}
			fmt.Fprintf(e.stderr, "citusgen: topology: the embedded default (CommCare HQ's coordinator and 2 workers): no %s in this folder or any folder above it (citusgen init writes one)\n", topology.SpecFile)
			return topology.Default(), nil
		}
		path, origin = relativeTo(cwd, found), " (the nearest "+topology.SpecFile+", in a folder above this one)"
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, abs)
	}
	if origin != "" && abs != filepath.Join(cwd, topology.SpecFile) {
		fmt.Fprintf(e.stderr, "citusgen: topology: %s%s\n", path, origin)
	}
	t, err := topology.Load(path)
	if err != nil {
		return nil, err
	}
	e.specDir = filepath.Dir(abs)
	return t, nil
}

// relativeTo is path as typed from dir: relative when it can be.
func relativeTo(dir, path string) string {
	if rel, err := filepath.Rel(dir, path); err == nil {
		return rel
	}
	return path
}

// headerPath is path (as given on the command line, relative to the
// current folder) as a generated header names it: relative to the spec's
// folder, so the header reads the same whichever folder citusgen ran in,
// and check, run from anywhere, renders the same header. With the embedded
// default or a spec on stdin, relative to the current folder.
func (e *env) headerPath(path string) string {
	cwd, err := os.Getwd()
	if err != nil {
		return path
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, abs)
	}
	base := e.specDir
	if base == "" {
		base = cwd
	}
	// A file outside that folder: its absolute path, which names it from
	// anywhere.
	rel, err := filepath.Rel(base, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.Clean(abs)
	}
	return rel
}

// openInput opens a file citusgen reads (check, import) or merges into
// (render --into): a regular file, else bad input (exit 2), without ever
// blocking on a FIFO or a device.
func openInput(path, missing string) (*atomicfile.Target, error) {
	t, err := atomicfile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, badInputf("%s does not exist%s", path, missing)
	}
	return t, err
}

// readInput reads a file citusgen only reads (check, import); no path,
// no data.
func readInput(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	t, err := openInput(path, "")
	if err != nil {
		return nil, err
	}
	return t.Data, nil
}

// stdoutFile is the path of the regular file stdout writes to (citusgen
// render > compose.yaml), so that what is printed can name it; "" when
// stdout is no regular file or the system does not say (only Linux's
// /proc does).
func stdoutFile(w io.Writer) string {
	f, ok := w.(*os.File)
	if !ok {
		return ""
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil || !filepath.IsAbs(p) {
		return ""
	}
	// The name may be stale (the file renamed or removed since).
	if pfi, err := os.Stat(p); err != nil || !os.SameFile(fi, pfi) {
		return ""
	}
	return p
}
