package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/quote"
)

// healthChanges accounts for every pair of nodes Citus cannot connect
// (the reading's health check), so plan never calls a cluster in sync
// that verify fails. A pair that another change explains is listed on it:
// the source's credentials, the target's missing database or extension, a
// registration under a name the topology does not give. Pairs with a node
// citusgen could not read are left to the unread report. The rest are
// changes for a person, one per target, naming each source, Citus's
// reason and what to fix.
func healthChanges(c *live.Cluster, out []Change) []Change {
	if c.Health == nil {
		return out
	}
	var targets []string
	failed := map[string][]live.Pair{}
	for _, p := range c.Health.Pairs(c) {
		if !p.Failed() || unread(c, p.From) || unread(c, p.To) {
			continue
		}
		if i := explaining(c, out, p); i >= 0 {
			out[i].Pairs = append(out[i].Pairs, p.String())
			continue
		}
		if _, ok := failed[p.To]; !ok {
			targets = append(targets, p.To)
		}
		failed[p.To] = append(failed[p.To], p)
	}
	for _, to := range targets {
		ch := Change{Kind: Manual, Node: to, Needs: ByHand, Detail: connectionDetail(c, failed[to]), Resolves: []CheckRef{{CheckHealth, c.Topology.Coordinator.Service}}}
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
func explaining(c *live.Cluster, out []Change, p live.Pair) int {
	find := func(node string, kinds ...Kind) int {
		for i, ch := range out {
			if ch.Node != node {
				continue
			}
			if len(kinds) == 0 {
				return i
			}
			for _, k := range kinds {
				if ch.Kind == k {
					return i
				}
			}
		}
		return -1
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
		r := p.Reason
		if r == "" {
			r = "Citus gave no reason"
		}
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
	case strings.Contains(lower, "too many clients") || strings.Contains(lower, "connection slots"):
		return fmt.Sprintf("%s refuses new sessions while its max_connections are used up (SQLSTATE 53300): close idle sessions there or raise max_connections and restart it", to)
	case strings.Contains(lower, "password") || strings.Contains(lower, "authentication"):
		return fmt.Sprintf("%s rejects the password that %s holds for user %s in pg_dist_authinfo (the topology's): make that user's password on %s the topology's (ALTER USER %s PASSWORD ...), then run citusgen bootstrap", to, from, t.User, to, quote.SQLIdent(t.User))
	case strings.Contains(lower, "translate host name") || strings.Contains(lower, "name or service not known"):
		return fmt.Sprintf("the node name %s does not resolve on %s: run the nodes on one network (the compose network) or give %s a node_name the other nodes resolve", toAddr, from, to)
	case strings.Contains(lower, "refused") || strings.Contains(lower, "timeout") || strings.Contains(lower, "timed out"):
		return fmt.Sprintf("nothing answers at %s from %s: the node name must be an address the other nodes reach (check listen_addresses on %s, firewalls, the compose network), or give %s another node_name", toAddr, from, to, to)
	}
	return fmt.Sprintf("check that %s accepts connections from %s at %s as Citus makes them (pg_hba.conf, SSL, listen_addresses, firewalls)", to, from, toAddr)
}

// healthPairs lists the pairs the changes account for, sorted.
func healthPairs(changes []Change) []string {
	var out []string
	for _, ch := range changes {
		out = append(out, ch.Pairs...)
	}
	sort.Strings(out)
	return out
}
