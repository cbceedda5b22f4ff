package bootstrap

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

// Reset drops and recreates the cluster database on every node, coordinator
// first, after ending the sessions that use it. It touches no other
// database. Afterwards the cluster needs a bootstrap.
func Reset(ctx context.Context, t *topology.Topology, o Options) error {
	eps, err := cluster.Endpoints(t, o.Cluster)
	if err != nil {
		return err
	}
	r := &runner{t: t, o: o}
	if err := r.waitAll(ctx, eps); err != nil {
		return err
	}
	for _, ep := range eps {
		c, err := r.resetConn(ctx, ep)
		if err != nil {
			return r.connError(ep, "connect", err)
		}
		for _, s := range steps.ResetSteps(t) {
			start := time.Now()
			if err := r.exec(ctx, c, func(ctx context.Context) error { _, err := c.Exec(ctx, s.SQL); return err }); err != nil {
				c.Close(context.Background())
				return r.stepError(ep, s.Action, err)
			}
			r.printf("%s: %s: done (%s)", ep.Node.Service, s.Action, time.Since(start).Round(time.Millisecond))
		}
		c.Close(context.Background())
	}
	r.printf("reset complete: database %s is empty on %d nodes; run citusgen bootstrap next", t.ClusterDatabase(), len(eps))
	return nil
}

// resetConn connects where the cluster database can be dropped from: the
// maintenance database, or template1 when the cluster database is postgres
// (steps.ResetDatabase).
func (r *runner) resetConn(ctx context.Context, ep cluster.Endpoint) (*pgx.Conn, error) {
	if db := steps.ResetDatabase(r.t); db != steps.MaintenanceDatabase {
		return r.o.Cluster.Connect(ctx, r.t, ep, db)
	}
	return r.maintenance(ctx, ep)
}
