package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/pgupgrade"
	"github.com/citusgen/citusgen/quote"
)

// run is one --apply, --rollback or --drop-old: the plan, its state, and
// where progress goes.
type run struct {
	*Plan
	ctx     context.Context
	compose Compose
	path    string     // the state file
	mu      sync.Mutex // the state and the progress, for steps run per node at once
}

func (p *Plan) run(ctx context.Context) *run {
	return &run{Plan: p, ctx: ctx, compose: Compose{Command: composeCommand(), File: p.ComposeFile}, path: StatePath(p.ComposeFile)}
}

// say prints a progress line with the time it is said at.
func (r *run) say(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.o.Progress, "citusgen: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// step runs fn once: a step recorded done is skipped on a rerun.
func (r *run) step(key, what string, fn func() error) error {
	r.mu.Lock()
	_, done := r.state.Done[key]
	r.mu.Unlock()
	if done {
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	r.say("%s ...", what)
	if err := fn(); err != nil {
		return err
	}
	r.mu.Lock()
	r.state.Done[key] = time.Now().UTC()
	err := r.state.save(r.path)
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("recording the step %s in %s: %w", key, r.path, err)
	}
	r.say("%s: done (%s)", what, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// onEveryNode runs stmt in every database with Citus on each node, in
// order, a recorded step per node.
func (r *run) onEveryNode(sql *sqlNodes, nodes []string, key, what, stmt string) error {
	for _, s := range nodes {
		if err := r.step(key+s, s+": "+what, func() error {
			dbs, err := sql.citusDatabases(r.ctx, s)
			if err != nil {
				return err
			}
			return sql.each(r.ctx, s, dbs, stmt)
		}); err != nil {
			return err
		}
	}
	return nil
}

// mark records key done: a milestone of steps already reported.
func (r *run) mark(key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, done := r.state.Done[key]; done {
		return nil
	}
	r.state.Done[key] = time.Now().UTC()
	return r.state.save(r.path)
}

// eachNode runs fn for every node at once (each node's data is its own
// volume, and pg_upgrade or a copy of one node need not wait for another's)
// and returns their errors, in node order.
func (r *run) eachNode(fn func(n NodeState) error) error {
	errs := make([]error, len(r.state.Nodes))
	var wg sync.WaitGroup
	for i, n := range r.state.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *run) services() []string {
	var s []string
	for _, n := range r.t.Nodes() {
		s = append(s, n.Service)
	}
	return s
}

// workersFirst lists the nodes with the coordinator last.
func (r *run) workersFirst() []string {
	s := r.services()
	return append(s[1:], s[0])
}

// Apply runs the plan: the checks (on a new run), then every leg's steps
// that are not done yet, then the end. A failure before anything
// irreversible puts the cluster back on the images it ran.
func (p *Plan) Apply(ctx context.Context) error {
	r := p.run(ctx)
	if len(p.Legs) == 0 {
		return nil
	}
	if p.state != nil && p.state.Finished {
		r.say("the upgrade to %s is done; the old data is kept until citusgen upgrade --drop-old", p.To.Name)
		return nil
	}
	if p.state == nil {
		if err := r.checks(); err != nil {
			return err
		}
		old, err := os.ReadFile(p.ComposeFile)
		if err != nil {
			return err
		}
		r.state = &State{From: p.From, To: p.To, Legs: p.Legs, Link: p.o.Link, Compose: old, Done: map[string]time.Time{}}
		for _, n := range p.Nodes {
			c := p.ctrs[n.Service]
			r.state.Nodes = append(r.state.Nodes, NodeState{Service: n.Service, Volume: c.Volume, Network: c.Network})
		}
		if err := r.readInit(0); err != nil {
			return err
		}
		if err := r.state.save(r.path); err != nil {
			return err
		}
		p.state = r.state
	} else {
		r.say("resuming the upgrade to %s recorded in %s (%s done)", p.To.Name, r.path, english.Plural(len(p.state.Done), "step"))
	}
	for i, l := range p.Legs {
		var err error
		if l.Kind == CitusLeg {
			err = r.citusLeg(i, l)
		} else {
			err = r.postgresLeg(i, l)
		}
		if err != nil {
			return r.stoppedAt(err)
		}
	}
	return r.stoppedAt(r.end())
}

// undone is the error of a leg that put the cluster back by itself.
type undone struct{ error }

// stoppedAt says, for a run that stopped with its state recorded, how to
// go on from there.
func (r *run) stoppedAt(err error) error {
	var u undone
	if err == nil || errors.As(err, &u) || r.ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w\nevery step done is recorded in %s: run citusgen upgrade --apply to resume (after fixing what stopped it), or citusgen upgrade --rollback to undo", err, r.path)
}

// checks are everything that must hold before anything is stopped or
// written; all are run and every failure is named.
func (r *run) checks() error {
	var problems []string
	now := legTopology(r.t, r.From)
	r.say("checking the cluster on %s", r.From.Name)
	// A cluster just started, or on a busy host, may take a while to pass
	// its health check: wait for it a little, saying so, before refusing.
	if err := verifyOn(r.ctx, now, r.o.Cluster, min(r.o.Timeout, 2*time.Minute), r.o.Progress); err != nil {
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		problems = append(problems, "verify fails on the images the nodes run; fix it first (citusgen verify says how):\n  "+err.Error())
	}
	sql, err := newSQLNodes(r.t, r.o.Cluster)
	if err != nil {
		return err
	}
	if jobs, err := sql.busy(r.ctx); err != nil {
		problems = append(problems, "reading the background jobs: "+err.Error())
	} else if len(jobs) > 0 {
		problems = append(problems, fmt.Sprintf("background jobs run on the coordinator: %s; let them finish (SELECT * FROM citus_rebalance_status()) or stop them (SELECT citus_rebalance_stop()), then run the upgrade again", strings.Join(jobs, "; ")))
	}
	var images []string
	for _, l := range r.Legs {
		images = append(images, l.To.Name)
	}
	for _, im := range images {
		if !ImagePresent(r.ctx, im) {
			problems = append(problems, fmt.Sprintf("the image %s is not on this engine; pull it (docker pull %s) and run the upgrade again", im, im))
		}
	}
	if len(problems) == 0 {
		problems = append(problems, r.volumeChecks(sql)...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("the upgrade did not start, nothing was stopped or written:\n- %s", strings.Join(problems, "\n- "))
	}
	r.say("checks passed")
	return nil
}

func (r *run) readInit(leg int) error {
	if r.Legs[leg].Kind != PostgresLeg {
		return nil
	}
	sql, err := newSQLNodes(legTopology(r.t, r.Legs[leg].From), r.o.Cluster)
	if err != nil {
		return err
	}
	for i := range r.state.Nodes {
		n := &r.state.Nodes[i]
		if _, ok := n.Init[leg]; ok {
			continue
		}
		is, err := sql.initSettings(r.ctx, n.Service, r.Legs[leg].From.Postgres)
		if err != nil {
			return err
		}
		if n.Init == nil {
			n.Init = map[int]pgupgrade.InitSettings{}
		}
		n.Init[leg] = is
	}
	return nil
}

// startNodes starts the nodes alone (not the setup service, whose script
// must not run before Citus's finish functions) and waits until healthy.
func (r *run) startNodes() error {
	_, err := r.compose.run(r.ctx, append([]string{"up", "-d", "--no-deps", "--wait"}, r.services()...)...)
	return err
}

func (r *run) stopAll() error {
	_, err := r.compose.run(r.ctx, "stop")
	return err
}

func (r *run) citusLeg(i int, l Leg) error {
	key := func(s string) string { return fmt.Sprintf("leg%d/%s", i+1, s) }
	t := legTopology(r.t, l.To)
	if i == 0 && !r.state.Link {
		if err := r.step(key("stop"), "stopping the nodes to copy their data", r.stopAll); err != nil {
			return err
		}
		if err := r.eachNode(func(n NodeState) error {
			return r.step(key("snapshot/"+n.Service), n.Service+": keeping a copy of the data for rollback", func() error {
				return snapshot(r.ctx, l.From, n.Volume, "snapshot")
			})
		}); err != nil {
			return err
		}
	}
	if err := r.step(key("compose"), "writing "+r.ComposeFile+" for "+l.To.Name, func() error { return r.o.WriteCompose(r.ctx, t) }); err != nil {
		return err
	}
	if err := r.step(key("start"), "starting the nodes on "+l.To.Name, r.startNodes); err != nil {
		return err
	}
	sql, err := newSQLNodes(t, r.o.Cluster)
	if err != nil {
		return err
	}
	if err := r.onEveryNode(sql, r.workersFirst(), key("extension/"), "ALTER EXTENSION citus UPDATE", "ALTER EXTENSION citus UPDATE"); err != nil {
		return err
	}
	coord := r.services()[0]
	return r.step(key("finish"), coord+": citus_finish_citus_upgrade()", func() error {
		dbs, err := sql.citusDatabases(r.ctx, coord)
		if err != nil {
			return err
		}
		for _, db := range dbs {
			if err := sql.finishCitusUpgrade(r.ctx, coord, db); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *run) postgresLeg(i int, l Leg) error {
	key := func(s string) string { return fmt.Sprintf("leg%d/%s", i+1, s) }
	from := legTopology(r.t, l.From)
	if _, started := r.state.Done[key("prepare")]; !started && i > 0 {
		// A later leg's checks, while its old nodes still run.
		if err := r.readInit(i); err != nil {
			return err
		}
		if err := r.liveChecks(i); err != nil {
			return err
		}
	}
	sqlFrom, err := newSQLNodes(from, r.o.Cluster)
	if err != nil {
		return err
	}
	if err := r.onEveryNode(sqlFrom, r.services(), key("prepare/"), "citus_prepare_pg_upgrade()", "SELECT pg_catalog.citus_prepare_pg_upgrade()"); err != nil {
		return err
	}
	if err := r.mark(key("prepare")); err != nil {
		return err
	}
	if _, stopped := r.state.Done[key("stop")]; stopped && !r.done(key("compose")) {
		// A resumed run: whatever was started since stops again.
		if err := r.stopAll(); err != nil {
			return err
		}
	}
	if err := r.step(key("stop"), "stopping the nodes", r.stopAll); err != nil {
		return err
	}
	img, err := volumeImage(r.ctx, l)
	if err != nil {
		return err
	}
	if err := r.eachNode(func(n NodeState) error {
		job := r.job(i, n)
		return r.step(key("pg_upgrade/"+n.Service), fmt.Sprintf("%s: pg_upgrade from PostgreSQL %d to %d", n.Service, l.From.Postgres, l.To.Postgres), func() error {
			return pgupgrade.Upgrade(r.ctx, img, job, func(s string) { r.say("%s: %s", n.Service, s) })
		})
	}); err != nil {
		if r.ctx.Err() == nil && pgupgrade.Refused(err) {
			return r.undoLeg(i, l, img, err)
		}
		return err
	}
	if err := r.step(key("compose"), "writing "+r.ComposeFile+" for "+l.To.Name, func() error { return r.o.WriteCompose(r.ctx, legTopology(r.t, l.To)) }); err != nil {
		return err
	}
	if err := r.step(key("start"), "starting the nodes on "+l.To.Name, r.startNodes); err != nil {
		return err
	}
	sqlTo, err := newSQLNodes(legTopology(r.t, l.To), r.o.Cluster)
	if err != nil {
		return err
	}
	return r.onEveryNode(sqlTo, r.services(), key("finish/"), "citus_finish_pg_upgrade()", "SELECT pg_catalog.citus_finish_pg_upgrade()")
}

// undoLeg puts the cluster back on the leg's old image after a pg_upgrade
// failed: the old data back in place, the nodes started, Citus's prepare
// undone by its finish, and the leg's steps forgotten.
func (r *run) undoLeg(i int, l Leg, img string, cause error) error {
	r.say("pg_upgrade failed; putting the cluster back on %s", l.From.Name)
	for _, n := range r.state.Nodes {
		if err := pgupgrade.Rollback(r.ctx, img, r.job(i, n)); err != nil {
			return fmt.Errorf("%w\nand putting %s's old data back failed too: %v; run citusgen upgrade --rollback", cause, n.Service, err)
		}
	}
	if err := r.startNodes(); err != nil {
		return fmt.Errorf("%w\nthe old data is back in place, but starting the nodes failed: %v; run citusgen upgrade --rollback", cause, err)
	}
	if err := r.undoPrepare(l.From); err != nil {
		return fmt.Errorf("%w\nthe nodes run %s again, but taking back citus_prepare_pg_upgrade() failed: %v; run citusgen upgrade --rollback", cause, l.From.Name, err)
	}
	prefix := fmt.Sprintf("leg%d/", i+1)
	for k := range r.state.Done {
		if strings.HasPrefix(k, prefix) {
			delete(r.state.Done, k)
		}
	}
	if i == 0 {
		os.Remove(r.path)
	} else if err := r.state.save(r.path); err != nil {
		return err
	}
	if _, err := r.compose.run(r.ctx, "up", "-d", "--wait"); err != nil {
		return fmt.Errorf("%w\nthe nodes run %s again on their old data; docker compose up -d --wait failed: %v", cause, l.From.Name, err)
	}
	return undone{fmt.Errorf("%w\nnothing is lost: the nodes run %s again on their old data", cause, l.From.Name)}
}

// undoPrepare takes back citus_prepare_pg_upgrade on every node of image.
func (r *run) undoPrepare(im Image) error {
	sql, err := newSQLNodes(legTopology(r.t, im), r.o.Cluster)
	if err != nil {
		return err
	}
	for _, s := range r.services() {
		dbs, err := sql.citusDatabases(r.ctx, s)
		if err != nil {
			return err
		}
		if err := sql.each(r.ctx, s, dbs, undoPrepare); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) end() error {
	if err := r.step("end/up", "docker compose up -d --wait", func() error {
		_, err := r.compose.run(r.ctx, "up", "-d", "--wait")
		return err
	}); err != nil {
		return err
	}
	if err := verifyOn(r.ctx, r.t, r.o.Cluster, r.o.Timeout, r.o.Progress); err != nil {
		return fmt.Errorf("the nodes run %s, but verify fails:\n  %s", r.To.Name, err)
	}
	sql, err := newSQLNodes(r.t, r.o.Cluster)
	if err != nil {
		return err
	}
	for _, s := range r.services() {
		dbs, err := sql.collationDrift(r.ctx, s)
		if err != nil {
			return err
		}
		if len(dbs) > 0 {
			var fix []string
			for _, db := range dbs {
				// Each node's version is its own: Citus would send the
				// ALTER from the coordinator and refuse it on a worker.
				fix = append(fix, fmt.Sprintf("in %s: REINDEX DATABASE %s; SET citus.enable_ddl_propagation TO off; ALTER DATABASE %s REFRESH COLLATION VERSION;", quote.SQLIdent(db), quote.SQLIdent(db), quote.SQLIdent(db)))
			}
			r.say("warning: %s: the new image's C library sorts text by another collation version than the data was made with, in %s: indexes on text may be out of order until rebuilt. Run on %s, %s", s, strings.Join(dbs, ", "), s, strings.Join(fix, " "))
		}
	}
	r.state.Finished = true
	if err := r.state.save(r.path); err != nil {
		return err
	}
	if r.state.Link {
		r.say("upgraded to %s; verify passes", r.To.Name)
		return nil
	}
	r.say("upgraded to %s; verify passes. The old data is kept in each node's volume: citusgen upgrade --rollback goes back to it, citusgen upgrade --drop-old frees it", r.To.Name)
	return nil
}
