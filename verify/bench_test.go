package verify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/internal/pgtest"
	"github.com/citusgen/citusgen/verify"
)

// BenchmarkVerify measures one verify run (wall time) against 3 and 8 local
// nodes. Target: roughly flat in the number of nodes, since nodes are
// checked in parallel. With Citus installed the cluster is bootstrapped and
// every check runs, including citus_check_cluster_node_health (which grows
// with nodes², run by the cluster itself); without it the per-node checks run
// and the cluster checks are skipped.
//
// The nodes-only variant runs on servers without Citus: it measures the
// per-node phase alone (connect, authenticate, one query), which is what
// citusgen parallelises; the full variant adds the n² inter-node connection
// checks, which on a 2-core machine are CPU-bound TLS+SCRAM handshakes.
func BenchmarkVerify(b *testing.B) {
	available, _ := pgtest.CitusAvailable()
	for _, bc := range []struct {
		name  string
		citus bool
	}{{"nodes-only", false}, {"full", true}} {
		if bc.citus && !available {
			continue
		}
		for _, nodes := range []int{3, 8} {
			benchVerify(b, fmt.Sprintf("%s/nodes=%d", bc.name, nodes), nodes, bc.citus)
		}
	}
}

func benchVerify(b *testing.B, name string, nodes int, citus bool) {
	b.Run(name, func(b *testing.B) {
		cl := pgtest.StartCluster(b, nodes-1, pgtest.Options{Password: password, Citus: citus})
		top := spec(b, cl, "")
		if citus {
			if _, err := bootstrapCluster(b, top, password, nil); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, s := range cl.Servers() {
				s.Exec(b, "postgres", "CREATE DATABASE "+top.ClusterDatabase())
			}
		}
		b.ResetTimer()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			r, err := verify.Run(ctx, top, verify.Options{Cluster: cluster.Options{Password: password}})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if citus && !r.OK() {
				b.Fatalf("verify failed: %+v", r.Checks)
			}
		}
	})
}
