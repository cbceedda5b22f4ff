package diagnosis

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/quote"
)

// health is the cluster-health finding, from the pairs of nodes Citus could
// connect or not (the reading's health check), and the changes for the pairs
// that fail: a pair that another change explains is listed on it (the
// source's credentials, the target's missing database or extension, a
// registration under a name the topology does not give); the rest are
// changes for a person, one per target, naming each source, Citus's reason
// and what to fix.
func (d *diagnosis) health() {
	c := d.c
	f := Finding{Name: CheckHealth, Node: d.t.Coordinator.Service}
	h := c.Health
	switch {
	case c.Match == nil:
		f.Status, f.Detail = Skip, "skipped: "+CoordinatorGap(c)
	case h == nil:
		f.Status, f.Detail = Skip, "skipped: not read"
	case h.Err != nil:
		f.Status, f.Detail = Fail, "checking the connections between nodes failed: "+h.Err.Error()
	}
	if f.Status != "" {
		d.add(f)
		return
	}
	all := h.Pairs(c)
	if len(all) == 0 {
		f.Status, f.Detail = Fail, "no nodes to check (pg_dist_node holds no active primary)"
		f.Hint = cmp.Or(setupHint(c), "run citusgen bootstrap")
		d.add(f)
		return
	}
	manual := d.pairChanges(all)
	p := tallyPairs(all)
	var notChecked string
	for _, skip := range []struct{ why, text string }{
		{live.SkipNoExtension, "the citus extension is not created there (see citus-extension)"},
		{live.SkipNoDatabase, "its database does not exist (see database)"},
		{live.SkipUnread, "citusgen could not reach it (see reachable)"},
	} {
		if from := p.skipped[skip.why]; len(from) > 0 {
			notChecked += fmt.Sprintf("; not checked from %s: %s", strings.Join(slices.Sorted(maps.Keys(from)), ", "), skip.text)
		}
	}
	if len(p.bad) == 0 {
		f.Status, f.Detail = Pass, fmt.Sprintf("all %d connections between nodes work", p.checked)
		if h.Recovered > 0 {
			f.Detail += fmt.Sprintf(" (%d only when asked a second time: a node was slow to accept connections)", h.Recovered)
		}
		if notChecked != "" {
			f.Status, f.Detail = Skip, fmt.Sprintf("%s work%s", english.Plural(p.checked, "connection"), notChecked)
			if p.checked == 1 {
				f.Detail = strings.Replace(f.Detail, " work", " works", 1)
			}
		}
		d.add(f)
		return
	}
	sort.Strings(p.bad)
	f.Status = Fail
	f.Detail = fmt.Sprintf("%d of %s failed: %s%s", len(p.bad), english.Plural(p.checked, "connection"), strings.Join(p.bad, ", "), notChecked)
	f.Hint = strings.Join(healthHints(c, p, d.changes), "; ")
	d.add(f, manual...)
}

// pairChanges lists each failing pair between nodes citusgen read on the
// change that explains it, and returns the changes for a person about the
// rest, one per target.
func (d *diagnosis) pairChanges(all []live.Pair) []*Change {
	c := d.c
	var targets []string
	failed := map[string][]live.Pair{}
	for _, p := range all {
		if !p.Failed() || unread(c, p.From) || unread(c, p.To) {
			continue
		}
		if i := explaining(c, d.changes, p); i >= 0 {
			d.changes[i].Pairs = append(d.changes[i].Pairs, p.String())
			continue
		}
		if _, ok := failed[p.To]; !ok {
			targets = append(targets, p.To)
		}
		failed[p.To] = append(failed[p.To], p)
	}
	var out []*Change
	for _, to := range targets {
		ch := d.change(phaseHealth, 0, Change{Kind: Manual, Node: to, Needs: ByHand, Detail: connectionDetail(c, failed[to])})
		for _, p := range failed[to] {
			ch.Pairs = append(ch.Pairs, p.String())
		}
		out = append(out, ch)
	}
	return out
}

