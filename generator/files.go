package generator

import (
	"fmt"
	"strconv"

	"github.com/citusgen/citusgen/topology"
)

// Artifact is one rendered file, Path relative to the output directory.
type Artifact struct {
	Path string
	Data []byte
}

// File names of the artifacts written by `render --out`.
const (
	ComposeFile   = "hq-compose.yml"
	SettingsFile  = "localsettings.py"
	BootstrapFile = "bootstrap.sql"
)

// Artifacts renders everything: compose, settings, the bootstrap script and
// one script per node under sql/ (numbered in the order they must run).
func Artifacts(t *topology.Topology) ([]Artifact, error) {
	compose, err := Compose(t)
	if err != nil {
		return nil, err
	}
	settings, err := Settings(t)
	if err != nil {
		return nil, err
	}
	all, err := SQL(t)
	if err != nil {
		return nil, err
	}
	perNode, err := NodeSQL(t)
	if err != nil {
		return nil, err
	}
	out := []Artifact{{ComposeFile, compose}, {SettingsFile, settings}, {BootstrapFile, all}}
	width := max(2, len(strconv.Itoa(len(perNode))))
	for i, p := range Plan(t) {
		out = append(out, Artifact{fmt.Sprintf("sql/%0*d-%s.sql", width, i+1, p.Node.Service), perNode[i]})
	}
	return out, nil
}
