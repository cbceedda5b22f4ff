// Package plan is what would make the live cluster match the topology: a
// Plan, made once from one reading of the cluster (package live), lists
// every change with the guarded bootstrap steps that make it and the
// verify check it resolves, what could not be read, its summary and its
// exit status. The plan command prints it; bootstrap runs the steps of the
// changes that need no flag and hands --prune and --rebalance to package
// reshape; verify takes each failing check's hint from the change that
// resolves it, so the three cannot disagree.
package plan

import (
	"fmt"
	"strings"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

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

// The checks verify reports, by name: each change names the ones it
// resolves, so verify's failing rows and the plan's changes are one list
// seen two ways.
const (
	CheckReachable   = "reachable"
	CheckAuth        = "authenticated"
	CheckDatabase    = "database"
	CheckReadable    = "readable"
	CheckPreload     = "shared-preload"
	CheckExtension   = "citus-extension"
	CheckCredentials = "credentials"
	CheckVersion     = "citus-version"
	CheckImage       = "citus-image"
	CheckCoordinator = "coordinator-host"
	CheckRegistered  = "worker-registered"
	CheckMetadata    = "metadata"
	CheckExtra       = "no-extra-nodes"
	CheckHealth      = "cluster-health"
	CheckSmoke       = "smoke"
)

// CheckRef names one of verify's rows: the check and the node it is
// reported for ("cluster" for the cluster's own).
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
	// Resolves are the verify rows that fail because of what this change is
	// about, the first the one that says it; a rebalance resolves none
	// (verify does not weigh shards).
	Resolves []CheckRef `json:"resolves,omitempty"`
	// Shards and Bytes: what a drain would move off the node.
	Shards int64 `json:"shards,omitempty"`
	Bytes  int64 `json:"bytes,omitempty"`
	// Pairs are the connections between nodes ("from -> to (reason)") that
	// fail because of what this change is about: verify's cluster-health
	// fails for them.
	Pairs []string `json:"pairs,omitempty"`
	// On is the service whose connection runs Steps, in order.
	On    string       `json:"-"`
	Steps []steps.Step `json:"-"`
}

// Remedy says, in a few words, how the change gets applied.
func (c Change) Remedy() string {
	switch c.Needs {
	case ByBootstrap:
		return "run citusgen bootstrap"
	case ByHand:
		return c.Detail
	}
	return "run citusgen bootstrap " + string(c.Needs)
}

// diff lists the changes, in the order bootstrap applies them: each node's
// own changes (workers first), then the coordinator's metadata changes,
// then what --prune and --rebalance would do. Nodes that could not be read
// get no changes (live.Cluster.Unread names them).
func diff(c *live.Cluster) []Change {
	t := c.Topology
	var out []Change
	for _, n := range append(c.Nodes[1:len(c.Nodes):len(c.Nodes)], c.Nodes[0]) {
		out = append(out, nodeChanges(t, n)...)
	}
	if vs, nodes := c.Versions(); len(vs) > 1 {
		var parts []string
		for _, v := range vs {
			parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(nodes[v], ", ")))
		}
		out = append(out, Change{Kind: Manual, Node: "cluster", Needs: ByHand, Resolves: []CheckRef{{CheckVersion, "cluster"}},
			Detail: "Citus versions differ (" + strings.Join(parts, "; ") + "): use the same image (or Citus package) on every node, then run ALTER EXTENSION citus UPDATE on each"})
	}
	if drift, _ := c.ImageDrift(); len(drift) > 0 {
		detail, hint := live.ImageDriftDetail(drift)
		out = append(out, Change{Kind: Manual, Node: "cluster", Needs: ByHand, Resolves: []CheckRef{{CheckImage, "cluster"}}, Detail: detail + ": " + hint})
	}
	out = append(out, metadataChanges(c)...)
	out = healthChanges(c, out)
	for i := range out {
		if out[i].Resolves == nil {
			out[i].Resolves = resolves(t, out[i])
		}
	}
	return out
}

// resolves is the verify row a change that needs no person resolves.
func resolves(t *topology.Topology, ch Change) []CheckRef {
	check, node := map[Kind]string{
		CreateDatabase: CheckDatabase, CreateExtension: CheckExtension, StoreCredentials: CheckCredentials,
		SetCoordinatorHost: CheckCoordinator, RegisterWorker: CheckRegistered, ActivateWorker: CheckRegistered,
		Reregister: CheckRegistered, SyncMetadata: CheckMetadata, DrainRemove: CheckExtra,
	}[ch.Kind], ch.Node
	switch {
	case check == "":
		return nil
	case ch.Kind == DrainRemove:
		node = t.Coordinator.Service // verify's no-extra-nodes row is the coordinator's
	}
	return []CheckRef{{check, node}}
}

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
		return fmt.Sprintf("%s: set shared_preload_libraries = 'citus' (citus first) on %s and restart it; the citusdata/citus images do this", n.PreloadDetail(), s)
	}
	return ""
}

