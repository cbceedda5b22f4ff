package verify

import (
	"fmt"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/plan"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/topology"
)

// Checks turns a reading of the cluster and its plan (with the health of
// its inter-node connections, when it was read) into the report's rows, in
// a stable order: each node's own checks, then the cluster's. A failing
// row's hint is the remedy of the change of the plan that resolves it.
func Checks(c *live.Cluster, p *plan.Plan) []Check {
	t := c.Topology
	changes := p.Changes
	remedy := p.Resolving
	var out []Check
	for _, n := range c.Nodes {
		out = append(out, nodeChecks(t, n, remedy)...)
	}
	out = append(out, versionCheck(c), imageCheck(c))
	if c.Match == nil {
		why := "skipped: " + coordinatorGap(c)
		out = append(out, Check{Name: CheckCoordinator, Node: t.Coordinator.Service, Status: Skip, Detail: why})
		for _, w := range t.Workers {
			out = append(out, Check{Name: CheckRegistered, Node: w.Service, Status: Skip, Detail: why},
				Check{Name: CheckMetadata, Node: w.Service, Status: Skip, Detail: why})
		}
		return append(out,
			Check{Name: CheckExtra, Node: t.Coordinator.Service, Status: Skip, Detail: why},
			Check{Name: CheckHealth, Node: t.Coordinator.Service, Status: Skip, Detail: why})
	}
	setup := setupHint(c)
	out = append(out, coordinatorCheck(c, setup))
	for _, wm := range c.Match.Workers {
		out = append(out, registeredCheck(c, wm, setup, remedy), metadataCheck(wm, remedy))
	}
	out = append(out, extraCheck(c, changes))
	if c.Health == nil {
		return append(out, Check{Name: CheckHealth, Node: t.Coordinator.Service, Status: Skip, Detail: "skipped: not read"})
	}
	return append(out, healthCheck(c, changes))
}

type remedyFunc func(check, node string) (plan.Change, bool)

// coordinatorGap says why the coordinator's registrations were not read.
func coordinatorGap(c *live.Cluster) string {
	coord := c.Coordinator()
	switch {
	case !coord.Known():
		return "the coordinator could not be checked"
	case !coord.Connected:
		return "the coordinator has no database " + c.Topology.ClusterDatabase()
	case !coord.HasCitus():
		return "the citus extension is not created on the coordinator"
	case coord.CatalogErr != "":
		return "reading the coordinator's catalog failed: " + coord.CatalogErr
	}
	return "the coordinator could not be checked"
}

// hintOf is a change's remedy, with the SQL it runs for the curious.
func hintOf(ch plan.Change, what string) string {
	if ch.Needs == plan.ByHand {
		return ch.Detail
	}
	h := ch.Remedy()
	if what != "" {
		h += " (" + what + ")"
	}
	return h
}

func nodeChecks(t *topology.Topology, n *live.Node, remedy remedyFunc) []Check {
	s := n.Service()
	var out []Check
	add := func(name string, st Status, detail, hint string) {
		out = append(out, Check{Name: name, Node: s, Status: st, Detail: detail, Hint: hint})
	}
	names := []string{CheckReachable, CheckAuth, CheckDatabase, CheckReadable, CheckPreload, CheckExtension, CheckCredentials}
	skipRest := func(why string) {
		for _, name := range names[len(out):] {
			add(name, Skip, "skipped: "+why, "")
		}
	}
	db := t.ClusterDatabase()
	if !n.Connected {
		unconnectedChecks(t, n, add, skipRest)
		return out
	}
	// The node was reached: a reading that did not complete says what
	// held it up, not that the node is away.
	add(CheckReachable, Pass, fmt.Sprintf("%s, PostgreSQL %s", n.Endpoint.Addr, n.ServerVersion), "")
	add(CheckAuth, Pass, "user "+t.User, "")
	add(CheckDatabase, Pass, db, "")
	switch {
	case n.QueryErr != "":
		add(CheckReadable, Fail, "reading the node's settings failed: "+n.QueryErr, n.QueryHint)
		skipRest("not read")
		return out
	case n.CatalogErr != "":
		add(CheckReadable, Fail, "reading Citus's catalog failed: "+n.CatalogErr, n.QueryHint)
	case n.Citus != "":
		add(CheckReadable, Pass, "server settings and Citus's catalog read", "")
	default:
		add(CheckReadable, Pass, "server settings read", "")
	}
	preloadCheck(n, add)
	switch {
	case n.Citus != "":
		add(CheckExtension, Pass, "citus "+n.Citus, "")
	case n.CitusAvailable != "":
		hint := "run citusgen bootstrap (CREATE EXTENSION citus)"
		if !n.PreloadOK() {
			hint = "fix shared_preload_libraries first (see shared-preload), then run citusgen bootstrap"
		}
		add(CheckExtension, Fail, fmt.Sprintf("citus %s is available but not created in %s", n.CitusAvailable, db), hint)
	default:
		add(CheckExtension, Fail, "the citus extension is not installed on this server", live.StepHint(t, s, "citus.control"))
	}
	switch n.Credentials {
	case live.CredentialsNotNeeded:
		add(CheckCredentials, Pass, "none needed: the topology uses trust authentication", "")
	case live.CredentialsUnknown:
		why := "the citus extension is not created"
		if n.CatalogErr != "" {
			why = "reading Citus's catalog failed: " + n.CatalogErr
		}
		add(CheckCredentials, Skip, "skipped: "+why, "")
	case live.CredentialsOK:
		add(CheckCredentials, Pass, "pg_dist_authinfo holds the topology's password for "+t.User, "")
	default:
		ch, _ := remedy(CheckCredentials, s)
		add(CheckCredentials, Fail, ch.Detail, hintOf(ch, "it stores the password in pg_dist_authinfo on every node"))
	}
	return out
}

