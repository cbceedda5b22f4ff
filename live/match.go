package live

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/topology"
)

// WorkerState is how a topology worker is registered on the coordinator.
type WorkerState int

const (
	Registered    WorkerState = iota // an active primary under its node name
	Missing                          // no registration is (provably) it
	Inactive                         // registered under its node name, inactive
	NotPrimary                       // registered under its node name with another role
	Elsewhere                        // registered only under another name or port
	AsCoordinator                    // its node name is the coordinator's own registration
	Foreign                          // not registered here, and its own metadata is another cluster's
)

// MetadataState compares the metadata Citus keeps on a worker with the
// coordinator's.
type MetadataState int

const (
	MetadataNotApplicable MetadataState = iota // not registered as a metadata worker (yet)
	MetadataUnknown                            // the worker could not be read
	MetadataInSync
	MetadataLost      // the extension (or database) on the worker is gone, and with it the metadata
	MetadataDiffers   // the worker's pg_dist_node or local group is not the coordinator's
	MetadataNotSynced // the coordinator marks the sync unfinished (metadatasynced is false)
)

// WorkerMatch is one topology worker and its registration.
type WorkerMatch struct {
	Worker topology.Node
	// Host and Port: the node name the topology registers it by.
	Host  string
	Port  int
	State WorkerState
	// Row is the registration: under its node name, or for Elsewhere the
	// one under another name.
	Row *Registration
	// Proven (Elsewhere): the worker's own metadata names Row's group, so Row
	// is this very server. Otherwise only the name resembles it.
	Proven bool
	// How (Elsewhere) says how Row's name relates to the worker.
	How string
	// Foreign (Foreign) says what in the worker's own metadata shows it
	// belongs to another cluster.
	Foreign string
	// Shards on Row's group.
	Shards         int64
	Metadata       MetadataState
	MetadataDetail string
}

// Addr is the worker's node name, host:port.
func (w WorkerMatch) Addr() string { return fmt.Sprintf("%s:%d", w.Host, w.Port) }

// Extra is a worker registration no topology worker accounts for.
type Extra struct {
	Registration
	Shards, Bytes int64
	// BytesErr says why the size of its shards is unknown.
	BytesErr string
	// Like names the topology worker the registration resembles (a second
	// registration under its container name, say) and How how; empty when
	// it resembles none.
	Like, How string
}

// Match is the topology's workers paired with the coordinator's registrations.
type Match struct {
	// CoordinatorRow is the coordinator's own registration (group 0), nil
	// when its host was never set; CoordinatorOK when it has the topology's
	// node name.
	CoordinatorRow *Registration
	CoordinatorOK  bool
	Workers        []WorkerMatch
	Extra          []Extra
}

// Empty reports whether nothing at all is registered.
func (m *Match) Empty() bool {
	return m.CoordinatorRow == nil && len(m.Extra) == 0 && !slices.ContainsFunc(m.Workers, func(w WorkerMatch) bool { return w.Row != nil })
}

func match(t *topology.Topology, c *Cluster) *Match {
	rows := c.Coordinator().Registrations
	m := &Match{}
	used := map[int32]bool{} // registrations matched already
	for i := range rows {
		if rows[i].Group == 0 && (m.CoordinatorRow == nil || rows[i].Role == "primary") {
			m.CoordinatorRow = &rows[i]
		}
	}
	if r := m.CoordinatorRow; r != nil {
		used[r.ID] = true
		host, port := t.NodeAddress(t.Coordinator)
		m.CoordinatorOK = r.Name == host && int(r.Port) == port
	}
	// First every registration under a worker's own node name, then the
	// ones a worker's own metadata proves are it, and last, for workers
	// still unmatched, names that only resemble it: a proof never loses a
	// row to a resemblance.
	m.Workers = make([]WorkerMatch, len(t.Workers))
	for i, w := range t.Workers {
		m.Workers[i] = byNodeName(t, c, w, used)
	}
	// A worker of another cluster is never matched: its group numbers are
	// that cluster's, and registering it would overwrite its metadata.
	foreign := func(wm *WorkerMatch, only bool) {
		if why := c.Foreign(wm.Worker); wm.State == Missing && only && why != "" {
			wm.State, wm.Foreign = Foreign, why
		}
	}
	for i := range m.Workers {
		foreign(&m.Workers[i], c.otherCoordinator(m.Workers[i].Worker) != "")
	}
	for i := range m.Workers {
		if m.Workers[i].State == Missing {
			byProof(t, c, &m.Workers[i], used)
		}
		foreign(&m.Workers[i], true)
	}
	for i := range m.Workers {
		if m.Workers[i].State == Missing {
			byResemblance(t, c, &m.Workers[i], used)
		}
	}
	for i := range m.Workers {
		metadata(c, &m.Workers[i])
	}
	for _, r := range rows {
		if used[r.ID] || r.Group == 0 {
			continue
		}
		x := Extra{Registration: r, Shards: c.Shards[r.Group]}
		for _, w := range t.Workers {
			if how := resembles(t, w, r); how != "" {
				x.Like, x.How = w.Service, how
				break
			}
		}
		m.Extra = append(m.Extra, x)
	}
	return m
}