// blockedChecks are the verify rows of a node Citus cannot run on: the one
// that says why, then what follows from it.
func blockedChecks(n *live.Node) []CheckRef {
	s := n.Service()
	refs := []CheckRef{{CheckPreload, s}, {CheckExtension, s}}
	if n.CitusAvailable == "" && n.Citus == "" {
		refs[0], refs[1] = refs[1], refs[0]
	}
	if n.Endpoint.Node.Role == topology.Worker {
		refs = append(refs, CheckRef{CheckRegistered, s})
	}
	return refs
}

func nodeChanges(t *topology.Topology, n *live.Node) []Change {
	s := n.Service()
	db := t.ClusterDatabase()
	creds := func(why string) []Change {
		if !t.HasPassword() {
			return nil
		}
		return []Change{{Kind: StoreCredentials, Node: s, Detail: why, On: s, Steps: []steps.Step{steps.StoreCredentials(t)}}}
	}
	ext := Change{Kind: CreateExtension, Node: s, Detail: "CREATE EXTENSION citus in " + db, On: s, Steps: []steps.Step{steps.CreateExtension()}}
	createDB := Change{Kind: CreateDatabase, Node: s, Detail: "CREATE DATABASE " + db, On: s, Steps: []steps.Step{steps.CreateDatabase(t)}}
	blocked := citusBlocked(n)
	manual := Change{Kind: Manual, Node: s, Needs: ByHand, Detail: blocked, Resolves: blockedChecks(n)}
	switch {
	case !n.Known():
		return nil
	case !n.Connected && blocked != "":
		// Read from the maintenance database: the database can be made,
		// the extension cannot until a person has done their part.
		return []Change{createDB, manual}
	case !n.Connected: // no database
		out := []Change{createDB, ext}
		return append(out, creds("store the inter-node credentials in pg_dist_authinfo")...)
	case blocked != "":
		return []Change{manual}
	case n.Citus == "":
		return append([]Change{ext}, creds("store the inter-node credentials in pg_dist_authinfo")...)
	}
	switch n.Credentials {
	case live.CredentialsMissing:
		return creds("pg_dist_authinfo holds no password for " + t.User + ": Citus's connections from " + s + " to the other nodes cannot log in")
	case live.CredentialsStale:
		return creds("pg_dist_authinfo holds another password for " + t.User + " than the topology's (changed since?): Citus's connections from " + s + " fail to log in")
	}
	return nil
}

// metadataChanges: the coordinator's host, each worker's registration and
// metadata, registrations outside the topology, and shard balance.
func metadataChanges(c *live.Cluster) []Change {
	t := c.Topology
	coord := c.Coordinator()
	if !coord.Known() || coord.CatalogErr != "" || citusBlocked(coord) != "" {
		return nil // unread, or bootstrap cannot get as far (a manual change says why)
	}
	if c.Match == nil {
		// No extension on the coordinator yet: everything gets registered.
		out := []Change{onCoordinator(t, Change{Kind: SetCoordinatorHost, Node: t.Coordinator.Service, Detail: coordinatorAddr(t)}, steps.SetCoordinatorHost(t))}
		for _, w := range t.Workers {
			ch, _ := workerChange(c, live.WorkerMatch{Worker: w, State: live.Missing, Foreign: c.Foreign(w)})
			out = append(out, ch...)
		}
		return out
	}
	out := coordinatorChanges(c)
	registering := false
	var syncs []Change // after every registration change: a sync copies them
	for _, wm := range c.Match.Workers {
		ch, registers := workerChange(c, wm)
		out = append(out, ch...)
		registering = registering || registers
		switch wm.Metadata {
		case live.MetadataLost, live.MetadataDiffers, live.MetadataNotSynced:
			syncs = append(syncs, onCoordinator(t, Change{Kind: SyncMetadata, Node: wm.Worker.Service, Detail: wm.MetadataDetail + ": sync the coordinator's metadata to it again"},
				steps.SyncMetadata()))
		}
	}
	out = append(out, syncs...)
	out = append(out, extraChanges(c)...)
	if ch, ok := rebalanceChange(c, registering); ok {
		out = append(out, ch)
	}
	return out
}

