package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/citusgen/citusgen/internal/pgtest"
	"github.com/citusgen/citusgen/reconcile"
	"github.com/citusgen/citusgen/verify"
)

// The target: plan on a 3-node cluster costs no more than one verify. Both
// run side by side on the same bootstrapped cluster holding a distributed
// table (so the rebalance plan has shards to weigh).
func BenchmarkPlanVersusVerify(b *testing.B) {
	pgtest.RequireCitus(b)
	cl := pgtest.StartCluster(b, 2, pgtest.Options{Password: password, Citus: true})
	top := specFor(b, cl, 1, 2)
	bootstrapSpec(b, top)
	c := cl.Coordinator.Connect(b, top.ClusterDatabase())
	ctx := context.Background()
	for _, sql := range []string{"CREATE TABLE events (id bigint PRIMARY KEY, v text)", "SELECT create_distributed_table('events', 'id')", "INSERT INTO events SELECT g, g::text FROM generate_series(1, 1000) g"} {
		if _, err := c.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	var tp, tv time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		p, err := reconcile.Compute(ctx, top, opts())
		tp += time.Since(start)
		if err != nil || !p.InSync() {
			b.Fatalf("plan: %v %+v", err, p)
		}
		start = time.Now()
		r, err := verify.Run(ctx, top, verify.Options{Cluster: opts()})
		tv += time.Since(start)
		if err != nil || !r.OK() {
			b.Fatalf("verify: %v", err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(tp.Seconds()*1000/n, "plan-ms")
	b.ReportMetric(tv.Seconds()*1000/n, "verify-ms")
	b.ReportMetric(float64(tp)/float64(tv), "plan/verify")
	if tp > tv {
		b.Errorf("plan (%s) costs more than verify (%s)", tp/time.Duration(b.N), tv/time.Duration(b.N))
	}
}
