// Package verify proves a live cluster matches its topology, as named checks
// (the findings of package diagnosis) with a status, a detail and a hint.
package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/topology"
)

// Status of a check.
type Status = diagnosis.Status

const (
	Pass = diagnosis.Pass
	Fail = diagnosis.Fail
	Skip = diagnosis.Skip
)

// Check is one named result: a finding of the reading.
type Check = diagnosis.Finding

// Report is the outcome of a run, checks in a stable order.
type Report struct {
	Checks []Check `json:"checks"`
	// Unread names the nodes citusgen could not read (unreachable from here,
	// silent, not PostgreSQL, a rejected password) and the cluster's own
	// health check does not show down: the report is incomplete.
	Unread  []string      `json:"unread,omitempty"`
	Elapsed time.Duration `json:"-"`
}

// OK reports whether no check failed.
func (r *Report) OK() bool {
	_, fail, _ := r.Counts()
	return fail == 0
}

// Counts returns how many checks passed, failed and were skipped.
func (r *Report) Counts() (pass, fail, skip int) {
	for _, c := range r.Checks {
		switch c.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			skip++
		}
	}
	return
}

// Options for Run.
type Options struct {
	Cluster cluster.Options
	// Smoke creates a distributed table in a scratch schema, writes and
	// counts rows across shards, and drops it.
	Smoke bool
	// HealthTimeout bounds each inter-node connection of
	// citus_check_cluster_node_health (citus.node_connection_timeout); 10s
	// when zero, and at most a quarter of the time left.
	HealthTimeout time.Duration
}

// Run reads the cluster and checks it.
func Run(ctx context.Context, t *topology.Topology, o Options) (*Report, error) {
	start := time.Now()
	c, err := live.Read(ctx, t, live.Options{Cluster: o.Cluster, Keep: true, Health: true, HealthTimeout: o.HealthTimeout})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := &Report{Checks: diagnosis.Diagnose(c).Findings}
	if o.Smoke {
		coord := c.Coordinator()
		if coord.Conn() != nil && c.Match != nil {
			r.Checks = append(r.Checks, smoke(ctx, t, coord.Conn()))
		} else {
			r.Checks = append(r.Checks, Check{Name: diagnosis.CheckSmoke, Node: t.Coordinator.Service, Status: Skip, Detail: "skipped: " + diagnosis.CoordinatorGap(c)})
		}
	}
	// A node citusgen cannot read is still known to be down when no node of
	// the cluster reaches it either: the report is complete about it.
	down := diagnosis.Down(c)
	for _, p := range c.Unread() {
		if !down[p.Node] {
			r.Unread = append(r.Unread, p.Node)
		}
	}
	for i := range r.Checks {
		r.Checks[i].Detail = o.Cluster.Redact(t, r.Checks[i].Detail)
		r.Checks[i].Hint = o.Cluster.Redact(t, r.Checks[i].Hint)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// smoke proves distributed writes and reads work, in a scratch schema that
// is always dropped.
func smoke(ctx context.Context, t *topology.Topology, conn *pgx.Conn) Check {
	c := Check{Name: diagnosis.CheckSmoke, Node: t.Coordinator.Service}
	var buf [6]byte
	rand.Read(buf[:])
	schema := "citusgen_smoke_" + hex.EncodeToString(buf[:])
	table := pgx.Identifier{schema, "probe"}.Sanitize()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn.Exec(dctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	const rows = 1000
	steps := []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE " + table + " (id bigint PRIMARY KEY, payload text NOT NULL)",
		citus.Distribute(schema+".probe", "id"),
		"INSERT INTO " + table + " SELECT g, md5(g::text) FROM generate_series(1, " + strconv.Itoa(rows) + ") g",
	}
	for _, s := range steps {
		if _, err := conn.Exec(ctx, s); err != nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("%s: %v", strings.SplitN(s, " (", 2)[0], err)
			c.Hint = live.StepHint(t, t.Coordinator.Service, err.Error())
			return c
		}
	}
	var count, shards, placements int
	err := conn.QueryRow(ctx, citus.CountPlacements(table), schema+".probe").Scan(&count, &shards, &placements)
	if err != nil {
		c.Status, c.Detail = Fail, "counting rows: "+err.Error()
		return c
	}
	if count != rows || placements != len(t.Workers) {
		c.Status = Fail
		c.Detail = fmt.Sprintf("%d of %d rows read back, shards on %d of %s", count, rows, placements, english.Plural(len(t.Workers), "worker"))
		c.Hint = "some workers hold no shards: check pg_dist_node.shouldhaveshards and that every worker is registered"
		return c
	}
	c.Status, c.Detail = Pass, fmt.Sprintf("%d rows written and counted across %s on %s", rows, english.Plural(shards, "shard"), english.Plural(placements, "worker"))
	return c
}

// Until runs the checks again until every check passes or wait has passed (a
// cluster still coming up: nodes starting, the setup service registering),
// each run bounded by timeout, and returns the last report.
func Until(ctx context.Context, t *topology.Topology, o Options, timeout, wait time.Duration, progress io.Writer) (*Report, error) {
	start := time.Now()
	var lastSaid time.Time
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		report, err := Run(rctx, t, o)
		cancel()
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			return nil, err
		}
		waited := time.Since(start)
		if report.OK() || wait <= 0 || waited >= wait {
			if wait > 0 && report.OK() && waited > time.Second {
				fmt.Fprintf(progress, "citusgen: the cluster matches the topology after %s\n", waited.Round(time.Second))
			}
			return report, nil
		}
		if time.Since(lastSaid) >= 5*time.Second {
			fmt.Fprintf(progress, "citusgen: waiting for the cluster (%s so far, up to %s): %s\n", waited.Round(time.Second), wait, report.failing())
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(min(time.Second, wait-waited)):
		}
	}
}

// failing names the failing checks, briefly.
func (r *Report) failing() string {
	var names []string
	for _, ch := range r.Checks {
		if ch.Status == Fail {
			names = append(names, ch.Name+" "+ch.Node)
		}
	}
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	return english.Plural(len(names), "check") + " failing: " + strings.Join(names, ", ")
}