// onCoordinator is a change whose steps run on the coordinator.
func onCoordinator(t *topology.Topology, ch Change, s ...steps.Step) Change {
	ch.On, ch.Steps = t.Coordinator.Service, s
	return ch
}

// coordinatorAddr is the coordinator's node name, host:port.
func coordinatorAddr(t *topology.Topology) string {
	host, port := t.NodeAddress(t.Coordinator)
	return fmt.Sprintf("%s:%d", host, port)
}

// coordinatorChanges sets the coordinator's host where it is unset or
// another name.
func coordinatorChanges(c *live.Cluster) []Change {
	t, m := c.Topology, c.Match
	cs := t.Coordinator.Service
	switch {
	case m.CoordinatorRow == nil:
		return []Change{onCoordinator(t, Change{Kind: SetCoordinatorHost, Node: cs, Detail: coordinatorAddr(t) + " (the coordinator host is not set)"}, steps.SetCoordinatorHost(t))}
	case !m.CoordinatorOK:
		return []Change{onCoordinator(t, Change{Kind: SetCoordinatorHost, Node: cs, Detail: fmt.Sprintf("%s (registered as %s)", coordinatorAddr(t), m.CoordinatorRow.Addr())}, steps.SetCoordinatorHost(t))}
	}
	return nil
}

// workerChange is what registers a worker as its node name says;
// registers says it adds or activates one (shards may then move to it).
func workerChange(c *live.Cluster, wm live.WorkerMatch) (_ []Change, registers bool) {
	t := c.Topology
	w := wm.Worker
	if wm.Host == "" {
		wm.Host, wm.Port = t.NodeAddress(w)
	}
	addr := wm.Addr()
	if wm.Foreign != "" {
		wm.State = live.Foreign
	}
	switch wm.State {
	case live.Missing:
		if n := c.Node(w.Service); n != nil && citusBlocked(n) != "" {
			return nil, false // citus_add_node would fail there: the node's manual change comes first
		}
		return []Change{onCoordinator(t, Change{Kind: RegisterWorker, Node: w.Service, Detail: addr}, steps.RegisterWorker(t, w))}, true
	case live.Foreign:
		return []Change{foreignChange(c, wm)}, false
	case live.Inactive:
		return []Change{onCoordinator(t, Change{Kind: ActivateWorker, Node: w.Service, Detail: fmt.Sprintf("%s is registered but inactive (nodeid %d): activate it", addr, wm.Row.ID)}, steps.ActivateWorker(t, w))}, true
	case live.NotPrimary:
		return []Change{onCoordinator(t, Change{Kind: Reregister, Node: w.Service, Detail: fmt.Sprintf("%s is registered as %s, not primary: remove that registration and register it as a primary", addr, wm.Row.Role)},
			steps.RemoveNonPrimary(t, w), steps.RegisterWorker(t, w))}, true
	case live.Elsewhere:
		if wm.Proven {
			return []Change{onCoordinator(t, Change{Kind: Reregister, Node: w.Service, Detail: fmt.Sprintf("%s is registered as %s (%s, nodeid %d, %s): rename the registration to %s in place (citus_update_node; placements stay)", w.Service, wm.Row.Addr(), wm.How, wm.Row.ID, english.Plural(wm.Shards, "shard"), addr)},
				steps.RenameRegistration(t, w, wm.Row.ID, wm.Row.Addr()))}, false
		}
		upd, _ := citus.UpdateNode(wm.Row.ID, wm.Host, wm.Port)
		return []Change{{Kind: Manual, Node: w.Service, Needs: ByHand, Shards: wm.Shards, Resolves: []CheckRef{{CheckRegistered, w.Service}},
			Detail: fmt.Sprintf("%s is not registered, and %s (%s, nodeid %d) holds %s; it looks like %s under %s, but %s's own metadata cannot prove it, so citusgen leaves both alone: if it is %s, run %s on the coordinator, then citusgen bootstrap; if not, add it to the topology",
				addr, wm.Row.Addr(), wm.How, wm.Row.ID, english.Plural(wm.Shards, "shard"), w.Service, wm.How, w.Service, w.Service, upd)}}, false
	case live.AsCoordinator:
		return []Change{{Kind: Manual, Node: w.Service, Needs: ByHand, Resolves: []CheckRef{{CheckRegistered, w.Service}},
			Detail: fmt.Sprintf("%s is the coordinator's own registration: give %s another node_name in the topology", addr, w.Service)}}, false
	}
	return nil, false
}

