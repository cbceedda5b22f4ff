// Package bootstrap applies the generator's bootstrap plan to live nodes over
// pgx: it waits for every node to accept connections, then runs the same
// statements `citusgen render sql` prints, workers first and the coordinator
// last, under a lock on the coordinator so two runs never interleave.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/topology"
)

// lockKey is the advisory lock every bootstrap takes on the coordinator's
// cluster database ("citusgen" in ASCII).
const lockKey int64 = 0x6369747573676e

// Options for Run.
type Options struct {
	Cluster cluster.Options
	// Wait bounds how long nodes may take to accept connections.
	Wait time.Duration
	// Progress receives one line per event (stderr in the CLI).
	Progress io.Writer
	// PollInterval between connection attempts while waiting; 250ms when zero.
	PollInterval time.Duration
}

// Result tells what a run did.
type Result struct {
	Nodes int
	// Applied counts guarded statements whose guard found work to do.
	Applied int
	// AlreadyDone counts guarded statements whose work was already done.
	AlreadyDone int
	// Ensured counts statements that are idempotent by themselves (IF NOT
	// EXISTS, upserts that skip identical rows) and always run.
	Ensured int
}

// Error is a bootstrap failure on one node, with what to do about it.
type Error struct {
	Node   string
	Action string
	Detail string
	Hint   string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s failed: %s", e.Node, e.Action, e.Detail)
	if e.Hint != "" {
		msg += "\n  hint: " + e.Hint
	}
	return msg
}

type runner struct {
	t    *topology.Topology
	o    Options
	mu   sync.Mutex
	res  Result
	auth string // pg_dist_authinfo value, bound as $1
}

func (r *runner) printf(format string, args ...any) {
	if r.o.Progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(r.o.Progress, cluster.Redact(fmt.Sprintf(format, args...), r.o.Cluster.Password, r.t.User))
}

