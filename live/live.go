// Package live reads a running Citus cluster once, for everything that
// compares it with the topology (verify, plan, bootstrap).
package live

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/topology"
)

// Registration is one row of pg_dist_node, as any node holds it.
type Registration struct {
	ID               int32  `json:"nodeid"`
	Group            int32  `json:"groupid"`
	Name             string `json:"nodename"`
	Port             int32  `json:"nodeport"`
	Active           bool   `json:"isactive"`
	Role             string `json:"noderole"`
	ShouldHaveShards bool   `json:"shouldhaveshards"`
	HasMetadata      bool   `json:"hasmetadata"`
	MetadataSynced   bool   `json:"metadatasynced"`
}

// Addr is the registration's host:port.
func (r Registration) Addr() string { return r.Name + ":" + strconv.Itoa(int(r.Port)) }

// sameMetadata compares what a metadata sync copies (not the sync flags,
// which the coordinator keeps for itself).
func (r Registration) sameMetadata(o Registration) bool {
	return r.ID == o.ID && r.Group == o.Group && r.Name == o.Name && r.Port == o.Port &&
		r.Active == o.Active && r.Role == o.Role && r.ShouldHaveShards == o.ShouldHaveShards
}

// Credentials is the state of a node's inter-node credentials
// (pg_dist_authinfo, nodeid 0, the cluster user).
type Credentials int

const (
	CredentialsNotNeeded Credentials = iota // trust authentication: no password to store
	CredentialsUnknown                      // the node's catalog was not read
	CredentialsOK                           // the topology's password
	CredentialsMissing                      // no row: Citus connects without a password
	CredentialsStale                        // another password (rotated since?)
)

// Node is what one node said about itself.
type Node struct {
	Endpoint cluster.Endpoint

	// Connected: logged in to the cluster database.
	Connected bool
	Failure   cluster.Failure
	Detail    string
	// QueryErr: connected, but the facts query failed.
	QueryErr string

	// Facts: the server facts below were read, from the cluster database
	// or, where it does not exist yet, from the maintenance database.
	Facts          bool
	ServerVersion  string
	Preload        string // shared_preload_libraries
	Citus          string // the created extension's version, "" when missing
	CitusAvailable string // the installable version, "" when not installed
	WalLevel       string
	// NodeConninfo is citus.node_conninfo: how Citus on this node connects
	// to the others ("" where Citus is not loaded).
	NodeConninfo string
	// QueryHint says what to do about a reading that QueryErr or
	// CatalogErr says was held up: by a lock, or a statement_timeout.
	QueryHint string

	// From Citus's catalog, where the extension exists; CatalogErr when
	// reading it failed anyway.
	CatalogErr    string
	Registrations []Registration
	LocalGroup    int32 // the group this node believes it is; -1 unknown
	Credentials   Credentials
	// OwnShards and OwnTables are what the node's own metadata says: the
	// shards of distributed tables it places in the node's group, and the
	// distributed tables it knows. A worker of another cluster has them.
	OwnShards, OwnTables int64

	mu      sync.Mutex
	notices []string
	conn    *pgx.Conn
}

// Service is the node's service name.
func (n *Node) Service() string { return n.Endpoint.Node.Service }

// Known reports whether the node's state was read: it answered the facts
// query, or it accepted the login and has no cluster database yet.
func (n *Node) Known() bool {
	return n.Connected && n.QueryErr == "" || !n.Connected && n.Failure == cluster.NoDatabase
}

// HasFacts reports whether the server facts were read, from the cluster
// database or the maintenance one.
func (n *Node) HasFacts() bool { return n.Facts || n.Connected && n.QueryErr == "" }

// Read reports whether the node's facts and, where the extension exists,
// its catalog were read.
func (n *Node) Read() bool { return n.Known() && n.CatalogErr == "" }

// HasCitus reports whether the extension is created on the node.
func (n *Node) HasCitus() bool { return n.Connected && n.QueryErr == "" && n.Citus != "" }

