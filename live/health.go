package live

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/citusgen/citusgen/citus"
)

// Health is what the nodes said of their connections to each other, as
// citus_check_cluster_node_health() reports them: part of the cluster's
// state, since a pair that Citus cannot connect breaks every distributed
// query between those nodes, whatever citusgen itself reaches.
type Health struct {
	rows []healthRow
	// Err: the check itself failed.
	Err error
	// unasked: sources citusgen could not ask (it cannot read them).
	unasked map[string]bool
	// Recovered counts pairs that failed once and worked when asked again.
	Recovered int
}

type healthRow struct {
	fromName, toName string
	fromPort, toPort int32
	ok               *bool
	reason           string // Citus's warning, when the connection failed
}

// Why a pair was not checked: its source cannot run the check.
const (
	SkipUnread      = "unread"       // citusgen could not read the source
	SkipNoDatabase  = "no-database"  // the source has no cluster database
	SkipNoExtension = "no-extension" // the source has no citus extension
)

// Pair is one source and target of the health check.
type Pair struct {
	// From and To are the topology's service names where a node has that
	// node name, else the registration's host:port.
	From, To         string
	FromAddr, ToAddr string
	// Skip says why the source could not check the pair ("" when it did).
	Skip string
	OK   bool
	// Unanswered: Citus's own function could not ask the source (NULL).
	Unanswered bool
	// Reason is Citus's warning for a failed pair, on one line.
	Reason string
}

// Failed reports whether the pair was checked and failed.
func (p Pair) Failed() bool { return p.Skip == "" && !p.OK }

// String is "from -> to", with the reason of a failure.
func (p Pair) String() string {
	s := p.From + " -> " + p.To
	if p.Failed() && p.Reason != "" {
		s += " (" + p.Reason + ")"
	}
	return s
}

// Pairs lists the pairs in Citus's order.
func (h *Health) Pairs(c *Cluster) []Pair {
	if h == nil || h.Err != nil {
		return nil
	}
	out := make([]Pair, 0, len(h.rows))
	for _, r := range h.rows {
		fromAddr, toAddr := r.fromName+":"+strconv.Itoa(int(r.fromPort)), r.toName+":"+strconv.Itoa(int(r.toPort))
		p := Pair{From: c.Label(fromAddr), To: c.Label(toAddr), FromAddr: fromAddr, ToAddr: toAddr}
		n := c.Node(p.From)
		switch {
		case h.unasked[p.From] || n != nil && !n.Known():
			p.Skip = SkipUnread
		case n != nil && !n.Connected:
			p.Skip = SkipNoDatabase
		case n != nil && n.QueryErr == "" && n.Citus == "":
			p.Skip = SkipNoExtension
		default:
			p.OK, p.Unanswered, p.Reason = r.ok != nil && *r.ok, r.ok == nil, r.reason
		}
		out = append(out, p)
	}
	return out
}

// Label names a registration's host:port by the service of the topology
// node that has it as its node name, else returns it as it is.
func (c *Cluster) Label(addr string) string {
	for _, n := range c.Nodes {
		if c.nodeAddr(n) == addr {
			return n.Service()
		}
	}
	return addr
}

// nodeAddr is a node's node name, host:port, as its registration has it.
func (c *Cluster) nodeAddr(n *Node) string {
	host, port := c.Topology.NodeAddress(n.Endpoint.Node)
	return host + ":" + strconv.Itoa(port)
}

// readHealth returns exactly the rows of citus_check_cluster_node_health():
// for every active primary as source and every one as target, whether the
// source can connect to the target (NULL when the source itself cannot be
// asked).
func readHealth(ctx context.Context, c *Cluster, timeout time.Duration) *Health {
	// Bound each inter-node connection so a silent node cannot stall us.
	setTimeout := citus.SetConnectionTimeout(timeout.Milliseconds())
	active := activePrimaries(c)
	byAddr := map[string]*Node{}
	for _, n := range c.Nodes {
		byAddr[c.nodeAddr(n)] = n
	}
	h := &Health{unasked: map[string]bool{}}
	sources := make([]*Node, len(active))
	for i, d := range active {
		n, ok := byAddr[d.Addr()]
		if !ok {
			h.rows, h.Err = functionHealth(ctx, c.Coordinator().Conn(), setTimeout)
			return h
		}
		sources[i] = n
	}
	results := make([][]*bool, len(active))
	reasons := make([][]string, len(active))
	errs := make([]error, len(active))
	var wg sync.WaitGroup
	for i, n := range sources {
		results[i] = make([]*bool, len(active))
		reasons[i] = make([]string, len(active))
		if n.Conn() == nil {
			if !n.Known() {
				h.unasked[n.Service()] = true
			}
			continue // the source cannot be asked: NULL, as in Citus
		}
		wg.Go(func() { errs[i] = askSource(ctx, n, setTimeout, active, results[i], reasons[i]) })
	}
	wg.Wait()
	h.Recovered = recheck(ctx, sources, setTimeout, active, results, errs)
	for i, src := range active {
		if errs[i] != nil {
			h.Err = fmt.Errorf("from %s: %w", src.Addr(), errs[i])
			return h
		}
		for j, dst := range active {
			h.rows = append(h.rows, healthRow{fromName: src.Name, fromPort: src.Port, toName: dst.Name, toPort: dst.Port, ok: results[i][j], reason: reasons[i][j]})
		}
	}
	return h
}

