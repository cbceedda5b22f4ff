package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/topology"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// Options tune rebalancing and draining.
type Options struct {
	// Wait bounds each rebalance or drain.
	Wait time.Duration
	// Progress receives one line per event.
	Progress io.Writer
	// Poll is how often progress is read; 500ms when zero.
	Poll time.Duration
}

func (o Options) poll() time.Duration {
	if o.Poll <= 0 {
		return 500 * time.Millisecond
	}
	return o.Poll
}

func (o Options) wait() time.Duration {
	if o.Wait <= 0 {
		return 10 * time.Minute
	}
	return o.Wait
}

func (o Options) printf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// TransferMode picks how shards move. Logical replication (Citus's 'auto')
// keeps writes flowing but needs wal_level = logical on every node; with
// 'replica' (the images' default) a default rebalance retries forever, so
// shards move with 'block_writes': reads go on, writes to a moving shard
// wait until it has moved.
func TransferMode(walLevel string) (mode, why string) {
	if walLevel == "logical" {
		return "auto", "wal_level is logical: shards move by logical replication (writes keep flowing)"
	}
	return "block_writes", fmt.Sprintf("wal_level is %s, not logical: shards move with block_writes (reads go on; writes to a moving shard wait)", walLevel)
}

// Rebalance starts Citus's background rebalancer when shards are unbalanced
// and waits for it, printing which moves are done. It moves nothing on a
// balanced cluster.
func Rebalance(ctx context.Context, coord *pgx.Conn, o Options) (int, error) {
	live, err := ReadLive(ctx, coord)
	if err != nil {
		return 0, err
	}
	if live.Moves == 0 {
		o.printf("rebalance: shards are balanced; nothing to move")
		return 0, nil
	}
	mode, why := TransferMode(live.WalLevel)
	o.printf("rebalance: %d shard moves planned; %s", live.Moves, why)
	var job int64
	if err := coord.QueryRow(ctx, "SELECT pg_catalog.citus_rebalance_start(shard_transfer_mode := $1::citus.shard_transfer_mode)", mode).Scan(&job); err != nil {
		return 0, fmt.Errorf("citus_rebalance_start: %w", err)
	}
	start := time.Now()
	deadline := start.Add(o.wait())
	last := ""
	nodes := map[string]string{}
	for _, r := range live.Nodes {
		nodes[strconv.Itoa(r.ID)] = r.Addr()
	}
	reported := map[int64]bool{}
	for {
		var state, details string
		err := coord.QueryRow(ctx, "SELECT state::text, coalesce(details::text, '{}') FROM pg_catalog.citus_rebalance_status() WHERE job_id = $1", job).Scan(&state, &details)
		if err != nil {
			return 0, fmt.Errorf("citus_rebalance_status: %w", err)
		}
		done, total, failed := taskCounts(details)
		for _, m := range movedShards(ctx, coord, job) {
			if !reported[m.task] {
				reported[m.task] = true
				o.printf("rebalance: moved shard %s from %s to %s (%s)", m.shard, nodeAddr(nodes, m.from), nodeAddr(nodes, m.to), time.Since(start).Round(100*time.Millisecond))
			}
		}
		line := fmt.Sprintf("rebalance: job %d %s: %d of %d moves done", job, state, done, total)
		if line != last {
			o.printf("%s (%s)", line, time.Since(start).Round(100*time.Millisecond))
			last = line
		}
		switch state {
		case "finished":
			return done, nil
		case "failed", "cancelled", "failing", "cancelling":
			return done, fmt.Errorf("the rebalance job %d ended %s: %s; see SELECT * FROM citus_rebalance_status()", job, state, failed)
		}
		if time.Now().After(deadline) {
			_, _ = coord.Exec(context.Background(), "SELECT pg_catalog.citus_rebalance_stop()")
			return done, fmt.Errorf("the rebalance did not finish within %s (%d of %d moves done), so it was stopped; run again with a longer --wait", o.wait(), done, total)
		}
		select {
		case <-ctx.Done():
			return done, ctx.Err()
		case <-time.After(o.poll()):
		}
	}
}

type move struct {
	task            int64
	shard, from, to string
}

var moveRE = regexp.MustCompile(`citus_move_shard_placement\((\d+),\s*(\d+),\s*(\d+)`)

// movedShards lists the job's finished moves from Citus's task table: each
// task's command names the shard and the node ids.
func movedShards(ctx context.Context, coord *pgx.Conn, job int64) []move {
	rows, err := coord.Query(ctx, "SELECT task_id, command FROM pg_catalog.pg_dist_background_task WHERE job_id = $1 AND status = 'done' ORDER BY task_id", job)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []move
	for rows.Next() {
		var id int64
		var command string
		if rows.Scan(&id, &command) != nil {
			return out
		}
		if m := moveRE.FindStringSubmatch(command); m != nil {
			out = append(out, move{task: id, shard: m[1], from: m[2], to: m[3]})
		}
	}
	return out
}

func nodeAddr(nodes map[string]string, id string) string {
	if a, ok := nodes[id]; ok {
		return a
	}
	return "node " + id
}

