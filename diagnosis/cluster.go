package diagnosis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/citusgen/citusgen/live"
)

// versions: every node must run the same Citus release.
func (d *diagnosis) versions() {
	f := Finding{Name: CheckVersion, Node: clusterNode}
	var unread, missing []string
	for _, n := range d.c.Nodes {
		switch {
		case !n.Connected || n.QueryErr != "":
			unread = append(unread, n.Service())
		case n.Citus == "":
			missing = append(missing, n.Service())
		}
	}
	versions, nodes := d.c.Versions()
	var parts []string
	for _, v := range versions {
		parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(nodes[v], ", ")))
	}
	const fix = "use the same image (or Citus package) on every node, then run ALTER EXTENSION citus UPDATE on each"
	var ch *Change
	if len(versions) > 1 {
		ch = d.change(phaseVersion, 0, Change{Kind: Manual, Node: clusterNode, Needs: ByHand, Detail: "Citus versions differ (" + strings.Join(parts, "; ") + "): " + fix})
	}
	// Name the root cause the node findings already report, not a guess.
	var why []string
	if len(unread) > 0 {
		why = append(why, "could not be checked on "+strings.Join(unread, ", "))
	}
	if len(missing) > 0 {
		why = append(why, "the citus extension is missing on "+strings.Join(missing, ", "))
	}
	switch {
	case len(why) > 0:
		f.Status, f.Detail = Skip, "skipped: "+strings.Join(why, "; ")
	case len(versions) == 1:
		f.Status, f.Detail = Pass, fmt.Sprintf("citus %s on all %d nodes", versions[0], len(d.c.Nodes))
	default:
		f.Status, f.Detail, f.Hint = Fail, "versions differ: "+strings.Join(parts, "; "), fix
	}
	d.add(f, ch)
}

// majors: Citus supports no cluster whose nodes run different PostgreSQL
// majors (its shards, metadata and inter-node protocol assume one).
func (d *diagnosis) majors() {
	f := Finding{Name: CheckMajor, Node: clusterNode}
	var unread []string
	var majors []int
	nodes := map[int][]string{}
	for _, n := range d.c.Nodes {
		m := n.Major()
		if m == 0 {
			unread = append(unread, n.Service())
			continue
		}
		if _, ok := nodes[m]; !ok {
			majors = append(majors, m)
		}
		nodes[m] = append(nodes[m], n.Service())
	}
	slices.Sort(majors)
	switch {
	case len(majors) > 1:
		var parts []string
		for _, m := range majors {
			parts = append(parts, fmt.Sprintf("%d on %s", m, strings.Join(nodes[m], ", ")))
		}
		hint := "Citus needs every node of a cluster on the same PostgreSQL major: run every node from images (or packages) of one major, upgrading the data of the nodes on another first (citusgen upgrade; README: Upgrading Citus and PostgreSQL)"
		ch := d.change(phaseMajor, 0, Change{Kind: Manual, Node: clusterNode, Needs: ByHand, Detail: "PostgreSQL majors differ (" + strings.Join(parts, "; ") + "): " + hint})
		f.Status, f.Detail, f.Hint = Fail, "PostgreSQL majors differ: "+strings.Join(parts, "; "), hint
		d.add(f, ch)
		return
	case len(unread) > 0:
		f.Status, f.Detail = Skip, "skipped: could not be checked on "+strings.Join(unread, ", ")
	default:
		f.Status, f.Detail = Pass, fmt.Sprintf("PostgreSQL %d on all %d nodes", majors[0], len(d.c.Nodes))
	}
	d.add(f)
}

// image compares the Citus and PostgreSQL each node runs with what its
// image names (citusdata/citus:14.1 names Citus 14.1 on PostgreSQL 18): a
// node left on an old container, or a spec pinned to one release while the
// nodes run another, is drift the other checks cannot see.
func (d *diagnosis) image() {
	f := Finding{Name: CheckImage, Node: clusterNode}
	drift, named := d.c.ImageDrift()
	switch {
	case len(drift) > 0:
		f.Status = Fail
		f.Detail, f.Hint = live.ImageDriftDetail(drift)
		d.add(f, d.change(phaseImage, 0, Change{Kind: Manual, Node: clusterNode, Needs: ByHand, Detail: f.Detail + ": " + f.Hint}))
		return
	case d.t.Containerless():
		f.Status, f.Detail = Skip, "skipped: the nodes run from no image (image: none)"
	case len(named) == 0:
		f.Status, f.Detail = Skip, "skipped: no node's image names a Citus release or a PostgreSQL major, or no node was read"
	default:
		f.Status, f.Detail = Pass, fmt.Sprintf("every node runs the Citus release and PostgreSQL major its image names (%s)", strings.Join(named, ", "))
	}
	d.add(f)
}