// PreloadOK reports whether citus is first in shared_preload_libraries.
func (n *Node) PreloadOK() bool {
	libs := SplitList(n.Preload)
	return len(libs) > 0 && libs[0] == "citus"
}

// Conn is the node's open connection when the reading kept it (Keep), nil
// otherwise or when it has no extension.
func (n *Node) Conn() *pgx.Conn { return n.conn }

// TakeNotices returns and forgets the warnings the server sent so far
// (Citus explains a failed inter-node connection in one).
func (n *Node) TakeNotices() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.notices
	n.notices = nil
	return out
}

// Job is a rebalance job that has not ended.
type Job struct {
	ID          int64
	State       string
	Tasks, Done int64
}

// CoordinatorReading is what only the coordinator's reading has.
type CoordinatorReading struct {
	// Shards per group (distributed tables), from the coordinator's catalog.
	Shards map[int32]int64
	// Reshape: what a rebalance would do; read only with Options.Reshape.
	Reshaped   bool
	Moves      int64
	Jobs       []Job
	ReshapeErr string
}

// Cluster is one reading of every node.
type Cluster struct {
	Topology *topology.Topology
	// Nodes in topology order, coordinator first.
	Nodes []*Node
	CoordinatorReading
	// Bytes per group, for registrations outside the topology that hold
	// shards (read only with Options.Reshape); BytesErr says why a group
	// could not be measured.
	Bytes    map[int32]int64
	BytesErr map[int32]string
	// Match pairs the topology with the coordinator's registrations; nil
	// when the coordinator's catalog was not read.
	Match *Match
	// Health is how the nodes reach each other (read with Options.Health
	// where Match is not nil).
	Health *Health
}

// Coordinator is the coordinator's reading.
func (c *Cluster) Coordinator() *Node { return c.Nodes[0] }

// Node finds a node's reading by service name.
func (c *Cluster) Node(service string) *Node {
	for _, n := range c.Nodes {
		if n.Service() == service {
			return n
		}
	}
	return nil
}

// Close ends the connections a reading kept.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n.conn != nil {
			n.conn.Close(context.Background())
			n.conn = nil
		}
	}
}

// Unread lists what could not be read, one line per node: those nodes' state
// is unknown, so no comparison with the topology is complete.
func (c *Cluster) Unread() []Problem {
	var out []Problem
	for _, n := range c.Nodes {
		switch {
		case !n.Known():
			out = append(out, Problem{Node: n.Service(), Detail: n.failureLine(), Hint: n.FailureHint(c.Topology)})
		case n.CatalogErr != "":
			out = append(out, Problem{Node: n.Service(), Detail: "reading Citus's catalog failed: " + n.CatalogErr, Hint: n.QueryHint})
		}
	}
	return out
}

// ReshapeProblem says why what a rebalance would do is unknown (Citus
// weighs shards by size, and cannot size them while a registered node is
// unreachable); nil when it was read or not asked for.
func (c *Cluster) ReshapeProblem() *Problem {
	if c.ReshapeErr == "" {
		return nil
	}
	return &Problem{Node: c.Coordinator().Service(), Detail: "whether shards are balanced is unknown: Citus's rebalance plan failed: " + c.ReshapeErr,
		Hint: "a registered node the coordinator cannot reach blocks it (Citus sizes every shard before it plans): start it, make it reachable from the coordinator, or remove its registration (citusgen plan lists the changes), then run plan again"}
}

// Problem is a part of the cluster that could not be read.
type Problem struct {
	Node, Detail, Hint string
}

func (n *Node) failureLine() string {
	if n.Connected {
		return "reading it failed: " + n.QueryErr
	}
	switch n.Failure {
	case cluster.NotPostgres, cluster.Silent:
		return n.Detail
	}
	return fmt.Sprintf("%s: %s", n.Endpoint.Addr, n.Detail)
}