// preloadCheck is the shared-preload row, from facts read in the cluster
// database or, before it exists, in the maintenance one.
func preloadCheck(n *live.Node, add func(name string, st Status, detail, hint string)) {
	if n.PreloadOK() {
		add(CheckPreload, Pass, "shared_preload_libraries = '"+n.Preload+"'", "")
	} else {
		add(CheckPreload, Fail, n.PreloadDetail(), fmt.Sprintf("set shared_preload_libraries = 'citus' (citus first) on %s and restart it; the citusdata/citus images do this", n.Service()))
	}
}

// unconnectedChecks says how far the connection to a node got: the first
// check that failed, and the rest skipped with the reason.
func unconnectedChecks(t *topology.Topology, n *live.Node, add func(name string, st Status, detail, hint string), skipRest func(why string)) {
	s := n.Service()
	db := t.ClusterDatabase()
	switch n.Failure {
	case cluster.AuthFailed:
		add(CheckReachable, Pass, n.Endpoint.Addr.String(), "")
		add(CheckAuth, Fail, n.Detail, n.FailureHint(t))
		skipRest("not authenticated")
	case cluster.NoDatabase:
		add(CheckReachable, Pass, n.Endpoint.Addr.String(), "")
		add(CheckAuth, Pass, "user "+t.User, "")
		hint := "run citusgen bootstrap (it creates the database on every node), or run the script from citusgen render sql"
		add(CheckDatabase, Fail, fmt.Sprintf("database %s does not exist on %s", db, s), hint)
		if !n.HasFacts() {
			skipRest("no database")
			return
		}
		// What the maintenance database told: whether Citus can run there.
		add(CheckReadable, Pass, "server settings read from the maintenance database", "")
		preloadCheck(n, add)
		if n.CitusAvailable == "" {
			add(CheckExtension, Fail, "the citus extension is not installed on this server", live.StepHint(t, s, "citus.control"))
		}
		skipRest("no database")
	case cluster.NotPostgres:
		add(CheckReachable, Fail, n.Detail, n.FailureHint(t))
		skipRest("not PostgreSQL")
	case cluster.Silent:
		add(CheckReachable, Fail, n.Detail, n.FailureHint(t))
		skipRest("no answer")
	case cluster.Unreachable, cluster.StartingUp:
		add(CheckReachable, Fail, fmt.Sprintf("%s: %s", n.Endpoint.Addr, n.Detail), n.FailureHint(t))
		skipRest("not reachable")
	case cluster.TooManyClients:
		add(CheckReachable, Fail, fmt.Sprintf("%s %s", n.Endpoint.Addr, n.Detail), n.FailureHint(t))
		skipRest("no free connection")
	default:
		add(CheckReachable, Fail, n.Detail, "")
		skipRest("connection failed")
	}
}

