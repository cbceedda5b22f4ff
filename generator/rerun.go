package generator

import (
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

// Rerun is the command a generated header tells to run, from the spec's
// folder, to write its file again: citusgen, then -t with the spec's name
// unless citusgen finds it there by itself (citusgen.yaml, or the embedded
// default), then tail (already in shell words: quote.Shell the paths).
// Safe inside a one-line comment.
func Rerun(t *topology.Topology, tail string) string {
	cmd := "citusgen "
	switch t.Source {
	case topology.DefaultSource, topology.SpecFile, topology.StdinSource:
	default:
		cmd += "-t " + quote.Shell(t.Source) + " "
	}
	return quote.Comment(cmd + tail)
}

// SettingsRerun is the header's command for a settings file at path
// (relative to the spec's folder).
func SettingsRerun(t *topology.Topology, path string) string {
	if path == "" || path == "-" {
		path = SettingsFile
	}
	return Rerun(t, "render settings --into "+quote.Shell(path))
}