// Foreign says what shows that a topology worker the coordinator does not
// register (by any name its own metadata proves) belongs to another cluster:
// its own pg_dist_node names another coordinator, or its own metadata places
// shards of distributed tables on it (this coordinator would have refused to
// remove it while it held any; and in compose every cluster's coordinator
// may have the same name).
func (c *Cluster) Foreign(w topology.Node) string {
	n := c.Node(w.Service)
	if n == nil || !n.HasCitus() || n.CatalogErr != "" {
		return ""
	}
	var signs []string
	if other := c.otherCoordinator(w); other != "" {
		signs = append(signs, "its pg_dist_node names "+other+" as its coordinator")
	}
	if n.OwnShards > 0 {
		signs = append(signs, fmt.Sprintf("its metadata places %s of %s on it", english.Plural(n.OwnShards, "shard"), english.Plural(n.OwnTables, "distributed table")))
	}
	return strings.Join(signs, ", and ")
}

// otherCoordinator is the coordinator a worker's own pg_dist_node names
// when it is neither this topology's nor the one this coordinator's own
// row names; "" otherwise.
func (c *Cluster) otherCoordinator(w topology.Node) string {
	n := c.Node(w.Service)
	if n == nil || !n.HasCitus() || n.CatalogErr != "" {
		return ""
	}
	ours := map[string]bool{}
	host, port := c.Topology.NodeAddress(c.Topology.Coordinator)
	ours[fmt.Sprintf("%s:%d", host, port)] = true
	if coord := c.Coordinator(); coord.HasCitus() {
		for _, r := range coord.Registrations {
			if r.Group == 0 {
				ours[r.Addr()] = true
			}
		}
	}
	for _, r := range n.Registrations {
		if r.Group == 0 && r.Role == "primary" && !ours[r.Addr()] {
			return r.Addr()
		}
	}
	return ""
}

// byNodeName matches a worker with the registration under its node name.
func byNodeName(t *topology.Topology, c *Cluster, w topology.Node, used map[int32]bool) WorkerMatch {
	host, port := t.NodeAddress(w)
	wm := WorkerMatch{Worker: w, Host: host, Port: port, State: Missing}
	rows := c.Coordinator().Registrations
	for i := range rows {
		r := &rows[i]
		if r.Name != host || int(r.Port) != port {
			continue
		}
		used[r.ID] = true
		wm.Row, wm.Shards = r, c.Shards[r.Group]
		switch {
		case r.Group == 0:
			wm.State = AsCoordinator
		case r.Role != "primary":
			wm.State = NotPrimary
		case !r.Active:
			wm.State = Inactive
		default:
			wm.State = Registered
		}
		break
	}
	return wm
}

// byProof matches a worker with the registration of the group its own
// metadata says it is: the same server under another name.
func byProof(t *topology.Topology, c *Cluster, wm *WorkerMatch, used map[int32]bool) {
	n := c.Node(wm.Worker.Service)
	if n == nil || !n.HasCitus() || n.LocalGroup <= 0 {
		return
	}
	rows := c.Coordinator().Registrations
	for j := range rows {
		r := &rows[j]
		if r.Group == n.LocalGroup && !used[r.ID] && r.Role == "primary" {
			used[r.ID] = true
			wm.State, wm.Row, wm.Proven, wm.Shards = Elsewhere, r, true, c.Shards[r.Group]
			wm.How = cmp.Or(resembles(t, wm.Worker, *r), "another node name")
			return
		}
	}
}

// byResemblance matches a worker with a registration holding shards whose
// name only resembles it.
func byResemblance(t *topology.Topology, c *Cluster, wm *WorkerMatch, used map[int32]bool) {
	rows := c.Coordinator().Registrations
	for j := range rows {
		r := &rows[j]
		if used[r.ID] || r.Group == 0 || c.Shards[r.Group] == 0 {
			continue
		}
		if how := resembles(t, wm.Worker, *r); how != "" {
			used[r.ID] = true
			wm.State, wm.Row, wm.How, wm.Shards = Elsewhere, r, how, c.Shards[r.Group]
			return
		}
	}
}