// taskCounts reads citus_rebalance_status()'s details: moves done, moves in
// all and the first error message.
func taskCounts(details string) (done, total int, failed string) {
	var d struct {
		Tasks []struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"tasks"`
		Counts map[string]int `json:"task_state_counts"`
	}
	_ = json.Unmarshal([]byte(details), &d)
	for state, n := range d.Counts {
		total += n
		if state == "done" {
			done += n
		}
	}
	for _, task := range d.Tasks {
		if task.Status == "error" && failed == "" {
			failed = strings.TrimSpace(task.Message)
		}
	}
	if failed == "" {
		failed = "no task gave a reason"
	}
	return done, total, failed
}

// Prune drains every registered worker the spec no longer lists (its shards
// move to the remaining workers, with progress) and then removes it. It
// refuses, changing nothing, when draining is impossible.
func Prune(ctx context.Context, t *topology.Topology, coord *pgx.Conn, o Options) ([]string, error) {
	live, err := ReadLive(ctx, coord)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, w := range t.Workers {
		host, port := t.NodeAddress(w)
		wanted[fmt.Sprintf("%s:%d", host, port)] = true
	}
	var extra []Registered
	remaining := 0
	for _, r := range live.Nodes {
		switch {
		case r.Group == 0:
		case wanted[r.Addr()]:
			if r.Active && r.Role == "primary" && r.ShouldHaveShards {
				remaining++
			}
		default:
			extra = append(extra, r)
		}
	}
	if len(extra) == 0 {
		o.printf("prune: every registered worker is in the topology; nothing to remove")
		return nil, nil
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Addr() < extra[j].Addr() })
	var names []string
	for _, r := range extra {
		names = append(names, r.Addr())
	}
	if remaining == 0 {
		return nil, fmt.Errorf("cannot prune %s: no worker of the topology is registered, active and allowed shards (shouldhaveshards), so the shards would have nowhere to go; run citusgen bootstrap first or check citus_set_node_property(..., 'shouldhaveshards', true)", strings.Join(names, ", "))
	}
	mode, why := TransferMode(live.WalLevel)
	if mode == "auto" {
		// Logical replication cannot move a table without a replica
		// identity; such tables move with block_writes instead.
		var n int
		if err := coord.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
			WHERE c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))`).Scan(&n); err == nil && n > 0 {
			mode, why = "block_writes", fmt.Sprintf("%d distributed tables have no replica identity, which logical replication needs: shards move with block_writes (writes to a moving shard wait)", n)
		}
	}
	var removed []string
	for _, r := range extra {
		size, _ := ShardBytes(ctx, coord, r)
		o.printf("prune: draining %s: %d shards (%s); %s", r.Addr(), live.Shards[r.Addr()], humanBytes(size), why)
		if err := drain(ctx, coord, r, mode, o); err != nil {
			return removed, err
		}
		var left int64
		if err := coord.QueryRow(ctx, "SELECT count(*) FROM pg_catalog.citus_shards WHERE nodename = $1 AND nodeport = $2 AND citus_table_type = 'distributed'", r.Name, r.Port).Scan(&left); err != nil {
			return removed, err
		}
		if left > 0 {
			return removed, fmt.Errorf("%s still holds %d shards after draining; it was not removed", r.Addr(), left)
		}
		if _, err := coord.Exec(ctx, "SELECT pg_catalog.citus_remove_node($1, $2)", r.Name, r.Port); err != nil {
			return removed, fmt.Errorf("citus_remove_node(%s): %w", r.Addr(), err)
		}
		o.printf("prune: removed %s", r.Addr())
		removed = append(removed, r.Addr())
	}
	return removed, nil
}

// drain runs citus_drain_node, which moves the shards in the foreground,
// and reports from a second connection how many are left.
func drain(ctx context.Context, coord *pgx.Conn, r Registered, mode string, o Options) error {
	dctx, cancel := context.WithTimeout(ctx, o.wait())
	defer cancel()
	watch, err := pgx.ConnectConfig(dctx, coord.Config())
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
				if watch.QueryRow(dctx, "SELECT count(*) FROM pg_catalog.citus_shards WHERE nodename = $1 AND nodeport = $2 AND citus_table_type = 'distributed'", r.Name, r.Port).Scan(&left) == nil && left != last {
					o.printf("prune: %s: %d shards left (%s)", r.Addr(), left, time.Since(start).Round(100*time.Millisecond))
					last = left
				}
			}
		}()
	}
	if _, err := coord.Exec(dctx, "SELECT pg_catalog.citus_drain_node($1, $2, shard_transfer_mode := $3::citus.shard_transfer_mode)", r.Name, r.Port, mode); err != nil {
		if dctx.Err() != nil {
			return fmt.Errorf("draining %s did not finish within %s; run again with a longer --wait (moves already made stay)", r.Addr(), o.wait())
		}
		return fmt.Errorf("citus_drain_node(%s): %w", r.Addr(), err)
	}
	return nil
}