func versionCheck(c *live.Cluster) Check {
	ch := Check{Name: CheckVersion, Node: "cluster"}
	var unread, missing []string
	for _, n := range c.Nodes {
		switch {
		case !n.Connected || n.QueryErr != "":
			unread = append(unread, n.Service())
		case n.Citus == "":
			missing = append(missing, n.Service())
		}
	}
	// Name the root cause the node rows already report, not a guess.
	var why []string
	if len(unread) > 0 {
		why = append(why, "could not be checked on "+strings.Join(unread, ", "))
	}
	if len(missing) > 0 {
		why = append(why, "the citus extension is missing on "+strings.Join(missing, ", "))
	}
	if len(why) > 0 {
		ch.Status, ch.Detail = Skip, "skipped: "+strings.Join(why, "; ")
		return ch
	}
	versions, nodes := c.Versions()
	if len(versions) == 1 {
		ch.Status, ch.Detail = Pass, fmt.Sprintf("citus %s on all %d nodes", versions[0], len(c.Nodes))
		return ch
	}
	var parts []string
	for _, v := range versions {
		parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(nodes[v], ", ")))
	}
	ch.Status, ch.Detail = Fail, "versions differ: "+strings.Join(parts, "; ")
	ch.Hint = "use the same image (or Citus package) on every node, then run ALTER EXTENSION citus UPDATE on each"
	return ch
}

// imageCheck compares the Citus and PostgreSQL each node runs with what
// its image names (citusdata/citus:14.1 names Citus 14.1 on PostgreSQL 18):
// a node left on an old container, or a spec pinned to one release while
// the nodes run another, is drift the other checks cannot see.
func imageCheck(c *live.Cluster) Check {
	ch := Check{Name: CheckImage, Node: "cluster"}
	drift, named := c.ImageDrift()
	switch {
	case len(drift) > 0:
		ch.Status = Fail
		ch.Detail, ch.Hint = live.ImageDriftDetail(drift)
	case c.Topology.Containerless():
		ch.Status, ch.Detail = Skip, "skipped: the nodes run from no image (image: none)"
	case len(named) == 0:
		ch.Status, ch.Detail = Skip, "skipped: no node's image names a Citus release or a PostgreSQL major, or no node was read"
	default:
		ch.Status, ch.Detail = Pass, fmt.Sprintf("every node runs the Citus release and PostgreSQL major its image names (%s)", strings.Join(named, ", "))
	}
	return ch
}

// setupHint is what to say when the nodes are up and hold the extension
// but nothing is registered yet, and the compose setup service is the one
// that registers: it is most likely still coming, or it failed.
func setupHint(c *live.Cluster) string {
	t := c.Topology
	if !t.Setup || !c.Match.Empty() {
		return ""
	}
	for _, n := range c.Nodes {
		if !n.HasCitus() {
			return ""
		}
	}
	return fmt.Sprintf("nothing is registered yet: the %s service registers the workers once every node is healthy; wait for it (citusgen verify --wait 2m), or see why it did not: docker compose logs %s (citusgen bootstrap does the same from here)", citus.SetupService, citus.SetupService)
}

func coordinatorCheck(c *live.Cluster, setup string) Check {
	t := c.Topology
	ch := Check{Name: CheckCoordinator, Node: t.Coordinator.Service}
	host, port := t.NodeAddress(t.Coordinator)
	want := fmt.Sprintf("%s:%d", host, port)
	m := c.Match
	run := fmt.Sprintf("run citusgen bootstrap (SELECT citus_set_coordinator_host('%s', %d)); workers reach the coordinator by this name", host, port)
	switch {
	case m.CoordinatorOK:
		ch.Status, ch.Detail = Pass, "coordinator registered as "+want
	case m.CoordinatorRow != nil:
		ch.Status, ch.Detail = Fail, fmt.Sprintf("coordinator registered as %s, the topology says %s", m.CoordinatorRow.Addr(), want)
		ch.Hint = run
	default:
		ch.Status, ch.Detail = Fail, "the coordinator host is not set (no group 0 row in pg_dist_node)"
		ch.Hint = run
		if setup != "" {
			ch.Hint = setup
		}
	}
	return ch
}

