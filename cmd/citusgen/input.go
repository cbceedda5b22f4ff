package main

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/topology"
)

// specFlag is the --topology flag, on the commands that read a spec.
type specFlag struct {
	Topology string `short:"t" env:"CITUSGEN_TOPOLOGY" placeholder:"FILE" predictor:"file" help:"Topology spec (YAML); '-' reads stdin. Without it, ./citusgen.yaml, else the embedded CommCare HQ topology."`
}

// DefaultSpecFile is the spec citusgen finds in the current directory, as
// docker compose finds compose.yaml.
const DefaultSpecFile = "citusgen.yaml"

// load returns the topology named by --topology, else ./citusgen.yaml, else
// the embedded default.
func (f specFlag) load(e *env) (*topology.Topology, error) {
	if f.Topology == "" {
		if _, err := os.Stat(DefaultSpecFile); err == nil {
			return topology.Load(DefaultSpecFile)
		}
		return topology.Default(), nil
	}
	if f.Topology == "-" {
		data, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, err
		}
		return topology.Parse("<stdin>", data)
	}
	return topology.Load(f.Topology)
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

// readInput reads a file citusgen only reads (check, import).
func readInput(path string) ([]byte, error) {
	t, err := openInput(path, "")
	if err != nil {
		return nil, err
	}
	return t.Data, nil
}
