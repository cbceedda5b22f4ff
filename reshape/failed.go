package reshape

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/citus"
	"github.com/citusgen/citusgen/live"
)

// diskFullRE is how PostgreSQL says a write found no space: SQLSTATE 53100
// (could not extend file ...: No space left on device) or an I/O error
// with ENOSPC.
var diskFullRE = regexp.MustCompile(`(?i)no space left on device|could not extend file|disk full|\b53100\b`)

// services names the registrations (by node id) that are workers of the
// topology, for messages.
func services(c *live.Cluster) map[string]live.WorkerMatch {
	out := map[string]live.WorkerMatch{}
	if c.Match == nil {
		return out
	}
	for _, w := range c.Match.Workers {
		if w.Row != nil {
			out[fmt.Sprint(w.Row.ID)] = w
		}
	}
	return out
}

// failedMove stops the wait for a job whose move cannot succeed however
// often Citus retries it (and it retries for ever): the target node ran out
// of disk space, or it stopped under the move and the coordinator cannot
// connect to it any more, which is what a server does whose volume fills
// (PANIC on its WAL, and no restart until there is space). The error names
// the node and the cause; nil while every failure may be passing. cause,
// when not "", is an error of the job as a whole (its status could not be
// read): then every move under way is asked about.
func failedMove(ctx context.Context, conn *pgx.Conn, job int64, tasks []task, nodes map[string]string, o Options, cause string) error {
	for _, tk := range tasks {
		underWay := tk.status == "running" || tk.status == "runnable" || tk.status == "error"
		if tk.move == nil || tk.status == "done" || tk.failed == "" && !(cause != "" && underWay) {
			continue
		}
		to := nodeAddr(nodes, tk.move.to)
		name, logs := to, "its server log says why"
		if w, ok := o.workers[tk.move.to]; ok {
			name = fmt.Sprintf("%s (%s)", w.Worker.Service, to)
			if w.Worker.RunsFromImage() {
				logs = fmt.Sprintf("docker compose logs %s says why", w.Worker.Service)
			}
		}
		why := oneLine(tk.failed)
		if why == "" {
			why = oneLine(cause)
		}
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