// unread reports whether a topology node (by service) was not read whole.
func unread(c *live.Cluster, label string) bool {
	n := c.Node(label)
	return n != nil && !n.Read()
}

// explaining finds the change that makes a failed pair fail, or -1.
func explaining(c *live.Cluster, out []*Change, p live.Pair) int {
	find := func(node string, kinds ...Kind) int {
		return slices.IndexFunc(out, func(ch *Change) bool {
			return ch.Node == node && (len(kinds) == 0 || slices.Contains(kinds, ch.Kind))
		})
	}
	if i := find(p.From, StoreCredentials); i >= 0 {
		return i
	}
	if i := find(p.To, CreateDatabase, CreateExtension); i >= 0 {
		return i
	}
	// A registration under a name the topology does not give: the change
	// that renames, removes or replaces it.
	for _, addr := range []string{p.To, p.From} {
		if c.Node(addr) != nil {
			continue
		}
		if i := find(addr); i >= 0 {
			return i
		}
		m := c.Match
		if m == nil {
			continue
		}
		for _, wm := range m.Workers {
			if wm.Row != nil && wm.Row.Addr() == addr {
				if i := find(wm.Worker.Service); i >= 0 {
					return i
				}
			}
		}
		if m.CoordinatorRow != nil && m.CoordinatorRow.Addr() == addr {
			if i := find(c.Topology.Coordinator.Service, SetCoordinatorHost); i >= 0 {
				return i
			}
		}
	}
	return -1
}

// connectionDetail says which nodes cannot connect to one target as Citus
// does, with Citus's reason, and what to fix.
func connectionDetail(c *live.Cluster, pairs []live.Pair) string {
	to, toAddr := pairs[0].To, pairs[0].ToAddr
	// Sources in topology order (Citus orders them by name).
	order := map[string]int{}
	for i, n := range c.Nodes {
		order[n.Service()] = i + 1
	}
	pairs = slices.Clone(pairs)
	slices.SortStableFunc(pairs, func(a, b live.Pair) int { return order[a.From] - order[b.From] })
	var reasons []string
	sources := map[string][]string{}
	for _, p := range pairs {
		r := cmp.Or(p.Reason, "Citus gave no reason")
		if _, ok := sources[r]; !ok {
			reasons = append(reasons, r)
		}
		sources[r] = append(sources[r], p.From)
	}
	var parts []string
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("from %s: %s", strings.Join(sources[r], ", "), r))
	}
	reach := ""
	if n := c.Node(to); n != nil {
		reach = fmt.Sprintf(", though citusgen reaches it at %s", n.Endpoint.Addr)
	}
	return fmt.Sprintf("Citus cannot connect to %s at %s (%s)%s: %s", to, toAddr, strings.Join(parts, "; "), reach, connectionFix(c, to, toAddr, sources[reasons[0]], reasons[0]))
}