// foreignChange refuses to register a worker that another cluster uses:
// citus_add_node would overwrite its metadata with this cluster's, and
// that cluster would lose the shards it keeps there.
func foreignChange(c *live.Cluster, wm live.WorkerMatch) Change {
	t, w := c.Topology, wm.Worker
	db := t.ClusterDatabase()
	host, port := quote.SQLLiteral(wm.Host), wm.Port
	return Change{Kind: Manual, Node: w.Service, Needs: ByHand, Resolves: []CheckRef{{CheckRegistered, w.Service}},
		Detail: fmt.Sprintf("%s (%s) belongs to another Citus cluster: %s; registering it here (citus_add_node) would overwrite that cluster's metadata on it, so citusgen leaves it alone. If the topology names the wrong server, fix the port or node_name of %s; if %s is to join this cluster, remove it from the other one first (on that coordinator: SELECT citus_drain_node(%s, %d); SELECT citus_remove_node(%s, %d)), clear what that cluster left in %s on %s (DROP EXTENSION citus CASCADE; citusgen bootstrap creates it again), then run citusgen bootstrap",
			w.Service, wm.Addr(), wm.Foreign, w.Service, w.Service, host, port, host, port, db, w.Service)}
}

// extraChanges drain and remove the registrations outside the topology.
func extraChanges(c *live.Cluster) []Change {
	var out []Change
	for _, x := range c.Match.Extra {
		ch := Change{Kind: DrainRemove, Node: x.Addr(), Needs: ByPrune, Shards: x.Shards, Bytes: x.Bytes}
		drain := fmt.Sprintf("drain %s and remove it", ShardsAndSize(x, c.Reshaped))
		if x.Shards == 0 {
			drain = "remove it (it holds no shards)"
		}
		switch {
		case x.Like != "" && x.How == "its container name":
			ch.Detail = fmt.Sprintf("%s is %s registered a second time under %s: %s (bootstrap --prune)", x.Addr(), x.Like, x.How, drain)
		case x.Like != "":
			ch.Detail = fmt.Sprintf("%s looks like %s under %s: %s (bootstrap --prune); bootstrap registers %s by its node name", x.Addr(), x.Like, x.How, drain, x.Like)
		default:
			ch.Detail = fmt.Sprintf("registered but not in the topology: %s (bootstrap --prune)", drain)
		}
		out = append(out, ch)
	}
	return out
}

// rebalanceChange is the rebalance a balanced cluster needs after the
// changes above: a job still running, moves the rebalancer plans now, or
// moves it will plan once workers are registered or a drain is done.
func rebalanceChange(c *live.Cluster, registering bool) (Change, bool) {
	cs := c.Topology.Coordinator.Service
	var shards int64
	for _, n := range c.Shards {
		shards += n
	}
	draining, staying := false, 0
	for _, x := range c.Match.Extra {
		draining = draining || x.Shards > 0
	}
	for _, w := range c.Match.Workers {
		if w.Row != nil && w.Row.ShouldHaveShards {
			staying++
		}
	}
	ch := Change{Kind: Rebalance, Node: cs, Needs: ByRebalance}
	switch {
	case len(c.Jobs) > 0:
		j := c.Jobs[0]
		ch.Detail = fmt.Sprintf("rebalance job %d is %s (%d of %s done), probably left by an interrupted bootstrap --rebalance: bootstrap --rebalance waits for it", j.ID, j.State, j.Done, english.Plural(j.Tasks, "task"))
	case c.Moves > 0:
		ch.Detail = fmt.Sprintf("shards are unbalanced: the rebalancer would make %s (bootstrap --rebalance)", english.Plural(c.Moves, "move"))
	case registering && shards > 0:
		ch.Detail = fmt.Sprintf("once the workers above are registered, the rebalancer moves some of the %s onto them (bootstrap --rebalance)", english.Plural(shards, "shard"))
	case draining && staying > 1:
		// A drain only empties the node; what it moved can leave the
		// others unbalanced.
		ch.Detail = "once the drain above is done, the rebalancer evens out the remaining workers if the drain left them unbalanced (bootstrap --rebalance)"
	default:
		return Change{}, false
	}
	return ch, true
}

// ShardsAndSize is how many shards a registration outside the topology
// holds and, when they were measured (sized), their size, or why it is
// unknown.
func ShardsAndSize(x live.Extra, sized bool) string {
	switch {
	case x.BytesErr != "":
		return fmt.Sprintf("%s (size unknown: the coordinator could not measure them on %s: %s)", english.Plural(x.Shards, "shard"), x.Addr(), x.BytesErr)
	case !sized:
		return english.Plural(x.Shards, "shard")
	}
	return fmt.Sprintf("%s (%s)", english.Plural(x.Shards, "shard"), english.Bytes(x.Bytes))
}
