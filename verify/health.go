package verify

import (
	"fmt"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/plan"
)

// healthCheck turns the reading's health pairs into the cluster-health
// row; its hints name the cause, and where plan lists a change for
// connections that fail (a person's, or one that explains them) they are
// that change's remedy.
func healthCheck(c *live.Cluster, changes []plan.Change) Check {
	h := c.Health
	ch := Check{Name: CheckHealth, Node: c.Topology.Coordinator.Service}
	if h.Err != nil {
		ch.Status, ch.Detail = Fail, "checking the connections between nodes failed: "+h.Err.Error()
		return ch
	}
	all := h.Pairs(c)
	if len(all) == 0 {
		ch.Status, ch.Detail = Fail, "no nodes to check (pg_dist_node holds no active primary)"
		ch.Hint = "run citusgen bootstrap"
		if hint := setupHint(c); hint != "" {
			ch.Hint = hint
		}
		return ch
	}
	p := tallyPairs(all)
	var notChecked string
	if len(p.skippedExt) > 0 {
		notChecked += fmt.Sprintf("; not checked from %s: the citus extension is not created there (see citus-extension)", strings.Join(sortedKeys(p.skippedExt), ", "))
	}
	if len(p.skippedDB) > 0 {
		notChecked += fmt.Sprintf("; not checked from %s: its database does not exist (see database)", strings.Join(sortedKeys(p.skippedDB), ", "))
	}
	if len(p.skippedUnread) > 0 {
		notChecked += fmt.Sprintf("; not checked from %s: citusgen could not reach it (see reachable)", strings.Join(sortedKeys(p.skippedUnread), ", "))
	}
	if len(p.bad) == 0 {
		ch.Status, ch.Detail = Pass, fmt.Sprintf("all %d connections between nodes work", p.checked)
		if h.Recovered > 0 {
			ch.Detail += fmt.Sprintf(" (%d only when asked a second time: a node was slow to accept connections)", h.Recovered)
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
	ch.Hint = strings.Join(healthHints(c, p, changes), "; ")
	return ch
}

// pairs tallies the health pairs by node (service names where the
// topology has the node).
type pairs struct {
	checked int
	bad     []string // the failed pairs, "from -> to (reason)"
	// Sources that cannot run the check say nothing about connectivity:
	// the extension or database is not there, or citusgen could not read them.
	skippedExt, skippedDB, skippedUnread map[string]bool
	// A node is down (or cut off) when every connection to or from it
	// failed; other failures are between nodes that are up.
	involved, failed map[string]int
	authFrom         map[string]bool // sources whose connections were refused a login
	full             map[string]bool // targets that refused sessions for want of connection slots
}

func tallyPairs(all []live.Pair) *pairs {
	p := &pairs{skippedExt: map[string]bool{}, skippedDB: map[string]bool{}, skippedUnread: map[string]bool{}, involved: map[string]int{}, failed: map[string]int{}, authFrom: map[string]bool{}, full: map[string]bool{}}
	for _, r := range all {
		switch r.Skip {
		case live.SkipNoExtension:
			p.skippedExt[r.From] = true
			continue
		case live.SkipNoDatabase:
			p.skippedDB[r.From] = true
			continue
		case live.SkipUnread:
			p.skippedUnread[r.From] = true
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
func healthHints(c *live.Cluster, p *pairs, changes []plan.Change) []string {
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
		hints = append(hints, fmt.Sprintf("authentication: %s cannot log in to the other nodes; make the cluster user's password the same on every node and run citusgen bootstrap, which stores it in pg_dist_authinfo", strings.Join(sortedKeys(p.authFrom), ", ")))
	}
	if len(p.full) > 0 {
		hints = append(hints, fmt.Sprintf("%s: refuses new sessions because too many clients are connected (SQLSTATE 53300); close idle sessions there or raise max_connections and restart it", strings.Join(sortedKeys(p.full), ", ")))
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
		case len(ch.Pairs) == 0 || ch.Kind == plan.StoreCredentials:
		case ch.Kind == plan.Manual:
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

// downNodes names the topology's nodes that every asked node failed to
// reach (for want of a connection, not of a login or a free slot).
func downNodes(c *live.Cluster) map[string]bool {
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

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
