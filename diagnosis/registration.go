package diagnosis

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/quote"
	"github.com/citusgen/citusgen/steps"
)

// registrations: the coordinator's host, each worker's registration and
// metadata, registrations outside the topology, and shard balance.
func (d *diagnosis) registrations() {
	c, t := d.c, d.t
	coord, cs := c.Coordinator(), t.Coordinator.Service
	registers := coord.Known() && coord.CatalogErr == "" && d.blocked[cs] == nil
	// change adds a change of this part, or, where bootstrap cannot get
	// this far, names what comes first.
	change := func(phase, pos int, ch Change, s ...steps.Step) *Change {
		if !registers {
			return d.blocked[cs]
		}
		if len(s) > 0 {
			ch.On, ch.Steps = cs, s
		}
		return d.change(phase, pos, ch)
	}
	host, port := t.NodeAddress(t.Coordinator)
	want := fmt.Sprintf("%s:%d", host, port)
	setHost := func(detail string) *Change {
		return change(phaseCoordinator, 0, Change{Kind: SetCoordinatorHost, Node: cs, Detail: detail}, steps.SetCoordinatorHost(t))
	}
	m := c.Match
	if m == nil {
		// No extension on the coordinator yet: everything gets registered.
		why := "skipped: " + CoordinatorGap(c)
		var set *Change
		if registers {
			set = setHost(want)
		}
		d.add(Finding{Name: CheckCoordinator, Node: cs, Status: Skip, Detail: why}, set)
		for i, w := range t.Workers {
			by := d.blocked[w.Service]
			if registers {
				_, by, _ = d.worker(live.WorkerMatch{Worker: w, State: live.Missing, Foreign: c.Foreign(w)}, i, "", change)
			}
			d.add(Finding{Name: CheckRegistered, Node: w.Service, Status: Skip, Detail: why}, by)
			d.add(Finding{Name: CheckMetadata, Node: w.Service, Status: Skip, Detail: why})
		}
		d.add(Finding{Name: CheckExtra, Node: cs, Status: Skip, Detail: why})
		return
	}
	setup := setupHint(c)
	f := Finding{Name: CheckCoordinator, Node: cs, Status: Fail, Hint: fmt.Sprintf("run citusgen bootstrap (SELECT citus_set_coordinator_host('%s', %d)); workers reach the coordinator by this name", host, port)}
	var set *Change
	switch {
	case m.CoordinatorOK:
		f.Status, f.Detail, f.Hint = Pass, "coordinator registered as "+want, ""
	case m.CoordinatorRow != nil:
		f.Detail = fmt.Sprintf("coordinator registered as %s, the topology says %s", m.CoordinatorRow.Addr(), want)
		set = setHost(fmt.Sprintf("%s (registered as %s)", want, m.CoordinatorRow.Addr()))
	default:
		f.Detail = "the coordinator host is not set (no group 0 row in pg_dist_node)"
		f.Hint = cmp.Or(setup, f.Hint)
		set = setHost(want + " (the coordinator host is not set)")
	}
	d.add(f, set)
	registering := false
	for i, wm := range m.Workers {
		row, ch, adds := d.worker(wm, i, setup, change)
		registering = registering || adds
		d.add(row, ch)
		f := Finding{Name: CheckMetadata, Node: wm.Worker.Service, Status: Skip}
		switch wm.Metadata {
		case live.MetadataNotApplicable:
			f.Detail = "skipped: not registered as an active primary (see worker-registered)"
			if wm.State == live.Registered {
				f.Status, f.Detail = Pass, "the coordinator keeps no metadata on it (hasmetadata is false)"
			}
		case live.MetadataUnknown:
			f.Detail = "skipped: " + strings.TrimPrefix(wm.MetadataDetail, "not checked: ")
		case live.MetadataInSync:
			f.Status, f.Detail = Pass, wm.MetadataDetail
		default:
			ch = change(phaseSync, i, Change{Kind: SyncMetadata, Node: wm.Worker.Service, Detail: wm.MetadataDetail + ": sync the coordinator's metadata to it again"}, steps.SyncMetadata())
			f.Status, f.Detail = Fail, wm.MetadataDetail
			f.Hint = hintOf(ch, "it syncs the coordinator's metadata to the workers again: SELECT start_metadata_sync_to_all_nodes()")
			d.add(f, ch)
			continue
		}
		d.add(f)
	}
	d.extra(change)
	if ch, ok := rebalanceChange(c, registering); ok && registers {
		d.change(phaseRebalance, 0, ch)
	}
}

