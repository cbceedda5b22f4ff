// Package diagnosis turns one reading of the live cluster into findings:
// verify's rows, each with the changes that resolve it (every condition
// written once).
package diagnosis

import (
	"cmp"
	"slices"

	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

// Status of a finding.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip" // a check it depends on failed
)

// The checks, by name, in the order they appear per node and then for the
// cluster.
const (
	CheckReachable   = "reachable"
	CheckAuth        = "authenticated"
	CheckDatabase    = "database"
	CheckReadable    = "readable"
	CheckPreload     = "shared-preload"
	CheckExtension   = "citus-extension"
	CheckCredentials = "credentials"
	CheckVersion     = "citus-version"
	CheckMajor       = "postgres-major"
	CheckImage       = "citus-image"
	CheckCoordinator = "coordinator-host"
	CheckRegistered  = "worker-registered"
	CheckMetadata    = "metadata"
	CheckExtra       = "no-extra-nodes"
	CheckHealth      = "cluster-health"
	CheckSmoke       = "smoke"
)

// Finding is one check on one node: verify's row.
type Finding struct {
	Name   string `json:"name"`
	Node   string `json:"node"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

// Kind is what a change does.
type Kind string

// Kinds of change.
const (
	CreateDatabase     Kind = "create-database"
	CreateExtension    Kind = "create-extension"
	StoreCredentials   Kind = "store-credentials"
	SetCoordinatorHost Kind = "set-coordinator-host"
	RegisterWorker     Kind = "register-worker"
	ActivateWorker     Kind = "activate-worker"
	Reregister         Kind = "re-register"
	SyncMetadata       Kind = "sync-metadata"
	DrainRemove        Kind = "drain-remove"
	Rebalance          Kind = "rebalance"
	Manual             Kind = "manual" // bootstrap refuses it: Detail says what a person must do
)

// Needs is what applies a change.
type Needs string

// What applies a change.
const (
	ByBootstrap Needs = ""
	ByPrune     Needs = "--prune"
	ByRebalance Needs = "--rebalance"
	ByHand      Needs = "by hand"
)

// CheckRef names one finding: the check and the node it is reported for
// ("cluster" for the cluster's own).
type CheckRef struct {
	Check string `json:"check"`
	Node  string `json:"node"`
}

// Change is one difference between the cluster and the topology.
type Change struct {
	Kind Kind `json:"kind"`
	// Node is a service name, or host:port for a registration outside the topology.
	Node   string `json:"node"`
	Detail string `json:"detail"`
	// Needs says what applies it: "" plain bootstrap, "--prune" or
	// "--rebalance" bootstrap with that flag, "by hand" nothing citusgen runs.
	Needs Needs `json:"needs,omitempty"`
	// Resolves are the findings that fail (or are skipped) because of what
	// this change is about, the first the one that says it; a rebalance
	// resolves none (verify does not weigh shards).
	Resolves []CheckRef `json:"resolves,omitempty"`
	// Shards and Bytes: what a drain would move off the node.
	Shards int64 `json:"shards,omitempty"`
	Bytes  int64 `json:"bytes,omitempty"`
	// Pairs are the connections between nodes ("from -> to (reason)") that
	// fail because of what this change is about: cluster-health fails for them.
	Pairs []string `json:"pairs,omitempty"`
	// On is the service whose connection runs Steps, in order.
	On    string       `json:"-"`
	Steps []steps.Step `json:"-"`

	order [2]int // bootstrap's order: phase, then node
	lead  string // the check that says it, put first in Resolves
}

// hintOf is a change's remedy in a few words, with what it runs for the
// curious; a person's change says what to do itself.
func hintOf(ch *Change, what string) string {
	h := "run citusgen bootstrap"
	switch {
	case ch.Needs == ByHand:
		return ch.Detail
	case ch.Needs != ByBootstrap:
		h += " " + string(ch.Needs)
	}
	if what != "" {
		h += " (" + what + ")"
	}
	return h
}

// Diagnosis is what one reading of the cluster shows.
type Diagnosis struct {
	// Findings in verify's order: each node's checks, then the cluster's.
	Findings []Finding
	// Changes in the order bootstrap applies them: each node's own (workers
	// first), the cluster's, the coordinator's metadata, then what --prune
	// and --rebalance do and what only a person can do about the connections
	// between nodes.
	Changes []Change
}

// Bootstrap's order of changes, by phase.
const (
	phaseNode = iota
	phaseVersion
	phaseMajor
	phaseImage
	phaseCoordinator
	phaseWorker
	phaseSync
	phaseExtra
	phaseRebalance
	phaseHealth
)

// diagnosis is the state of one Diagnose: the findings and changes so far.
type diagnosis struct {
	c        *live.Cluster
	t        *topology.Topology
	findings []Finding
	changes  []*Change
	// blocked is each node's change for a person when Citus cannot run on
	// it (not installed, not preloaded): what every later finding about
	// the node waits for.
	blocked map[string]*Change
}

// Diagnose turns one reading of the cluster into findings and changes.
func Diagnose(c *live.Cluster) *Diagnosis {
	d := &diagnosis{c: c, t: c.Topology, blocked: map[string]*Change{}}
	for i, n := range c.Nodes {
		pos := i - 1 // workers first, then the coordinator
		if i == 0 {
			pos = len(c.Nodes)
		}
		d.node(n, pos)
	}
	d.versions()
	d.majors()
	d.image()
	d.registrations()
	d.sort()
	d.health()
	out := &Diagnosis{Findings: d.findings}
	for _, ch := range d.changes {
		if i := slices.IndexFunc(ch.Resolves, func(r CheckRef) bool { return r.Check == ch.lead }); i > 0 {
			ch.Resolves = append([]CheckRef{ch.Resolves[i]}, slices.Delete(slices.Clone(ch.Resolves), i, i+1)...)
		}
		out.Changes = append(out.Changes, *ch)
	}
	return out
}

// change adds a change at its place in bootstrap's order.
func (d *diagnosis) change(phase, pos int, ch Change) *Change {
	ch.order = [2]int{phase, pos}
	d.changes = append(d.changes, &ch)
	return &ch
}

// sort puts the changes in bootstrap's order (stable: a node's changes
// keep theirs).
func (d *diagnosis) sort() {
	slices.SortStableFunc(d.changes, func(a, b *Change) int {
		return cmp.Or(cmp.Compare(a.order[0], b.order[0]), cmp.Compare(a.order[1], b.order[1]))
	})
}

// add records a finding, and that each change in by resolves it: a
// finding that passes needs no change, so none names it.
func (d *diagnosis) add(f Finding, by ...*Change) {
	d.findings = append(d.findings, f)
	for _, ch := range by {
		if ch == nil || f.Status == Pass {
			continue
		}
		ref := CheckRef{f.Name, f.Node}
		if !slices.Contains(ch.Resolves, ref) {
			ch.Resolves = append(ch.Resolves, ref)
		}
	}
}

// Findings of the cluster's own checks name this node.
const clusterNode = "cluster"
