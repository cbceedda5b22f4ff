// Package diagnosis turns one reading of the live cluster into findings:
// verify's rows, each with the changes that resolve it (every condition
// written once), and the plan of those changes that citusgen plan prints
// and bootstrap applies.
package diagnosis

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/citusgen/citusgen/cluster"
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

// nodeChecks are each node's own checks, in order.
var nodeChecks = []string{CheckReachable, CheckAuth, CheckDatabase, CheckReadable, CheckPreload, CheckExtension, CheckCredentials}

// citusBlocked says what a person must do before Citus can run on a node
// whose facts were read ("" when nothing): install it, or preload it.
func citusBlocked(n *live.Node) string {
	s := n.Service()
	switch {
	case !n.HasFacts():
		return ""
	case n.CitusAvailable == "" && n.Citus == "":
		return fmt.Sprintf("the Citus extension is not installed on %s: use a citusdata/citus image or install the Citus package for PostgreSQL %s", s, n.ServerVersion)
	case !n.PreloadOK():
		return n.PreloadDetail() + ": " + live.PreloadFix(s)
	}
	return ""
}

// node is one node's own findings, from how far the connection got to what
// its catalog holds, and its own changes: the database, the extension, the
// inter-node credentials, or what a person must do first.
func (d *diagnosis) node(n *live.Node, pos int) {
	t := d.t
	s, db := n.Service(), t.ClusterDatabase()
	rows := 0
	add := func(name string, st Status, detail, hint string, by ...*Change) {
		d.add(Finding{Name: name, Node: s, Status: st, Detail: detail, Hint: hint}, by...)
		rows++
	}
	// skipRest skips the checks after the last one added; by names the
	// change that resolves a skipped check.
	skipRest := func(why string, by map[string]*Change) {
		for _, name := range nodeChecks[rows:] {
			add(name, Skip, "skipped: "+why, "", by[name])
		}
	}
	change := func(ch Change) *Change {
		ch.Node, ch.On = s, s
		return d.change(phaseNode, pos, ch)
	}
	var createdDB, manual *Change
	if !n.Connected && n.Failure == cluster.NoDatabase {
		createdDB = change(Change{Kind: CreateDatabase, Detail: "CREATE DATABASE " + db, Steps: []steps.Step{steps.CreateDatabase(t)}})
	}
	if blocked := citusBlocked(n); blocked != "" {
		// The database can be made, the extension cannot until a person
		// has done their part.
		manual = change(Change{Kind: Manual, Needs: ByHand, Detail: blocked, lead: CheckPreload})
		if n.CitusAvailable == "" && n.Citus == "" {
			manual.lead = CheckExtension
		}
		d.blocked[s] = manual
	}
	// ext and creds are what bootstrap does where Citus can run but its
	// extension is not created yet.
	var ext, creds *Change
	newExt := func() {
		if manual != nil {
			return
		}
		ext = change(Change{Kind: CreateExtension, Detail: "CREATE EXTENSION citus in " + db, Steps: []steps.Step{steps.CreateExtension()}})
		creds = d.credentials(n, pos, "store the inter-node credentials in pg_dist_authinfo")
	}
	pending := func() map[string]*Change {
		if manual != nil {
			return map[string]*Change{CheckExtension: manual}
		}
		return map[string]*Change{CheckExtension: ext, CheckCredentials: creds}
	}
	if !n.Connected {
		addr := n.Endpoint.Addr
		switch n.Failure {
		case cluster.AuthFailed:
			add(CheckReachable, Pass, addr.String(), "")
			add(CheckAuth, Fail, n.Detail, n.FailureHint(t))
			skipRest("not authenticated", nil)
		case cluster.NoDatabase:
			add(CheckReachable, Pass, addr.String(), "")
			add(CheckAuth, Pass, "user "+t.User, "")
			add(CheckDatabase, Fail, fmt.Sprintf("database %s does not exist on %s", db, s), "run citusgen bootstrap (it creates the database on every node), or run the script from citusgen render sql", createdDB)
			newExt()
			if n.HasFacts() {
				// What the maintenance database told: whether Citus can run there.
				add(CheckReadable, Pass, "server settings read from the maintenance database", "")
				d.preload(n, add, manual)
				if n.CitusAvailable == "" {
					add(CheckExtension, Fail, "the citus extension is not installed on this server", live.StepHint(t, s, "citus.control"), manual)
				}
			}
			skipRest("no database", pending())
		case cluster.NotPostgres:
			add(CheckReachable, Fail, n.Detail, n.FailureHint(t))
			skipRest("not PostgreSQL", nil)
		case cluster.Silent:
			add(CheckReachable, Fail, n.Detail, n.FailureHint(t))
			skipRest("no answer", nil)
		case cluster.Unreachable, cluster.StartingUp:
			add(CheckReachable, Fail, fmt.Sprintf("%s: %s", addr, n.Detail), n.FailureHint(t))
			skipRest("not reachable", nil)
		case cluster.TooManyClients:
			add(CheckReachable, Fail, fmt.Sprintf("%s %s", addr, n.Detail), n.FailureHint(t))
			skipRest("no free connection", nil)
		default:
			add(CheckReachable, Fail, n.Detail, "")
			skipRest("connection failed", nil)
		}
		return
	}
	// The node was reached: a reading that did not complete says what
	// held it up, not that the node is away.
	add(CheckReachable, Pass, fmt.Sprintf("%s, PostgreSQL %s", n.Endpoint.Addr, n.ServerVersion), "")
	add(CheckAuth, Pass, "user "+t.User, "")
	add(CheckDatabase, Pass, db, "")
	switch {
	case n.QueryErr != "":
		add(CheckReadable, Fail, "reading the node's settings failed: "+n.QueryErr, n.QueryHint)
		skipRest("not read", nil)
		return
	case n.CatalogErr != "":
		add(CheckReadable, Fail, "reading Citus's catalog failed: "+n.CatalogErr, n.QueryHint)
	case n.Citus != "":
		add(CheckReadable, Pass, "server settings and Citus's catalog read", "")
	default:
		add(CheckReadable, Pass, "server settings read", "")
	}
	d.preload(n, add, manual)
	switch {
	case n.Citus != "":
		add(CheckExtension, Pass, "citus "+n.Citus, "")
	case n.CitusAvailable != "":
		newExt()
		hint := "run citusgen bootstrap (CREATE EXTENSION citus)"
		if !n.PreloadOK() {
			hint = "fix shared_preload_libraries first (see shared-preload), then run citusgen bootstrap"
		}
		add(CheckExtension, Fail, fmt.Sprintf("citus %s is available but not created in %s", n.CitusAvailable, db), hint, pending()[CheckExtension])
	default:
		add(CheckExtension, Fail, "the citus extension is not installed on this server", live.StepHint(t, s, "citus.control"), manual)
	}
	switch n.Credentials {
	case live.CredentialsNotNeeded:
		add(CheckCredentials, Pass, "none needed: the topology uses trust authentication", "")
	case live.CredentialsUnknown:
		why := "the citus extension is not created"
		if n.CatalogErr != "" {
			why = "reading Citus's catalog failed: " + n.CatalogErr
		}
		add(CheckCredentials, Skip, "skipped: "+why, "", creds)
	case live.CredentialsOK:
		add(CheckCredentials, Pass, "pg_dist_authinfo holds the topology's password for "+t.User, "")
	default:
		detail := "pg_dist_authinfo holds no password for " + t.User + ": Citus's connections from " + s + " to the other nodes cannot log in"
		if n.Credentials == live.CredentialsStale {
			detail = "pg_dist_authinfo holds another password for " + t.User + " than the topology's (changed since?): Citus's connections from " + s + " fail to log in"
		}
		by := manual
		if by == nil {
			by = d.credentials(n, pos, detail)
		}
		add(CheckCredentials, Fail, detail, hintOf(by, "it stores the password in pg_dist_authinfo on every node"), by)
	}
}

// credentials is the change that stores the inter-node credentials on a
// node, where the topology has a password.
func (d *diagnosis) credentials(n *live.Node, pos int, why string) *Change {
	if !d.t.HasPassword() {
		return nil
	}
	return d.change(phaseNode, pos, Change{Kind: StoreCredentials, Node: n.Service(), On: n.Service(), Detail: why, Steps: []steps.Step{steps.StoreCredentials(d.t)}})
}

// preload is the shared-preload finding, from facts read in the cluster
// database or, before it exists, in the maintenance one.
func (d *diagnosis) preload(n *live.Node, add func(name string, st Status, detail, hint string, by ...*Change), manual *Change) {
	if n.PreloadOK() {
		add(CheckPreload, Pass, "shared_preload_libraries = '"+n.Preload+"'", "")
	} else {
		add(CheckPreload, Fail, n.PreloadDetail(), live.PreloadFix(n.Service()), manual)
	}
}