// FailureHint says what to do about a node that could not be read.
func (n *Node) FailureHint(t *topology.Topology) string {
	s, addr := n.Service(), n.Endpoint.Addr
	switch n.Failure {
	case cluster.Unreachable, cluster.StartingUp:
		if miss := cluster.PublishMiss(t, n.Endpoint); miss != "" && n.Failure == cluster.Unreachable {
			return miss
		}
		if !n.Endpoint.Node.RunsFromImage() {
			return fmt.Sprintf("the server is down or not at %s: start it, or point citusgen at it with --host or --node %s=HOST:PORT", addr, s)
		}
		// A container that exits at once (an image that refuses its data
		// volume, another major's data) says why only in its log.
		return fmt.Sprintf("the node is down or not at %s: start it (docker compose up -d %s); if it does not stay up, docker compose logs %s says why (for example data of another PostgreSQL major, or a volume where the image keeps none); or point citusgen at it with --host or --node %s=HOST:PORT", addr, s, s, s)
	case cluster.Silent:
		return fmt.Sprintf("a process accepts connections on %s but does not answer like PostgreSQL: check what listens there (a stuck server, a firewall or proxy holding the connection), or point citusgen at %s with --node %s=HOST:PORT", addr, s, s)
	case cluster.NotPostgres:
		return fmt.Sprintf("something else listens on %s (another service on the published port?): check the port mapping of %s, or point citusgen at it with --node %s=HOST:PORT", addr, s, s)
	case cluster.TooManyClients:
		return cluster.FullHint(s)
	case cluster.AuthFailed:
		src := "password in the topology"
		if t.PasswordEnv != "" {
			src = "$" + t.PasswordEnv
		}
		return fmt.Sprintf("%s keeps the password of user %s its volume was created with (the image applies POSTGRES_PASSWORD only to an empty volume): %s; otherwise make the %s match it", s, t.User, t.PasswordChangeHint(), src)
	}
	return n.QueryHint
}

// StepHint explains the failures a bootstrap step is known to hit; beside
// FailureHint, so that every diagnosis of a node has one home.
func StepHint(t *topology.Topology, node, detail string) string {
	switch {
	case strings.Contains(detail, "shared_preload_libraries"):
		return PreloadFix(node)
	case strings.Contains(detail, "citus.control") || strings.Contains(detail, `extension "citus" is not available`):
		return fmt.Sprintf("the Citus extension is not installed on %s: use a citusdata/citus image or install the Citus package for its PostgreSQL version", node)
	case strings.Contains(detail, "fe_sendauth: no password supplied") || strings.Contains(detail, "password authentication failed"):
		return fmt.Sprintf("%s cannot log in to another node: give the topology a password (password or password_env) so bootstrap stores it in pg_dist_authinfo, or set PGPASSWORD in the servers' environment", node)
	case strings.Contains(detail, "connection to the remote node"):
		return fmt.Sprintf("%s cannot reach that node under its registered name: check that the worker is running and that its node name (CITUS_NODE_NAME, service:port) resolves from %s (same compose network, or set node_name)", node, node)
	case strings.Contains(detail, "permission denied"):
		return fmt.Sprintf("user %s needs to be a superuser on %s to create the extension and register nodes", t.User, node)
	}
	return ""
}

// Options for Read.
type Options struct {
	Cluster cluster.Options
	// Reshape also reads what a rebalance would do (moves, running jobs)
	// and the size of the shards a prune would move.
	Reshape bool
	// Keep leaves the connections of nodes with the extension open (Conn)
	// until Close, for checks that run on them.
	Keep bool
	// Health also reads how the nodes reach each other (Cluster.Health);
	// HealthTimeout bounds each of Citus's connections for it (10s when
	// 0, and at most a quarter of the time left).
	Health        bool
	HealthTimeout time.Duration
	// Bound is how long a node's reading may wait (for a lock, say) before
	// citusgen asks what holds it and gives up; 0 is half the time left
	// before ctx's deadline.
	Bound time.Duration
}