// Run bootstraps the cluster. It is idempotent: on a bootstrapped cluster
// every guarded statement is skipped and the rest rewrite nothing.
func Run(ctx context.Context, t *topology.Topology, o Options) (*Result, error) {
	eps, err := cluster.Endpoints(t, o.Cluster)
	if err != nil {
		return nil, err
	}
	r := &runner{t: t, o: o}
	if t.HasPassword() {
		r.auth = generator.Authinfo(o.Cluster.Password)
	}
	byService := map[string]cluster.Endpoint{}
	for _, ep := range eps {
		byService[ep.Node.Service] = ep
	}
	start := time.Now()
	if err := r.waitAll(ctx, eps); err != nil {
		return nil, err
	}

	plans := generator.Plan(t)
	coordPlan := plans[len(plans)-1]
	coordEP := byService[t.Coordinator.Service]

	// The lock lives in the coordinator's cluster database, so create that
	// first; a concurrent run creating it too is harmless (duplicate_database).
	if err := r.runStep(ctx, coordEP, coordPlan.Steps[0], nil); err != nil {
		return nil, err
	}
	lockConn, err := r.o.Cluster.Connect(ctx, t, coordEP, t.ClusterDatabase())
	if err != nil {
		return nil, r.connError(coordEP, "lock", err)
	}
	defer lockConn.Close(context.Background())
	var got bool
	if err := lockConn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&got); err != nil {
		return nil, &Error{Node: t.Coordinator.Service, Action: "lock", Detail: err.Error()}
	}
	if !got {
		r.printf("%s: another bootstrap is running; waiting for it to finish", t.Coordinator.Service)
		lctx, cancel := context.WithTimeout(ctx, r.wait())
		_, err := lockConn.Exec(lctx, "SELECT pg_advisory_lock($1)", lockKey)
		cancel()
		if err != nil {
			return nil, &Error{Node: t.Coordinator.Service, Action: "lock", Detail: "another bootstrap held the lock for longer than " + r.wait().String(),
				Hint: "wait for the other citusgen bootstrap to finish (or end its session on the coordinator), then run again"}
		}
	}

	// Workers are independent of each other: bootstrap them in parallel.
	workers := plans[:len(plans)-1]
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, p := range workers {
		wg.Go(func() { errs[i] = r.runPlan(ctx, byService[p.Node.Service], p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The coordinator's database step ran before the lock.
	coordPlan.Steps = coordPlan.Steps[1:]
	if err := r.runPlan(ctx, coordEP, coordPlan); err != nil {
		return nil, err
	}
	r.res.Nodes = len(eps)
	r.printf("bootstrap complete: %d nodes; %d changes applied, %d already in place, %d idempotent statements ensured (%s)",
		r.res.Nodes, r.res.Applied, r.res.AlreadyDone, r.res.Ensured, time.Since(start).Round(10*time.Millisecond))
	return &r.res, nil
}

// wait is the bound on waiting for nodes, and for another run's lock.
func (r *runner) wait() time.Duration {
	if r.o.Wait <= 0 {
		return 60 * time.Second
	}
	return r.o.Wait
}

// waitAll waits, in parallel, until every node accepts connections. A node
// that rejects the password fails at once: waiting will not fix that.
func (r *runner) waitAll(ctx context.Context, eps []cluster.Endpoint) error {
	wait := r.wait()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	errs := make([]error, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { errs[i] = r.waitOne(wctx, ep, wait) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *runner) waitOne(ctx context.Context, ep cluster.Endpoint, wait time.Duration) error {
	poll := r.o.PollInterval
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	start := time.Now()
	lastReport := time.Time{}
	name := ep.Node.Service
	for {
		err := r.ping(ctx, ep)
		if err == nil {
			if waited := time.Since(start); waited > time.Second {
				r.printf("%s at %s: ready after %s", name, ep.Addr, waited.Round(100*time.Millisecond))
			} else {
				r.printf("%s at %s: ready", name, ep.Addr)
			}
			return nil
		}
		kind, detail := cluster.Classify(err)
		switch kind {
		case cluster.AuthFailed:
			return &Error{Node: name, Action: "connect", Detail: detail, Hint: authHint(r.t, name)}
		case cluster.Other:
			return &Error{Node: name, Action: "connect", Detail: detail}
		}
		if time.Since(lastReport) >= 5*time.Second {
			r.printf("%s at %s: waiting (%s; %s so far)", name, ep.Addr, detail, time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return &Error{Node: name, Action: "connect", Detail: fmt.Sprintf("no connection to %s within %s (last error: %s)", ep.Addr, wait, detail),
				Hint: fmt.Sprintf("start it (docker compose up -d %s), or point citusgen at it with --host or --node %s=HOST:PORT", name, name)}
		case <-time.After(poll):
		}
	}
}

// ping succeeds when the node accepts an authenticated connection, to the
// cluster database or, while that does not exist yet, to the maintenance one.
func (r *runner) ping(ctx context.Context, ep cluster.Endpoint) error {
	c, err := r.o.Cluster.Connect(ctx, r.t, ep, r.t.ClusterDatabase())
	if kind, _ := cluster.Classify(err); kind == cluster.NoDatabase {
		c, err = r.maintenance(ctx, ep)
	}
	if err != nil {
		return err
	}
	return c.Close(context.Background())
}

// maintenance connects to the postgres database, or template1 where a setup
// removed postgres (as CommCare HQ's old images did).
func (r *runner) maintenance(ctx context.Context, ep cluster.Endpoint) (*pgx.Conn, error) {
	c, err := r.o.Cluster.Connect(ctx, r.t, ep, generator.MaintenanceDatabase)
	if kind, _ := cluster.Classify(err); kind == cluster.NoDatabase {
		return r.o.Cluster.Connect(ctx, r.t, ep, "template1")
	}
	return c, err
}

func (r *runner) connError(ep cluster.Endpoint, action string, err error) error {
	kind, detail := cluster.Classify(err)
	e := &Error{Node: ep.Node.Service, Action: action, Detail: detail}
	if kind == cluster.AuthFailed {
		e.Hint = authHint(r.t, ep.Node.Service)
	}
	return e
}

func authHint(t *topology.Topology, node string) string {
	src := "password in the topology"
	if t.PasswordEnv != "" {
		src = "$" + t.PasswordEnv
	}
	return fmt.Sprintf("%s rejected user %s: make the %s match the password %s was initialised with (the image applies POSTGRES_PASSWORD only when its volume is empty)", node, t.User, src, node)
}

// runPlan runs one node's steps, reusing one connection per database.
func (r *runner) runPlan(ctx context.Context, ep cluster.Endpoint, p generator.NodePlan) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for _, s := range p.Steps {
		if s.Target == generator.OnMaintenance {
			if err := r.runStep(ctx, ep, s, nil); err != nil {
				return err
			}
			continue
		}
		if conn == nil {
			c, err := r.o.Cluster.Connect(ctx, r.t, ep, r.t.ClusterDatabase())
			if err != nil {
				return r.connError(ep, s.Action, err)
			}
			conn = c
		}
		if err := r.runStep(ctx, ep, s, conn); err != nil {
			return err
		}
	}
	return nil
}

// runStep runs one step; maintenance steps open (and close) their own
// connection, since CREATE DATABASE cannot run in the cluster database.
func (r *runner) runStep(ctx context.Context, ep cluster.Endpoint, s generator.Step, conn *pgx.Conn) error {
	name := ep.Node.Service
	if conn == nil {
		c, err := r.maintenance(ctx, ep)
		if err != nil {
			return r.connError(ep, s.Action, err)
		}
		defer c.Close(context.Background())
		conn = c
	}
	start := time.Now()
	if s.Guard != "" {
		var needed bool
		if err := conn.QueryRow(ctx, "SELECT "+s.Guard).Scan(&needed); err != nil {
			return r.stepError(name, s, err)
		}
		if !needed {
			r.count(&r.res.AlreadyDone)
			r.printf("%s: %s: already done", name, s.Action)
			return nil
		}
	}
	var err error
	if s.Authinfo {
		_, err = conn.Exec(ctx, s.SQL, r.auth)
	} else {
		_, err = conn.Exec(ctx, s.SQL)
	}
	var pgErr *pgconn.PgError
	if s.Target == generator.OnMaintenance && errors.As(err, &pgErr) &&
		(pgErr.Code == "42P04" || pgErr.Code == "23505" && pgErr.ConstraintName == "pg_database_datname_index") {
		// A concurrent run created the database between guard and statement
		// (duplicate_database, or the catalog's unique index when both raced).
		r.count(&r.res.AlreadyDone)
		r.printf("%s: %s: already done", name, s.Action)
		return nil
	}
	if err != nil {
		return r.stepError(name, s, err)
	}
	if s.Guard != "" {
		r.count(&r.res.Applied)
		r.printf("%s: %s: done (%s)", name, s.Action, time.Since(start).Round(time.Millisecond))
	} else {
		r.count(&r.res.Ensured)
		r.printf("%s: %s: ok (%s)", name, s.Action, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (r *runner) count(n *int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*n++
}

func (r *runner) stepError(node string, s generator.Step, err error) error {
	detail := err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		detail = pgErr.Message
		if pgErr.Detail != "" {
			detail += " (" + pgErr.Detail + ")"
		}
	}
	detail = cluster.Redact(detail, r.o.Cluster.Password, r.t.User)
	return &Error{Node: node, Action: s.Action, Detail: detail, Hint: StepHint(r.t, node, detail)}
}

// StepHint explains the failures a bootstrap step is known to hit.
func StepHint(t *topology.Topology, node, detail string) string {
	switch {
	case strings.Contains(detail, "shared_preload_libraries"):
		return fmt.Sprintf("add citus first in shared_preload_libraries on %s (postgresql.conf: shared_preload_libraries = 'citus') and restart it; the citusdata/citus images do this", node)
	case strings.Contains(detail, "citus.control") || strings.Contains(detail, `extension "citus" is not available`):
		return fmt.Sprintf("the Citus extension is not installed on %s: use a citusdata/citus image or install the Citus package for its PostgreSQL version", node)
	case strings.Contains(detail, "fe_sendauth: no password supplied") || strings.Contains(detail, "password authentication failed"):
		return fmt.Sprintf("%s cannot log in to another node: give the topology a password (password or password_env) so bootstrap stores it in pg_dist_authinfo, or set PGPASSWORD in the servers' environment", node)
	case strings.Contains(detail, "connection to the remote node"):
		return fmt.Sprintf("%s cannot reach that node under its registered name: check that the worker is running and that its node name (CITUS_NODE_NAME, service:port) resolves from %s (same compose network, or set node_name)", node, node)
	case strings.Contains(detail, "permission denied"):
		return fmt.Sprintf("user %s needs to be a superuser on %s to create the extension and register nodes", t.User, node)
	}
	return ""
}
