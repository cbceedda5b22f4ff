package regions

import (
	"fmt"
	"slices"
	"strings"

	"github.com/citusgen/citusgen/composefile"
	"github.com/citusgen/citusgen/settingsfile"
	"github.com/citusgen/citusgen/topology"
)

// IncludeConflicts finds what the files a compose file includes (include:,
// followed as docker compose does) define of what its managed regions
// define. Compose cannot have both: v2 refuses the file ("conflicts with
// imported resource") and later versions merge the two definitions into
// one, so what runs is not what the topology renders, and no load through
// compose-go (which merges) tells. Each included file with such
// definitions is one Drift, at the first of them, naming the including
// file and both lines.
func IncludeConflicts(t *topology.Topology, path string, data []byte) ([]Drift, error) {
	included, err := composefile.Includes(path, data)
	if err != nil || len(included) == 0 {
		return nil, err
	}
	sections, err := managedCompose(t)
	if err != nil {
		return nil, err
	}
	var out []Drift
	for _, inc := range included {
		var names []string
		first := 0
		for _, s := range sections {
			for _, d := range inc.Defines[s.key] {
				if !slices.Contains(s.names, d.Name) {
					continue
				}
				names = append(names, fmt.Sprintf("%s.%s (%s:%d)", s.key, d.Name, inc.Path, d.Line))
				if first == 0 {
					first = d.Line
				}
			}
		}
		if len(names) == 0 {
			continue
		}
		them := "them"
		if len(names) == 1 {
			them = "it"
		}
		out = append(out, Drift{inc.Path, settingsfile.Range{Start: first, End: first}, fmt.Sprintf(
			"%s:%d includes %s, which defines %s, as the citusgen regions of %s do: docker compose cannot have both (Compose v2 refuses the file, %q; later versions merge the two definitions, so what runs is not what the topology renders); remove %s from %s, or stop including it",
			inc.By, inc.Line, inc.Path, strings.Join(names, " and "), path, "conflicts with imported resource", them, inc.Path)})
	}
	return out, nil
}
