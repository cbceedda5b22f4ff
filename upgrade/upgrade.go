// Package upgrade moves a running compose cluster to the images its spec
// names, with the data kept: a Citus release change (new image, ALTER
// EXTENSION citus UPDATE, citus_finish_citus_upgrade) and a PostgreSQL
// major change (citus_prepare_pg_upgrade, pg_upgrade per node in a one-off
// container, citus_finish_pg_upgrade), both as legs of one run when both
// change. Every step is recorded in a state file beside the compose file,
// so a run stopped anywhere resumes, and rollback brings the old images
// back on the old data.
package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/topology"
	"github.com/citusgen/citusgen/verify"
)

// Options are what a run needs besides the spec.
type Options struct {
	Cluster     cluster.Options
	ComposeFile string
	// Via names the middle image of a change of both the Citus release and
	// the PostgreSQL major; derived from the citusdata tags when empty.
	Via string
	// Link runs pg_upgrade --link: no copy of the data, but the old
	// cluster cannot start again once the new one has.
	Link bool
	// WriteCompose writes the compose file for t's images (render --into,
	// a major change allowed).
	WriteCompose func(ctx context.Context, t *topology.Topology) error
	Progress     io.Writer
	// Timeout bounds each wait for the nodes (start, verify).
	Timeout time.Duration
}

// Plan is what a run will do: the preview, and what --json prints.
type Plan struct {
	ComposeFile string     `json:"compose_file"`
	From        Image      `json:"from"`
	To          Image      `json:"to"`
	Legs        []Leg      `json:"legs"`
	Mode        string     `json:"mode"` // copy or link
	Nodes       []PlanNode `json:"nodes"`
	Steps       []string   `json:"steps"`
	Kept        string     `json:"kept"`
	// InProgress is the state of a run already started: --apply resumes it.
	InProgress []string `json:"done,omitempty"`
	Finished   bool     `json:"finished,omitempty"`

	t     *topology.Topology
	o     Options
	state *State
	ctrs  map[string]Container
}

// PlanNode is a node's part of the plan.
type PlanNode struct {
	Service string `json:"service"`
	Volume  string `json:"volume"`
	From    Image  `json:"from"`
	To      Image  `json:"to"`
	// Need and Free are bytes in the node's volume: what the mode needs
	// and what is free (0 when not measured).
	Size int64  `json:"data_bytes"`
	Need int64  `json:"need_bytes"`
	Free int64  `json:"free_bytes"`
	Err  string `json:"error,omitempty"`
}