// Read reads every node in parallel, one connection and one round trip each
// (plus one on the coordinator for the size of shards to drain, with
// Reshape).
func Read(ctx context.Context, t *topology.Topology, o Options) (*Cluster, error) {
	eps, err := cluster.Endpoints(t, o.Cluster)
	if err != nil {
		return nil, err
	}
	nodes := make([]*Node, len(eps))
	coordinator := CoordinatorReading{Shards: map[int32]int64{}}
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { nodes[i] = readNode(ctx, t, o, ep, i == 0, &coordinator) })
	}
	wg.Wait()
	c := Assemble(t, nodes, coordinator)
	coord := c.Coordinator()
	if c.ReshapeErr != "" && coord.conn != nil {
		// Citus says only that some node could not be reached: name it.
		if why := c.cannotReach(ctx, coord); why != "" {
			c.ReshapeErr += ": " + o.Cluster.Redact(t, why)
		}
	}
	if o.Reshape && c.Match != nil && coord.conn != nil {
		c.readBytes(ctx, coord.conn, func(s string) string { return o.Cluster.Redact(t, s) })
	}
	if o.Health && c.Match != nil {
		c.Health = readHealth(ctx, c, citusConnectTimeout(ctx, o))
	}
	if !o.Keep {
		c.Close()
	}
	return c, nil
}

// Assemble makes a Cluster of what was read, the nodes (coordinator
// first) and what only the coordinator's reading has, and matches the
// coordinator's registrations to the topology: Read ends with it, and a
// reading made otherwise (the tests' drifted clusters) becomes a Cluster
// the same way.
func Assemble(t *topology.Topology, nodes []*Node, coordinator CoordinatorReading) *Cluster {
	c := &Cluster{Topology: t, Nodes: nodes, CoordinatorReading: coordinator, Bytes: map[int32]int64{}, BytesErr: map[int32]string{}}
	if c.Shards == nil {
		c.Shards = map[int32]int64{}
	}
	c.assemble()
	return c
}

func (c *Cluster) assemble() {
	coord := c.Coordinator()
	if coord.HasCitus() && coord.CatalogErr == "" {
		c.Match = match(c.Topology, c)
	}
}

func readNode(ctx context.Context, t *topology.Topology, o Options, ep cluster.Endpoint, isCoord bool, c *CoordinatorReading) *Node {
	n := &Node{Endpoint: ep, LocalGroup: -1, Credentials: CredentialsUnknown}
	if !t.HasPassword() || o.Cluster.Password == "" {
		n.Credentials = CredentialsNotNeeded
	}
	redact := func(s string) string { return o.Cluster.Redact(t, cluster.OneLine(s)) }
	cfg, err := o.Cluster.Config(t, ep, t.ClusterDatabase())
	if err != nil {
		n.Failure, n.Detail = cluster.Other, redact(err.Error())
		return n
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, notice *pgconn.Notice) {
		n.mu.Lock()
		n.notices = append(n.notices, o.Cluster.Redact(t, notice.Message))
		n.mu.Unlock()
	}
	// One round trip per reading, statement by statement: pgx's default
	// mode prepares a batch's statements first, and the catalog's, which
	// fail to prepare where the extension does not exist, would take the
	// server facts down with them.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		kind, detail := cluster.Diagnose(ep.Addr, err)
		n.Failure, n.Detail = kind, redact(detail)
		if kind == cluster.NoDatabase {
			n.readMaintenance(ctx, t, o, redact)
		}
		return n
	}
	n.Connected = true
	n.ServerVersion = conn.PgConn().ParameterStatus("server_version") // until the facts say it
	// The statements run in order; the catalog's fail where the extension
	// does not exist, which the facts already tell.
	var regs, auth, shards, jobs string
	qs := []query{n.facts(), {citus.NodeCatalog, []any{&regs, &n.LocalGroup, &auth, &n.OwnShards, &n.OwnTables}}}
	if isCoord {
		qs = append(qs, query{citus.Shards, []any{&shards}})
		if o.Reshape {
			// Citus's rebalance plan connects to every worker to size its
			// shards: bound those connections well within the reading's own
			// bound, so a worker that accepts and never answers (a hung
			// host) fails the plan, naming the worker, instead of holding
			// up the coordinator's whole reading.
			qs = append(qs, query{sql: citus.SetConnectionTimeout(citusConnectTimeout(ctx, o).Milliseconds())},
				query{citus.Reshape, []any{&c.Moves, &jobs, nil}})
		}
	}
	why := n.exec(ctx, conn, o.Bound, redact, qs...)
	n.Facts, n.QueryErr = why[0] == "", why[0]
	if n.QueryErr != "" || n.Citus == "" {
		conn.Close(context.Background())
		return n
	}
	n.conn = conn // the extension exists: checks may run on it
	if n.CatalogErr = why[1]; n.CatalogErr == "" {
		n.CatalogErr = n.takeCatalog(t, regs, auth, o.Cluster.Password)
	}
	if isCoord && n.CatalogErr == "" {
		c.take(n, why, shards, jobs, o.Reshape)
	}
	return n
}

