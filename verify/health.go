package verify

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/topology"
)

// Health is the outcome of checking every connection between the active
// primaries, as citus_check_cluster_node_health() reports it.
type Health struct {
	rows []healthRow
	err  error
	// unasked: sources citusgen could not ask (it cannot reach them).
	unasked map[string]bool
	// recovered counts pairs that failed once and worked when asked again.
	recovered int
}

type healthRow struct {
	fromName, toName string
	fromPort, toPort int32
	ok               *bool
	reason           string // Citus's warning, when the connection failed
}

// readHealth returns exactly the rows of citus_check_cluster_node_health():
// for every active primary as source and every one as target, whether the
// source can connect to the target (NULL when the source itself cannot be
// asked). Citus checks those n² pairs one after another, each a new TLS
// connection (about a second for 8 nodes); here every source runs its own
// checks over the connection the reading kept, all sources in parallel, and
// the warning Citus gives for each failed pair is kept as its reason. A
// registered source outside the topology has no such connection, and then
// the function itself runs on the coordinator.
func readHealth(ctx context.Context, c *live.Cluster, o Options) *Health {
	timeout := o.HealthTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// Bound each inter-node connection so a silent node cannot stall us.
	setTimeout := c.Dialect.SetConnectionTimeout(timeout.Milliseconds())
	active := activePrimaries(c)
	byAddr := map[string]*live.Node{}
	for _, n := range c.Nodes {
		byAddr[nodeAddr(c.Topology, n)] = n
	}
	h := &Health{unasked: map[string]bool{}}
	sources := make([]*live.Node, len(active))
	for i, d := range active {
		n, ok := byAddr[d.Addr()]
		if !ok {
			h.rows, h.err = functionHealth(ctx, c.Coordinator().Conn(), setTimeout)
			return h
		}
		sources[i] = n
	}
	names := make([]string, len(active))
	ports := make([]int32, len(active))
	for i, d := range active {
		names[i], ports[i] = d.Name, d.Port
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
		wg.Go(func() { errs[i] = askSource(ctx, n, setTimeout, names, ports, results[i], reasons[i]) })
	}
	wg.Wait()
	h.recovered = recheck(ctx, sources, setTimeout, names, ports, results, errs)
	for i, src := range active {
		if errs[i] != nil {
			h.err = fmt.Errorf("from %s: %w", src.Addr(), errs[i])
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
func activePrimaries(c *live.Cluster) []live.Registration {
	var active []live.Registration
	for _, r := range c.Coordinator().Registrations {
		if r.Active && r.Role == "primary" {
			active = append(active, r)
		}
	}
	sort.Slice(active, func(i, j int) bool {
		if active[i].Name != active[j].Name {
			return active[i].Name < active[j].Name
		}
		return active[i].Port < active[j].Port
	})
	return active
}

// nodeAddr is a node's node name, host:port, as its registration has it.
func nodeAddr(t *topology.Topology, n *live.Node) string {
	host, port := t.NodeAddress(n.Endpoint.Node)
	return host + ":" + strconv.Itoa(port)
}

// askSource asks one node whether it reaches each target (names, ports),
// filling results and, for each failed pair, the reason Citus's warning
// gives.
func askSource(ctx context.Context, n *live.Node, setTimeout string, names []string, ports []int32, results []*bool, reasons []string) error {
	n.TakeNotices()
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
	for j := 0; rows.Next(); j++ {
		if err := rows.Scan(&results[j]); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Citus warns once per failed connection, naming the target.
	for _, note := range n.TakeNotices() {
		for j := range names {
			if strings.Contains(note, "@"+names[j]+":"+strconv.Itoa(int(ports[j]))+" ") && reasons[j] == "" {
				reasons[j] = failureReason(note)
				break
			}
		}
	}
	return nil
}

// recheck asks each source once more, after a pause, about the pairs that
// failed: a node busy starting many connections at once (every node checks
// every other at the same moment) can miss the connection timeout once,
// and a diagnosis must not depend on that. A pair that fails again keeps
// its first reason. It returns how many pairs worked the second time.
func recheck(ctx context.Context, sources []*live.Node, setTimeout string, names []string, ports []int32, results [][]*bool, errs []error) int {
	failed := 0
	for i := range sources {
		for j := range results[i] {
			if errs[i] == nil && results[i][j] != nil && !*results[i][j] {
				failed++
			}
		}
	}
	if failed == 0 {
		return 0
	}
	select {
	case <-ctx.Done():
		return 0
	case <-time.After(500 * time.Millisecond):
	}
	var mu sync.Mutex
	recovered := 0
	var wg sync.WaitGroup
	for i, n := range sources {
		var idx []int
		for j := range results[i] {
			if errs[i] == nil && results[i][j] != nil && !*results[i][j] {
				idx = append(idx, j)
			}
		}
		if len(idx) == 0 || n.Conn() == nil {
			continue
		}
		wg.Go(func() {
			retryNames, retryPorts := make([]string, len(idx)), make([]int32, len(idx))
			for k, j := range idx {
				retryNames[k], retryPorts[k] = names[j], ports[j]
			}
			b := &pgx.Batch{}
			b.Queue(setTimeout)
			b.Queue(citus.CheckConnections, retryNames, retryPorts)
			br := n.Conn().SendBatch(ctx, b)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return
			}
			rows, err := br.Query()
			if err != nil {
				return
			}
			defer rows.Close()
			for k := 0; rows.Next() && k < len(idx); k++ {
				var ok *bool
				if rows.Scan(&ok) == nil && ok != nil && *ok {
					results[i][idx[k]] = ok
					mu.Lock()
					recovered++
					mu.Unlock()
				}
			}
			n.TakeNotices() // the second try's warnings repeat the first's
		})
	}
	wg.Wait()
	return recovered
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
	rows, err := conn.Query(ctx, citus.ClusterHealth)
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

func healthCheck(c *live.Cluster, h *Health) Check {
	ch := Check{Name: CheckHealth, Node: c.Topology.Coordinator.Service}
	if h.err != nil {
		ch.Status, ch.Detail = Fail, "checking the connections between nodes failed: "+h.err.Error()
		return ch
	}
	if len(h.rows) == 0 {
		ch.Status, ch.Detail = Fail, "no nodes to check (pg_dist_node holds no active primary)"
		ch.Hint = "run citusgen bootstrap"
		if hint := setupHint(c); hint != "" {
			ch.Hint = hint
		}
		return ch
	}
	p := tallyPairs(c, h)
	var notChecked string
	if len(p.skippedExt) > 0 {
		notChecked += fmt.Sprintf("; not checked from %s: the citus extension is not created there (see citus-extension)", strings.Join(sortedKeys(p.skippedExt), ", "))
	}
	if len(p.skippedUnread) > 0 {
		notChecked += fmt.Sprintf("; not checked from %s: citusgen could not reach it (see reachable)", strings.Join(sortedKeys(p.skippedUnread), ", "))
	}
	if len(p.bad) == 0 {
		ch.Status, ch.Detail = Pass, fmt.Sprintf("all %d connections between nodes work", p.checked)
		if h.recovered > 0 {
			ch.Detail += fmt.Sprintf(" (%d only when asked a second time: a node was slow to accept connections)", h.recovered)
		}
		if notChecked != "" {
			ch.Status, ch.Detail = Skip, fmt.Sprintf("%s work%s", english.Plural(p.checked, "connection"), notChecked)
			if p.checked == 1 {
				ch.Detail = strings.Replace(ch.Detail, " work", " works", 1)
			}
		}
		return ch
	}
	sort.Strings(p.bad)
	ch.Status = Fail
	ch.Detail = fmt.Sprintf("%d of %s failed: %s%s", len(p.bad), english.Plural(p.checked, "connection"), strings.Join(p.bad, ", "), notChecked)
	ch.Hint = strings.Join(healthHints(c, p), "; ")
	return ch
}

// pairs tallies the health rows by node (service names where the
// topology has the node).
type pairs struct {
	checked int
	bad     []string // the failed pairs, "from -> to (reason)"
	// Sources that cannot run the check say nothing about connectivity:
	// the extension is not there, or citusgen could not reach them.
	skippedExt, skippedUnread map[string]bool
	// A node is down (or cut off) when every connection to or from it
	// failed; other failures are between nodes that are up.
	involved, failed map[string]int
	authFrom         map[string]bool // sources whose connections were refused a login
}

func tallyPairs(c *live.Cluster, h *Health) *pairs {
	names := map[string]string{}
	for _, n := range c.Nodes {
		names[nodeAddr(c.Topology, n)] = n.Service()
	}
	label := func(name string, port int32) string {
		key := name + ":" + strconv.Itoa(int(port))
		if s, ok := names[key]; ok {
			return s
		}
		return key
	}
	noExt := map[string]bool{}
	for _, n := range c.Nodes {
		if n.Connected && n.QueryErr == "" && n.Citus == "" {
			noExt[n.Service()] = true
		}
	}
	p := &pairs{skippedExt: map[string]bool{}, skippedUnread: map[string]bool{}, involved: map[string]int{}, failed: map[string]int{}, authFrom: map[string]bool{}}
	for _, r := range h.rows {
		from, to := label(r.fromName, r.fromPort), label(r.toName, r.toPort)
		switch {
		case noExt[from]:
			p.skippedExt[from] = true
			continue
		case h.unasked[from]:
			p.skippedUnread[from] = true
			continue
		}
		p.checked++
		p.involved[from]++
		if to != from {
			p.involved[to]++
		}
		if r.ok == nil || !*r.ok {
			pair := from + " -> " + to
			if r.reason != "" {
				pair += " (" + r.reason + ")"
			}
			p.bad = append(p.bad, pair)
			p.failed[from]++
			if to != from {
				p.failed[to]++
			}
			if isAuthFailure(r.reason) {
				p.authFrom[from] = true
			}
		}
	}
	return p
}

// healthHints name the cause of failed pairs, most specific first:
// credentials, a node down, the rest.
func healthHints(c *live.Cluster, p *pairs) []string {
	var stale []string
	for _, n := range c.Nodes {
		if n.Credentials == live.CredentialsMissing || n.Credentials == live.CredentialsStale {
			stale = append(stale, n.Service())
		}
	}
	var down []string
	for n, total := range p.involved {
		if p.failed[n] == total && !p.authFrom[n] {
			down = append(down, n)
		}
	}
	sort.Strings(down)
	var hints []string
	switch {
	case len(stale) > 0:
		hints = append(hints, fmt.Sprintf("authentication: the inter-node credentials on %s are missing or not the topology's password (see credentials); run citusgen bootstrap, which rewrites them", strings.Join(stale, ", ")))
	case len(p.authFrom) > 0:
		hints = append(hints, fmt.Sprintf("authentication: %s cannot log in to the other nodes; make the cluster user's password the same on every node and run citusgen bootstrap, which stores it in pg_dist_authinfo", strings.Join(sortedKeys(p.authFrom), ", ")))
	}
	if len(down) > 0 {
		var cut, dead []string
		for _, d := range down {
			if n := c.Node(d); n != nil && !n.Known() {
				dead = append(dead, d)
			} else {
				cut = append(cut, d)
			}
		}
		if len(dead) > 0 {
			hints = append(hints, fmt.Sprintf("%s: down, neither citusgen nor the other nodes reach it (a stopped worker stays 'active' in pg_dist_node); start it", strings.Join(dead, ", ")))
		}
		if len(cut) > 0 {
			hints = append(hints, fmt.Sprintf("unreachable from other nodes: %s. Start it if it is down (a stopped worker stays 'active' in pg_dist_node); otherwise check that its node name resolves inside the cluster", strings.Join(cut, ", ")))
		}
	}
	if len(hints) == 0 {
		hints = append(hints, "nodes are up but some cannot reach each other: check that node names resolve between nodes and that inter-node credentials are set on every node (citusgen bootstrap stores them in pg_dist_authinfo)")
	}
	return hints
}

// down names the topology's nodes that every asked node failed to reach.
func (h *Health) down(c *live.Cluster) map[string]bool {
	out := map[string]bool{}
	if h == nil || h.err != nil {
		return out
	}
	names := map[string]string{}
	for _, n := range c.Nodes {
		names[nodeAddr(c.Topology, n)] = n.Service()
	}
	tried, failed := map[string]int{}, map[string]int{}
	for _, r := range h.rows {
		from := names[r.fromName+":"+strconv.Itoa(int(r.fromPort))]
		to, ok := names[r.toName+":"+strconv.Itoa(int(r.toPort))]
		if !ok || from == to || h.unasked[from] || r.ok == nil {
			continue
		}
		tried[to]++
		if !*r.ok && !isAuthFailure(r.reason) {
			failed[to]++
		}
	}
	for n, total := range tried {
		if failed[n] == total {
			out[n] = true
		}
	}
	return out
}

func isAuthFailure(reason string) bool {
	return strings.Contains(reason, "password authentication failed") || strings.Contains(reason, "no password supplied") || strings.Contains(reason, "authentication failed")
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
