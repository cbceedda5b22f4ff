package verify_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/verify"
)

// BenchmarkVerify measures one verify run (wall time) against 3 and 8 local
// nodes. Target: roughly flat in the number of nodes, since nodes are
// checked in parallel. With Citus installed the cluster is bootstrapped and
// every check runs, including citus_check_cluster_node_health (which grows
// with nodes², run by the cluster itself); without it the per-node checks run
// and the cluster checks are skipped.
//
// The nodes-only variant runs on servers without Citus: it measures the
// per-node phase alone (connect, authenticate, one query), which is what
// citusgen parallelises; the full variant adds the n² inter-node connection
// checks, which on a 2-core machine are CPU-bound TLS+SCRAM handshakes.
func BenchmarkVerify(b *testing.B) {
	available, _ := pgtest.CitusAvailable()
	for _, bc := range []struct {
		name  string
		citus bool
	}{{"nodes-only", false}, {"full", true}} {
		if bc.citus && !available {
			continue
		}
		for _, nodes := range []int{3, 8} {
			benchVerify(b, fmt.Sprintf("%s/nodes=%d", bc.name, nodes), nodes, bc.citus)
		}
	}
}

func benchVerify(b *testing.B, name string, nodes int, citus bool) {
	b.Run(name, func(b *testing.B) {
		cl := pgtest.StartCluster(b, nodes-1, pgtest.Options{Password: password, Citus: citus})
		top := spec(b, cl, "")
		if citus {
			if _, err := bootstrapCluster(b, top, password, nil); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, s := range cl.Servers() {
				s.Exec(b, "postgres", "CREATE DATABASE "+top.ClusterDatabase())
			}
		}
		b.ResetTimer()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			r, err := verify.Run(ctx, top, verify.Options{Cluster: cluster.Options{Password: password}})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if citus && !r.OK() {
				b.Fatalf("verify failed: %+v", r.Checks)
			}
		}
	})
}

// The speed target: verify on 3 local nodes is at least 5× faster than the
// psql script a person would run for the same facts (one psql per node for
// its version, preload and extension, then the coordinator's pg_dist_node
// and citus_check_cluster_node_health()). Both run side by side on the same
// cluster in one benchmark; the ratio is reported.
func BenchmarkVerifyVersusPsql(b *testing.B) {
	pgtest.RequireCitus(b)
	cl := pgtest.StartCluster(b, 2, pgtest.Options{Password: password, Citus: true})
	top := spec(b, cl, "")
	if _, err := bootstrapCluster(b, top, password, nil); err != nil {
		b.Fatal(err)
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		b.Skip("needs psql")
	}
	db := top.ClusterDatabase()
	runPsql := func(s *pgtest.Server, sql ...string) {
		args := []string{"-X", "-q", "-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", s.User, "-d", db}
		for _, q := range sql {
			args = append(args, "-c", q)
		}
		cmd := exec.Command(psql, args...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("psql: %v\n%s", err, out)
		}
	}
	// One psql per node; the coordinator's also reads the node table and
	// the health pairs, the cheapest way a person would write it.
	facts := "SELECT current_setting('server_version'), current_setting('shared_preload_libraries'), (SELECT extversion FROM pg_extension WHERE extname = 'citus')"
	script := func() {
		for _, s := range cl.Workers {
			runPsql(s, facts)
		}
		runPsql(cl.Coordinator, facts, "SELECT * FROM pg_dist_node", "SELECT * FROM citus_check_cluster_node_health()")
	}
	verifyOnce := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := verify.Run(ctx, top, verify.Options{Cluster: cluster.Options{Password: password}})
		if err != nil || !r.OK() {
			b.Fatalf("verify: %v %+v", err, r)
		}
	}
	script() // warm both paths once
	verifyOnce()
	var tv, tp, cv, cp time.Duration
	b.ResetTimer()
	for b.Loop() {
		c0, start := machineCPU(b), time.Now()
		verifyOnce()
		tv += time.Since(start)
		c1 := machineCPU(b)
		cv += c1 - c0
		start = time.Now()
		script()
		tp += time.Since(start)
		cp += machineCPU(b) - c1
	}
	n := float64(b.N)
	b.ReportMetric(tv.Seconds()*1000/n, "verify-ms")
	b.ReportMetric(tp.Seconds()*1000/n, "psql-ms")
	b.ReportMetric(float64(tp)/float64(tv), "x-faster")
	// CPU time of the whole machine (every PostgreSQL backend included):
	// with runtime.NumCPU() cores, verify's wall time cannot go below
	// verify-cpu-ms / cores, which bounds the ratio this machine can show.
	b.ReportMetric(cv.Seconds()*1000/n, "verify-cpu-ms")
	b.ReportMetric(cp.Seconds()*1000/n, "psql-cpu-ms")
	b.ReportMetric(float64(tp)/(float64(cv)/float64(runtime.NumCPU())), "x-ceiling")
}

// machineCPU is the busy time of all CPUs so far, from /proc/stat (user,
// nice, system, irq, softirq, steal), in clock ticks of 10 ms.
func machineCPU(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Skipf("needs /proc/stat to account CPU time: %v", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, _ := strconv.ParseInt(f[i], 10, 64)
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond
}
