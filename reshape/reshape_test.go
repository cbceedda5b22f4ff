package reshape_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/internal/english"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/reshape"
	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
	"github.com/citusgen/citusgen/verify"
)

const password = "rebalance-pw"

// specFor is a topology of the coordinator and the given workers (1-based)
// of a test cluster, every node reached and registered at 127.0.0.1.
func specFor(t testing.TB, cl *pgtest.Cluster, workers ...int) *topology.Topology {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "password: %q\ndjango: {host: 127.0.0.1}\n", password)
	if img := pgtest.SpecImage(); img != "" {
		fmt.Fprintf(&b, "image: %s\n", img) // what the servers run
	}
	fmt.Fprintf(&b, "coordinator: {service: coordinator, alias: coordinator, port: %d, node_name: '127.0.0.1:%d'}\nworkers:\n", cl.Coordinator.Port, cl.Coordinator.Port)
	for _, i := range workers {
		w := cl.Workers[i-1]
		fmt.Fprintf(&b, "  - {service: worker%d, alias: worker%d, port: %d, node_name: '127.0.0.1:%d'}\n", i, i, w.Port, w.Port)
	}
	top, err := topology.Parse("cluster.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func opts() cluster.Options { return cluster.Options{Password: password} }

func bootstrapSpec(t testing.TB, top *topology.Topology) *bootstrap.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	res, err := bootstrap.Run(ctx, top, bootstrap.Options{Cluster: opts(), Wait: time.Minute, Progress: &progress})
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, progress.String())
	}
	return res
}

// read is a reading with what a rebalance would do, as plan makes it.
func read(t testing.TB, top *topology.Topology) *live.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := live.Read(ctx, top, live.Options{Cluster: opts(), Reshape: true})
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Unread(); len(u) > 0 {
		t.Fatalf("unread: %+v", u)
	}
	return c
}

