// Package reconcile compares a live Citus cluster with the topology and
// changes it towards the spec the way plan/apply tools do: it lists what
// bootstrap would do (databases, extension, coordinator host, workers to
// register, registrations to fix, workers to drain and remove, unbalanced
// shards), moves shards onto new workers with Citus's background
// rebalancer, and drains workers the spec no longer lists before removing
// them.
package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/topology"
)

// Action is one change bootstrap would make.
type Action struct {
	Kind   string `json:"kind"` // create-database, create-extension, set-coordinator-host, register-worker, fix-registration, drain-remove, rebalance, unreachable
	Node   string `json:"node"` // service name, or host:port for nodes outside the spec
	Detail string `json:"detail"`
	// Shards and Bytes: what a drain would move off the node.
	Shards int64 `json:"shards,omitempty"`
	Bytes  int64 `json:"bytes,omitempty"`
}

// Plan is every pending change; empty when the cluster matches the spec.
type Plan struct {
	Actions []Action `json:"actions"`
}

// InSync reports whether nothing is pending.
func (p *Plan) InSync() bool { return len(p.Actions) == 0 }

// Registered is a row of pg_dist_node.
type Registered struct {
	ID               int
	Name             string
	Port             int
	Group            int
	Active           bool
	Role             string
	ShouldHaveShards bool
}

func (r Registered) Addr() string { return r.Name + ":" + strconv.Itoa(r.Port) }

// Live is what the coordinator says about the cluster, read in one round
// trip: registered nodes, shards per node and pending rebalance moves.
type Live struct {
	Nodes []Registered
	// Shards per host:port; Bytes only for nodes Sizes was called for.
	Shards, Bytes map[string]int64
	// Moves is how many shard moves the rebalancer would make now.
	Moves    int64
	WalLevel string
}

// liveQuery reads the catalog only (no calls to the workers), except the
// rebalance plan, which Citus computes only when there are distributed
// tables to weigh.
const liveQuery = `SELECT (SELECT coalesce(json_agg(json_build_array(nodename, nodeport, groupid, isactive, noderole::text, shouldhaveshards, nodeid) ORDER BY nodeid), '[]') FROM pg_catalog.pg_dist_node)::text,
       (SELECT coalesce(json_agg(json_build_array(nodename, nodeport, n)), '[]') FROM
          (SELECT n.nodename, n.nodeport, count(*) AS n
             FROM pg_catalog.pg_dist_placement pl
             JOIN pg_catalog.pg_dist_node n ON n.groupid = pl.groupid
             JOIN pg_catalog.pg_dist_shard s ON s.shardid = pl.shardid
             JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = s.logicalrelid
            WHERE p.partmethod = 'h' GROUP BY n.nodename, n.nodeport) c)::text,
       CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE partmethod = 'h')
            THEN (SELECT count(*) FROM pg_catalog.get_rebalance_table_shards_plan()) ELSE 0 END,
       current_setting('wal_level')`

// ShardBytes is the size of the distributed shards on a node (it asks the
// node, through the coordinator).
func ShardBytes(ctx context.Context, conn *pgx.Conn, r Registered) (int64, error) {
	var b int64
	err := conn.QueryRow(ctx, "SELECT coalesce(sum(shard_size), 0)::bigint FROM pg_catalog.citus_shards WHERE nodename = $1 AND nodeport = $2 AND citus_table_type = 'distributed'", r.Name, r.Port).Scan(&b)
	return b, err
}

