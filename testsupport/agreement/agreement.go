// Package agreement compares what verify and plan make of one reading of
// the live cluster, for the tests that prove they cannot disagree.
package agreement

import (
	"fmt"

	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/livediff"
	"github.com/citusgen/citusgen/verify"
)

// checkFor is the verify check a change of the live diff shows up in.
var checkFor = map[string]string{
	livediff.CreateDatabase:     verify.CheckDatabase,
	livediff.CreateExtension:    verify.CheckExtension,
	livediff.StoreCredentials:   verify.CheckCredentials,
	livediff.SetCoordinatorHost: verify.CheckCoordinator,
	livediff.RegisterWorker:     verify.CheckRegistered,
	livediff.ActivateWorker:     verify.CheckRegistered,
	livediff.Reregister:         verify.CheckRegistered,
	livediff.SyncMetadata:       verify.CheckMetadata,
	livediff.DrainRemove:        verify.CheckExtra,
}

// Disagreements feeds one reading to both verify and plan: every change plan
// lists must be a check verify does not pass, and every check verify fails
// must be a change plan lists. The connections between nodes (when the
// reading has them) are both's: every pair verify's cluster-health fails,
// between nodes both read, is a pair some change of plan lists, and a
// change that lists pairs comes with a failing cluster-health. The smoke
// test is verify's alone; rebalancing is plan's alone. A change for a
// person covers the checks of its node that say what is wrong there.
func Disagreements(c *live.Cluster) []string {
	changes := livediff.Diff(c)
	checks := verify.Checks(c)
	status := map[string]verify.Check{}
	for _, ch := range checks {
		status[ch.Name+"/"+ch.Node] = ch
	}
	var out []string
	covered := map[string]bool{}
	for _, ch := range changes {
		if ch.Kind == livediff.Manual {
			for _, name := range []string{verify.CheckRegistered, verify.CheckPreload, verify.CheckExtension} {
				covered[name+"/"+ch.Node] = true
			}
			covered[verify.CheckVersion+"/cluster"] = true
			covered[verify.CheckImage+"/cluster"] = true
			continue
		}
		name, ok := checkFor[ch.Kind]
		if !ok {
			continue
		}
		node := ch.Node
		if name == verify.CheckExtra {
			node = c.Topology.Coordinator.Service
		}
		key := name + "/" + node
		covered[key] = true
		if got, ok := status[key]; !ok || got.Status == verify.Pass {
			out = append(out, fmt.Sprintf("plan lists %s %s (%s) but verify does not fail %s: %+v", ch.Kind, ch.Node, ch.Detail, key, got))
		}
	}
	out = append(out, healthDisagreements(c, changes, status)...)
	for _, ch := range checks {
		if ch.Status != verify.Fail || ch.Name == verify.CheckHealth || ch.Name == verify.CheckSmoke || ch.Name == verify.CheckReadable {
			continue
		}
		if !covered[ch.Name+"/"+ch.Node] {
			out = append(out, fmt.Sprintf("verify fails %s/%s (%s) but plan lists no change for it", ch.Name, ch.Node, ch.Detail))
		}
	}
	return out
}

// healthDisagreements compares the pairs that fail with the pairs plan's
// changes list. Pairs with a node citusgen could not read are left out:
// plan reports those nodes as unread instead.
func healthDisagreements(c *live.Cluster, changes []livediff.Change, status map[string]verify.Check) []string {
	if c.Health == nil {
		return nil
	}
	listed := map[string]bool{}
	for _, p := range livediff.HealthPairs(changes) {
		listed[p] = true
	}
	var out []string
	read := func(label string) bool { n := c.Node(label); return n == nil || n.Read() }
	for _, p := range c.Health.Pairs(c) {
		if p.Failed() && read(p.From) && read(p.To) && !listed[p.String()] {
			out = append(out, fmt.Sprintf("verify's cluster-health fails %s but plan lists no change for it", p))
		}
	}
	health := status[verify.CheckHealth+"/"+c.Topology.Coordinator.Service]
	if len(listed) > 0 && health.Status == verify.Pass {
		out = append(out, fmt.Sprintf("plan lists failing connections %v but verify passes cluster-health: %+v", livediff.HealthPairs(changes), health))
	}
	return out
}
