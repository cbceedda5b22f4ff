// Package bootstrap makes a live cluster match the topology: it waits for
// the nodes, applies the plan under a lock and reads again until nothing is
// left to do.
package bootstrap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/reshape"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/topology"
)

// lockKey is the advisory lock every bootstrap takes on the coordinator's
// cluster database ("citusgen" in ASCII).
const lockKey int64 = 0x6369747573676e

// maxRounds bounds the read-apply rounds: a change can reveal another (a
// worker's extension must exist before its metadata can be synced), but
// never more than a few deep.
const maxRounds = 4

// Options for Run.
type Options struct {
	Cluster cluster.Options
	// Wait bounds how long nodes may take to accept connections, how long
	// any statement or reading may wait (for a lock another session holds,
	// say), and each rebalance or drain.
	Wait time.Duration
	// NoWait (--wait 0) tries each node once and does not wait for
	// another run's lock; statements, a rebalance and a drain keep their
	// bound (Wait, or 60s when Wait is zero).
	NoWait bool
	// Progress receives one line per event (stderr in the CLI).
	Progress io.Writer
	// PollInterval between connection attempts while waiting; 250ms when zero.
	PollInterval time.Duration
	// Prune drains and removes registrations outside the topology.
	Prune bool
	// Rebalance moves shards onto the topology's workers (or waits for a
	// rebalance already running).
	Rebalance bool
}

// Result tells what a run did and what it left.
type Result struct {
	Nodes int
	// Applied counts the changes made (each one step or a few).
	Applied int
	// AlreadyDone counts changes whose guards found the work done by the
	// time they ran (a concurrent run, or the setup service).
	AlreadyDone int
	// Removed and Moved: what --prune and --rebalance did.
	Removed []reshape.Removed
	Moved   int
	// Left is the plan of the last reading: what is still to change (what
	// needs a flag not given, or a person).
	Left *diagnosis.Plan
}

// Complete reports whether the cluster matched the topology at the end.
func (r *Result) Complete() bool { return r.Left == nil || len(r.Left.Changes) == 0 }

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
	t     *topology.Topology
	o     Options
	stage string // what the run is doing, for a stop to name
	mu    sync.Mutex
	res   Result
	auth  string // pg_dist_authinfo value, bound as $1
	eps   map[string]cluster.Endpoint
}

func (r *runner) printf(format string, args ...any) {
	if r.o.Progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(r.o.Progress, r.o.Cluster.Redact(r.t, fmt.Sprintf(format, args...)))
}

// Run bootstraps the cluster.
func Run(ctx context.Context, t *topology.Topology, o Options) (*Result, error) {
	eps, err := cluster.Endpoints(t, o.Cluster)
	if err != nil {
		return nil, err
	}
	r := &runner{t: t, o: o, eps: map[string]cluster.Endpoint{}}
	if t.HasPassword() {
		r.auth = citus.Authinfo(o.Cluster.Password)
	}
	for _, ep := range eps {
		r.eps[ep.Node.Service] = ep
	}
	res, err := r.run(ctx, eps)
	if err != nil && ctx.Err() != nil {
		return nil, r.stopped(err)
	}
	return res, err
}

// stopped is the error of a run ctx stopped: what it was doing and what
// is left running on the server.
func (r *runner) stopped(err error) error {
	var in *reshape.Interrupted
	if errors.As(err, &in) {
		return fmt.Errorf("bootstrap stopped while %s: %s", r.stage, in.Msg)
	}
	return fmt.Errorf("bootstrap stopped while %s, after %s; the statement it was running is canceled, so nothing it started runs on the server: every step is guarded, so run citusgen bootstrap again to finish", r.stage, english.Plural(r.res.Applied, "change")+" applied")
}