// activePrimaries are the registrations Citus checks, in its order: by
// name, then port.
func activePrimaries(c *Cluster) []Registration {
	var active []Registration
	for _, r := range c.Coordinator().Registrations {
		if r.Active && r.Role == "primary" {
			active = append(active, r)
		}
	}
	slices.SortFunc(active, func(a, b Registration) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port))
	})
	return active
}

// askSource asks one node whether it reaches each target, filling results
// and, for each failed pair, the reason Citus's warning gives.
func askSource(ctx context.Context, n *Node, setTimeout string, targets []Registration, results []*bool, reasons []string) error {
	n.TakeNotices()
	if err := checkConnections(ctx, n, setTimeout, targets, results); err != nil {
		return err
	}
	// Citus warns once per failed connection, naming the target.
	for _, note := range n.TakeNotices() {
		for j, r := range targets {
			if strings.Contains(note, "@"+r.Addr()+" ") && reasons[j] == "" {
				reasons[j] = failureReason(note)
				break
			}
		}
	}
	return nil
}

// checkConnections has node n check its connection to each target, each
// bounded by setTimeout, into results.
func checkConnections(ctx context.Context, n *Node, setTimeout string, targets []Registration, results []*bool) error {
	names, ports := make([]string, len(targets)), make([]int32, len(targets))
	for i, r := range targets {
		names[i], ports[i] = r.Name, r.Port
	}
	b := &pgx.Batch{}
	b.Queue(setTimeout)
	b.Queue(citus.CheckConnections, names, ports)
	br := n.Conn().SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for j := 0; rows.Next() && j < len(results); j++ {
		if err := rows.Scan(&results[j]); err != nil {
			return err
		}
	}
	return rows.Err()
}

// recheck asks each source once more, after a pause, about the pairs that
// failed: a node busy starting many connections at once (every node checks
// every other at the same moment) can miss the connection timeout once, and
// a diagnosis must not depend on that.
func recheck(ctx context.Context, sources []*Node, setTimeout string, targets []Registration, results [][]*bool, errs []error) int {
	failed := make([][]int, len(sources)) // per source, the targets it failed to reach
	for i := range sources {
		for j, ok := range results[i] {
			if errs[i] == nil && ok != nil && !*ok {
				failed[i] = append(failed[i], j)
			}
		}
	}
	if !slices.ContainsFunc(failed, func(f []int) bool { return len(f) > 0 }) {
		return 0
	}
	select {
	case <-ctx.Done():
		return 0
	case <-time.After(500 * time.Millisecond):
	}
	var recovered atomic.Int64
	var wg sync.WaitGroup
	for i, n := range sources {
		if len(failed[i]) == 0 {
			continue
		}
		wg.Go(func() {
			retry := make([]Registration, len(failed[i]))
			for k, j := range failed[i] {
				retry[k] = targets[j]
			}
			again := make([]*bool, len(retry))
			err := checkConnections(ctx, n, setTimeout, retry, again)
			n.TakeNotices() // the second try's warnings repeat the first's
			if err != nil {
				return
			}
			for k, ok := range again {
				if ok != nil && *ok {
					results[i][failed[i][k]] = ok
					recovered.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(recovered.Load())
}

// failureReason keeps what Citus's warning says after "failed with the
// following error:", on one line.
func failureReason(note string) string {
	if _, after, ok := strings.Cut(note, "failed with the following error:"); ok {
		note = after
	}
	note = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(note), "FATAL:"))
	if first, _, ok := strings.Cut(note, "\n"); ok {
		note = first
	}
	return strings.TrimSpace(note)
}

func functionHealth(ctx context.Context, conn *pgx.Conn, setTimeout string) ([]healthRow, error) {
	if _, err := conn.Exec(ctx, setTimeout); err != nil {
		return nil, err
	}
	rows, _ := conn.Query(ctx, citus.ClusterHealth)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (h healthRow, err error) {
		return h, row.Scan(&h.fromName, &h.fromPort, &h.toName, &h.toPort, &h.ok)
	})
}

// CannotReach says which active registrations the coordinator cannot connect
// to, and Citus's reason for each ("" when it reaches them all, or cannot be
// asked): what makes Citus fail to size shards ("cannot get the size because
// of a connection error") or to move them.
func (c *Cluster) CannotReach(ctx context.Context, cfg *pgx.ConnConfig) string {
	n := &Node{}
	cfg = cfg.Copy()
	cfg.OnNotice = func(_ *pgconn.PgConn, notice *pgconn.Notice) {
		n.mu.Lock()
		n.notices = append(n.notices, notice.Message)
		n.mu.Unlock()
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(actx, cfg)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	n.conn = conn
	return c.cannotReach(actx, n)
}

// cannotReach asks source (the coordinator) about every active
// registration.
func (c *Cluster) cannotReach(ctx context.Context, source *Node) string {
	active := activePrimaries(c)
	results, reasons := make([]*bool, len(active)), make([]string, len(active))
	if askSource(ctx, source, citus.SetConnectionTimeout(5000), active, results, reasons) != nil {
		return ""
	}
	var out []string
	for i, d := range active {
		if results[i] != nil && *results[i] {
			continue
		}
		s := "the coordinator cannot connect to " + c.Describe(d.Addr())
		if reasons[i] != "" {
			s += " (" + reasons[i] + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// Describe names a registration for a person: the service and its node
// name, or the node name of a registration outside the topology.
func (c *Cluster) Describe(addr string) string {
	if l := c.Label(addr); l != addr {
		return l + " (" + addr + ")"
	}
	return addr + " (registered, not in the topology)"
}