// Prepare reads the compose project and the state of an earlier run and
// makes the plan; it changes nothing.
func Prepare(ctx context.Context, t *topology.Topology, o Options) (*Plan, error) {
	if err := t.ComposeErrors(); err != nil {
		return nil, err
	}
	c := Compose{Command: composeCommand(), File: o.ComposeFile}
	var services []string
	for _, n := range t.Nodes() {
		services = append(services, n.Service)
	}
	ctrs, err := c.Containers(ctx, services)
	if err != nil {
		return nil, err
	}
	p := &Plan{ComposeFile: o.ComposeFile, Mode: "copy", t: t, o: o, ctrs: ctrs}
	if o.Link {
		p.Mode = "link"
	}
	st, err := loadState(StatePath(o.ComposeFile))
	if err != nil {
		return nil, err
	}
	p.state = st
	var missing []string
	for _, s := range services {
		if ctrs[s].ID == "" || ctrs[s].Volume == "" {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: no container with a data volume for %s: upgrade moves the cluster this compose file runs; start it first (docker compose -f %s up -d --wait), or name the file the cluster runs from with --compose-file", o.ComposeFile, strings.Join(missing, ", "), o.ComposeFile)
	}
	if st != nil {
		p.From, p.To, p.Legs, p.Finished = st.From, st.To, st.Legs, st.Finished
		if st.Link {
			p.Mode = "link"
		}
		for k := range st.Done {
			p.InProgress = append(p.InProgress, k)
		}
		slices.Sort(p.InProgress)
		if target := nodeImage(t); target != st.To.Name {
			return nil, fmt.Errorf("%s records an upgrade to %s, but the spec names %s: finish it (citusgen upgrade --apply with the spec naming %s) or undo it (citusgen upgrade --rollback) first", StatePath(o.ComposeFile), st.To.Name, target, st.To.Name)
		}
	} else {
		from := ctrs[services[0]].Image
		for _, s := range services[1:] {
			if ctrs[s].Image != from {
				return nil, fmt.Errorf("the nodes run different images (%s: %s, %s: %s); upgrade moves a cluster that runs one image: bring them to one first", services[0], from, s, ctrs[s].Image)
			}
		}
		to := nodeImage(t)
		for _, n := range t.Nodes() {
			if n.Image != to {
				return nil, fmt.Errorf("the spec gives %s the image %s and %s %s; upgrade moves the whole cluster to one image", t.Coordinator.Service, to, n.Service, n.Image)
			}
		}
		p.From = ImageOf(from, 0)
		if p.From.Postgres == 0 && from == to {
			p.From.Postgres = t.Coordinator.Postgres
		}
		p.To = ImageOf(to, t.Coordinator.Postgres)
		if p.Legs, err = Route(p.From, p.To, o.Via); err != nil {
			return nil, err
		}
	}
	for _, n := range t.Nodes() {
		p.Nodes = append(p.Nodes, PlanNode{Service: n.Service, Volume: ctrs[n.Service].Volume, From: p.From, To: p.To})
	}
	if st == nil && len(p.Legs) > 0 {
		p.measure(ctx)
	}
	p.Steps = p.steps()
	p.Kept = p.kept()
	return p, nil
}

// nodeImage is the image the spec names for the coordinator (Prepare
// requires one image for every node).
func nodeImage(t *topology.Topology) string { return t.Coordinator.Image }

func (p *Plan) steps() []string {
	steps := []string{"checks: verify passes on the old images, no background job (rebalance, shard move) runs, every node reachable, free space in every node's volume" + p.checkUpgrade()}
	for i, l := range p.Legs {
		prefix := fmt.Sprintf("leg %d (%s): ", i+1, l.describe())
		switch l.Kind {
		case CitusLeg:
			var s []string
			if i == 0 && p.Mode == "copy" {
				s = append(s, "stop the nodes and keep a copy of each node's data for rollback")
			}
			s = append(s, "write "+p.ComposeFile+" for "+l.To.Name, "recreate the nodes on it", "ALTER EXTENSION citus UPDATE in every database with Citus on every node (workers first)", "citus_finish_citus_upgrade() on the coordinator")
			steps = append(steps, prefix+strings.Join(s, "; "))
		case PostgresLeg:
			steps = append(steps, prefix+strings.Join([]string{
				"citus_prepare_pg_upgrade() in every database with Citus on every node",
				"stop the nodes",
				fmt.Sprintf("per node, pg_upgrade%s in a one-off container of %s with PostgreSQL %d's binaries from %s", map[bool]string{true: " --link", false: ""}[p.Mode == "link"], l.To.Name, l.From.Postgres, l.From.Name),
				"write " + p.ComposeFile + " for " + l.To.Name,
				"start the nodes",
				"citus_finish_pg_upgrade() on every node before any other query",
			}, "; "))
		}
	}
	return append(steps, "end: docker compose up -d --wait (the setup service registers the nodes again), verify against the spec, collation versions checked")
}

func (p *Plan) checkUpgrade() string {
	for _, l := range p.Legs {
		if l.Kind == PostgresLeg {
			return ", pg_upgrade --check on every node against its running server"
		}
	}
	return ""
}

func (p *Plan) kept() string {
	if p.Mode == "link" {
		return "nothing: with --link the old data is linked, not copied, and the old cluster cannot start once the new one has; rollback works only until then. Take a backup first (pg_dumpall or a volume copy)"
	}
	return "each node's old data, in its volume, until citusgen upgrade --drop-old; citusgen upgrade --rollback brings the old images back on it"
}

func (l Leg) describe() string {
	if l.Kind == CitusLeg {
		from, to := l.From.Citus, l.To.Citus
		if from == "" || to == "" {
			return fmt.Sprintf("%s to %s on PostgreSQL %d", l.From.Name, l.To.Name, l.To.Postgres)
		}
		return fmt.Sprintf("Citus %s to %s on PostgreSQL %d", from, to, l.To.Postgres)
	}
	under := ""
	if l.To.Citus != "" {
		under = " under Citus " + l.To.Citus
	}
	return fmt.Sprintf("PostgreSQL %d to %d%s", l.From.Postgres, l.To.Postgres, under)
}

// Write prints the plan as text.
func (p *Plan) Write(w io.Writer) {
	if len(p.Legs) == 0 {
		fmt.Fprintf(w, "nothing to upgrade: the nodes of %s run %s, the image the spec names\n", p.ComposeFile, p.To.Name)
		return
	}
	state := ""
	switch {
	case p.Finished:
		state = " (done; the old data is kept until citusgen upgrade --drop-old)"
	case len(p.InProgress) > 0:
		state = fmt.Sprintf(" (in progress: %s done; citusgen upgrade --apply resumes it, --rollback undoes it)", english.Plural(len(p.InProgress), "step"))
	}
	fmt.Fprintf(w, "upgrade of the cluster in %s, %s mode%s\n", p.ComposeFile, p.Mode, state)
	for _, n := range p.Nodes {
		fmt.Fprintf(w, "  %-16s %s -> %s, volume %s", n.Service, n.From, n.To, n.Volume)
		switch {
		case n.Err != "":
			fmt.Fprintf(w, ", space not measured: %s", n.Err)
		case n.Free > 0:
			fmt.Fprintf(w, "\n  %-16s data %s, needs %s free there, has %s", "", english.Bytes(n.Size), english.Bytes(n.Need), english.Bytes(n.Free))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "steps:")
	for i, s := range p.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
	fmt.Fprintf(w, "kept for rollback: %s\n", p.Kept)
	if !p.Finished {
		fmt.Fprintln(w, "run it: citusgen upgrade --apply")
	}
}

// legTopology is the spec with every node on image: what the compose file
// runs during and after a leg.
func legTopology(t *topology.Topology, im Image) *topology.Topology {
	c := *t
	c.Image, c.Postgres = im.Name, im.Postgres
	c.Coordinator.Image, c.Coordinator.Postgres = im.Name, im.Postgres
	c.Workers = append([]topology.Node(nil), t.Workers...)
	for i := range c.Workers {
		c.Workers[i].Image, c.Workers[i].Postgres = im.Name, im.Postgres
	}
	return &c
}

// verifyOn runs verify with the nodes on image, waiting up to timeout for
// them to pass.
func verifyOn(ctx context.Context, t *topology.Topology, o cluster.Options, timeout time.Duration, progress io.Writer) error {
	r, err := verify.Until(ctx, t, verify.Options{Cluster: o}, 30*time.Second, timeout, progress)
	if err != nil {
		return err
	}
	if r.OK() && len(r.Unread) == 0 {
		return nil
	}
	var failing []string
	for _, c := range r.Checks {
		if c.Status == verify.Fail {
			line := c.Name
			if c.Node != "" {
				line += " " + c.Node
			}
			if c.Detail != "" {
				line += ": " + c.Detail
			}
			failing = append(failing, line)
		}
	}
	for _, u := range r.Unread {
		failing = append(failing, u+" could not be read")
	}
	return errors.New(strings.Join(failing, "\n  "))
}
