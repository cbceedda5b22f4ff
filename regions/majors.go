package regions

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"go.yaml.in/yaml/v3"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/internal/yamldoc"
	"github.com/citusgen/citusgen/topology"
)

// MajorChange is a node whose compose file runs one PostgreSQL major and
// whose topology another: the new server cannot read the data its volume
// holds (a PostgreSQL 18 image exits at start when it finds another
// major's data), so the change has to be meant.
type MajorChange struct {
	Service string
	Line    int // of the old image in the file, 1-based
	// OldMajor is 0 when the old image cannot be placed and only its data
	// volume's target tells that its layout differs.
	OldImage, OldTarget string
	OldMajor            int
	NewImage            string
	NewMajor            int
}

// Describe says what changes, in a phrase.
func (c MajorChange) Describe() string {
	old := fmt.Sprintf("%s (PostgreSQL %d)", c.OldImage, c.OldMajor)
	if c.OldMajor == 0 {
		old = fmt.Sprintf("%s (its data at %s)", c.OldImage, c.OldTarget)
	}
	return fmt.Sprintf("%s: %s becomes %s (PostgreSQL %d)", c.Service, old, c.NewImage, c.NewMajor)
}

// MajorChangeAdvice is what to do about changes: the two ways out.
func MajorChangeAdvice(changes []MajorChange) string {
	pins := map[int]bool{}
	var pin []string
	for _, c := range changes {
		if c.OldMajor != 0 && !pins[c.OldMajor] {
			pins[c.OldMajor] = true
			pin = append(pin, fmt.Sprintf("PostgreSQL %d (a citusdata/citus tag ending in -pg%d, or %s as before)", c.OldMajor, c.OldMajor, c.OldImage))
		}
	}
	keep := "the image the data was made with"
	if len(pin) > 0 {
		keep = "an image of " + strings.Join(pin, "; ")
	}
	return "the server of another PostgreSQL major cannot read the data the existing volumes hold, so these nodes would exit at start. " +
		"Either keep the major: set image: in the topology to " + keep + "; " +
		"or move the data to the new major with citusgen upgrade --compose-file FILE (it prints the plan; --apply runs it, and rewrites the file). " +
		"A cluster without data to keep (after docker compose down -v) needs only --allow-major-change."
}

// MajorChanges compares the PostgreSQL major each node's service in an
// existing compose file runs with the one the topology gives it. A node
// the file does not define yet, or whose old image and data volume say
// nothing citusgen can place, is no change. Variables in the image are
// read from env, the environment docker compose would interpolate the
// file with (composefile.Env: the process environment, then the .env
// beside the file).
func MajorChanges(existing []byte, t *topology.Topology, env map[string]string) []MajorChange {
	doc, _, err := yamldoc.DecodeFirst(existing)
	if err != nil || len(doc.Content) == 0 {
		return nil // the merge reports what is wrong with the file
	}
	services := mapValue(yamldoc.Resolve(doc.Content[0]), "services")
	var changes []MajorChange
	for _, n := range t.Nodes() {
		if !n.RunsFromImage() || n.Postgres == 0 {
			continue
		}
		svc := mapValue(services, n.Service)
		img := mapValue(svc, "image")
		if img == nil || img.Kind != yaml.ScalarNode {
			continue
		}
		old, err := template.Substitute(img.Value, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil || old == "" {
			continue
		}
		c := MajorChange{Service: n.Service, Line: img.Line, OldImage: old, NewImage: n.Image, NewMajor: n.Postgres}
		major, placed := citus.ImagePostgres(old)
		if !placed && old == n.Image {
			major, placed = n.Postgres, true
		}
		switch {
		case placed && major != n.Postgres:
			c.OldMajor = major
			changes = append(changes, c)
		case !placed:
			if target := dataTarget(svc); target != "" && target != citus.DataVolume(n.Postgres) {
				c.OldTarget = target
				changes = append(changes, c)
			}
		}
	}
	return changes
}

// mapValue is the value of key in a mapping, following aliases and merge
// keys (<<) as YAML does: a key of the mapping itself wins over a merged one.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	m = yamldoc.Resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch {
		case k.Value == key:
			return yamldoc.Resolve(v)
		case k.Value == "<<" && k.Tag == "!!merge":
			merged = append(merged, v)
		}
	}
	for _, v := range merged {
		v = yamldoc.Resolve(v)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, s := range sources {
			if found := mapValue(s, key); found != nil {
				return found
			}
		}
	}
	return nil
}

// dataTarget is where a service mounts its data: the target of a volume at
// either layout's data directory, "" when it mounts none there.
func dataTarget(svc *yaml.Node) string {
	vols := mapValue(svc, "volumes")
	if vols == nil || vols.Kind != yaml.SequenceNode {
		return ""
	}
	for _, v := range vols.Content {
		v = yamldoc.Resolve(v)
		switch v.Kind {
		case yaml.ScalarNode:
			// SOURCE:TARGET[:MODE], the source perhaps ${VAR:-x}${VAR-y:}
			spec := strings.TrimSuffix(strings.TrimSuffix(v.Value, ":ro"), ":rw")
			for _, d := range citus.DataVolumes {
				if rest, ok := strings.CutSuffix(spec, d); ok && (rest == "" || strings.HasSuffix(rest, ":") || strings.HasSuffix(rest, "}")) {
					return d
				}
			}
		case yaml.MappingNode:
			if t := mapValue(v, "target"); t != nil {
				for _, d := range citus.DataVolumes {
					if strings.TrimSuffix(t.Value, "/") == d {
						return d
					}
				}
			}
		}
	}
	return ""
}
