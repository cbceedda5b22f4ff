package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SpecFile is the spec citusgen looks for when none is named.
const SpecFile = "citusgen.yaml"

// FindSpec returns the path of the nearest SpecFile: in dir, else in the
// folder above it, and so on up to the filesystem root, as docker compose
// looks for its file. "" when there is none. dir must be absolute. A
// folder that cannot be read is an error: the spec might be there.
func FindSpec(dir string) (string, error) {
	for {
		p := filepath.Join(dir, SpecFile)
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			return p, nil
		case err == nil, errors.Is(err, fs.ErrNotExist):
		default:
			return "", fmt.Errorf("cannot tell whether %s is the topology: %v; name the spec with -t FILE", p, unwrapPathError(err))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// StdinSource names a spec read from stdin (-t -) in messages and headers.
const StdinSource = "<stdin>"
