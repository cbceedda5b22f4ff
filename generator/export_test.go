package generator

import "github.com/citusgen/citusgen/topology"

// Artifacts renders everything with the headers of the commands that print
// each file (render >, render settings --into): the golden files' form.
func Artifacts(t *topology.Topology) ([]Artifact, error) {
	return artifacts(t, Rerun(t, "render > "+ComposeFile), SettingsRerun(t, SettingsFile))
}