// ReadLive reads the coordinator's view of the cluster.
func ReadLive(ctx context.Context, conn *pgx.Conn) (*Live, error) {
	var nodesJSON, shardsJSON string
	l := &Live{Shards: map[string]int64{}, Bytes: map[string]int64{}}
	if err := conn.QueryRow(ctx, liveQuery).Scan(&nodesJSON, &shardsJSON, &l.Moves, &l.WalLevel); err != nil {
		return nil, err
	}
	var nodes [][]any
	if err := jsonUnmarshal(nodesJSON, &nodes); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		l.Nodes = append(l.Nodes, Registered{Name: n[0].(string), Port: int(n[1].(float64)), Group: int(n[2].(float64)), Active: n[3].(bool), Role: n[4].(string), ShouldHaveShards: n[5].(bool), ID: int(n[6].(float64))})
	}
	var shards [][]any
	if err := jsonUnmarshal(shardsJSON, &shards); err != nil {
		return nil, err
	}
	for _, s := range shards {
		key := s[0].(string) + ":" + strconv.Itoa(int(s[1].(float64)))
		l.Shards[key] = int64(s[2].(float64))
	}
	return l, nil
}

// nodeState is what one node's own connection says.
type nodeState struct {
	ep        cluster.Endpoint
	reachable bool
	detail    string
	database  bool
	extension bool
	conn      *pgx.Conn
}

// Compute connects to every node in parallel (one connection and one query
// each, as verify does) and lists what bootstrap, --rebalance and --prune
// would do. Nothing is changed.
func Compute(ctx context.Context, t *topology.Topology, o cluster.Options) (*Plan, error) {
	eps, err := cluster.Endpoints(t, o)
	if err != nil {
		return nil, err
	}
	states := make([]*nodeState, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { states[i] = probe(ctx, t, o, ep) })
	}
	wg.Wait()
	defer func() {
		for _, s := range states {
			if s.conn != nil {
				s.conn.Close(context.Background())
			}
		}
	}()
	p := &Plan{}
	db := t.ClusterDatabase()
	for _, s := range states {
		n := s.ep.Node.Service
		switch {
		case !s.reachable:
			p.Actions = append(p.Actions, Action{Kind: "unreachable", Node: n, Detail: s.detail})
		case !s.database:
			p.Actions = append(p.Actions, Action{Kind: "create-database", Node: n, Detail: "CREATE DATABASE " + db},
				Action{Kind: "create-extension", Node: n, Detail: "CREATE EXTENSION citus in " + db})
		case !s.extension:
			p.Actions = append(p.Actions, Action{Kind: "create-extension", Node: n, Detail: "CREATE EXTENSION citus in " + db})
		}
	}
	coord := states[0]
	if coord.conn == nil || !coord.extension {
		// Without Citus on the coordinator, bootstrap registers everything.
		if coord.reachable {
			host, port := t.NodeAddress(t.Coordinator)
			p.Actions = append(p.Actions, Action{Kind: "set-coordinator-host", Node: t.Coordinator.Service, Detail: fmt.Sprintf("%s:%d", host, port)})
			for _, w := range t.Workers {
				host, port := t.NodeAddress(w)
				p.Actions = append(p.Actions, Action{Kind: "register-worker", Node: w.Service, Detail: fmt.Sprintf("%s:%d", host, port)})
			}
		}
		return p, nil
	}
	live, err := ReadLive(ctx, coord.conn)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster from %s: %w", t.Coordinator.Service, err)
	}
	// Sizes come from the nodes themselves: asked only for nodes to drain.
	for _, r := range live.Nodes {
		if r.Group != 0 && live.Shards[r.Addr()] > 0 && !inSpec(t, r) {
			if b, err := ShardBytes(ctx, coord.conn, r); err == nil {
				live.Bytes[r.Addr()] = b
			}
		}
	}
	p.Actions = append(p.Actions, Diff(t, live)...)
	return p, nil
}