func registeredCheck(c *live.Cluster, wm live.WorkerMatch, setup string, remedy remedyFunc) Check {
	w := wm.Worker
	ch := Check{Name: CheckRegistered, Node: w.Service, Status: Fail}
	addr := wm.Addr()
	switch wm.State {
	case live.Registered:
		ch.Status, ch.Detail = Pass, fmt.Sprintf("%s active primary (nodeid %d)", addr, wm.Row.ID)
	case live.Missing:
		ch.Detail = addr + " is not in pg_dist_node"
		for _, x := range c.Match.Extra {
			if x.Like == w.Service {
				ch.Detail += fmt.Sprintf("; %s looks like it (%s)", x.Addr(), x.How)
				break
			}
		}
		// Registering it, or, where Citus cannot run there yet, the node's
		// own change, which comes first.
		r, _ := remedy(CheckRegistered, w.Service)
		ch.Hint = hintOf(r, fmt.Sprintf("SELECT citus_add_node(%s, %d) on the coordinator", quote.SQLLiteral(wm.Host), wm.Port))
		if setup != "" {
			ch.Hint = setup
		}
	case live.Foreign:
		ch.Detail = fmt.Sprintf("%s is not in pg_dist_node, and it belongs to another Citus cluster: %s", addr, wm.Foreign)
		r, _ := remedy(CheckRegistered, w.Service)
		ch.Hint = hintOf(r, "")
	case live.Inactive:
		ch.Detail = fmt.Sprintf("%s is registered but inactive (nodeid %d)", addr, wm.Row.ID)
		r, _ := remedy(CheckRegistered, w.Service)
		ch.Hint = hintOf(r, fmt.Sprintf("SELECT citus_activate_node('%s', %d) once the worker is up", wm.Host, wm.Port))
	case live.NotPrimary:
		ch.Detail = fmt.Sprintf("%s is registered as %s, not primary", addr, wm.Row.Role)
		r, _ := remedy(CheckRegistered, w.Service)
		ch.Hint = hintOf(r, "it removes that registration and registers the worker as a primary")
	case live.Elsewhere:
		ch.Detail = fmt.Sprintf("%s is not in pg_dist_node; it is registered as %s (%s, nodeid %d)", addr, wm.Row.Addr(), wm.How, wm.Row.ID)
		if wm.Proven {
			r, _ := remedy(CheckRegistered, w.Service)
			ch.Hint = hintOf(r, "it renames the registration in place with citus_update_node; its shards stay")
		} else {
			r, _ := remedy(CheckRegistered, w.Service)
			ch.Hint = hintOf(r, "")
		}
	case live.AsCoordinator:
		ch.Detail = addr + " is registered as the coordinator"
		ch.Hint = "the coordinator and a worker share a node name; fix node_name in the topology"
	}
	return ch
}

func metadataCheck(wm live.WorkerMatch, remedy remedyFunc) Check {
	ch := Check{Name: CheckMetadata, Node: wm.Worker.Service}
	switch wm.Metadata {
	case live.MetadataNotApplicable:
		ch.Status, ch.Detail = Skip, "skipped: not registered as an active primary (see worker-registered)"
		if wm.State == live.Registered {
			ch.Status, ch.Detail = Pass, "the coordinator keeps no metadata on it (hasmetadata is false)"
		}
	case live.MetadataUnknown:
		ch.Status, ch.Detail = Skip, "skipped: "+strings.TrimPrefix(wm.MetadataDetail, "not checked: ")
	case live.MetadataInSync:
		ch.Status, ch.Detail = Pass, wm.MetadataDetail
	default:
		r, _ := remedy(CheckMetadata, wm.Worker.Service)
		ch.Status, ch.Detail = Fail, wm.MetadataDetail
		ch.Hint = hintOf(r, "it syncs the coordinator's metadata to the workers again: SELECT start_metadata_sync_to_all_nodes()")
	}
	return ch
}

func extraCheck(c *live.Cluster, changes []plan.Change) Check {
	ch := Check{Name: CheckExtra, Node: c.Topology.Coordinator.Service}
	var extras, hints []string
	for _, x := range c.Match.Extra {
		extras = append(extras, fmt.Sprintf("%s (nodeid %d, %s)", x.Addr(), x.ID, english.Plural(x.Shards, "shard")))
		for _, d := range changes {
			if d.Kind == plan.DrainRemove && d.Node == x.Addr() {
				hints = append(hints, x.Addr()+": "+strings.TrimPrefix(d.Detail, x.Addr()+" "))
			}
		}
	}
	if len(extras) == 0 {
		registered := 0
		for _, w := range c.Match.Workers {
			if w.Row != nil {
				registered++
			}
		}
		ch.Status, ch.Detail = Pass, fmt.Sprintf("pg_dist_node holds no worker outside the topology (%d of %d topology workers registered)", registered, len(c.Match.Workers))
		return ch
	}
	ch.Status, ch.Detail = Fail, "registered but not in the topology: "+strings.Join(extras, ", ")
	sort.Strings(hints)
	ch.Hint = "run citusgen bootstrap --prune, which drains each (its shards move to the topology's workers) and removes it; or add it to the topology. " + strings.Join(hints, "; ")
	return ch
}
