// Package reshape moves shards: rebalancing onto the topology's workers, and
// pruning registrations outside it.
package reshape

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
)

// Options tune rebalancing and draining.
type Options struct {
	// Wait bounds each rebalance or drain; 10 minutes when zero.
	Wait time.Duration
	// Progress receives one line per event.
	Progress io.Writer
	// Poll is how often progress is read; 500ms when zero.
	Poll time.Duration
	// nodes and workers name, by node id, the registrations and the
	// topology's workers among them (set from the reading by named), for
	// messages about a move.
	nodes   map[string]string
	workers map[string]live.WorkerMatch
}

// named sets nodes and workers from the reading c.
func (o *Options) named(c *live.Cluster) {
	o.nodes, o.workers = map[string]string{}, map[string]live.WorkerMatch{}
	for _, r := range c.Coordinator().Registrations {
		o.nodes[fmt.Sprint(r.ID)] = r.Addr()
	}
	if c.Match != nil {
		for _, w := range c.Match.Workers {
			if w.Row != nil {
				o.workers[fmt.Sprint(w.Row.ID)] = w
			}
		}
	}
}

// nodeAddr names the registration of node id.
func (o Options) nodeAddr(id string) string {
	if a, ok := o.nodes[id]; ok {
		return a
	}
	return "node " + id
}

func (o Options) poll() time.Duration { return cmp.Or(o.Poll, 500*time.Millisecond) }

func (o Options) wait() time.Duration { return cmp.Or(o.Wait, 10*time.Minute) }

// explain adds, to an error that says Citus could not reach a node (it
// does not say which), the nodes the coordinator cannot connect to.
func explain(ctx context.Context, c *live.Cluster, conn *pgx.Conn, err error) error {
	if err == nil || !strings.Contains(err.Error(), "connection") {
		return err
	}
	if why := c.CannotReach(ctx, conn.Config()); why != "" {
		return fmt.Errorf("%w: %s", err, why)
	}
	return err
}

func (o Options) printf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// Rebalance waits for a rebalance job that is already running (one a killed
// bootstrap left behind), or else starts Citus's background rebalancer when
// shards are unbalanced and waits for it, printing each shard it moved.
func Rebalance(ctx context.Context, c *live.Cluster, conn *pgx.Conn, o Options) (moved int, attached bool, err error) {
	o.named(c)
	if c.ReshapeErr != "" {
		return 0, false, fmt.Errorf("Citus cannot plan the rebalance: %s; start that node or make it reachable from the coordinator, or remove its registration (citusgen bootstrap --prune, for one outside the topology), then run again", c.ReshapeErr)
	}
	if len(c.Jobs) > 0 {
		j := c.Jobs[0]
		o.printf("rebalance: job %d is already %s (%d of %s done); waiting for it", j.ID, j.State, j.Done, english.Plural(j.Tasks, "task"))
		moved, err := follow(ctx, conn, j.ID, o, rerunRebalance)
		return moved, true, explain(ctx, c, conn, err)
	}
	if c.Moves == 0 {
		o.printf("rebalance: shards are balanced; nothing to move")
		return 0, false, nil
	}
	mode, why := citus.TransferMode(c.Coordinator().WalLevel)
	o.printf("rebalance: %s planned; %s", english.Plural(c.Moves, "shard move"), why)
	cleanup(ctx, conn, o)
	var job int64
	if err := cluster.Watch(ctx, conn, o.wait(), func(ctx context.Context) error { return conn.QueryRow(ctx, citus.RebalanceStart, mode).Scan(&job) }); err != nil {
		return 0, false, explain(ctx, c, conn, fmt.Errorf("citus_rebalance_start: %w", err))
	}
	moved, err = follow(ctx, conn, job, o, rerunRebalance)
	return moved, false, explain(ctx, c, conn, err)
}