// fingerprint is the row count and a checksum of every row of both tables.
func fingerprint(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s string
	if err := c.QueryRow(context.Background(), `SELECT (SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM events)
		|| ' ' || (SELECT count(*) || ':' || md5(string_agg(id || '=' || name, ',' ORDER BY id)) FROM ref)`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func shardsOn(t *testing.T, c *pgx.Conn, port int) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM citus_shards WHERE nodeport = $1 AND citus_table_type = 'distributed'", port).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func planOf(t *testing.T, top *topology.Topology) []diagnosis.Change {
	t.Helper()
	return diagnosis.PlanOf(read(t, top)).Changes
}

func kinds(p []diagnosis.Change) string {
	var k []string
	for _, a := range p {
		k = append(k, string(a.Kind)+" "+a.Node)
	}
	return strings.Join(k, ", ")
}

// 1 -> 2 workers with a rebalance, then 2 -> 1 with a prune, on real Citus
// with known data: the shards go where the spec says, no row changes, and
// reads keep working while shards move.
func TestGrowAndShrink(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: password, Citus: true})
	one, two := specFor(t, cl, 1), specFor(t, cl, 1, 2)
	// worker2 exists as a server but is not part of the first topology (and
	// has no inter-node credentials yet).
	cl.Workers[1].Exec(t, "postgres", "CREATE DATABASE "+one.ClusterDatabase())
	cl.Workers[1].Exec(t, one.ClusterDatabase(), "CREATE EXTENSION citus")
	bootstrapSpec(t, one)
	if p := planOf(t, one); len(p) != 0 {
		t.Fatalf("plan after bootstrap: %s", kinds(p))
	}

	c := cl.Coordinator.Connect(t, one.ClusterDatabase())
	ctx := context.Background()
	for _, sql := range []string{
		"SET citus.shard_count = 8",
		"CREATE TABLE events (id bigint PRIMARY KEY, v text)",
		"SELECT create_distributed_table('events', 'id')",
		"INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
		"CREATE TABLE ref (id int PRIMARY KEY, name text)",
		"SELECT create_reference_table('ref')",
		"INSERT INTO ref SELECT g, 'name ' || g FROM generate_series(1, 500) g",
	} {
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	before := fingerprint(t, c)
	w2 := cl.Workers[1].Port

	// The spec grows: plan names the new worker and the rebalance it calls
	// for; plain bootstrap registers it and leaves the rebalance pending.
	if p := planOf(t, two); kinds(p) != "store-credentials worker2, register-worker worker2, rebalance coordinator" {
		t.Fatalf("plan for two workers: %s", kinds(p))
	}
	if res := bootstrapSpec(t, two); res.Complete() || kinds(res.Left.Changes) != "rebalance coordinator" || res.Left.Changes[0].Needs != diagnosis.ByRebalance {
		t.Fatalf("bootstrap without --rebalance: %+v", res)
	}
	if p := planOf(t, two); kinds(p) != "rebalance coordinator" || !strings.Contains(p[0].Detail, "the rebalancer would make") {
		t.Fatalf("plan after registering: %+v", p)
	}

	// A bounded read loop runs all through the rebalance.
	var reads, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		rc := cl.Coordinator.Connect(t, one.ClusterDatabase())
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			var n int64
			if err := rc.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 20000 {
				failures.Add(1)
				t.Errorf("read during rebalance: %d rows, %v", n, err)
			}
			reads.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	})
	var progress bytes.Buffer
	moved, _, err := reshape.Rebalance(ctx, read(t, two), c, reshape.Options{Wait: 2 * time.Minute, Progress: &progress, Poll: 200 * time.Millisecond})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("rebalance: %v\n%s", err, progress.String())
	}
	if moved == 0 || shardsOn(t, c, w2) == 0 {
		t.Fatalf("rebalance moved %d; %d shards on worker2\n%s", moved, shardsOn(t, c, w2), progress.String())
	}
	for _, want := range []string{"shard moves planned; wal_level is replica, not logical: shards move with block_writes", "moves done", fmt.Sprintf(" to 127.0.0.1:%d (", w2), "rebalance: moved shard ", "finished: " + fmt.Sprint(moved) + " of " + fmt.Sprint(moved) + " moves done"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	// The moves planned are the moves the job counts: tasks that are not
	// moves (copying reference tables) are counted apart.
	planned := regexp.MustCompile(`rebalance: (\d+) shard moves planned`).FindStringSubmatch(progress.String())
	done := regexp.MustCompile(`finished: (\d+) of (\d+) moves done`).FindStringSubmatch(progress.String())
	if planned == nil || done == nil || planned[1] != done[2] || done[1] != done[2] || done[1] != fmt.Sprint(moved) {
		t.Errorf("planned %v, done %v, moved %d:\n%s", planned, done, moved, progress.String())
	}
	if reads.Load() < 5 || failures.Load() > 0 {
		t.Errorf("%d reads during the rebalance, %d failed", reads.Load(), failures.Load())
	}
	if got := fingerprint(t, c); got != before {
		t.Fatalf("data changed by the rebalance: %s -> %s", before, got)
	}
	if p := planOf(t, two); len(p) != 0 {
		t.Errorf("plan after rebalance: %s", kinds(p))
	}
	progress.Reset()
	if moved, _, err := reshape.Rebalance(ctx, read(t, two), c, reshape.Options{Progress: &progress}); err != nil || moved != 0 || !strings.Contains(progress.String(), "shards are balanced; nothing to move") {
		t.Errorf("second rebalance: moved %d, %v\n%s", moved, err, progress.String())
	}

	// The spec shrinks: plan names the worker to drain with its shards, and
	// prune empties it before removing it.
	p := planOf(t, one)
	if len(p) != 1 || p[0].Kind != "drain-remove" || p[0].Shards == 0 || p[0].Bytes == 0 || p[0].Needs != "--prune" {
		t.Fatalf("plan for one worker: %+v", p)
	}
	progress.Reset()
	removed, err := reshape.Prune(ctx, read(t, one), c, reshape.Options{Wait: 2 * time.Minute, Progress: &progress, Poll: 200 * time.Millisecond})
	if err != nil || len(removed) != 1 {
		t.Fatalf("prune: %v %v\n%s", removed, err, progress.String())
	}
	// The size is measured again when the drain starts, and a shard's files
	// may have grown since plan read them (autovacuum writes its maps), so
	// only the count is exact.
	draining := regexp.MustCompile(fmt.Sprintf(`prune: draining 127\.0\.0\.1:%d: %s \([0-9.]+ [KMGTPE]?i?B\)`, w2, regexp.QuoteMeta(english.Plural(p[0].Shards, "shard"))))
	if !draining.MatchString(progress.String()) || !strings.Contains(progress.String(), "prune: removed") {
		t.Errorf("progress:\n%s", progress.String())
	}
	if got := fingerprint(t, c); got != before {
		t.Fatalf("data changed by the prune: %s -> %s", before, got)
	}
	var registered int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_dist_node WHERE nodeport = $1", w2).Scan(&registered); err != nil || registered != 0 {
		t.Errorf("worker2 still registered (%d, %v)", registered, err)
	}
	if p := planOf(t, one); len(p) != 0 {
		t.Errorf("plan after prune: %s", kinds(p))
	}
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := verify.Run(vctx, one, verify.Options{Cluster: opts()})
	if err != nil || !r.OK() {
		t.Errorf("verify after prune: %v %+v", err, r)
	}
}

// Draining is refused, changing nothing, when the shards would have nowhere
// to go.
func TestPruneRefusesWithoutRemainingWorker(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: password, Citus: true})
	two := specFor(t, cl, 1, 2)
	bootstrapSpec(t, two)
	c := cl.Coordinator.Connect(t, two.ClusterDatabase())
	ctx := context.Background()
	if _, err := c.Exec(ctx, "SELECT citus_set_node_property('127.0.0.1', $1, 'shouldhaveshards', false)", cl.Workers[0].Port); err != nil {
		t.Fatal(err)
	}
	// Give worker2 something to drain.
	for _, sql := range []string{"CREATE TABLE events (id bigint PRIMARY KEY)", "SELECT create_distributed_table('events', 'id')"} {
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	_, err := reshape.Prune(ctx, read(t, specFor(t, cl, 1)), c, reshape.Options{})
	if err == nil || !strings.Contains(err.Error(), "no worker of the topology is registered, active and allowed shards") {
		t.Fatalf("prune: %v", err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_dist_node WHERE groupid > 0").Scan(&n); err != nil || n != 2 {
		t.Errorf("%d workers registered after the refusal (%v)", n, err)
	}
}