// citusConnectTimeout bounds each connection Citus opens for a reading or
// the health check: HealthTimeout (10s when 0), and at most a quarter of the
// time left.
func citusConnectTimeout(ctx context.Context, o Options) time.Duration {
	timeout := cmp.Or(max(o.HealthTimeout, 0), 10*time.Second)
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(deadline)/4, 100*time.Millisecond))
	}
	return timeout
}

// readMaintenance reads the server facts of a node whose cluster database
// does not exist from its maintenance database: a server without Citus
// installed or preloaded shows before bootstrap would trip over it.
func (n *Node) readMaintenance(ctx context.Context, t *topology.Topology, o Options, redact func(string) string) {
	conn, err := o.Cluster.ConnectMaintenance(ctx, t, n.Endpoint)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if n.Facts = n.exec(ctx, conn, o.Bound, redact, n.facts())[0] == ""; n.Facts {
		n.Citus = "" // another database's extension says nothing of the cluster database
	}
}

// facts reads the server facts into n.
func (n *Node) facts() query {
	return query{`SELECT current_setting('server_version'),
       current_setting('shared_preload_libraries'),
       coalesce((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'), ''),
       coalesce((SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = 'citus'), ''),
       current_setting('wal_level'),
       coalesce(current_setting('citus.node_conninfo', true), '')`,
		[]any{&n.ServerVersion, &n.Preload, &n.Citus, &n.CitusAvailable, &n.WalLevel, &n.NodeConninfo}}
}

// query is one statement of a node's reading and where the columns of its
// one row go (none: a statement without rows).
type query struct {
	sql  string
	dest []any
}

// exec sends a node's reading in one round trip and says, for each
// statement, why its row was not read ("" when it was). Bounded: a reading
// held up by a lock says which session holds it, one that a
// statement_timeout canceled says where the timeout was set, each with what
// to do (QueryHint); that stands for every statement that did not complete.
func (n *Node) exec(ctx context.Context, conn *pgx.Conn, bound time.Duration, redact func(string) string, qs ...query) []string {
	b := &pgx.Batch{}
	for _, q := range qs {
		b.Queue(q.sql)
	}
	errs := make([]error, len(qs))
	err := cluster.Watch(ctx, conn, bound, func(ctx context.Context) error {
		br := conn.SendBatch(ctx, b)
		for i, q := range qs {
			if q.dest == nil {
				_, errs[i] = br.Exec()
			} else {
				errs[i] = br.QueryRow().Scan(q.dest...)
			}
		}
		return br.Close()
	})
	var diag string
	var hinted cluster.Hinted
	if errors.As(err, &hinted) {
		diag = redact(hinted.Error())
		n.QueryHint = redact(hinted.Hint(n.Service()))
	}
	why := make([]string, len(qs))
	for i, err := range errs {
		switch {
		case err != nil && diag != "":
			why[i] = diag
		case err != nil:
			why[i] = redact(cluster.ErrText(err))
		}
	}
	return why
}

// takeCatalog takes the registrations and credentials, which the catalog
// gives as JSON; it says what could not be read.
func (n *Node) takeCatalog(t *topology.Topology, regs, auth, password string) string {
	if err := json.Unmarshal([]byte(regs), &n.Registrations); err != nil {
		return "pg_dist_node: " + err.Error()
	}
	var rows [][]any
	if err := json.Unmarshal([]byte(auth), &rows); err != nil {
		return "pg_dist_authinfo: " + err.Error()
	}
	n.Credentials = credentials(t, rows, password)
	return ""
}