// follow waits for a job to end, printing each move as it finishes and the
// count of moves (and of other tasks, such as copying reference tables to
// a new node) done.
func follow(ctx context.Context, conn *pgx.Conn, job int64, o Options, rerun string) (int, error) {
	start := time.Now()
	deadline := start.Add(o.wait())
	last := ""
	reported := map[int64]bool{}
	movesDone := 0
	for {
		var state, details string
		if err := conn.QueryRow(ctx, citus.RebalanceStatus, job).Scan(&state, &details); err != nil {
			if ctx.Err() != nil {
				return movesDone, jobLeft(conn.Config(), job, rerun)
			}
			// Citus sizes the shards for the status, which fails while a
			// node is down: say so if a move's target is that node.
			if ferr := failedMove(ctx, conn, job, jobTasks(ctx, conn, job), o, err.Error()); ferr != nil {
				return 0, ferr
			}
			return 0, fmt.Errorf("citus_rebalance_status: %w", err)
		}
		tasks := jobTasks(ctx, conn, job)
		moves, others, othersDone := 0, 0, 0
		movesDone = 0
		for _, tk := range tasks {
			done := tk.status == "done"
			if tk.move == nil {
				others++
				if done {
					othersDone++
				}
				continue
			}
			moves++
			if done {
				movesDone++
				if !reported[tk.id] {
					reported[tk.id] = true
					o.printf("rebalance: moved shard %s from %s to %s (%s)", tk.move.shard, o.nodeAddr(tk.move.from), o.nodeAddr(tk.move.to), time.Since(start).Round(100*time.Millisecond))
				}
			}
		}
		line := fmt.Sprintf("rebalance: job %d %s: %d of %s done", job, state, movesDone, english.Plural(moves, "move"))
		if others > 0 {
			line += fmt.Sprintf(", %d of %s", othersDone, english.Plural(others, "other task"))
		}
		if line != last {
			o.printf("%s (%s)", line, time.Since(start).Round(100*time.Millisecond))
			last = line
		}
		if err := failedMove(ctx, conn, job, tasks, o, ""); err != nil {
			return movesDone, err
		}
		switch {
		case state == citus.JobFinished:
			return movesDone, nil
		case citus.JobFailed[state]:
			return movesDone, fmt.Errorf("the rebalance job %d ended %s: %s; see SELECT * FROM citus_rebalance_status()", job, state, firstError(details))
		}
		if time.Now().After(deadline) {
			return movesDone, fmt.Errorf("the rebalance job %d did not finish within %s (%d of %s done); it goes on in the background: run citusgen bootstrap --rebalance again to wait for it, or stop it with SELECT citus_rebalance_stop()", job, o.wait(), movesDone, english.Plural(moves, "move"))
		}
		select {
		case <-ctx.Done():
			return movesDone, jobLeft(conn.Config(), job, rerun)
		case <-time.After(o.poll()):
		}
	}
}

// What to run again to resume, after a signal stopped citusgen.
const (
	rerunRebalance = "citusgen bootstrap --rebalance"
	rerunPrune     = "citusgen bootstrap --prune"
)

// Interrupted is a rebalance or drain that a canceled context (a signal)
// stopped citusgen from following: it says what still runs on the
// coordinator, and how to watch it, stop it and resume.
type Interrupted struct{ Msg string }

func (e *Interrupted) Error() string { return e.Msg }

// afterCancel bounds what citusgen asks the coordinator once its context
// is canceled, so that it stops within about 2 s.
const afterCancel = 1500 * time.Millisecond

// jobLeft asks, over a connection of its own, what a rebalance job is
// doing now that citusgen stopped following it.
func jobLeft(cfg *pgx.ConnConfig, job int64, rerun string) error {
	ctx, cancel := context.WithTimeout(context.Background(), afterCancel)
	defer cancel()
	const howto = "watch it with SELECT * FROM citus_rebalance_status(); stop it with SELECT citus_rebalance_stop(); or run %s again, which waits for it and resumes"
	var state, details string
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		defer conn.Close(context.Background())
		err = conn.QueryRow(ctx, citus.RebalanceStatus, job).Scan(&state, &details)
	}
	if err != nil {
		return &Interrupted{fmt.Sprintf("stopped following rebalance job %d, which may still run on the coordinator (citusgen could not ask: %v): "+howto, job, oneLine(err.Error()), rerun)}
	}
	moves, done := 0, 0
	for _, tk := range jobTasks(ctx, conn, job) {
		if tk.move != nil {
			moves++
			if tk.status == "done" {
				done++
			}
		}
	}
	progress := fmt.Sprintf("%d of %s done", done, english.Plural(moves, "move"))
	switch {
	case state == citus.JobFinished:
		return &Interrupted{fmt.Sprintf("stopped following rebalance job %d, which finished meanwhile (%s); run %s again to see that nothing is left", job, progress, rerun)}
	case citus.JobFailed[state]:
		return &Interrupted{fmt.Sprintf("stopped following rebalance job %d, which is %s (%s): %s; see SELECT * FROM citus_rebalance_status(), and run %s again", job, state, progress, firstError(details), rerun)}
	}
	return &Interrupted{fmt.Sprintf("stopped following rebalance job %d, which goes on on the coordinator (%s, %s): "+howto, job, state, progress, rerun)}
}