// Diff lists the metadata changes between the spec and what the coordinator
// has registered.
func Diff(t *topology.Topology, live *Live) []Action {
	var out []Action
	host, port := t.NodeAddress(t.Coordinator)
	coordAddr := host + ":" + strconv.Itoa(port)
	hasCoord := false
	for _, r := range live.Nodes {
		if r.Group == 0 {
			hasCoord = r.Addr() == coordAddr
		}
	}
	if !hasCoord {
		out = append(out, Action{Kind: "set-coordinator-host", Node: t.Coordinator.Service, Detail: coordAddr})
	}
	registered := map[string]Registered{}
	for _, r := range live.Nodes {
		if r.Group != 0 {
			registered[r.Addr()] = r
		}
	}
	wanted := map[string]topology.Node{}
	for _, w := range t.Workers {
		host, port := t.NodeAddress(w)
		addr := host + ":" + strconv.Itoa(port)
		wanted[addr] = w
		r, ok := registered[addr]
		switch {
		case !ok:
			out = append(out, Action{Kind: "register-worker", Node: w.Service, Detail: addr})
		case !r.Active:
			out = append(out, Action{Kind: "fix-registration", Node: w.Service, Detail: addr + " is registered but inactive: activate it"})
		case r.Role != "primary":
			out = append(out, Action{Kind: "fix-registration", Node: w.Service, Detail: fmt.Sprintf("%s is registered as %s, not primary", addr, r.Role)})
		}
	}
	var extra []Registered
	for addr, r := range registered {
		if _, ok := wanted[addr]; !ok {
			extra = append(extra, r)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Addr() < extra[j].Addr() })
	for _, r := range extra {
		a := Action{Kind: "drain-remove", Node: r.Addr(), Shards: live.Shards[r.Addr()], Bytes: live.Bytes[r.Addr()]}
		a.Detail = fmt.Sprintf("registered but not in the topology: drain %d shards (%s) and remove it (bootstrap --prune)", a.Shards, humanBytes(a.Bytes))
		if w, ok := sameWorker(t, r, registered); ok {
			a.Kind = "fix-registration"
			a.Detail = fmt.Sprintf("%s is %s under another name (%s): drain %d shards (%s), remove it and register %s (bootstrap --prune)",
				r.Addr(), w.Service, r.Addr(), a.Shards, humanBytes(a.Bytes), t.NodeName(w))
		}
		out = append(out, a)
	}
	if live.Moves > 0 {
		out = append(out, Action{Kind: "rebalance", Node: t.Coordinator.Service,
			Detail: fmt.Sprintf("shards are unbalanced: the rebalancer would make %d moves (bootstrap --rebalance)", live.Moves)})
	}
	return out
}

func inSpec(t *topology.Topology, r Registered) bool {
	for _, w := range t.Workers {
		host, port := t.NodeAddress(w)
		if r.Name == host && r.Port == port {
			return true
		}
	}
	return false
}

// sameWorker recognises a spec worker registered under another name or
// port: its published port on a loopback name, its container name
// (<project>_<service>_1, <project>-<service>-1), or its host on a wrong port.
func sameWorker(t *topology.Topology, r Registered, registered map[string]Registered) (topology.Node, bool) {
	for _, w := range t.Workers {
		host, port := t.NodeAddress(w)
		if _, ok := registered[host+":"+strconv.Itoa(port)]; ok {
			continue // registered rightly: the other entry is another node
		}
		switch {
		case (r.Name == "localhost" || r.Name == "127.0.0.1") && w.Port != 0 && r.Port == w.Port:
			return w, true
		case r.Port == t.ContainerPort && (strings.Contains(r.Name, "_"+w.Service+"_") || strings.Contains(r.Name, "-"+w.Service+"-")):
			return w, true
		case r.Name == host:
			// The worker's own host on another port.
			return w, true
		}
	}
	return topology.Node{}, false
}

func probe(ctx context.Context, t *topology.Topology, o cluster.Options, ep cluster.Endpoint) *nodeState {
	s := &nodeState{ep: ep}
	conn, err := o.Connect(ctx, t, ep, t.ClusterDatabase())
	if err != nil {
		kind, detail := cluster.Classify(err)
		switch kind {
		case cluster.NoDatabase:
			s.reachable = true
		default:
			s.detail = cluster.Redact(detail, o.Password, t.User)
		}
		return s
	}
	s.reachable, s.database = true, true
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus')").Scan(&s.extension); err != nil {
		conn.Close(context.Background())
		s.detail = err.Error()
		return s
	}
	s.conn = conn
	return s
}

func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
