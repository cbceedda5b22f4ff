package verify_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/verify"
)

// dialCounter counts the TCP connections citusgen opens per address, and
// the writes on them: one write per round trip (a query, or the batch of
// statements a reading sends at once), plus a few for the handshake.
type dialCounter struct {
	mu     sync.Mutex
	conns  map[string]int
	writes map[string]*atomic.Int64
}

func newDialCounter() *dialCounter {
	return &dialCounter{conns: map[string]int{}, writes: map[string]*atomic.Int64{}}
}

func (d *dialCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns[addr]++
	w, ok := d.writes[addr]
	if !ok {
		w = &atomic.Int64{}
		d.writes[addr] = w
	}
	d.mu.Unlock()
	return countingConn{c, w}, nil
}

func (d *dialCounter) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns = map[string]int{}
	d.writes = map[string]*atomic.Int64{}
}

func (d *dialCounter) maxConns() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := 0
	for _, n := range d.conns {
		m = max(m, n)
	}
	return m
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// The target: plan on a 3-node cluster costs no more than one verify, and
// each opens at most one connection per node (verify's n² health pairs are
// Citus's own connections between the nodes, not citusgen's). Both run side
// by side on the same bootstrapped cluster holding a distributed table (so
// the rebalance plan has shards to weigh).
func BenchmarkPlanVersusVerify(b *testing.B) {
	pgtest.RequireCitus(b)
	cl := pgtest.StartCluster(b, 2, pgtest.Options{Password: password, Citus: true})
	top := spec(b, cl, "")
	if _, err := bootstrapCluster(b, top, password, nil); err != nil {
		b.Fatal(err)
	}
	c := cl.Coordinator.Connect(b, top.ClusterDatabase())
	ctx := context.Background()
	for _, sql := range []string{"CREATE TABLE events (id bigint PRIMARY KEY, v text)", "SELECT create_distributed_table('events', 'id')", "INSERT INTO events SELECT g, g::text FROM generate_series(1, 1000) g"} {
		if _, err := c.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	counter := newDialCounter()
	// The test servers have no TLS: with sslmode=prefer libpq's fallback
	// would dial twice per connection, which is not what is counted here.
	o := cluster.Options{Password: password, SSLMode: "disable", DialFunc: counter.dial}
	planned := func() {
		cl, err := live.Read(ctx, top, live.Options{Cluster: o, Reshape: true, Health: true})
		if err != nil || len(cl.Unread()) > 0 || len(diagnosis.PlanOf(cl).Changes) > 0 {
			b.Fatalf("plan: %v %+v %+v", err, cl.Unread(), diagnosis.PlanOf(cl).Changes)
		}
	}
	check := func() {
		r, err := verify.Run(ctx, top, verify.Options{Cluster: o})
		if err != nil || !r.OK() {
			b.Fatalf("verify: %v %+v", err, r)
		}
	}
	var tp, tv time.Duration
	var planConns, verifyConns int
	b.ResetTimer()
	for b.Loop() {
		counter.reset()
		start := time.Now()
		planned()
		tp += time.Since(start)
		planConns = max(planConns, counter.maxConns())
		counter.reset()
		start = time.Now()
		check()
		tv += time.Since(start)
		verifyConns = max(verifyConns, counter.maxConns())
	}
	n := float64(b.N)
	b.ReportMetric(tp.Seconds()*1000/n, "plan-ms")
	b.ReportMetric(tv.Seconds()*1000/n, "verify-ms")
	b.ReportMetric(float64(tp)/float64(tv), "plan/verify")
	b.ReportMetric(float64(planConns), "plan-conns/node")
	b.ReportMetric(float64(verifyConns), "verify-conns/node")
	if tp > tv {
		b.Errorf("plan (%s) costs more than verify (%s)", tp/time.Duration(b.N), tv/time.Duration(b.N))
	}
	if planConns > 1 || verifyConns > 1 {
		b.Errorf("connections per node: plan %d, verify %d; the target is one", planConns, verifyConns)
	}
}