// resembles says how a registration's name looks like a worker's other
// names: its published port on a loopback name (registered from the host's
// point of view), its container name (as the old membership-manager did:
// <project>_<service>_1 or <project>-<service>-1), or its service on the
// published port. Empty when it does not.
func resembles(t *topology.Topology, w topology.Node, r Registration) string {
	port := int(r.Port)
	switch {
	case topology.IsLoopback(r.Name) && w.Port != 0 && port == w.Port:
		return "a loopback name on its published port"
	case r.Name != w.Service && (strings.Contains(r.Name, "_"+w.Service+"_") || strings.Contains(r.Name, "-"+w.Service+"-")):
		return "its container name"
	case r.Name == w.Service && w.Port != 0 && port == w.Port && port != t.ContainerPort:
		return "its published port instead of the container port"
	}
	return ""
}

// metadata compares, for a registered metadata worker, the worker's own
// pg_dist_node and local group with the coordinator's.
func metadata(c *Cluster, wm *WorkerMatch) {
	r := wm.Row
	if wm.State != Registered || r == nil || !r.HasMetadata {
		return
	}
	n := c.Node(wm.Worker.Service)
	name := wm.Worker.Service
	switch {
	case n == nil || !n.Known() || n.HasCitus() && n.CatalogErr != "":
		wm.Metadata, wm.MetadataDetail = MetadataUnknown, "not checked: "+name+" could not be read"
	case !n.Connected:
		wm.Metadata, wm.MetadataDetail = MetadataLost, fmt.Sprintf("the coordinator syncs metadata to %s, but its database does not exist: the metadata is gone with it", name)
	case !n.HasCitus():
		wm.Metadata, wm.MetadataDetail = MetadataLost, fmt.Sprintf("the coordinator syncs metadata to %s, but the citus extension is not created there: the metadata is gone with it", name)
	case len(n.Registrations) == 0:
		wm.Metadata, wm.MetadataDetail = MetadataDiffers, fmt.Sprintf("%s holds no metadata (an empty pg_dist_node), while the coordinator registers %d nodes: its database or extension was recreated?", name, len(c.Coordinator().Registrations))
	case n.LocalGroup != r.Group:
		wm.Metadata, wm.MetadataDetail = MetadataDiffers, fmt.Sprintf("%s takes itself for group %d; the coordinator registers it as group %d", name, n.LocalGroup, r.Group)
	case firstDifference(n.Registrations, c.Coordinator().Registrations) != "":
		wm.Metadata, wm.MetadataDetail = MetadataDiffers, fmt.Sprintf("%s's pg_dist_node differs from the coordinator's: %s", name, firstDifference(n.Registrations, c.Coordinator().Registrations))
	case !r.MetadataSynced:
		wm.Metadata, wm.MetadataDetail = MetadataNotSynced, fmt.Sprintf("the coordinator has not finished syncing metadata to %s (metadatasynced is false)", name)
	default:
		wm.Metadata, wm.MetadataDetail = MetadataInSync, fmt.Sprintf("%s's pg_dist_node matches the coordinator's (%d nodes, group %d)", name, len(n.Registrations), r.Group)
	}
}

// firstDifference names the first row that differs, by node id ("" when
// none does).
func firstDifference(worker, coord []Registration) string {
	byID := map[int32]Registration{}
	for _, r := range worker {
		byID[r.ID] = r
	}
	for _, r := range coord {
		w, ok := byID[r.ID]
		switch {
		case !ok:
			return fmt.Sprintf("it lacks nodeid %d (%s)", r.ID, r.Addr())
		case !w.sameMetadata(r):
			return fmt.Sprintf("nodeid %d is %s there, %s on the coordinator", r.ID, describe(w), describe(r))
		}
		delete(byID, r.ID)
	}
	for _, w := range worker {
		if _, ok := byID[w.ID]; ok {
			return fmt.Sprintf("it has nodeid %d (%s), which the coordinator does not", w.ID, w.Addr())
		}
	}
	return ""
}

func describe(r Registration) string {
	s := fmt.Sprintf("%s group %d %s", r.Addr(), r.Group, r.Role)
	if !r.Active {
		s += " inactive"
	}
	if !r.ShouldHaveShards {
		s += " without shards"
	}
	return s
}