func (r *runner) run(ctx context.Context, eps []cluster.Endpoint) (*Result, error) {
	t, o := r.t, r.o
	start := time.Now()
	r.stage = "waiting for the nodes"
	if err := r.waitAll(ctx, eps); err != nil {
		return nil, err
	}
	coordEP := eps[0]

	r.stage = "taking its lock on the coordinator"
	// The lock lives in the coordinator's cluster database, so create that
	// first; a concurrent run creating it too is harmless (duplicate_database).
	if ran, err := r.runStep(ctx, coordEP, steps.CreateDatabase(t), nil); err != nil {
		return nil, err
	} else if ran {
		r.res.Applied++
	}
	lockConn, err := r.o.Cluster.Connect(ctx, t, coordEP, t.ClusterDatabase())
	if err != nil {
		return nil, r.connError(coordEP, "lock", err)
	}
	defer lockConn.Close(context.Background())
	var got bool
	if err := cluster.Watch(ctx, lockConn, r.wait(), func(ctx context.Context) error {
		return lockConn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&got)
	}); err != nil {
		return nil, r.stepError(coordEP, "lock", err)
	}
	if !got && o.NoWait {
		return nil, &Error{Node: t.Coordinator.Service, Action: "lock", Detail: "another citusgen bootstrap is running, and --wait 0 does not wait for it",
			Hint: "run again when it has finished, or give --wait a duration to wait for it"}
	}
	if !got {
		r.printf("%s: another bootstrap is running; waiting for it to finish", t.Coordinator.Service)
		err := cluster.Watch(ctx, lockConn, r.wait(), func(ctx context.Context) error {
			_, err := lockConn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey)
			return err
		})
		var stuck *cluster.Stuck
		if errors.As(err, &stuck) {
			return nil, &Error{Node: t.Coordinator.Service, Action: "lock", Detail: "another citusgen bootstrap held its lock for longer than " + r.wait().String() + ": " + r.o.Cluster.Redact(t, stuck.Error()),
				Hint: "wait for the other citusgen bootstrap to finish (or end its session on the coordinator), then run again"}
		} else if err != nil {
			return nil, r.stepError(coordEP, "lock", err)
		}
	}

	r.stage = "reading the cluster and applying changes"
	for round := 0; round < maxRounds; round++ {
		c, err := r.read(ctx, live.Options{})
		if err != nil {
			return nil, err
		}
		todo := applicable(diagnosis.PlanOf(c).Changes)
		if len(todo) == 0 {
			break
		}
		if err := r.apply(ctx, todo); err != nil {
			return nil, err
		}
	}
	if o.Prune || o.Rebalance {
		if err := r.reshape(ctx, coordEP, lockConn); err != nil {
			return nil, err
		}
	}
	// The last reading is plan's whole reading, the nodes' connections to
	// each other included: complete means what plan would call in sync.
	r.stage = "reading the cluster a last time"
	final, err := r.read(ctx, live.Options{Reshape: true, Health: true})
	if err != nil {
		return nil, err
	}
	left := diagnosis.PlanOf(final)
	r.res.Left = left
	r.res.Nodes = len(eps)
	// Every node was read (read stops otherwise): what left the plan
	// incomplete is what Citus could not weigh.
	if len(left.Unread) > 0 {
		u := left.Unread[0]
		return nil, &Error{Node: u.Node, Action: "read", Detail: u.Detail, Hint: u.Hint}
	}
	r.summary(time.Since(start))
	return &r.res, nil
}

// applicable keeps the changes plain bootstrap makes.
func applicable(changes []diagnosis.Change) []diagnosis.Change {
	manual := slices.ContainsFunc(changes, func(ch diagnosis.Change) bool { return ch.Kind == diagnosis.Manual })
	var out []diagnosis.Change
	for _, ch := range changes {
		if ch.Needs == diagnosis.ByBootstrap && !(manual && ch.Kind == diagnosis.SyncMetadata) {
			out = append(out, ch)
		}
	}
	return out
}