// take takes what only the coordinator's reading has: the shard counts per
// group and, with reshape, what a rebalance would do (why: each statement's
// error, as exec gives them).
func (c *CoordinatorReading) take(n *Node, why []string, shards, jobs string, reshape bool) {
	var groups [][]int64
	if why[2] != "" {
		n.CatalogErr = "shards: " + why[2]
	} else if json.Unmarshal([]byte(shards), &groups) == nil {
		for _, g := range groups {
			c.Shards[int32(g[0])] = g[1]
		}
	}
	if !reshape {
		return
	}
	if c.ReshapeErr = why[4]; c.ReshapeErr != "" { // after the connection timeout's SET
		return
	}
	c.Reshaped = true
	var rows [][]any
	_ = json.Unmarshal([]byte(jobs), &rows)
	for _, j := range rows {
		id, _ := j[0].(float64)
		state, _ := j[1].(string)
		tasks, _ := j[2].(float64)
		done, _ := j[3].(float64)
		c.Jobs = append(c.Jobs, Job{ID: int64(id), State: state, Tasks: int64(tasks), Done: int64(done)})
	}
}

// readBytes asks, for the registrations outside the topology that hold
// shards (what a prune would drain), the size of those shards: Citus asks
// the nodes, so this is done only for them.
func (c *Cluster) readBytes(ctx context.Context, conn *pgx.Conn, redact func(string) string) {
	for _, x := range c.Match.Extra {
		if x.Shards == 0 {
			continue
		}
		var b, unsized int64
		c.Coordinator().TakeNotices()
		err := conn.QueryRow(ctx, citus.ShardBytes, x.Name, x.Port).Scan(&b, &unsized)
		switch {
		case err != nil:
			c.BytesErr[x.Group] = redact(cluster.OneLine(cluster.ErrText(err)))
		case unsized > 0:
			// Citus only warns; its warning says why.
			c.BytesErr[x.Group] = fmt.Sprintf("Citus got no size for %d of them", unsized)
			for _, note := range c.Coordinator().TakeNotices() {
				if strings.Contains(note, "@"+x.Addr()+" ") {
					c.BytesErr[x.Group] = redact(failureReason(note))
					break
				}
			}
		default:
			c.Bytes[x.Group] = b
		}
	}
	for i := range c.Match.Extra {
		g := c.Match.Extra[i].Group
		c.Match.Extra[i].Bytes, c.Match.Extra[i].BytesErr = c.Bytes[g], c.BytesErr[g]
	}
}

// credentials compares a node's stored inter-node password with the
// topology's, by hash (rows of nodeid, rolename, sha256 of authinfo).
func credentials(t *topology.Topology, rows [][]any, password string) Credentials {
	if !t.HasPassword() || password == "" {
		return CredentialsNotNeeded
	}
	want := sha256.Sum256([]byte(citus.Authinfo(password)))
	for _, a := range rows {
		if len(a) != 3 {
			continue
		}
		id, _ := a[0].(float64)
		role, _ := a[1].(string)
		hash, _ := a[2].(string)
		if id == 0 && role == t.User {
			if hash == hex.EncodeToString(want[:]) {
				return CredentialsOK
			}
			return CredentialsStale
		}
	}
	return CredentialsMissing
}

// SplitList splits a GUC list such as shared_preload_libraries.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.Trim(strings.TrimSpace(p), `"`)
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// PreloadFix says how to load citus first on node.
func PreloadFix(node string) string {
	return fmt.Sprintf("set shared_preload_libraries = 'citus' (citus first) on %s and restart it; the citusdata/citus images do this", node)
}

// PreloadDetail says what is wrong with shared_preload_libraries.
func (n *Node) PreloadDetail() string {
	if slices.Contains(SplitList(n.Preload), "citus") {
		return "citus must be first in shared_preload_libraries ('" + n.Preload + "')"
	}
	return "citus is not in shared_preload_libraries ('" + n.Preload + "')"
}

