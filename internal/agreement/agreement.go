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
// must be a change plan lists. The health of connections and the smoke test
// are verify's alone; rebalancing is plan's alone. A change for a person
// covers the checks of its node that say what is wrong there.
func Disagreements(c *live.Cluster) []string {
	changes := livediff.Diff(c)
	checks := verify.Checks(c, nil)
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
	for _, ch := range checks {
		if ch.Status != verify.Fail || ch.Name == verify.CheckHealth || ch.Name == verify.CheckSmoke {
			continue
		}
		if !covered[ch.Name+"/"+ch.Node] {
			out = append(out, fmt.Sprintf("verify fails %s/%s (%s) but plan lists no change for it", ch.Name, ch.Node, ch.Detail))
		}
	}
	return out
}