// read reads the cluster (what o asks beyond the nodes), each node's
// reading bounded by --wait; a node that cannot be read (it went away,
// rejects the password now, or a lock holds its reading up) stops the
// run, naming it.
func (r *runner) read(ctx context.Context, o live.Options) (*live.Cluster, error) {
	o.Cluster, o.Bound = r.o.Cluster, r.wait()
	// What follows the nodes' readings (their connections to each other,
	// sizes) gets as long again, and Citus's connection timeouts.
	ctx, cancel := context.WithTimeout(ctx, 2*r.wait()+30*time.Second)
	defer cancel()
	c, err := live.Read(ctx, r.t, o)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range c.Unread() {
		errs = append(errs, &Error{Node: p.Node, Action: "read", Detail: p.Detail, Hint: p.Hint})
	}
	return c, errors.Join(errs...)
}

// apply runs the changes' steps: each worker's own changes in parallel,
// then the coordinator's, in the diff's order.
func (r *runner) apply(ctx context.Context, changes []diagnosis.Change) error {
	byNode := map[string][]diagnosis.Change{}
	var order []string
	for _, ch := range changes {
		if _, ok := byNode[ch.On]; !ok {
			order = append(order, ch.On)
		}
		byNode[ch.On] = append(byNode[ch.On], ch)
	}
	coord := r.t.Coordinator.Service
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, node := range order {
		if node == coord {
			continue
		}
		wg.Go(func() { errs[i] = r.applyOn(ctx, r.eps[node], byNode[node]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if chs, ok := byNode[coord]; ok {
		return r.applyOn(ctx, r.eps[coord], chs)
	}
	return nil
}

// applyOn runs changes on one node, reusing one connection to the cluster
// database.
func (r *runner) applyOn(ctx context.Context, ep cluster.Endpoint, changes []diagnosis.Change) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	ran := map[string]bool{} // unguarded statements already run here this round
	for _, ch := range changes {
		did := false
		for _, s := range ch.Steps {
			if s.Guard == "" && !s.Authinfo && ran[s.SQL] {
				// One metadata sync reaches every worker.
				r.printf("%s: %s: already done (above)", ep.Node.Service, s.Action)
				continue
			}
			ran[s.SQL] = true
			var use *pgx.Conn // nil: runStep connects to the maintenance database
			if s.Target == steps.OnCluster {
				if conn == nil {
					c, err := r.o.Cluster.Connect(ctx, r.t, ep, r.t.ClusterDatabase())
					if err != nil {
						return r.connError(ep, s.Action, err)
					}
					conn = c
				}
				use = conn
			}
			ran, err := r.runStep(ctx, ep, s, use)
			if err != nil {
				return err
			}
			did = did || ran
		}
		if did {
			r.count(&r.res.Applied)
		} else {
			r.count(&r.res.AlreadyDone)
		}
	}
	return nil
}

// reshape runs --prune and then --rebalance, each on a fresh reading,
// over conn (to the coordinator, ep).
func (r *runner) reshape(ctx context.Context, ep cluster.Endpoint, conn *pgx.Conn) error {
	ro := reshape.Options{Wait: r.o.Wait, Progress: r.o.Progress}
	if r.o.Prune {
		r.stage = "pruning"
		c, err := r.read(ctx, live.Options{Reshape: true})
		if err != nil {
			return err
		}
		removed, err := reshape.Prune(ctx, c, conn, ro)
		r.res.Removed = removed
		r.res.Applied += len(removed)
		if len(removed) > 0 && !r.t.Containerless() {
			r.volumeNote(removed)
		}
		if err != nil {
			return r.reshapeError(ep, "prune", err)
		}
	}
	if r.o.Rebalance {
		r.stage = "rebalancing"
		// A job found running was planned before; once it ends, more
		// moves may be due.
		for range 2 {
			c, err := r.read(ctx, live.Options{Reshape: true})
			if err != nil {
				return err
			}
			moved, attached, err := reshape.Rebalance(ctx, c, conn, ro)
			if moved > 0 && r.res.Moved == 0 {
				r.res.Applied++ // the rebalance, however many jobs it took
			}
			r.res.Moved += moved
			if err != nil {
				return r.reshapeError(ep, "rebalance", err)
			}
			if !attached {
				break
			}
		}
	}
	return nil
}

// reshapeError names a reshape's failure; a lost connection to the
// coordinator says so, and that a job Citus runs in the background may
// still be going.
func (r *runner) reshapeError(ep cluster.Endpoint, action string, err error) error {
	if cluster.Lost(err) {
		e := r.lost(ep, action)
		e.Hint += "; a rebalance Citus runs in the background goes on once the coordinator is back, and citusgen bootstrap --rebalance waits for it"
		return e
	}
	return fmt.Errorf("%s failed: %w", action, err)
}

// summary says what changed and what is pending; it says "complete" only
// when nothing is.
func (r *runner) summary(took time.Duration) {
	res := &r.res
	applied := english.Plural(res.Applied, "change") + " applied"
	var reshaped []string
	for _, x := range res.Removed {
		if x.Drained > 0 {
			reshaped = append(reshaped, fmt.Sprintf("drained %s off %s and removed it", english.Plural(x.Drained, "shard"), x.Addr()))
		} else {
			reshaped = append(reshaped, "removed "+x.Addr())
		}
	}
	if res.Moved > 0 {
		reshaped = append(reshaped, "the rebalance moved "+english.Plural(res.Moved, "shard"))
	}
	if len(reshaped) > 0 {
		applied += " (" + strings.Join(reshaped, "; ") + ")"
	}
	if res.AlreadyDone > 0 {
		applied += fmt.Sprintf(", %d already done by another run", res.AlreadyDone)
	}
	if res.Complete() {
		r.printf("bootstrap complete: %d nodes match the topology; %s, nothing pending (%s)", res.Nodes, applied, took.Round(10*time.Millisecond))
		return
	}
	r.printf("bootstrap incomplete: %s; %s still pending:", applied, english.Plural(len(res.Left.Changes), "change"))
	for _, ch := range res.Left.Changes {
		r.printf("  %s %s: %s", ch.Kind, ch.Node, ch.Detail)
	}
}

// volumeNote says how to drop the data volume of a worker prune removed:
// compose keeps a named volume until it is removed by name.
func (r *runner) volumeNote(removed []reshape.Removed) {
	for _, x := range removed {
		volume := "<volume>"
		if serviceName.MatchString(x.Name) && net.ParseIP(x.Name) == nil && x.Name != "localhost" {
			volume = x.Name // registered by its compose service name
		}
		if r.t.VolumePrefixVariable != "" {
			volume = "${" + r.t.VolumePrefixVariable + "}" + volume
		}
		r.printf("prune: note: if %s ran from this compose file, its data volume stays: once its service is gone from the file and its container removed (docker compose up -d --remove-orphans), drop it with docker volume rm <project>_%s (the compose project's name, and the volume the file named for the service; docker volume ls lists it)", x.Addr(), volume)
	}
}

// serviceName is a registration name that can be a compose service's.
var serviceName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// wait is the bound on waiting for nodes, and for another run's lock.
func (r *runner) wait() time.Duration { return cmp.Or(r.o.Wait, 60*time.Second) }

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
		kind, detail := cluster.Diagnose(ep.Addr, err)
		// The hint verify gives for the same failure.
		hint := (&live.Node{Endpoint: ep, Failure: kind}).FailureHint(r.t)
		fail := func(detail, more string) error {
			return &Error{Node: name, Action: "connect", Detail: detail, Hint: hint + more}
		}
		switch kind {
		case cluster.TooManyClients:
			// Sessions end: this may pass within --wait.
		case cluster.AuthFailed, cluster.NotPostgres:
			return fail(detail, "")
		case cluster.Other:
			return &Error{Node: name, Action: "connect", Detail: detail}
		}
		if r.o.NoWait {
			return fail(fmt.Sprintf("no connection to %s at the first try, and --wait 0 does not wait (%s)", ep.Addr, detail), "; or give --wait a duration to wait for it; then run citusgen bootstrap again")
		}
		if time.Since(lastReport) >= 5*time.Second {
			r.printf("%s at %s: waiting (%s; %s so far)", name, ep.Addr, detail, time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			switch kind {
			case cluster.TooManyClients:
				return fail(fmt.Sprintf("no session on %s within %s: it %s", ep.Addr, wait, detail), "")
			case cluster.Silent:
				return fail(fmt.Sprintf("no answer within %s: %s", wait, detail), "")
			}
			return fail(fmt.Sprintf("no connection to %s within %s (last error: %s)", ep.Addr, wait, detail), "; then run citusgen bootstrap again")
		case <-time.After(cmp.Or(r.o.PollInterval, 250*time.Millisecond)):
		}
	}
}

// ping succeeds when the node accepts an authenticated connection, to the
// cluster database or, while that does not exist yet, to the maintenance one.
func (r *runner) ping(ctx context.Context, ep cluster.Endpoint) error {
	c, err := r.o.Cluster.Connect(ctx, r.t, ep, r.t.ClusterDatabase())
	if kind, _ := cluster.Classify(err); kind == cluster.NoDatabase {
		c, err = r.o.Cluster.ConnectMaintenance(ctx, r.t, ep)
	}
	if err != nil {
		return err
	}
	return c.Close(context.Background())
}

func (r *runner) connError(ep cluster.Endpoint, action string, err error) error {
	kind, detail := cluster.Classify(err)
	e := &Error{Node: ep.Node.Service, Action: action, Detail: detail}
	if kind == cluster.AuthFailed || kind == cluster.TooManyClients {
		e.Hint = (&live.Node{Endpoint: ep, Failure: kind}).FailureHint(r.t)
	}
	return e
}

// lost is the error of a statement whose connection ended under it: the
// server stopped, crashed or restarted, or ended the session.
func (r *runner) lost(ep cluster.Endpoint, action string) *Error {
	name := ep.Node.Service
	check := fmt.Sprintf("check that %s is up (docker compose ps %s; docker compose logs %s says why it stopped)", name, name, name)
	if !ep.Node.RunsFromImage() {
		check = fmt.Sprintf("check that the server of %s is up (its log says why it stopped)", name)
	}
	return &Error{Node: name, Action: action,
		Detail: fmt.Sprintf("the connection to %s at %s was lost while the statement ran: the server stopped, restarted or ended citusgen's session", name, ep.Addr),
		Hint:   check + ", then run citusgen bootstrap again: every step is guarded, so what was done stays done"}
}

// runStep runs one step and reports whether it changed anything: a guard
// that finds the work done, or an upsert that found the row right, did not.
func (r *runner) runStep(ctx context.Context, ep cluster.Endpoint, s steps.Step, conn *pgx.Conn) (bool, error) {
	name := ep.Node.Service
	if conn == nil {
		c, err := r.o.Cluster.ConnectMaintenance(ctx, r.t, ep)
		if err != nil {
			return false, r.connError(ep, s.Action, err)
		}
		defer c.Close(context.Background())
		conn = c
	}
	// The step lock: the bootstrap script (the compose setup service's psql)
	// holds it while it runs statements in this database, so the guard below
	// sees what it did rather than racing it.
	if err := cluster.Watch(ctx, conn, r.wait(), func(ctx context.Context) error {
		_, err := conn.Exec(ctx, steps.StepLock)
		return err
	}); err != nil {
		return false, r.stepError(ep, s.Action, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), r.wait())
		defer cancel()
		conn.Exec(uctx, steps.StepUnlock)
	}()
	start := time.Now()
	if s.Guard != "" {
		var needed bool
		if err := cluster.Watch(ctx, conn, r.wait(), func(ctx context.Context) error { return conn.QueryRow(ctx, "SELECT "+s.Guard).Scan(&needed) }); err != nil {
			return false, r.stepError(ep, s.Action, err)
		}
		if !needed {
			r.printf("%s: %s: already done", name, s.Action)
			return false, nil
		}
	}
	var tag pgconn.CommandTag
	err := cluster.Watch(ctx, conn, r.wait(), func(ctx context.Context) error {
		var err error
		if s.Authinfo {
			// $1 is the password: no log_statement = 'all' shows it.
			if _, err = conn.Exec(ctx, steps.QuietParameters); err != nil {
				return err
			}
			tag, err = conn.Exec(ctx, s.SQL, r.auth)
		} else {
			tag, err = conn.Exec(ctx, s.SQL)
		}
		return err
	})
	var pgErr *pgconn.PgError
	if s.Target == steps.OnMaintenance && errors.As(err, &pgErr) &&
		(pgErr.Code == pgerrcode.DuplicateDatabase || pgErr.Code == pgerrcode.UniqueViolation && pgErr.ConstraintName == "pg_database_datname_index") {
		// A concurrent run created the database between guard and statement
		// (duplicate_database, or the catalog's unique index when both raced).
		r.printf("%s: %s: already done", name, s.Action)
		return false, nil
	}
	if err != nil {
		return false, r.stepError(ep, s.Action, err)
	}
	if s.Authinfo && tag.RowsAffected() == 0 {
		r.printf("%s: %s: already done", name, s.Action)
		return false, nil
	}
	r.printf("%s: %s: done (%s)", name, s.Action, time.Since(start).Round(time.Millisecond))
	return true, nil
}

func (r *runner) count(n *int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*n++
}

// stepError says why a statement on ep failed, and what to do: a lock or
// timeout that held it up, a connection lost under it, or the server's
// error.
func (r *runner) stepError(ep cluster.Endpoint, action string, err error) error {
	node := ep.Node.Service
	redact := func(s string) string { return r.o.Cluster.Redact(r.t, s) }
	var hinted cluster.Hinted
	if errors.As(err, &hinted) {
		return &Error{Node: node, Action: action, Detail: redact(hinted.Error()), Hint: redact(hinted.Hint(node))}
	}
	if cluster.Lost(err) {
		return r.lost(ep, action)
	}
	detail := redact(cluster.ErrText(err))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.DiskFull || strings.Contains(detail, "No space left on device") {
		// disk_full, or an I/O error with ENOSPC: no retry helps.
		return &Error{Node: node, Action: action, Detail: detail + " (the node ran out of disk space)",
			Hint: r.diskHint(ep) + ", then run citusgen bootstrap again: every step is guarded, so what was done stays done"}
	}
	return &Error{Node: node, Action: action, Detail: detail, Hint: live.StepHint(r.t, node, detail)}
}

// diskHint says how to give a node that ran out of disk space some room.
func (r *runner) diskHint(ep cluster.Endpoint) string {
	if ep.Node.RunsFromImage() {
		return fmt.Sprintf("free space on the volume of %s or grow it (docker compose exec %s sh -c 'df -h \"$PGDATA\"' shows it)", ep.Node.Service, ep.Node.Service)
	}
	return fmt.Sprintf("free space where %s keeps its data directory, or grow that filesystem", ep.Node.Service)
}

// Reset drops and recreates the cluster database on every node, coordinator
// first, after ending the sessions that use it.
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

// resetNode ends the sessions on the cluster database, drops and creates it.
func (r *runner) resetNode(ctx context.Context, c *pgx.Conn, ep cluster.Endpoint) error {
	deadline := time.Now().Add(r.wait())
	ss := steps.ResetSteps(r.t)
	const dropStep = 1 // after ending the sessions, before creating it anew
	for i := 0; i < len(ss); i++ {
		s := ss[i]
		start := time.Now()
		err := cluster.Watch(ctx, c, r.wait(), func(ctx context.Context) error { _, err := c.Exec(ctx, s.SQL); return err })
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
	return r.o.Cluster.ConnectMaintenance(ctx, r.t, ep)
}