// Group groups the nodes' services by key, each list in topology order,
// the keys sorted; a node whose key is the zero value is left out.
func Group[K cmp.Ordered](nodes []*Node, key func(*Node) K) (keys []K, services map[K][]string) {
	services = map[K][]string{}
	var zero K
	for _, n := range nodes {
		if k := key(n); k != zero {
			services[k] = append(services[k], n.Service())
		}
	}
	return slices.Sorted(maps.Keys(services)), services
}

// ImageDrift is a node running another Citus release, or another
// PostgreSQL major, than its image's tag names.
type ImageDrift struct {
	Service, Image string
	// Release and Running are the Citus release the tag names and the one
	// the node runs; both "" when they agree.
	Release, Running string
	// Postgres and RunningPostgres are the PostgreSQL majors the topology
	// gives the image and the node runs; both 0 when they agree.
	Postgres, RunningPostgres int
}

// ImageDrift compares each node that runs from an image with what the
// topology says of it: the Citus release its tag names (citus.ImageVersion)
// and the PostgreSQL major of the image.
func (c *Cluster) ImageDrift() (drift []ImageDrift, named []string) {
	for _, n := range c.Nodes {
		node := n.Endpoint.Node
		if !node.RunsFromImage() {
			continue
		}
		d := ImageDrift{Service: n.Service(), Image: node.Image}
		compared := false
		if major, minor, ok := citus.ImageVersion(node.Image); ok && n.HasCitus() {
			compared = true
			if !citus.SameRelease(n.Citus, major, minor) {
				d.Release, d.Running = strconv.Itoa(major), n.Citus
				if minor >= 0 {
					d.Release += "." + strconv.Itoa(minor)
				}
			}
		}
		if running := serverMajor(n.ServerVersion); running != 0 && node.Postgres != 0 && n.Connected && n.QueryErr == "" {
			compared = true
			if running != node.Postgres {
				d.Postgres, d.RunningPostgres = node.Postgres, running
			}
		}
		if compared {
			named = append(named, n.Service())
		}
		if d.Running != "" || d.RunningPostgres != 0 {
			drift = append(drift, d)
		}
	}
	return drift, named
}

// Major is the PostgreSQL major the node runs, 0 when unknown.
func (n *Node) Major() int { return serverMajor(n.ServerVersion) }

// serverMajor is the major of a server_version such as "18.1 (Debian
// 18.1-1)" or "15.18"; 0 when it is not one.
func serverMajor(v string) int {
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(v)
	}
	major, _ := strconv.Atoi(v[:end])
	return major
}

// ImageDriftDetail says what ImageDrift found and what to do about it, the
// same words in verify's row and plan's change.
func ImageDriftDetail(drift []ImageDrift) (detail, hint string) {
	var parts, images []string
	otherMajor := false
	for _, d := range drift {
		if d.Running != "" {
			parts = append(parts, fmt.Sprintf("%s runs citus %s, its image %s names %s", d.Service, d.Running, d.Image, d.Release))
		}
		if d.RunningPostgres != 0 {
			otherMajor = true
			parts = append(parts, fmt.Sprintf("%s runs PostgreSQL %d, its image %s is PostgreSQL %d", d.Service, d.RunningPostgres, d.Image, d.Postgres))
		}
		if !slices.Contains(images, d.Image) {
			images = append(images, d.Image)
		}
	}
	hint = fmt.Sprintf("the nodes do not run the image the topology names (%s): recreate them from it (docker compose up -d; after a major upgrade run ALTER EXTENSION citus UPDATE on every node), or set image: in the topology to the release they run", strings.Join(images, ", "))
	if otherMajor {
		hint += "; a node on another PostgreSQL major than its image cannot start from that image on its existing data: upgrade the data first (citusgen upgrade; docs/images-and-upgrades.md), or set image: to the variant of the major it runs (citusdata/citus tags ending in -pgNN)"
	}
	return strings.Join(parts, "; "), hint
}