type changeFunc func(phase, pos int, ch Change, s ...steps.Step) *Change

// CoordinatorGap says why the coordinator's registrations were not read
// (Match is nil).
func CoordinatorGap(c *live.Cluster) string {
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

// setupHint is what to say when the nodes are up and hold the extension
// but nothing is registered yet, and the compose setup service is the one
// that registers: it is most likely still coming, or it failed.
func setupHint(c *live.Cluster) string {
	if !c.Topology.Setup || c.Match == nil || !c.Match.Empty() {
		return ""
	}
	for _, n := range c.Nodes {
		if !n.HasCitus() {
			return ""
		}
	}
	return fmt.Sprintf("nothing is registered yet: the %s service registers the workers once every node is healthy; wait for it (citusgen verify --wait 2m), or see why it did not: docker compose logs %s (citusgen bootstrap does the same from here)", citus.SetupService, citus.SetupService)
}

// worker is a worker's worker-registered finding and the change that
// resolves it: one that registers the worker as its node name says, or
// what must come first; registers says the change adds or activates one
// (shards may then move to it).
func (d *diagnosis) worker(wm live.WorkerMatch, i int, setup string, change changeFunc) (f Finding, _ *Change, registers bool) {
	t, w := d.t, wm.Worker
	if wm.Host == "" {
		wm.Host, wm.Port = t.NodeAddress(w)
	}
	addr := wm.Addr()
	if wm.Foreign != "" {
		wm.State = live.Foreign
	}
	f = Finding{Name: CheckRegistered, Node: w.Service, Status: Fail}
	// fix is the change with what it runs; by hand when it runs nothing.
	fix := func(ch Change, what string, s ...steps.Step) (Finding, *Change, bool) {
		ch.Node = w.Service
		if len(s) == 0 {
			ch.Needs = ByHand
		}
		by := change(phaseWorker, i, ch, s...)
		f.Hint = hintOf(by, what)
		return f, by, by != nil && by.Kind != Manual && wm.State != live.Elsewhere
	}
	switch wm.State {
	case live.Registered:
		f.Status, f.Detail = Pass, fmt.Sprintf("%s active primary (nodeid %d)", addr, wm.Row.ID)
		return f, nil, false
	case live.Missing:
		f.Detail = addr + " is not in pg_dist_node"
		if d.c.Match != nil {
			for _, x := range d.c.Match.Extra {
				if x.Like == w.Service {
					f.Detail += fmt.Sprintf("; %s looks like it (%s)", x.Addr(), x.How)
					break
				}
			}
		}
		var by *Change
		var adds bool
		if b := d.blocked[w.Service]; b != nil {
			// citus_add_node would fail there: the node's change for a person comes first.
			f.Hint, by = hintOf(b, ""), b
		} else {
			f, by, adds = fix(Change{Kind: RegisterWorker, Detail: addr}, fmt.Sprintf("SELECT citus_add_node(%s, %d) on the coordinator", quote.SQLLiteral(wm.Host), wm.Port), steps.RegisterWorker(t, w))
		}
		f.Hint = cmp.Or(setup, f.Hint)
		return f, by, adds
	case live.Foreign:
		f.Detail = fmt.Sprintf("%s is not in pg_dist_node, and it belongs to another Citus cluster: %s", addr, wm.Foreign)
		db := t.ClusterDatabase()
		host, port := quote.SQLLiteral(wm.Host), wm.Port
		// citus_add_node would overwrite its metadata with this cluster's,
		// and that cluster would lose the shards it keeps there.
		return fix(Change{Kind: Manual, Detail: fmt.Sprintf("%s (%s) belongs to another Citus cluster: %s; registering it here (citus_add_node) would overwrite that cluster's metadata on it, so citusgen leaves it alone. If the topology names the wrong server, fix the port or node_name of %s; if %s is to join this cluster, remove it from the other one first (on that coordinator: SELECT citus_drain_node(%s, %d); SELECT citus_remove_node(%s, %d)), clear what that cluster left in %s on %s (DROP EXTENSION citus CASCADE; citusgen bootstrap creates it again), then run citusgen bootstrap",
			w.Service, addr, wm.Foreign, w.Service, w.Service, host, port, host, port, db, w.Service)}, "")
	case live.Inactive:
		f.Detail = fmt.Sprintf("%s is registered but inactive (nodeid %d)", addr, wm.Row.ID)
		return fix(Change{Kind: ActivateWorker, Detail: f.Detail + ": activate it"}, fmt.Sprintf("SELECT citus_activate_node('%s', %d) once the worker is up", wm.Host, wm.Port), steps.ActivateWorker(t, w))
	case live.NotPrimary:
		f.Detail = fmt.Sprintf("%s is registered as %s, not primary", addr, wm.Row.Role)
		return fix(Change{Kind: Reregister, Detail: f.Detail + ": remove that registration and register it as a primary"}, "it removes that registration and registers the worker as a primary",
			steps.RemoveNonPrimary(t, w), steps.RegisterWorker(t, w))
	case live.Elsewhere:
		f.Detail = fmt.Sprintf("%s is not in pg_dist_node; it is registered as %s (%s, nodeid %d)", addr, wm.Row.Addr(), wm.How, wm.Row.ID)
		if wm.Proven {
			return fix(Change{Kind: Reregister, Detail: fmt.Sprintf("%s is registered as %s (%s, nodeid %d, %s): rename the registration to %s in place (citus_update_node; placements stay)", w.Service, wm.Row.Addr(), wm.How, wm.Row.ID, english.Plural(wm.Shards, "shard"), addr)},
				"it renames the registration in place with citus_update_node; its shards stay", steps.RenameRegistration(t, w, wm.Row.ID, wm.Row.Addr()))
		}
		upd, _ := citus.UpdateNode(wm.Row.ID, wm.Host, wm.Port)
		return fix(Change{Kind: Manual, Shards: wm.Shards,
			Detail: fmt.Sprintf("%s is not registered, and %s (%s, nodeid %d) holds %s; it looks like %s under %s, but %s's own metadata cannot prove it, so citusgen leaves both alone: if it is %s, run %s on the coordinator, then citusgen bootstrap; if not, add it to the topology",
				addr, wm.Row.Addr(), wm.How, wm.Row.ID, english.Plural(wm.Shards, "shard"), w.Service, wm.How, w.Service, w.Service, upd)}, "")
	case live.AsCoordinator:
		f.Detail = addr + " is registered as the coordinator"
		f, by, _ := fix(Change{Kind: Manual, Detail: fmt.Sprintf("%s is the coordinator's own registration: give %s another node_name in the topology", addr, w.Service)}, "")
		f.Hint = "the coordinator and a worker share a node name; fix node_name in the topology"
		return f, by, false
	}
	return f, nil, false
}

// extra: registrations outside the topology, each drained and removed.
func (d *diagnosis) extra(change changeFunc) {
	c := d.c
	f := Finding{Name: CheckExtra, Node: d.t.Coordinator.Service}
	var extras, hints []string
	var drains []*Change
	for j, x := range c.Match.Extra {
		extras = append(extras, fmt.Sprintf("%s (nodeid %d, %s)", x.Addr(), x.ID, english.Plural(x.Shards, "shard")))
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
		hints = append(hints, x.Addr()+": "+strings.TrimPrefix(ch.Detail, x.Addr()+" "))
		drains = append(drains, change(phaseExtra, j, ch))
	}
	if len(extras) == 0 {
		registered := 0
		for _, w := range c.Match.Workers {
			if w.Row != nil {
				registered++
			}
		}
		f.Status, f.Detail = Pass, fmt.Sprintf("pg_dist_node holds no worker outside the topology (%d of %d topology workers registered)", registered, len(c.Match.Workers))
		d.add(f)
		return
	}
	f.Status, f.Detail = Fail, "registered but not in the topology: "+strings.Join(extras, ", ")
	sort.Strings(hints)
	f.Hint = "run citusgen bootstrap --prune, which drains each (its shards move to the topology's workers) and removes it; or add it to the topology. " + strings.Join(hints, "; ")
	d.add(f, drains...)
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
