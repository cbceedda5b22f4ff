// Package verify connects to every node of a topology and proves the live
// cluster matches it, as a list of named checks, each with a status, a
// detail and, when it fails, a hint that says what to do. Nodes are checked
// in parallel, each in as few round trips as possible, and the whole run is
// bounded by the caller's context.
package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/topology"
)

// Status of a check.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip" // a check it depends on failed
)

// Check is one named result.
type Check struct {
	Name   string `json:"name"`
	Node   string `json:"node"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

// Report is the outcome of a run, checks in a stable order.
type Report struct {
	Checks  []Check       `json:"checks"`
	Elapsed time.Duration `json:"-"`
}

// OK reports whether no check failed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// Counts returns how many checks passed, failed and were skipped.
func (r *Report) Counts() (pass, fail, skip int) {
	for _, c := range r.Checks {
		switch c.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			skip++
		}
	}
	return
}

// Options for Run.
type Options struct {
	Cluster cluster.Options
	// Smoke creates a distributed table in a scratch schema, writes and
	// counts rows across shards, and drops it.
	Smoke bool
	// HealthTimeout bounds each inter-node connection of
	// citus_check_cluster_node_health (citus.node_connection_timeout); 5s when zero.
	HealthTimeout time.Duration
}

// Check names, in the order they appear per node.
const (
	CheckReachable   = "reachable"
	CheckAuth        = "authenticated"
	CheckDatabase    = "database"
	CheckPreload     = "shared-preload"
	CheckExtension   = "citus-extension"
	CheckVersion     = "citus-version"
	CheckCoordinator = "coordinator-host"
	CheckRegistered  = "worker-registered"
	CheckExtra       = "no-extra-nodes"
	CheckHealth      = "cluster-health"
	CheckSmoke       = "smoke"
)

// nodeFacts is what one node told us.
type nodeFacts struct {
	ep     cluster.Endpoint
	checks []Check
	citus  string    // installed extension version, "" when missing
	read   bool      // the node answered the facts query: citus == "" means missing
	conn   *pgx.Conn // kept open on nodes with Citus, for the cluster checks
}

type distNode struct {
	id       int32
	group    int32
	name     string
	port     int32
	active   bool
	role     string
	hasShard bool
}

type healthRow struct {
	fromName, toName string
	fromPort, toPort int32
	ok               *bool
}

// Run checks the cluster. Only bad options are an error: whatever cannot be
// checked fails (or is skipped) with a reason, so the report is complete.
func Run(ctx context.Context, t *topology.Topology, o Options) (*Report, error) {
	start := time.Now()
	eps, err := cluster.Endpoints(t, o.Cluster)
	if err != nil {
		return nil, err
	}
	facts := make([]*nodeFacts, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { facts[i] = checkNode(ctx, t, o, ep) })
	}
	wg.Wait()

	defer func() {
		for _, f := range facts {
			if f.conn != nil {
				f.conn.Close(context.Background())
			}
		}
	}()

	r := &Report{}
	for _, f := range facts {
		r.Checks = append(r.Checks, f.checks...)
	}
	r.Checks = append(r.Checks, versionCheck(t, facts))
	coord := facts[0]
	if coord.conn != nil {
		r.Checks = append(r.Checks, clusterChecks(ctx, t, o, facts)...)
	} else {
		why := "skipped: the coordinator could not be checked"
		r.Checks = append(r.Checks, Check{Name: CheckCoordinator, Node: t.Coordinator.Service, Status: Skip, Detail: why})
		for _, w := range t.Workers {
			r.Checks = append(r.Checks, Check{Name: CheckRegistered, Node: w.Service, Status: Skip, Detail: why})
		}
		r.Checks = append(r.Checks,
			Check{Name: CheckExtra, Node: t.Coordinator.Service, Status: Skip, Detail: why},
			Check{Name: CheckHealth, Node: t.Coordinator.Service, Status: Skip, Detail: why})
		if o.Smoke {
			r.Checks = append(r.Checks, Check{Name: CheckSmoke, Node: t.Coordinator.Service, Status: Skip, Detail: why})
		}
	}
	for i := range r.Checks {
		r.Checks[i].Detail = cluster.Redact(r.Checks[i].Detail, o.Cluster.Password, t.User)
		r.Checks[i].Hint = cluster.Redact(r.Checks[i].Hint, o.Cluster.Password, t.User)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

const factsQuery = `SELECT current_setting('server_version'),
       current_setting('shared_preload_libraries'),
       coalesce((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'), ''),
       coalesce((SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'citus'), '')`

// checkNode connects once and asks everything per node in one round trip.
func checkNode(ctx context.Context, t *topology.Topology, o Options, ep cluster.Endpoint) *nodeFacts {
	n := ep.Node.Service
	f := &nodeFacts{ep: ep}
	add := func(name string, st Status, detail, hint string) {
		f.checks = append(f.checks, Check{Name: name, Node: n, Status: st, Detail: detail, Hint: hint})
	}
	skipRest := func(from int, why string) {
		for _, name := range []string{CheckReachable, CheckAuth, CheckDatabase, CheckPreload, CheckExtension}[from:] {
			add(name, Skip, "skipped: "+why, "")
		}
	}
	db := t.ClusterDatabase()
	conn, err := o.Cluster.Connect(ctx, t, ep, db)
	if err != nil {
		kind, detail := cluster.Classify(err)
		switch kind {
		case cluster.Unreachable, cluster.StartingUp:
			add(CheckReachable, Fail, fmt.Sprintf("%s: %s", ep.Addr, detail),
				fmt.Sprintf("the node is down or not at %s: start it (docker compose up -d %s), or point citusgen at it with --host or --node %s=HOST:PORT", ep.Addr, n, n))
			skipRest(1, "not reachable")
		case cluster.AuthFailed:
			add(CheckReachable, Pass, ep.Addr.String(), "")
			src := "password in the topology"
			if t.PasswordEnv != "" {
				src = "$" + t.PasswordEnv
			}
			add(CheckAuth, Fail, detail, fmt.Sprintf("make the %s match the password of user %s on %s (the image applies POSTGRES_PASSWORD only when its volume is empty; change it with ALTER USER or recreate the volume)", src, t.User, n))
			skipRest(2, "not authenticated")
		case cluster.NotPostgres:
			add(CheckReachable, Fail, fmt.Sprintf("not a PostgreSQL server at %s", ep.Addr),
				fmt.Sprintf("something else listens on %s (another service on the published port?): check the port mapping of %s, or point citusgen at it with --node %s=HOST:PORT", ep.Addr, n, n))
			skipRest(1, "not PostgreSQL")
		case cluster.NoDatabase:
			add(CheckReachable, Pass, ep.Addr.String(), "")
			add(CheckAuth, Pass, "user "+t.User, "")
			add(CheckDatabase, Fail, fmt.Sprintf("database %s does not exist on %s", db, n),
				"run citusgen bootstrap (it creates the database on every node), or run the script from citusgen render sql")
			skipRest(3, "no database")
		default:
			add(CheckReachable, Fail, detail, "")
			skipRest(1, "connection failed")
		}
		return f
	}
	var version, preload, citus, available string
	if err := conn.QueryRow(ctx, factsQuery).Scan(&version, &preload, &citus, &available); err != nil {
		conn.Close(context.Background())
		add(CheckReachable, Fail, "query failed: "+err.Error(), "")
		skipRest(1, "query failed")
		return f
	}
	f.read = true
	add(CheckReachable, Pass, fmt.Sprintf("%s, PostgreSQL %s", ep.Addr, version), "")
	add(CheckAuth, Pass, "user "+t.User, "")
	add(CheckDatabase, Pass, db, "")
	libs := splitList(preload)
	if len(libs) > 0 && libs[0] == "citus" {
		add(CheckPreload, Pass, "shared_preload_libraries = '"+preload+"'", "")
	} else {
		detail := "citus is not in shared_preload_libraries ('" + preload + "')"
		if slices.Contains(libs, "citus") {
			detail = "citus must be first in shared_preload_libraries ('" + preload + "')"
		}
		add(CheckPreload, Fail, detail, fmt.Sprintf("set shared_preload_libraries = 'citus' (citus first) on %s and restart it; the citusdata/citus images do this", n))
	}
	switch {
	case citus != "":
		f.citus = citus
		add(CheckExtension, Pass, "citus "+citus, "")
	case available != "":
		add(CheckExtension, Fail, fmt.Sprintf("citus %s is available but not created in %s", available, db), "run citusgen bootstrap (CREATE EXTENSION citus)")
	default:
		add(CheckExtension, Fail, "the citus extension is not installed on this server", bootstrap.StepHint(t, n, "citus.control"))
	}
	if citus != "" {
		f.conn = conn // kept for the cluster checks; Run closes it
	} else {
		conn.Close(context.Background())
	}
	return f
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.Trim(strings.TrimSpace(p), `"`)
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func versionCheck(t *topology.Topology, facts []*nodeFacts) Check {
	c := Check{Name: CheckVersion, Node: "cluster"}
	versions := map[string][]string{}
	var unread, missing []string
	for _, f := range facts {
		switch {
		case !f.read:
			unread = append(unread, f.ep.Node.Service)
		case f.citus == "":
			missing = append(missing, f.ep.Node.Service)
		default:
			versions[f.citus] = append(versions[f.citus], f.ep.Node.Service)
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
		c.Status, c.Detail = Skip, "skipped: "+strings.Join(why, "; ")
		return c
	}
	if len(versions) == 1 {
		for v := range versions {
			c.Status, c.Detail = Pass, fmt.Sprintf("citus %s on all %d nodes", v, len(facts))
		}
		return c
	}
	var parts []string
	for v, nodes := range versions {
		parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(nodes, ", ")))
	}
	sort.Strings(parts)
	c.Status, c.Detail = Fail, "versions differ: "+strings.Join(parts, "; ")
	c.Hint = "use the same image (or Citus package) on every node, then run ALTER EXTENSION citus UPDATE on each"
	return c
}

// clusterChecks reads the coordinator's node table (one round trip) and
// the health of every connection between nodes.
func clusterChecks(ctx context.Context, t *topology.Topology, o Options, facts []*nodeFacts) []Check {
	coord := facts[0]
	cn := t.Coordinator.Service
	var nodes []distNode
	rows, err := coord.conn.Query(ctx, "SELECT nodeid, groupid, nodename, nodeport, isactive, noderole::text, shouldhaveshards FROM pg_catalog.pg_dist_node ORDER BY nodeid")
	if err == nil {
		for rows.Next() {
			var d distNode
			if err = rows.Scan(&d.id, &d.group, &d.name, &d.port, &d.active, &d.role, &d.hasShard); err != nil {
				break
			}
			nodes = append(nodes, d)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	var health []healthRow
	var healthErr error
	if err == nil {
		health, healthErr = clusterHealth(ctx, t, o, facts, nodes)
	}

	var out []Check
	if err != nil {
		why := "skipped: cannot read pg_dist_node: " + err.Error()
		out = append(out, Check{Name: CheckCoordinator, Node: cn, Status: Fail, Detail: "cannot read pg_dist_node: " + err.Error()})
		for _, w := range t.Workers {
			out = append(out, Check{Name: CheckRegistered, Node: w.Service, Status: Skip, Detail: why})
		}
		return append(out, Check{Name: CheckExtra, Node: cn, Status: Skip, Detail: why}, Check{Name: CheckHealth, Node: cn, Status: Skip, Detail: why})
	}

	names := nodeNames(t)
	out = append(out, coordinatorCheck(t, nodes))
	expected := map[string]bool{}
	for _, w := range t.Workers {
		host, port := t.NodeAddress(w)
		key := host + ":" + strconv.Itoa(port)
		expected[key] = true
		out = append(out, registeredCheck(t, w, key, nodes))
	}
	out = append(out, extraCheck(t, nodes, expected))
	// Nodes without the extension cannot run the check: their pairs say
	// nothing about connectivity, and the citus-extension row says why.
	noExt := map[string]bool{}
	for _, f := range facts {
		if f.read && f.citus == "" {
			noExt[f.ep.Node.Service] = true
		}
	}
	out = append(out, healthCheck(t, health, healthErr, names, noExt))
	if o.Smoke {
		out = append(out, smoke(ctx, t, coord.conn))
	}
	return out
}

// clusterHealth returns exactly the rows of citus_check_cluster_node_health():
// for every active primary as source and every one as target, whether the
// source can connect to the target (NULL when the source itself cannot be
// asked). Citus checks those n² pairs one after another, each a new TLS
// connection (about a second for 8 nodes); here every source runs its own
// checks over the connection verify already holds, all sources in parallel.
// A registered source outside the topology has no such connection, and then
// the function itself runs on the coordinator.
func clusterHealth(ctx context.Context, t *topology.Topology, o Options, facts []*nodeFacts, nodes []distNode) ([]healthRow, error) {
	timeout := o.HealthTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// Bound each inter-node connection so a silent node cannot stall us.
	setTimeout := fmt.Sprintf("SET citus.node_connection_timeout TO %d", timeout.Milliseconds())

	var active []distNode
	for _, d := range nodes {
		if d.active && d.role == "primary" {
			active = append(active, d)
		}
	}
	// Citus's order: by name, then port.
	sort.Slice(active, func(i, j int) bool {
		if active[i].name != active[j].name {
			return active[i].name < active[j].name
		}
		return active[i].port < active[j].port
	})
	byAddr := map[string]*nodeFacts{}
	for _, f := range facts {
		host, port := t.NodeAddress(f.ep.Node)
		byAddr[host+":"+strconv.Itoa(port)] = f
	}
	sources := make([]*nodeFacts, len(active))
	for i, d := range active {
		f, ok := byAddr[d.name+":"+strconv.Itoa(int(d.port))]
		if !ok {
			return functionHealth(ctx, facts[0].conn, setTimeout)
		}
		sources[i] = f
	}
	names := make([]string, len(active))
	ports := make([]int32, len(active))
	for i, d := range active {
		names[i], ports[i] = d.name, d.port
	}
	results := make([][]*bool, len(active))
	errs := make([]error, len(active))
	var wg sync.WaitGroup
	for i, f := range sources {
		results[i] = make([]*bool, len(active))
		if f.conn == nil {
			continue // the source cannot be asked: NULL, as in Citus
		}
		wg.Go(func() {
			b := &pgx.Batch{}
			b.Queue(setTimeout)
			b.Queue("SELECT pg_catalog.citus_check_connection_to_node(t.name, t.port) FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(name, port, n) ORDER BY n", names, ports)
			br := f.conn.SendBatch(ctx, b)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				errs[i] = err
				return
			}
			rows, err := br.Query()
			if err != nil {
				errs[i] = err
				return
			}
			for j := 0; rows.Next(); j++ {
				if err := rows.Scan(&results[i][j]); err != nil {
					errs[i] = err
					break
				}
			}
			rows.Close()
			if errs[i] == nil {
				errs[i] = rows.Err()
			}
		})
	}
	wg.Wait()
	var out []healthRow
	for i, src := range active {
		if errs[i] != nil {
			return nil, fmt.Errorf("from %s:%d: %w", src.name, src.port, errs[i])
		}
		for j, dst := range active {
			out = append(out, healthRow{fromName: src.name, fromPort: src.port, toName: dst.name, toPort: dst.port, ok: results[i][j]})
		}
	}
	return out, nil
}

func functionHealth(ctx context.Context, conn *pgx.Conn, setTimeout string) ([]healthRow, error) {
	if _, err := conn.Exec(ctx, setTimeout); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, "SELECT from_nodename, from_nodeport, to_nodename, to_nodeport, result FROM pg_catalog.citus_check_cluster_node_health()")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []healthRow
	for rows.Next() {
		var h healthRow
		if err := rows.Scan(&h.fromName, &h.fromPort, &h.toName, &h.toPort, &h.ok); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// nodeNames maps registered host:port to the spec's service names.
func nodeNames(t *topology.Topology) map[string]string {
	m := map[string]string{}
	for _, n := range t.Nodes() {
		host, port := t.NodeAddress(n)
		m[host+":"+strconv.Itoa(port)] = n.Service
	}
	return m
}

func coordinatorCheck(t *topology.Topology, nodes []distNode) Check {
	cn := t.Coordinator.Service
	host, port := t.NodeAddress(t.Coordinator)
	want := host + ":" + strconv.Itoa(port)
	c := Check{Name: CheckCoordinator, Node: cn}
	for _, d := range nodes {
		if d.group != 0 {
			continue
		}
		got := d.name + ":" + strconv.Itoa(int(d.port))
		if got == want {
			c.Status, c.Detail = Pass, "coordinator registered as "+want
			return c
		}
		c.Status, c.Detail = Fail, fmt.Sprintf("coordinator registered as %s, the topology says %s", got, want)
		c.Hint = fmt.Sprintf("run citusgen bootstrap, or SELECT citus_set_coordinator_host('%s', %d); workers use this name to reach the coordinator", host, port)
		return c
	}
	c.Status, c.Detail = Fail, "the coordinator host is not set (no group 0 row in pg_dist_node)"
	c.Hint = fmt.Sprintf("run citusgen bootstrap, or SELECT citus_set_coordinator_host('%s', %d)", host, port)
	return c
}

func registeredCheck(t *topology.Topology, w topology.Node, key string, nodes []distNode) Check {
	c := Check{Name: CheckRegistered, Node: w.Service}
	host, port := t.NodeAddress(w)
	for _, d := range nodes {
		if d.name+":"+strconv.Itoa(int(d.port)) != key {
			continue
		}
		switch {
		case d.group == 0:
			c.Status, c.Detail = Fail, key+" is registered as the coordinator"
			c.Hint = "the coordinator and a worker share a node name; fix node_name in the topology"
		case !d.active:
			c.Status, c.Detail = Fail, fmt.Sprintf("%s is registered but inactive (nodeid %d)", key, d.id)
			c.Hint = fmt.Sprintf("SELECT citus_activate_node('%s', %d) once the worker is up", host, port)
		case d.role != "primary":
			c.Status, c.Detail = Fail, fmt.Sprintf("%s is registered as %s, not primary", key, d.role)
			c.Hint = "remove it with citus_remove_node and run citusgen bootstrap"
		default:
			c.Status, c.Detail = Pass, fmt.Sprintf("%s active primary (nodeid %d)", key, d.id)
		}
		return c
	}
	c.Status = Fail
	c.Detail = key + " is not in pg_dist_node"
	if alt := sameWorkerElsewhere(w, port, nodes); alt != "" {
		c.Detail += "; it looks registered as " + alt + " instead"
	}
	c.Hint = fmt.Sprintf("run citusgen bootstrap, or SELECT citus_add_node('%s', %d) on the coordinator", host, port)
	return c
}

// sameWorkerElsewhere finds a row that is probably this worker under another
// name: a loopback name on its published port, or its container name.
func sameWorkerElsewhere(w topology.Node, port int, nodes []distNode) string {
	for _, d := range nodes {
		if d.group == 0 {
			continue
		}
		if (isLoopback(d.name) && (int(d.port) == w.Port || int(d.port) == port)) || strings.Contains(d.name, w.Service) {
			return d.name + ":" + strconv.Itoa(int(d.port))
		}
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func extraCheck(t *topology.Topology, nodes []distNode, expected map[string]bool) Check {
	c := Check{Name: CheckExtra, Node: t.Coordinator.Service}
	var extras, hints []string
	for _, d := range nodes {
		key := d.name + ":" + strconv.Itoa(int(d.port))
		if d.group == 0 || expected[key] {
			continue
		}
		extras = append(extras, fmt.Sprintf("%s (nodeid %d)", key, d.id))
		remove := fmt.Sprintf("SELECT citus_remove_node('%s', %d)", d.name, d.port)
		switch {
		case isLoopback(d.name):
			hints = append(hints, fmt.Sprintf("%s names the coordinator's own host, not a worker (inside a container localhost is itself): %s and register the worker by its in-network name", key, remove))
		case containsService(t, d.name) != "":
			hints = append(hints, fmt.Sprintf("%s is %s registered a second time under its container name (the old membership-manager did that): %s", key, containsService(t, d.name), remove))
		default:
			hints = append(hints, fmt.Sprintf("%s is not in the topology: add it to the topology, or %s", key, remove))
		}
	}
	if len(extras) == 0 {
		c.Status, c.Detail = Pass, fmt.Sprintf("pg_dist_node holds exactly the %d workers of the topology", len(expected))
		return c
	}
	c.Status, c.Detail = Fail, "registered but not in the topology: "+strings.Join(extras, ", ")
	c.Hint = strings.Join(hints, "; ")
	return c
}

func containsService(t *topology.Topology, name string) string {
	for _, w := range t.Workers {
		if name != w.Service && strings.Contains(name, w.Service) {
			return w.Service
		}
	}
	return ""
}

func healthCheck(t *topology.Topology, rows []healthRow, err error, names map[string]string, noExt map[string]bool) Check {
	c := Check{Name: CheckHealth, Node: t.Coordinator.Service}
	label := func(name string, port int32) string {
		key := name + ":" + strconv.Itoa(int(port))
		if s, ok := names[key]; ok {
			return s
		}
		return key
	}
	if err != nil {
		c.Status, c.Detail = Fail, "citus_check_cluster_node_health() failed: "+err.Error()
		c.Hint = bootstrap.StepHint(t, t.Coordinator.Service, err.Error())
		return c
	}
	var bad []string
	skipped := map[string]bool{}
	// A node is down (or cut off) when every connection to or from it
	// failed; other failures are between nodes that are up.
	involved, failed := map[string]int{}, map[string]int{}
	checked := 0
	for _, h := range rows {
		from, to := label(h.fromName, h.fromPort), label(h.toName, h.toPort)
		if noExt[from] {
			skipped[from] = true
			continue
		}
		checked++
		involved[from]++
		if to != from {
			involved[to]++
		}
		if h.ok == nil || !*h.ok {
			bad = append(bad, from+" -> "+to)
			failed[from]++
			if to != from {
				failed[to]++
			}
		}
	}
	if len(rows) == 0 {
		c.Status, c.Detail = Fail, "no nodes to check (pg_dist_node is empty)"
		c.Hint = "run citusgen bootstrap"
		return c
	}
	var notChecked string
	if len(skipped) > 0 {
		var list []string
		for n := range skipped {
			list = append(list, n)
		}
		sort.Strings(list)
		notChecked = fmt.Sprintf("; not checked from %s: the citus extension is not created there (see citus-extension)", strings.Join(list, ", "))
	}
	if len(bad) == 0 {
		c.Status, c.Detail = Pass, fmt.Sprintf("all %d connections between nodes work", checked)
		if notChecked != "" {
			c.Status, c.Detail = Skip, fmt.Sprintf("%d connections work%s", checked, notChecked)
		}
		return c
	}
	sort.Strings(bad)
	var down []string
	for n, total := range involved {
		if failed[n] == total {
			down = append(down, n)
		}
	}
	sort.Strings(down)
	c.Status = Fail
	c.Detail = fmt.Sprintf("%d of %d connections failed: %s%s", len(bad), checked, strings.Join(bad, ", "), notChecked)
	if len(down) > 0 {
		c.Hint = fmt.Sprintf("unreachable from other nodes: %s. Start it if it is down (a stopped worker stays 'active' in pg_dist_node); otherwise check that its node name resolves inside the cluster", strings.Join(down, ", "))
	} else {
		c.Hint = "nodes are up but some cannot reach each other: check that node names resolve between nodes and that inter-node credentials are set on every node (citusgen bootstrap stores them in pg_dist_authinfo)"
	}
	return c
}

// smoke proves distributed writes and reads work, in a scratch schema that
// is always dropped.
func smoke(ctx context.Context, t *topology.Topology, conn *pgx.Conn) Check {
	c := Check{Name: CheckSmoke, Node: t.Coordinator.Service}
	var buf [6]byte
	rand.Read(buf[:])
	schema := "citusgen_smoke_" + hex.EncodeToString(buf[:])
	table := pgx.Identifier{schema, "probe"}.Sanitize()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn.Exec(dctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	const rows = 1000
	steps := []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE " + table + " (id bigint PRIMARY KEY, payload text NOT NULL)",
		"SELECT create_distributed_table('" + schema + ".probe', 'id')",
		"INSERT INTO " + table + " SELECT g, md5(g::text) FROM generate_series(1, " + strconv.Itoa(rows) + ") g",
	}
	for _, s := range steps {
		if _, err := conn.Exec(ctx, s); err != nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("%s: %v", strings.SplitN(s, " (", 2)[0], err)
			c.Hint = bootstrap.StepHint(t, t.Coordinator.Service, err.Error())
			return c
		}
	}
	var count, shards, placements int
	err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+table+"), count(*), count(DISTINCT nodename || ':' || nodeport) FROM citus_shards WHERE table_name = $1::regclass", schema+".probe").Scan(&count, &shards, &placements)
	if err != nil {
		c.Status, c.Detail = Fail, "counting rows: "+err.Error()
		return c
	}
	if count != rows || placements != len(t.Workers) {
		c.Status = Fail
		c.Detail = fmt.Sprintf("%d of %d rows read back, shards on %d of %d workers", count, rows, placements, len(t.Workers))
		c.Hint = "some workers hold no shards: check pg_dist_node.shouldhaveshards and that every worker is registered"
		return c
	}
	c.Status, c.Detail = Pass, fmt.Sprintf("%d rows written and counted across %d shards on %d workers", rows, shards, placements)
	return c
}