type move struct{ shard, from, to string }

type task struct {
	id     int64
	status string
	move   *move
	// failed is the error of the task's last failed attempt, "" when none.
	failed string
}

var moveRE = regexp.MustCompile(citus.MoveCommand)

// jobTasks lists a job's tasks from Citus's task table; a move's command
// names the shard and the node ids.
func jobTasks(ctx context.Context, conn *pgx.Conn, job int64) []task {
	var out []task
	var tk task
	var command string
	rows, _ := conn.Query(ctx, citus.JobTasks, job)
	// A row that does not scan ends the list: what came before is kept.
	pgx.ForEachRow(rows, []any{&tk.id, &tk.status, &command, &tk.failed}, func() error {
		t := tk
		if m := moveRE.FindStringSubmatch(command); m != nil {
			t.move = &move{shard: m[1], from: m[2], to: m[3]}
		}
		out = append(out, t)
		return nil
	})
	return out
}

// firstError is the first failed task's message in citus_rebalance_status()'s details.
func firstError(details string) string {
	var d struct {
		Tasks []struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal([]byte(details), &d)
	for _, task := range d.Tasks {
		if task.Status == "error" && strings.TrimSpace(task.Message) != "" {
			return strings.TrimSpace(task.Message)
		}
	}
	return "no task gave a reason"
}

// Prune drains every registration outside the topology (its shards move to
// the topology's workers, with progress) and then removes it.
func Prune(ctx context.Context, c *live.Cluster, conn *pgx.Conn, o Options) ([]Removed, error) {
	if c.Match == nil {
		return nil, fmt.Errorf("cannot prune: the coordinator's registrations could not be read")
	}
	extra := c.Match.Extra
	if len(extra) == 0 {
		o.printf("prune: every registered worker is in the topology; nothing to remove")
		return nil, nil
	}
	remaining := 0
	for _, w := range c.Match.Workers {
		if w.State == live.Registered && w.Row.ShouldHaveShards {
			remaining++
		}
	}
	var names []string
	holding := false
	for _, x := range extra {
		names = append(names, x.Addr())
		holding = holding || x.Shards > 0
	}
	if remaining == 0 && holding {
		return nil, fmt.Errorf("cannot prune %s: no worker of the topology is registered, active and allowed shards (shouldhaveshards), so the shards would have nowhere to go; run citusgen bootstrap first or check citus_set_node_property(..., 'shouldhaveshards', true)", strings.Join(names, ", "))
	}
	if len(c.Jobs) > 0 {
		// citus_drain_node refuses to run beside a rebalance.
		o.printf("prune: rebalance job %d is running; waiting for it first", c.Jobs[0].ID)
		o.named(c)
		if _, err := follow(ctx, conn, c.Jobs[0].ID, o, rerunPrune); err != nil {
			return nil, err
		}
	}
	mode, why := citus.TransferMode(c.Coordinator().WalLevel)
	if mode == "auto" {
		// Logical replication cannot move a table without a replica
		// identity; such tables move with block_writes instead.
		var n int
		if err := conn.QueryRow(ctx, citus.TablesWithoutReplicaIdentity).Scan(&n); err == nil && n > 0 {
			mode, why = "block_writes", fmt.Sprintf("%d distributed tables have no replica identity, which logical replication needs: shards move with block_writes (writes to a moving shard wait)", n)
		}
	}
	cleanup(ctx, conn, o)
	var removed []Removed
	for _, x := range extra {
		if x.Shards > 0 {
			o.printf("prune: draining %s: %s; %s", x.Addr(), diagnosis.ShardsAndSize(x, true), why)
			if err := drain(ctx, conn, x.Registration, mode, o); err != nil {
				if ctx.Err() != nil {
					return removed, drainLeft(conn, x.Registration, x.Shards)
				}
				return removed, explain(ctx, c, conn, err)
			}
		}
		var left int64
		if err := conn.QueryRow(ctx, citus.ShardsLeft, x.Name, x.Port).Scan(&left); err != nil {
			return removed, err
		}
		if left > 0 {
			return removed, fmt.Errorf("%s still holds %s after draining; it was not removed", x.Addr(), english.Plural(left, "shard"))
		}
		if err := dropOrphans(ctx, conn, x.Registration, o); err != nil {
			return removed, err
		}
		if err := cluster.Watch(ctx, conn, o.wait(), func(ctx context.Context) error {
			_, err := conn.Exec(ctx, citus.RemoveNode, x.Name, x.Port)
			return err
		}); err != nil {
			return removed, fmt.Errorf("citus_remove_node(%s): %w", x.Addr(), err)
		}
		o.printf("prune: removed %s", x.Addr())
		removed = append(removed, Removed{Name: x.Name, Port: x.Port, Drained: x.Shards})
	}
	return removed, nil
}

// Removed is a registration Prune removed, and the shards it drained off
// it first.
type Removed struct {
	Name    string
	Port    int32
	Drained int64
}

// Addr is the registration's name:port.
func (r Removed) Addr() string { return fmt.Sprintf("%s:%d", r.Name, r.Port) }

// drainLeft says, once a signal stopped a drain, whether the drain is still
// in flight on the coordinator or was canceled (pgx sent a cancel request),
// and how many shards moved.
func drainLeft(conn *pgx.Conn, r live.Registration, had int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), afterCancel)
	defer cancel()
	pid := conn.PgConn().PID()
	watch, err := pgx.ConnectConfig(ctx, conn.Config())
	if err != nil {
		return &Interrupted{fmt.Sprintf("stopped draining %s; citusgen could not ask the coordinator whether the drain (session pid %d) was canceled (%s): SELECT pid, state, query FROM pg_stat_activity WHERE pid = %d shows it, SELECT pg_cancel_backend(%d) stops it; moves already made stay: run %s again to finish", r.Addr(), pid, oneLine(err.Error()), pid, pid, rerunPrune)}
	}
	defer watch.Close(context.Background())
	// The cancel request reaches the server at once, but the backend stops
	// at its next check: give it a moment.
	active := false
	for {
		var state string
		err := watch.QueryRow(ctx, "SELECT coalesce(state, '') FROM pg_catalog.pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&state)
		active = err == nil && state == "active"
		if !active || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	var left int64 = -1
	watch.QueryRow(ctx, citus.ShardsLeft, r.Name, r.Port).Scan(&left)
	moved := ""
	if left >= 0 {
		moved = fmt.Sprintf(" (%d of %s moved off it, %d left)", had-left, english.Plural(had, "shard"), left)
	}
	if active {
		return &Interrupted{fmt.Sprintf("stopped following the drain of %s%s, but citus_drain_node is still running on the coordinator (session pid %d) and moves the shard it is at: watch it with SELECT pid, state, query FROM pg_stat_activity WHERE pid = %d; stop it with SELECT pg_cancel_backend(%d); moves already made stay: run %s again to finish", r.Addr(), moved, pid, pid, pid, rerunPrune)}
	}
	return &Interrupted{fmt.Sprintf("stopped draining %s%s: the drain was canceled on the coordinator and nothing moves shards now; moves already made stay: run %s again to finish the drain and remove it", r.Addr(), moved, rerunPrune)}
}

// cleanup drops the orphaned shards earlier moves left behind; a failure
// is only said, the move will tell if it matters.
func cleanup(ctx context.Context, conn *pgx.Conn, o Options) {
	if _, err := conn.Exec(ctx, citus.CleanupOrphans); err != nil {
		o.printf("note: cleaning up orphaned shards failed: %v", err)
	}
}

// dropOrphans waits until the copies the drain left on a node are dropped:
// Citus drops them once no session uses them, and a node removed before
// that keeps cleanup records no later run can complete, which then fail
// every move of those shards.
func dropOrphans(ctx context.Context, conn *pgx.Conn, r live.Registration, o Options) error {
	deadline := time.Now().Add(o.wait())
	for said := false; ; said = true {
		cleanup(ctx, conn, o)
		var n int64
		if err := conn.QueryRow(ctx, citus.OrphansOn, r.Name, r.Port).Scan(&n); err != nil {
			return fmt.Errorf("counting orphaned shards on %s: %w", r.Addr(), err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still holds %s the drain left for Citus to drop (a session still uses them); it was not removed, since Citus could never drop them afterwards: run citusgen bootstrap --prune again once those sessions end", r.Addr(), english.Plural(n, "orphaned shard"))
		}
		if !said {
			o.printf("prune: %s: waiting for Citus to drop %s the drain left", r.Addr(), english.Plural(n, "orphaned shard"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.poll()):
		}
	}
}

// drain runs citus_drain_node, which moves the shards in the foreground,
// and reports from a second connection how many are left.
func drain(ctx context.Context, conn *pgx.Conn, r live.Registration, mode string, o Options) error {
	dctx, cancel := context.WithTimeout(ctx, o.wait())
	defer cancel()
	watch, err := pgx.ConnectConfig(dctx, conn.Config())
	if err == nil {
		stop := make(chan struct{})
		defer close(stop)
		start := time.Now()
		go func() {
			defer watch.Close(context.Background())
			last := int64(-1)
			for {
				select {
				case <-stop:
					return
				case <-time.After(o.poll()):
				}
				var left int64
				if watch.QueryRow(dctx, citus.ShardsLeft, r.Name, r.Port).Scan(&left) == nil && left != last {
					o.printf("prune: %s: %s left (%s)", r.Addr(), english.Plural(left, "shard"), time.Since(start).Round(100*time.Millisecond))
					last = left
				}
			}
		}()
	}
	err = cluster.Watch(ctx, conn, o.wait(), func(ctx context.Context) error {
		_, err := conn.Exec(ctx, citus.Drain, r.Name, r.Port, mode)
		return err
	})
	var stuck *cluster.Stuck
	switch {
	case errors.As(err, &stuck) && len(stuck.Holders) > 0:
		return fmt.Errorf("draining %s: %w (%s)", r.Addr(), err, stuck.Hint("the coordinator"))
	case errors.As(err, &stuck):
		return fmt.Errorf("draining %s did not finish within %s; run again with a longer --wait (moves already made stay)", r.Addr(), o.wait())
	case err != nil:
		return fmt.Errorf("citus_drain_node(%s): %w", r.Addr(), err)
	}
	return nil
}

// diskFullRE is how PostgreSQL says a write found no space: SQLSTATE 53100
// (could not extend file ...: No space left on device) or an I/O error
// with ENOSPC.
var diskFullRE = regexp.MustCompile(`(?i)no space left on device|could not extend file|disk full|\b53100\b`)

// failedMove stops the wait for a job whose move cannot succeed however
// often Citus retries it (and it retries for ever): the target node ran out
// of disk space, or it stopped under the move and the coordinator cannot
// connect to it any more, which is what a server does whose volume fills
// (PANIC on its WAL, and no restart until there is space).
func failedMove(ctx context.Context, conn *pgx.Conn, job int64, tasks []task, o Options, cause string) error {
	for _, tk := range tasks {
		underWay := tk.status == "running" || tk.status == "runnable" || tk.status == "error"
		if tk.move == nil || tk.status == "done" || tk.failed == "" && !(cause != "" && underWay) {
			continue
		}
		to := o.nodeAddr(tk.move.to)
		name, logs := to, "its server log says why"
		if w, ok := o.workers[tk.move.to]; ok {
			name = fmt.Sprintf("%s (%s)", w.Worker.Service, to)
			if w.Worker.RunsFromImage() {
				logs = fmt.Sprintf("docker compose logs %s says why", w.Worker.Service)
			}
		}
		why := cmp.Or(oneLine(tk.failed), oneLine(cause))
		stop := fmt.Sprintf("Citus retries the move in the background meanwhile (job %d; SELECT citus_rebalance_stop() stops it)", job)
		if diskFullRE.MatchString(tk.failed) {
			return fmt.Errorf("the rebalance cannot move shard %s to %s: it ran out of disk space (%s); free space on its volume or grow it, then run citusgen bootstrap --rebalance again. %s", tk.move.shard, name, why, stop)
		}
		host, port, err := net.SplitHostPort(to)
		if err != nil {
			continue
		}
		p, _ := strconv.Atoi(port)
		var reached bool
		if err := conn.QueryRow(ctx, citus.CheckConnection, host, p).Scan(&reached); err != nil || reached {
			continue // up again, or unknown: Citus's retry may pass
		}
		return fmt.Errorf("the rebalance cannot move shard %s to %s: the node stopped under the move and the coordinator cannot connect to it (Citus: %s). A server whose volume fills up stops so (its log: PANIC: could not write to file \"pg_wal/...\": No space left on device) and does not start again until there is space; %s. Free space on its volume or grow it, start it, then run citusgen bootstrap --rebalance again. %s", tk.move.shard, name, why, logs, stop)
	}
	return nil
}

// oneLine is a task's error on one line, without Citus's CONTEXT lines.
func oneLine(msg string) string {
	if i := strings.Index(msg, "\nCONTEXT:"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return strings.ReplaceAll(msg, " ,", ",")
}
