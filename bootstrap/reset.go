package bootstrap

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
		err = r.resetNode(ctx, c, ep)
		c.Close(context.Background())
		if err != nil {
			return err
		}
	}
	r.printf("reset complete: database %s is empty on %d nodes; run citusgen bootstrap next", t.ClusterDatabase(), len(eps))
	return nil
}

// resetNode ends the sessions on the cluster database, drops and creates
// it. DROP DATABASE WITH (FORCE) gives up when an ended session takes over
// 5 seconds to exit (a busy machine, Citus's maintenance daemon in the
// middle of its work): the sessions are ended and the drop tried again
// until --wait runs out.
func (r *runner) resetNode(ctx context.Context, c *pgx.Conn, ep cluster.Endpoint) error {
	deadline := time.Now().Add(r.wait())
	ss := steps.ResetSteps(r.t)
	const dropStep = 1 // after ending the sessions, before creating it anew
	for i := 0; i < len(ss); i++ {
		s := ss[i]
		start := time.Now()
		err := r.exec(ctx, c, func(ctx context.Context) error { _, err := c.Exec(ctx, s.SQL); return err })
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.ObjectInUse && i == dropStep && time.Now().Before(deadline) {
			r.printf("%s: %s: a session it ended has not exited yet (%s); ending the sessions and trying again", ep.Node.Service, s.Action, pgErr.Detail)
			i = -1 // from ending the sessions again
			continue
		}
		if err != nil {
			return r.stepError(ep, s.Action, err)
		}
		r.printf("%s: %s: done (%s)", ep.Node.Service, s.Action, time.Since(start).Round(time.Millisecond))
	}
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
