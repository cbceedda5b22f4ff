// Package agreement compares what verify and plan make of one reading of
// the live cluster, for the tests that prove they cannot disagree.
package agreement

import (
	"fmt"

	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/plan"
	"github.com/citusgen/citusgen/verify"
)

// Disagreements makes one plan of one reading of the cluster, as verify
// does, and holds the two to what each change says: the first row a change
// resolves is a row verify does not pass, and every row verify fails is
// one some change resolves. The connections between nodes (when the
// reading has them) are both's: every pair verify's cluster-health fails,
// between nodes both read, is a pair some change lists, and a change that
// lists pairs comes with a failing cluster-health. The smoke test is
// verify's alone, a rebalance plan's alone, and a node verify could not
// read is in the plan's Unread, not its changes.
func Disagreements(c *live.Cluster) []string {
	p := plan.Make(c)
	checks := verify.Checks(c, p)
	status := map[plan.CheckRef]verify.Check{}
	for _, ch := range checks {
		status[plan.CheckRef{Check: ch.Name, Node: ch.Node}] = ch
	}
	var out []string
	covered := map[plan.CheckRef]bool{}
	for _, ch := range p.Changes {
		for _, r := range ch.Resolves {
			covered[r] = true
		}
		if len(ch.Resolves) == 0 {
			continue
		}
		if got, ok := status[ch.Resolves[0]]; !ok || got.Status == verify.Pass {
			out = append(out, fmt.Sprintf("plan lists %s %s (%s), which resolves %s/%s, but verify does not fail it: %+v", ch.Kind, ch.Node, ch.Detail, ch.Resolves[0].Check, ch.Resolves[0].Node, got))
		}
	}
	out = append(out, healthDisagreements(c, p, status)...)
	for _, ch := range checks {
		if ch.Status != verify.Fail || ch.Name == verify.CheckHealth || ch.Name == verify.CheckSmoke || ch.Name == verify.CheckReadable {
			continue
		}
		if !covered[plan.CheckRef{Check: ch.Name, Node: ch.Node}] {
			out = append(out, fmt.Sprintf("verify fails %s/%s (%s) but no change of the plan resolves it", ch.Name, ch.Node, ch.Detail))
		}
	}
	return out
}

// healthDisagreements compares the pairs that fail with the pairs plan's
// changes list. Pairs with a node citusgen could not read are left out:
// plan reports those nodes as unread instead.
func healthDisagreements(c *live.Cluster, p *plan.Plan, status map[plan.CheckRef]verify.Check) []string {
	if c.Health == nil {
		return nil
	}
	listed := map[string]bool{}
	for _, pair := range p.HealthPairs() {
		listed[pair] = true
	}
	var out []string
	read := func(label string) bool { n := c.Node(label); return n == nil || n.Read() }
	for _, pair := range c.Health.Pairs(c) {
		if pair.Failed() && read(pair.From) && read(pair.To) && !listed[pair.String()] {
			out = append(out, fmt.Sprintf("verify's cluster-health fails %s but plan lists no change for it", pair))
		}
	}
	health := status[plan.CheckRef{Check: verify.CheckHealth, Node: c.Topology.Coordinator.Service}]
	if len(listed) > 0 && health.Status == verify.Pass {
		out = append(out, fmt.Sprintf("plan lists failing connections %v but verify passes cluster-health: %+v", p.HealthPairs(), health))
	}
	return out
}