// connectionFix says what a person changes for Citus's connections from
// sources to a target to work, by Citus's reason.
func connectionFix(c *live.Cluster, to, toAddr string, sources []string, reason string) string {
	t := c.Topology
	from := strings.Join(sources, ", ")
	conninfo := ""
	var settings []string
	for _, s := range sources {
		if n := c.Node(s); n != nil && n.NodeConninfo != "" && !slices.Contains(settings, n.NodeConninfo) {
			settings = append(settings, n.NodeConninfo)
		}
	}
	if len(settings) == 1 {
		conninfo = fmt.Sprintf(" (citus.node_conninfo = '%s' on %s)", settings[0], from)
	}
	lower := strings.ToLower(reason)
	switch {
	case strings.Contains(lower, "pg_hba.conf"):
		fix := fmt.Sprintf("%s's pg_hba.conf refuses Citus's connections, though it accepts citusgen's: add a line there that accepts them (user %s, database %s, from the addresses of %s", to, t.User, t.ClusterDatabase(), from)
		if strings.Contains(reason, "SSL encryption") || strings.Contains(reason, "SSL on") {
			fix += fmt.Sprintf("; Citus connects with SSL%s, so hostssl or host", conninfo)
		}
		return fix + fmt.Sprintf(") above the line that refuses them, then run SELECT pg_reload_conf() on %s", to)
	case strings.Contains(lower, "ssl"):
		return fmt.Sprintf("Citus on %s connects as its citus.node_conninfo asks%s, which %s does not accept: turn ssl on on %s (CREATE EXTENSION citus does, with a self-signed certificate), or change citus.node_conninfo on %s (ALTER SYSTEM SET citus.node_conninfo = 'sslmode=prefer'; SELECT pg_reload_conf())", from, conninfo, to, to, from)
	case isFull(lower):
		return cluster.FullHint(to)
	case isAuthFailure(lower):
		return fmt.Sprintf("%s rejects the password that %s holds for user %s in pg_dist_authinfo (the topology's): make that user's password on %s the topology's: %s (or ALTER USER %s PASSWORD ... there), then run citusgen bootstrap", to, from, t.User, to, t.PasswordChangeHint(), quote.SQLIdent(t.User))
	case strings.Contains(lower, "translate host name") || strings.Contains(lower, "name or service not known"):
		return fmt.Sprintf("the node name %s does not resolve on %s: run the nodes on one network (the compose network) or give %s a node_name the other nodes resolve", toAddr, from, to)
	case strings.Contains(lower, "refused") || strings.Contains(lower, "timeout") || strings.Contains(lower, "timed out"):
		return fmt.Sprintf("nothing answers at %s from %s: the node name must be an address the other nodes reach (check listen_addresses on %s, firewalls, the compose network), or give %s another node_name", toAddr, from, to, to)
	}
	return fmt.Sprintf("check that %s accepts connections from %s at %s as Citus makes them (pg_hba.conf, SSL, listen_addresses, firewalls)", to, from, toAddr)
}

// pairs tallies the health pairs by node (service names where the
// topology has the node).
type pairs struct {
	checked int
	bad     []string // the failed pairs, "from -> to (reason)"
	// Sources that cannot run the check say nothing about connectivity:
	// the extension or database is not there, or citusgen could not read
	// them (by live.Pair's Skip).
	skipped map[string]map[string]bool
	// A node is down (or cut off) when every connection to or from it
	// failed; other failures are between nodes that are up.
	involved, failed map[string]int
	authFrom         map[string]bool // sources whose connections were refused a login
	full             map[string]bool // targets that refused sessions for want of connection slots
}

func tallyPairs(all []live.Pair) *pairs {
	p := &pairs{skipped: map[string]map[string]bool{}, involved: map[string]int{}, failed: map[string]int{}, authFrom: map[string]bool{}, full: map[string]bool{}}
	for _, r := range all {
		if r.Skip != "" {
			if p.skipped[r.Skip] == nil {
				p.skipped[r.Skip] = map[string]bool{}
			}
			p.skipped[r.Skip][r.From] = true
			continue
		}
		p.checked++
		p.involved[r.From]++
		if r.To != r.From {
			p.involved[r.To]++
		}
		if !r.Failed() {
			continue
		}
		p.bad = append(p.bad, r.String())
		p.failed[r.From]++
		if r.To != r.From {
			p.failed[r.To]++
		}
		switch {
		case isAuthFailure(r.Reason):
			p.authFrom[r.From] = true
		case isFull(r.Reason):
			p.full[r.To] = true
		}
	}
	return p
}

// healthHints name the cause of failed pairs, most specific first:
// credentials, a node refusing sessions, a node down, then what plan
// lists for the rest.
func healthHints(c *live.Cluster, p *pairs, changes []*Change) []string {
	var stale []string
	for _, n := range c.Nodes {
		if n.Credentials == live.CredentialsMissing || n.Credentials == live.CredentialsStale {
			stale = append(stale, n.Service())
		}
	}
	var down []string
	for n, total := range p.involved {
		if p.failed[n] == total && !p.authFrom[n] && !p.full[n] {
			down = append(down, n)
		}
	}
	sort.Strings(down)
	var hints []string
	switch {
	case len(stale) > 0:
		hints = append(hints, fmt.Sprintf("authentication: the inter-node credentials on %s are missing or not the topology's password (see credentials); run citusgen bootstrap, which rewrites them", strings.Join(stale, ", ")))
	case len(p.authFrom) > 0:
		hints = append(hints, fmt.Sprintf("authentication: %s cannot log in to the other nodes; make the cluster user's password the same on every node and run citusgen bootstrap, which stores it in pg_dist_authinfo", strings.Join(slices.Sorted(maps.Keys(p.authFrom)), ", ")))
	}
	if len(p.full) > 0 {
		hints = append(hints, fmt.Sprintf("%s: refuses new sessions because too many clients are connected (SQLSTATE 53300); close idle sessions there or raise max_connections and restart it", strings.Join(slices.Sorted(maps.Keys(p.full)), ", ")))
	}
	if len(down) > 0 {
		var cut, dead []string
		for _, d := range down {
			switch n := c.Node(d); {
			case n == nil: // a registration the topology does not give: plan's changes say what to do
			case !n.Known():
				dead = append(dead, d)
			default:
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
	var explained []string
	for _, ch := range changes {
		switch {
		case len(ch.Pairs) == 0 || ch.Kind == StoreCredentials:
		case ch.Kind == Manual:
			hints = append(hints, ch.Detail)
		default:
			explained = append(explained, string(ch.Kind)+" "+ch.Node)
		}
	}
	if len(explained) > 0 {
		hints = append(hints, fmt.Sprintf("some fail because of what plan lists as %s: run citusgen bootstrap", strings.Join(explained, ", ")))
	}
	if len(hints) == 0 {
		hints = append(hints, "nodes are up but some cannot reach each other: check that node names resolve between nodes and that inter-node credentials are set on every node (citusgen bootstrap stores them in pg_dist_authinfo)")
	}
	return hints
}

// Down names the topology's nodes that every asked node failed to
// reach (for want of a connection, not of a login or a free slot).
func Down(c *live.Cluster) map[string]bool {
	out := map[string]bool{}
	tried, failed := map[string]int{}, map[string]int{}
	for _, r := range c.Health.Pairs(c) {
		if c.Node(r.To) == nil || r.From == r.To || r.Skip != "" || r.Unanswered {
			continue
		}
		tried[r.To]++
		if r.Failed() && !isAuthFailure(r.Reason) && !isFull(r.Reason) {
			failed[r.To]++
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

// isFull: the target refused the session for want of connection slots.
func isFull(reason string) bool {
	return strings.Contains(reason, "too many clients") || strings.Contains(reason, "connection slots are reserved")
}

// versions: every node must run the same Citus release.
func (d *diagnosis) versions() {
	f := Finding{Name: CheckVersion, Node: clusterNode}
	var unread, missing []string
	for _, n := range d.c.Nodes {
		switch {
		case !n.Connected || n.QueryErr != "":
			unread = append(unread, n.Service())
		case n.Citus == "":
			missing = append(missing, n.Service())
		}
	}
	versions, nodes := live.Group(d.c.Nodes, func(n *live.Node) string {
		if !n.HasCitus() {
			return ""
		}
		return n.Citus
	})
	var parts []string
	for _, v := range versions {
		parts = append(parts, fmt.Sprintf("%s on %s", v, strings.Join(nodes[v], ", ")))
	}
	const fix = "use the same image (or Citus package) on every node, then run ALTER EXTENSION citus UPDATE on each"
	var ch *Change
	if len(versions) > 1 {
		ch = d.change(phaseVersion, 0, Change{Kind: Manual, Node: clusterNode, Needs: ByHand, Detail: "Citus versions differ (" + strings.Join(parts, "; ") + "): " + fix})
	}
	// Name the root cause the node findings already report, not a guess.
	var why []string
	if len(unread) > 0 {
		why = append(why, "could not be checked on "+strings.Join(unread, ", "))
	}
	if len(missing) > 0 {
		why = append(why, "the citus extension is missing on "+strings.Join(missing, ", "))
	}
	switch {
	case len(why) > 0:
		f.Status, f.Detail = Skip, "skipped: "+strings.Join(why, "; ")
	case len(versions) == 1:
		f.Status, f.Detail = Pass, fmt.Sprintf("citus %s on all %d nodes", versions[0], len(d.c.Nodes))
	default:
		f.Status, f.Detail, f.Hint = Fail, "versions differ: "+strings.Join(parts, "; "), fix
	}
	d.add(f, ch)
}

// majors: Citus supports no cluster whose nodes run different PostgreSQL
// majors (its shards, metadata and inter-node protocol assume one).
func (d *diagnosis) majors() {
	f := Finding{Name: CheckMajor, Node: clusterNode}
	majors, nodes := live.Group(d.c.Nodes, (*live.Node).Major)
	var unread []string
	for _, n := range d.c.Nodes {
		if n.Major() == 0 {
			unread = append(unread, n.Service())
		}
	}
	switch {
	case len(majors) > 1:
		var parts []string
		for _, m := range majors {
			parts = append(parts, fmt.Sprintf("%d on %s", m, strings.Join(nodes[m], ", ")))
		}
		hint := "Citus needs every node of a cluster on the same PostgreSQL major: run every node from images (or packages) of one major, upgrading the data of the nodes on another first (citusgen upgrade; docs/images-and-upgrades.md)"
		ch := d.change(phaseMajor, 0, Change{Kind: Manual, Node: clusterNode, Needs: ByHand, Detail: "PostgreSQL majors differ (" + strings.Join(parts, "; ") + "): " + hint})
		f.Status, f.Detail, f.Hint = Fail, "PostgreSQL majors differ: "+strings.Join(parts, "; "), hint
		d.add(f, ch)
		return
	case len(unread) > 0:
		f.Status, f.Detail = Skip, "skipped: could not be checked on "+strings.Join(unread, ", ")
	default:
		f.Status, f.Detail = Pass, fmt.Sprintf("PostgreSQL %d on all %d nodes", majors[0], len(d.c.Nodes))
	}
	d.add(f)
}

// image compares the Citus and PostgreSQL each node runs with what its
// image names (citusdata/citus:14.1 names Citus 14.1 on PostgreSQL 18): a
// node left on an old container, or a spec pinned to one release while the
// nodes run another, is drift the other checks cannot see.
func (d *diagnosis) image() {
	f := Finding{Name: CheckImage, Node: clusterNode}
	drift, named := d.c.ImageDrift()
	switch {
	case len(drift) > 0:
		f.Status = Fail
		f.Detail, f.Hint = live.ImageDriftDetail(drift)
		d.add(f, d.change(phaseImage, 0, Change{Kind: Manual, Node: clusterNode, Needs: ByHand, Detail: f.Detail + ": " + f.Hint}))
		return
	case d.t.Containerless():
		f.Status, f.Detail = Skip, "skipped: the nodes run from no image (image: none)"
	case len(named) == 0:
		f.Status, f.Detail = Skip, "skipped: no node's image names a Citus release or a PostgreSQL major, or no node was read"
	default:
		f.Status, f.Detail = Pass, fmt.Sprintf("every node runs the Citus release and PostgreSQL major its image names (%s)", strings.Join(named, ", "))
	}
	d.add(f)
}
