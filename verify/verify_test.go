package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/diagnosis"
	"github.com/citusgen/citusgen/live"
	"github.com/citusgen/citusgen/testsupport/await"
	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
	"github.com/citusgen/citusgen/verify"
)

const password = `s3cr3t-'pw'`

func spec(t testing.TB, cl *pgtest.Cluster, extra string) *topology.Topology {
	t.Helper()
	top, err := topology.Parse("cluster.yaml", cl.Spec(extra))
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func run(t testing.TB, top *topology.Topology, pw string, smoke bool) *verify.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := verify.Run(ctx, top, verify.Options{Cluster: cluster.Options{Password: pw, SSLMode: "prefer"}, Smoke: smoke})
	if err != nil {
		t.Fatal(err)
	}
	// No output may hold the password, whatever failed.
	b, _ := json.Marshal(r.Checks)
	if pw != "" && bytes.Contains(b, []byte(pw)) {
		t.Fatalf("the report leaks the password: %s", b)
	}
	return r
}

// status indexes a report by "check/node".
func status(r *verify.Report) map[string]verify.Check {
	m := map[string]verify.Check{}
	for _, c := range r.Checks {
		m[c.Name+"/"+c.Node] = c
	}
	return m
}

func expect(t *testing.T, r *verify.Report, want map[string]verify.Status, hints map[string]string) {
	t.Helper()
	got := status(r)
	for key, st := range want {
		c, ok := got[key]
		if !ok {
			t.Errorf("no check %s", key)
			continue
		}
		if c.Status != st {
			t.Errorf("%s = %s (%s), want %s", key, c.Status, c.Detail, st)
		}
	}
	for key, frag := range hints {
		if c := got[key]; !strings.Contains(c.Hint+" "+c.Detail, frag) {
			t.Errorf("%s: hint %q / detail %q lacks %q", key, c.Hint, c.Detail, frag)
		}
	}
	if t.Failed() {
		for _, c := range r.Checks {
			t.Logf("%-18s %-12s %-4s %s | %s", c.Name, c.Node, c.Status, c.Detail, c.Hint)
		}
	}
}

// Every diagnosis plain PostgreSQL can produce, on one cluster at once: a
// node down, a database missing, the extension missing; then a wrong password.
func TestDiagnosesOnPlainPostgres(t *testing.T) {
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: password})
	top := spec(t, cl, "")
	db := top.ClusterDatabase()
	cl.Coordinator.Exec(t, "postgres", "CREATE DATABASE "+db)
	cl.Workers[0].Exec(t, "postgres", "CREATE DATABASE "+db)
	cl.Workers[0].Stop()
	// worker2 has no database.

	r := run(t, top, password, false)
	if r.OK() {
		t.Fatal("report is OK")
	}
	// Without Citus preloaded, CREATE EXTENSION would fail: the preload first.
	extHint := "fix shared_preload_libraries first (see shared-preload), then run citusgen bootstrap"
	if ok, _ := pgtest.CitusAvailable(); !ok {
		extHint = "the Citus extension is not installed on coordinator"
	}
	expect(t, r, map[string]verify.Status{
		"reachable/coordinator":        verify.Pass,
		"authenticated/coordinator":    verify.Pass,
		"database/coordinator":         verify.Pass,
		"shared-preload/coordinator":   verify.Fail,
		"citus-extension/coordinator":  verify.Fail,
		"reachable/worker1":            verify.Fail,
		"authenticated/worker1":        verify.Skip,
		"reachable/worker2":            verify.Pass,
		"authenticated/worker2":        verify.Pass,
		"database/worker2":             verify.Fail,
		"citus-extension/worker2":      verify.Skip,
		"citus-version/cluster":        verify.Skip,
		"coordinator-host/coordinator": verify.Skip,
		"worker-registered/worker1":    verify.Skip,
		"cluster-health/coordinator":   verify.Skip,
	}, map[string]string{
		"reachable/worker1":           "docker compose up -d worker1",
		"database/worker2":            "run citusgen bootstrap",
		"citus-extension/coordinator": extHint,
		"shared-preload/coordinator":  "shared_preload_libraries = 'citus'",
		// The root causes the node rows report, not "citus is missing".
		"citus-version/cluster": "skipped: could not be checked on worker1, worker2; the citus extension is missing on coordinator",
	})

	r = run(t, top, "wrong-password", false)
	expect(t, r, map[string]verify.Status{
		"reachable/coordinator":     verify.Pass,
		"authenticated/coordinator": verify.Fail,
		"database/coordinator":      verify.Skip,
		"authenticated/worker2":     verify.Fail,
		"reachable/worker1":         verify.Fail,
	}, map[string]string{
		"authenticated/coordinator": "password authentication failed",
		"authenticated/worker2":     "POSTGRES_PASSWORD only to an empty volume): if the topology's password changed, run citusgen password",
	})
}

// A port that accepts connections and never answers must not hang verify.
func TestSilentPortIsBoundedByTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	port := l.Addr().(*net.TCPAddr).Port
	closed, err := pgtest.FreePort() // nothing listens: refused at once
	if err != nil {
		t.Fatal(err)
	}
	top, err := topology.Parse("t.yaml", []byte("trust_authentication: true\ndjango: {host: 127.0.0.1}\ncoordinator: {service: c, alias: c, port: "+itoa(port)+"}\nworkers: [{service: w, alias: w, port: "+itoa(closed)+"}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	r, err := verify.Run(ctx, top, verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("verify took %s with a 2s timeout", took)
	}
	// Something accepts connections there and never answers: not "down".
	c := status(r)["reachable/c"]
	if c.Status != verify.Fail || c.Detail != "something accepts connections at 127.0.0.1:"+itoa(port)+" but never answers" || strings.Contains(c.Hint, "down") {
		t.Errorf("reachable/c = %+v", c)
	}
	if w := status(r)["reachable/w"]; w.Status != verify.Fail || !strings.Contains(w.Detail, "connection refused") || !strings.Contains(w.Hint, "the node is down") {
		t.Errorf("reachable/w = %+v", w)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func bootstrapCluster(t testing.TB, top *topology.Topology, pw string, progress *bytes.Buffer) (*bootstrap.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var w *bytes.Buffer = progress
	if w == nil {
		w = &bytes.Buffer{}
	}
	return bootstrap.Run(ctx, top, bootstrap.Options{Cluster: cluster.Options{Password: pw}, Wait: 60 * time.Second, Progress: w, PollInterval: 100 * time.Millisecond})
}

// On real Citus: bootstrap builds a cluster verify passes (smoke included),
// and a second bootstrap changes nothing.
func TestBootstrapThenVerifyOnCitus(t *testing.T) {
	cl := sharedCluster(t)
	top := spec(t, cl, "")
	var progress bytes.Buffer
	res, err := bootstrapCluster(t, top, password, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	// Per node: extension and credentials (the reset left the databases);
	// then the coordinator host and two workers.
	if res.Applied != 3*2+1+2 || res.Nodes != 3 || !res.Complete() {
		t.Errorf("first run: %+v", res)
	}
	if bytes.Contains(progress.Bytes(), []byte(password)) {
		t.Fatal("progress output leaks the password")
	}
	for _, line := range []string{"worker1: create extension citus: done", "coordinator: register worker 127.0.0.1:" + itoa(cl.Workers[1].Port) + ": done", "bootstrap complete: 3 nodes match the topology; 9 changes applied"} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, progress.String())
		}
	}

	r := run(t, top, password, true)
	if !r.OK() {
		for _, c := range r.Checks {
			t.Logf("%s %s %s %s %s", c.Name, c.Node, c.Status, c.Detail, c.Hint)
		}
		t.Fatal("verify failed after bootstrap")
	}
	if c := status(r)["smoke/coordinator"]; c.Status != verify.Pass || !strings.Contains(c.Detail, "on 2 workers") {
		t.Errorf("smoke = %+v", c)
	}

	// Re-run: nothing in Citus's metadata is rewritten (same row versions).
	c := cl.Coordinator.Connect(t, top.ClusterDatabase())
	snapshot := func() string {
		var s string
		if err := c.QueryRow(context.Background(), "SELECT string_agg(xmin::text || nodename || nodeport, ',' ORDER BY nodeid) || '|' || (SELECT string_agg(xmin::text, ',') FROM pg_dist_authinfo) FROM pg_dist_node").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	res, err = bootstrapCluster(t, top, password, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 0 || res.AlreadyDone != 0 || !res.Complete() {
		t.Errorf("second run applied changes: %+v", res)
	}
	if after := snapshot(); after != before {
		t.Errorf("second run rewrote metadata:\n%s\n%s", before, after)
	}

	// Servers outside compose (image: none): nothing about an image to
	// check or to do by hand, so bootstrap is complete and verify passes.
	none := spec(t, cl, "image: none\n")
	if res, err := bootstrapCluster(t, none, password, nil); err != nil || !res.Complete() {
		t.Errorf("image: none: %+v, %v", res, err)
	}
	r = run(t, none, password, false)
	expect(t, r, map[string]verify.Status{"citus-image/cluster": verify.Skip}, map[string]string{"citus-image/cluster": "the nodes run from no image (image: none)"})
	if !r.OK() {
		t.Error("verify failed with image: none")
	}

	// An image of another PostgreSQL major than the servers run: the
	// release matches, the major does not.
	var running int
	if err := c.QueryRow(context.Background(), "SELECT current_setting('server_version_num')::int / 10000").Scan(&running); err != nil {
		t.Fatal(err)
	}
	release := strings.SplitN(strings.TrimPrefix(pgtest.SpecImage(), "citusdata/citus:"), "-", 2)[0]
	other := fmt.Sprintf("citusdata/citus:%s-pg%d", release, running+1)
	r = run(t, spec(t, cl, "image: "+other+"\n"), password, false)
	expect(t, r, map[string]verify.Status{"citus-image/cluster": verify.Fail}, map[string]string{
		"citus-image/cluster": fmt.Sprintf("coordinator runs PostgreSQL %d, its image %s is PostgreSQL %d", running, other, running+1),
	})
	if h := status(r)["citus-image/cluster"].Hint; !strings.Contains(h, "upgrade the data first (citusgen upgrade; docs/images-and-upgrades.md)") {
		t.Errorf("hint: %s", h)
	}
}

// Two bootstraps at once: the coordinator lock serialises them; both succeed
// and every worker is registered once.
func TestConcurrentBootstraps(t *testing.T) {
	cl := sharedCluster(t)
	top := spec(t, cl, "")
	errs := make([]error, 2)
	outs := make([]bytes.Buffer, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = bootstrapCluster(t, top, password, &outs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("bootstrap %d: %v\n%s", i, err, outs[i].String())
		}
	}
	var n int
	c := cl.Coordinator.Connect(t, top.ClusterDatabase())
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM pg_dist_node WHERE groupid <> 0").Scan(&n); err != nil || n != 2 {
		t.Errorf("%d workers registered (%v)", n, err)
	}
}

// bootstrap waits for a node that is not up yet and says so.
func TestBootstrapWaitsForNodes(t *testing.T) {
	cl := sharedCluster(t)
	top := spec(t, cl, "")
	cl.Workers[1].Stop()
	addr := "worker2 at 127.0.0.1:" + itoa(cl.Workers[1].Port)
	// Restarted once bootstrap says it waits for it.
	progress := await.NewWriter(addr + ": waiting (connection refused")
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		select {
		case <-progress.Seen:
			cl.Workers[1].Restart()
		case <-time.After(60 * time.Second):
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	_, err := bootstrap.Run(ctx, top, bootstrap.Options{Cluster: cluster.Options{Password: password}, Wait: 60 * time.Second, Progress: progress, PollInterval: 100 * time.Millisecond})
	<-restarted
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	out := progress.String()
	if !strings.Contains(out, addr+": waiting (connection refused") || !strings.Contains(out, addr+": ready") {
		t.Errorf("no visible progress for the late node:\n%s", out)
	}
}

// Failures bootstrap cannot wait out: a wrong password fails at once with a
// hint, and a node without Citus loaded is a step for a person, which plan
// shows and bootstrap refuses, before its database exists and after.
func TestBootstrapFailures(t *testing.T) {
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: password})
	top := spec(t, cl, "")
	start := time.Now()
	_, err := bootstrapCluster(t, top, "wrong", nil)
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") || !strings.Contains(err.Error(), "hint:") {
		t.Errorf("wrong password: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("a wrong password waited %s", time.Since(start))
	}
	fix := "set shared_preload_libraries = 'citus' (citus first) on worker1 and restart it"
	if ok, _ := pgtest.CitusAvailable(); !ok {
		fix = "the Citus extension is not installed on worker1"
	}
	// plan, read as the CLI reads it: the manual step on each node, with
	// the databases bootstrap can create, and verify agrees.
	planned := func(want ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := live.Read(ctx, top, live.Options{Cluster: cluster.Options{Password: password}, Reshape: true, Health: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range diagnosis.PlanOf(c).Changes {
			got = append(got, string(ch.Kind)+" "+ch.Node)
			if ch.Kind == diagnosis.Manual && ch.Node == "worker1" && !strings.Contains(ch.Detail, fix) {
				t.Errorf("manual worker1: %s", ch.Detail)
			}
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("plan: %v, want %v", got, want)
		}
	}
	planned("create-database worker1", "manual worker1", "create-database coordinator", "manual coordinator")
	var progress bytes.Buffer
	res, err := bootstrapCluster(t, top, password, &progress)
	if err != nil || res.Complete() || len(res.Left.Changes) != 2 || strings.Contains(progress.String(), "create extension citus") {
		t.Fatalf("without Citus: %v %+v\n%s", err, res, progress.String())
	}
	if e := res.Left.Left(); !strings.Contains(e.Error(), "2 changes need a person") || !strings.Contains(progress.String(), "manual worker1: ") {
		t.Errorf("%v\n%s", e, progress.String())
	}
	if strings.Contains(progress.String(), password) {
		t.Error("progress leaks the password")
	}
	// The databases exist now: the same manual steps.
	planned("manual worker1", "manual coordinator")
}

// Diagnoses that need Citus: a worker not registered, a worker registered
// under a loopback name, an unexpected extra node, a stopped worker.
func TestDiagnosesOnCitus(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 3, pgtest.Options{Password: password, Citus: true})
	extra := cl.Workers[2]
	cl.Workers = cl.Workers[:2] // the third server is not in the topology
	top := spec(t, cl, "")
	if _, err := bootstrapCluster(t, top, password, nil); err != nil {
		t.Fatal(err)
	}
	db := top.ClusterDatabase()
	ctx := context.Background()
	coord := cl.Coordinator.Connect(t, db)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := coord.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Extra: a real Citus node registered by hand.
	extra.Exec(t, "postgres", "CREATE DATABASE "+db)
	extra.Exec(t, db, "CREATE EXTENSION citus")
	extra.Exec(t, db, "INSERT INTO pg_dist_authinfo VALUES (0, 'commcarehq', $1)", "password='"+strings.ReplaceAll(password, "'", `\'`)+"'")
	exec("SELECT citus_add_node('127.0.0.1', $1)", extra.Port)
	// worker2 registered under localhost instead of its node name.
	exec("SELECT citus_remove_node('127.0.0.1', $1)", cl.Workers[1].Port)
	exec("SELECT citus_add_node('localhost', $1)", cl.Workers[1].Port)

	r := run(t, top, password, false)
	expect(t, r, map[string]verify.Status{
		"worker-registered/worker1":    verify.Pass,
		"worker-registered/worker2":    verify.Fail,
		"no-extra-nodes/coordinator":   verify.Fail,
		"coordinator-host/coordinator": verify.Pass,
		"citus-version/cluster":        verify.Pass,
	}, map[string]string{
		"worker-registered/worker2":  "it is registered as localhost:" + itoa(cl.Workers[1].Port) + " (a loopback name on its published port",
		"no-extra-nodes/coordinator": "run citusgen bootstrap --prune",
	})
	// worker2's own metadata proves the loopback registration is worker2:
	// bootstrap renames it in place.
	if c := status(r)["worker-registered/worker2"]; !strings.Contains(c.Hint, "run citusgen bootstrap (it renames the registration in place with citus_update_node") {
		t.Errorf("worker2's hint: %+v", c)
	}
	// The extra node is named, with what --prune does to it.
	if c := status(r)["no-extra-nodes/coordinator"]; !strings.Contains(c.Detail, "127.0.0.1:"+itoa(extra.Port)+" (nodeid") || !strings.Contains(c.Hint, "127.0.0.1:"+itoa(extra.Port)+": registered but not in the topology: remove it (it holds no shards) (bootstrap --prune)") {
		t.Errorf("extra node not named: %+v", c)
	}

	// Undo, then stop worker1: pg_dist_node still says active; health tells.
	exec("SELECT citus_remove_node('localhost', $1)", cl.Workers[1].Port)
	exec("SELECT citus_remove_node('127.0.0.1', $1)", extra.Port)
	// Simply not registered: its own failing check, with the command to fix it.
	r = run(t, top, password, false)
	expect(t, r, map[string]verify.Status{
		"worker-registered/worker1":  verify.Pass,
		"worker-registered/worker2":  verify.Fail,
		"no-extra-nodes/coordinator": verify.Pass,
	}, map[string]string{
		"worker-registered/worker2": "citus_add_node('127.0.0.1', " + itoa(cl.Workers[1].Port) + ")",
	})
	if c := status(r)["worker-registered/worker2"]; c.Detail != "127.0.0.1:"+itoa(cl.Workers[1].Port)+" is not in pg_dist_node" {
		t.Errorf("detail: %q", c.Detail)
	}
	exec("SELECT citus_add_node('127.0.0.1', $1)", cl.Workers[1].Port)
	cl.Workers[0].Stop()
	r = run(t, top, password, false)
	expect(t, r, map[string]verify.Status{
		"reachable/worker1":          verify.Fail,
		"worker-registered/worker1":  verify.Pass,
		"worker-registered/worker2":  verify.Pass,
		"no-extra-nodes/coordinator": verify.Pass,
		"cluster-health/coordinator": verify.Fail,
	}, map[string]string{
		"cluster-health/coordinator": "-> worker1",
	})
	// citusgen cannot reach worker1 either: it is down, and the failed
	// pairs say why Citus could not connect.
	if c := status(r)["cluster-health/coordinator"]; !strings.Contains(c.Hint, "worker1: down, neither citusgen nor the other nodes reach it") ||
		!strings.Contains(c.Detail, "-> worker1 (Connection refused)") || !strings.Contains(c.Detail, "not checked from worker1: citusgen could not reach it") {
		t.Errorf("health: %+v", c)
	}
}

// A worker whose extension is gone cannot check its own connections: the
// health check says that once, names the root cause and blames nobody's
// credentials; the connections it can check still count.
func TestHealthSkipsNodesWithoutExtension(t *testing.T) {
	cl := sharedCluster(t)
	top := spec(t, cl, "")
	if _, err := bootstrapCluster(t, top, password, nil); err != nil {
		t.Fatal(err)
	}
	cl.Workers[1].Exec(t, top.ClusterDatabase(), "DROP EXTENSION citus CASCADE")
	r := run(t, top, password, false)
	got := status(r)
	if c := got["citus-extension/worker2"]; c.Status != verify.Fail {
		t.Errorf("citus-extension/worker2 = %+v", c)
	}
	h := got["cluster-health/coordinator"]
	if h.Status != verify.Skip || !strings.Contains(h.Detail, "6 connections work; not checked from worker2: the citus extension is not created there (see citus-extension)") {
		t.Errorf("cluster-health = %+v", h)
	}
	if strings.Contains(h.Detail+h.Hint, "credential") {
		t.Errorf("blames credentials: %+v", h)
	}
	if v := got["citus-version/cluster"]; v.Status != verify.Skip || v.Detail != "skipped: the citus extension is missing on worker2" {
		t.Errorf("citus-version = %+v", v)
	}
}

// listen serves every connection with handle on a free loopback port.
func listen(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// Whatever answers on a node's port that is not PostgreSQL is named as
// such, in one line, however it behaves: garbage after the client speaks,
// garbage before, a server that speaks first (an SSH banner), HTTP. A
// listener that never answers, and one that closes at once, are said apart.
func TestNotPostgresIsNamed(t *testing.T) {
	random := func(c net.Conn) []byte {
		b := make([]byte, 64)
		rand.Read(b)
		b[0] = 'X' // not a PostgreSQL reply byte
		return b
	}
	notPG := "not a PostgreSQL server at 127.0.0.1:"
	for _, c := range []struct {
		name   string
		handle func(net.Conn)
		detail string
		hint   string
	}{
		{"random bytes", func(c net.Conn) { c.Read(make([]byte, 64)); c.Write(random(c)); time.Sleep(time.Second) }, notPG, "something else listens on"},
		{"random bytes first", func(c net.Conn) { c.Write(random(c)); time.Sleep(time.Second) }, notPG, "something else listens on"},
		{"ssh banner", func(c net.Conn) {
			c.Write([]byte("SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n"))
			c.Read(make([]byte, 256))
			c.Write([]byte("Invalid SSH identification string.\r\n"))
		}, notPG, "something else listens on"},
		{"http", func(c net.Conn) {
			c.Read(make([]byte, 64))
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		}, notPG, "something else listens on"},
		{"closes at once", func(c net.Conn) {}, "accepts connections and closes them at once", "the node is down or not at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := listen(t, c.handle)
			closed, err := pgtest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			top, err := topology.Parse("t.yaml", []byte("trust_authentication: true\ndjango: {host: 127.0.0.1}\ncoordinator: {service: c, alias: c, port: "+itoa(port)+"}\nworkers: [{service: w, alias: w, port: "+itoa(closed)+"}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, top, "", false)
			got := status(r)["reachable/c"]
			if got.Status != verify.Fail || !strings.Contains(got.Detail, c.detail) || !strings.Contains(got.Hint, c.hint) {
				t.Errorf("reachable/c = %+v, want detail %q, hint %q", got, c.detail, c.hint)
			}
			if c.detail == notPG && got.Detail != notPG+itoa(port) {
				t.Errorf("detail %q, want exactly %q", got.Detail, notPG+itoa(port))
			}
			for _, ch := range r.Checks {
				if strings.ContainsAny(ch.Detail+ch.Hint, "\n\t") {
					t.Errorf("%s/%s spans lines: %q", ch.Name, ch.Node, ch.Detail)
				}
			}
			if len(r.Unread) != 2 {
				t.Errorf("unread: %v", r.Unread)
			}
		})
	}
}

// Nodes up with the extension and nothing registered: with the compose
// setup service in the topology, that is a cluster still coming up (or a
// setup that failed), and the hints say so; without it, bootstrap is the
// way. No PASS row claims what is not there.
func TestNothingRegisteredYet(t *testing.T) {
	cl := sharedCluster(t)
	top := spec(t, cl, "")
	for _, s := range cl.Servers() {
		s.Exec(t, top.ClusterDatabase(), "CREATE EXTENSION citus")
	}
	r := run(t, top, password, false)
	expect(t, r, map[string]verify.Status{
		"coordinator-host/coordinator": verify.Fail,
		"worker-registered/worker1":    verify.Fail,
		"no-extra-nodes/coordinator":   verify.Pass,
		"cluster-health/coordinator":   verify.Fail,
	}, map[string]string{
		"coordinator-host/coordinator": "the citus_setup service registers the workers once every node is healthy; wait for it (citusgen verify --wait 2m), or see why it did not: docker compose logs citus_setup",
		"worker-registered/worker2":    "docker compose logs citus_setup",
		"cluster-health/coordinator":   "docker compose logs citus_setup",
		"no-extra-nodes/coordinator":   "pg_dist_node holds no worker outside the topology (0 of 2 topology workers registered)",
		"credentials/worker1":          "pg_dist_authinfo holds no password for commcarehq",
	})
	noSetup := spec(t, cl, "compose: {setup: false}\n")
	r = run(t, noSetup, password, false)
	if c := status(r)["coordinator-host/coordinator"]; !strings.HasPrefix(c.Hint, "run citusgen bootstrap") || strings.Contains(c.Hint, "citus_setup") {
		t.Errorf("without a setup service: %+v", c)
	}
}

// holdLock opens a session named "holder" on s's cluster database that
// locks pg_dist_node in mode and keeps its transaction open; release ends
// it (harmless when the server already ended it).
func holdLock(t *testing.T, s *pgtest.Server, db, mode string) (pid int32, release func()) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.DSN(db)+" application_name=holder")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "BEGIN; LOCK TABLE pg_dist_node IN "+mode+" MODE"); err != nil {
		t.Fatal(err)
	}
	return int32(c.PgConn().PID()), func() { c.Close(ctx) }
}

// Statements held up or cut off are named for what they are, within the
// bound, never as a node that is away: a lock another session holds (plan,
// verify and bootstrap each give up in time and name the lock and the
// session), a statement_timeout set for the role, a node out of connection
// slots, and the coordinator dying under a statement.
func TestHeldUpAndLostStatements(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: password, Citus: true})
	top := spec(t, cl, "")
	if _, err := bootstrapCluster(t, top, password, nil); err != nil {
		t.Fatal(err)
	}
	db := top.ClusterDatabase()
	w := cl.Workers[0]
	o := cluster.Options{Password: password}
	verifyWithin := func(t *testing.T, limit time.Duration) *verify.Report {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		r, err := verify.Run(ctx, top, verify.Options{Cluster: o})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	bootstrapWithin := func(wait time.Duration) (string, error) {
		var progress bytes.Buffer
		_, err := bootstrap.Run(context.Background(), top, bootstrap.Options{Cluster: o, Wait: wait, Progress: &progress, PollInterval: 100 * time.Millisecond})
		return progress.String(), err
	}

	t.Run("lock on a worker's catalog", func(t *testing.T) {
		pid, release := holdLock(t, w, db, "ACCESS EXCLUSIVE")
		defer release()
		// Citus reads pg_dist_node as any session starts, so even the
		// relation's name cannot be read while the lock is held.
		held := fmt.Sprintf(" of database %s (one of Citus's catalogs: every new session there waits for it too, so it cannot be named), held by pid %d (AccessExclusiveLock, AccessShareLock, application_name 'holder', user commcarehq, from 127.0.0.1, state idle in transaction", db, pid)
		start := time.Now()
		r := verifyWithin(t, 4*time.Second)
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("verify --timeout 4s took %s", took)
		}
		expect(t, r, map[string]verify.Status{"reachable/worker1": verify.Pass, "database/worker1": verify.Pass, "readable/worker1": verify.Fail},
			map[string]string{"readable/worker1": held})
		if c := status(r)["readable/worker1"]; !strings.Contains(c.Hint, fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid)) || strings.Contains(c.Detail, "deadline") {
			t.Errorf("readable/worker1: %+v", c)
		}
		if len(r.Unread) != 1 || r.Unread[0] != "worker1" {
			t.Errorf("unread: %v", r.Unread)
		}
		// plan reads the same way.
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		c, err := live.Read(ctx, top, live.Options{Cluster: o, Reshape: true, Health: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if u := c.Unread(); len(u) != 1 || !strings.Contains(u[0].Detail, held) || !strings.Contains(u[0].Hint, "pg_terminate_backend") {
			t.Errorf("plan's unread: %+v", u)
		}
		// bootstrap --wait 2s gives up after about 2s, naming it.
		start = time.Now()
		out, err := bootstrapWithin(2 * time.Second)
		if err == nil || !strings.Contains(err.Error(), "worker1: read failed: ") || !strings.Contains(err.Error(), held) || time.Since(start) > 20*time.Second {
			t.Errorf("bootstrap --wait 2s after %s: %v\n%s", time.Since(start), err, out)
		}
	})

	t.Run("statement_timeout set for the role", func(t *testing.T) {
		w.Exec(t, "postgres", "ALTER ROLE commcarehq SET statement_timeout = '1s'")
		defer w.Exec(t, "postgres", "ALTER ROLE commcarehq RESET statement_timeout")
		pid, release := holdLock(t, w, db, "ACCESS EXCLUSIVE")
		defer release()
		r := verifyWithin(t, 20*time.Second)
		expect(t, r, map[string]verify.Status{"reachable/worker1": verify.Pass, "readable/worker1": verify.Fail}, map[string]string{
			"readable/worker1": fmt.Sprintf("canceled by statement_timeout = 1s, set for role commcarehq (ALTER ROLE ... SET statement_timeout), while pid %d (application_name 'holder',", pid),
		})
		if c := status(r)["readable/worker1"]; !strings.Contains(c.Detail, "held AccessExclusiveLock on relation ") || !strings.Contains(c.Hint, `ALTER ROLE "commcarehq" RESET statement_timeout`) ||
			!strings.Contains(c.Hint, fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid)) {
			t.Errorf("readable/worker1: %+v", c)
		}
	})

	t.Run("worker out of connection slots", func(t *testing.T) {
		ctx := context.Background()
		var conns []*pgx.Conn
		defer func() {
			for _, c := range conns {
				c.Close(ctx)
			}
		}()
		for full := false; !full; {
			c, err := pgx.Connect(ctx, w.DSN("postgres"))
			switch {
			case err == nil:
				conns = append(conns, c)
			case strings.Contains(err.Error(), "SQLSTATE 53300"):
				full = true
			default:
				t.Fatal(err)
			}
			if len(conns) > 500 {
				t.Fatal("no connection limit after 500 sessions")
			}
		}
		r := verifyWithin(t, 20*time.Second)
		expect(t, r, map[string]verify.Status{"reachable/worker1": verify.Fail}, map[string]string{
			"reachable/worker1": "refuses connections because too many clients are connected (SQLSTATE 53300",
		})
		got := status(r)
		if c := got["reachable/worker1"]; !strings.Contains(c.Hint, "raise max_connections") || strings.Contains(c.Hint, "down") || strings.Contains(c.Hint, "docker compose up") {
			t.Errorf("reachable/worker1: %+v", c)
		}
		if h := got["cluster-health/coordinator"]; strings.Contains(h.Hint, "down") || strings.Contains(h.Hint, "; start it") || !strings.Contains(h.Hint, "too many clients") {
			t.Errorf("cluster-health calls it down: %+v", h)
		}
		if len(r.Unread) != 1 || r.Unread[0] != "worker1" {
			t.Errorf("unread: %v", r.Unread)
		}
	})

	// A worker frozen where it stands (a hung host, docker pause) while a
	// distributed table has shards on it: Citus's rebalance plan, which
	// plan reads on the coordinator, waits to connect to it. plan names
	// the worker, as verify does, within its --timeout, and does not
	// blame the coordinator.
	t.Run("frozen worker", func(t *testing.T) {
		cl.Coordinator.Exec(t, db, "CREATE TABLE frozen_probe (id bigint PRIMARY KEY)")
		defer cl.Coordinator.Exec(t, db, "DROP TABLE frozen_probe")
		cl.Coordinator.Exec(t, db, "SELECT create_distributed_table('frozen_probe', 'id')")
		thaw := w.Freeze(t)
		defer thaw()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := live.Read(ctx, top, live.Options{Cluster: o, Reshape: true, Health: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		p := diagnosis.PlanOf(c)
		if took := time.Since(start); took > 32*time.Second {
			t.Errorf("plan --timeout 30s took %s", took)
		}
		if len(p.Unread) != 1 || p.Unread[0].Node != "worker1" || !strings.Contains(p.Unread[0].Detail, "never answers") || p.Summary() != "incomplete: could not read worker1" {
			t.Errorf("plan's unread: %+v; %s", p.Unread, p.Summary())
		}
		for _, n := range p.Notes {
			if !strings.Contains(n, "the coordinator cannot connect to worker1") {
				t.Errorf("plan's note: %s", n)
			}
		}
		r := verifyWithin(t, 30*time.Second)
		expect(t, r, map[string]verify.Status{"reachable/worker1": verify.Fail, "readable/coordinator": verify.Pass, "cluster-health/coordinator": verify.Fail},
			map[string]string{"reachable/worker1": "never answers"})
	})

	// bootstrap registers worker1 while a session holds pg_dist_node on
	// the coordinator (readers pass, citus_add_node waits).
	coord := cl.Coordinator
	removeNode(t, coord, db, w.Port)
	t.Run("lock on the coordinator's catalog", func(t *testing.T) {
		pid, release := holdLock(t, coord, db, "EXCLUSIVE")
		defer release()
		start := time.Now()
		out, err := bootstrapWithin(2 * time.Second)
		want := fmt.Sprintf("coordinator: register worker 127.0.0.1:%d failed: waited 2s for ExclusiveLock on pg_dist_node, held by pid %d (", w.Port, pid)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ExclusiveLock, application_name 'holder', ") || !strings.Contains(err.Error(), fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid)) || time.Since(start) > 20*time.Second {
			t.Errorf("bootstrap --wait 2s after %s: %v\n%s", time.Since(start), err, out)
		}
	})

	t.Run("coordinator dies under a statement", func(t *testing.T) {
		_, release := holdLock(t, coord, db, "EXCLUSIVE")
		defer release()
		type result struct {
			out string
			err error
		}
		done := make(chan result, 1)
		go func() {
			out, err := bootstrapWithin(time.Minute)
			done <- result{out, err}
		}()
		// Wait until bootstrap's citus_add_node waits for the lock.
		watch := coord.Connect(t, db)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var n int
			if err := watch.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'citusgen' AND wait_event_type = 'Lock'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("bootstrap never waited for the lock")
			}
		}
		coord.Stop()
		res := <-done
		coord.Restart()
		want := fmt.Sprintf("coordinator: register worker 127.0.0.1:%d failed: the connection to coordinator at 127.0.0.1:%d was lost while the statement ran", w.Port, coord.Port)
		if res.err == nil || !strings.Contains(res.err.Error(), want) || !strings.Contains(res.err.Error(), "then run citusgen bootstrap again") || strings.Contains(res.err.Error(), "EOF") {
			t.Errorf("bootstrap when the coordinator died: %v\n%s", res.err, res.out)
		}
		if out, err := bootstrapWithin(time.Minute); err != nil || !strings.Contains(out, "bootstrap complete") {
			t.Errorf("bootstrap after the restart: %v\n%s", err, out)
		}
	})
}

// Nodes on different PostgreSQL majors, which Citus does not support: a
// server of this machine's binaries (or image) and one from an image of
// another major. verify fails postgres-major, naming each node's major, and
// plan lists the same condition as a step for a person: one diagnosis,
// written once, in both.
func TestMixedPostgresMajors(t *testing.T) {
	pgtest.RequireCitus(t)
	coordinator := pgtest.Start(t, pgtest.Options{Password: password, Citus: true})
	other := "citusdata/citus:14.0-pg17"
	if strings.HasSuffix(pgtest.Image(), "-pg17") {
		other = "citusdata/citus:14.0"
	}
	t.Setenv(pgtest.ImageEnv, other)
	worker := pgtest.Start(t, pgtest.Options{Password: password, Citus: true})
	major := func(s *pgtest.Server) string {
		var v string
		if err := s.Connect(t, "postgres").QueryRow(context.Background(), "SELECT current_setting('server_version_num')::int / 10000").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	cm, wm := major(coordinator), major(worker)
	if cm == wm {
		t.Fatalf("both servers run PostgreSQL %s", cm)
	}
	majors := fmt.Sprintf("%s on coordinator; %s on worker1", cm, wm)
	if wm < cm {
		majors = fmt.Sprintf("%s on worker1; %s on coordinator", wm, cm)
	}
	top := spec(t, &pgtest.Cluster{Coordinator: coordinator, Workers: []*pgtest.Server{worker}}, "")
	r := run(t, top, password, false)
	const hint = "Citus needs every node of a cluster on the same PostgreSQL major: run every node from images (or packages) of one major, upgrading the data of the nodes on another first (citusgen upgrade; docs/images-and-upgrades.md)"
	if c := status(r)["postgres-major/cluster"]; c.Status != verify.Fail || c.Detail != "PostgreSQL majors differ: "+majors || c.Hint != hint {
		t.Errorf("postgres-major: %+v", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := live.Read(ctx, top, live.Options{Cluster: cluster.Options{Password: password}, Reshape: true, Health: true})
	if err != nil {
		t.Fatal(err)
	}
	p := diagnosis.PlanOf(c)
	i := slices.IndexFunc(p.Changes, func(ch diagnosis.Change) bool {
		return ch.Node == "cluster" && strings.HasPrefix(ch.Detail, "PostgreSQL majors")
	})
	if i < 0 {
		t.Fatalf("plan lists no change for the majors: %+v", p.Changes)
	}
	if ch := p.Changes[i]; ch.Kind != diagnosis.Manual || ch.Needs != diagnosis.ByHand || ch.Detail != "PostgreSQL majors differ ("+majors+"): "+hint || fmt.Sprint(ch.Resolves) != "[{postgres-major cluster}]" {
		t.Errorf("plan's change: %+v", ch)
	}
}

// removeNode removes a worker's registration, again while Citus's own
// sessions still update pg_dist_node ("tuple concurrently deleted", seen
// right after a frozen worker thawed), for at most 30 seconds.
func removeNode(t *testing.T, coord *pgtest.Server, db string, port int) {
	t.Helper()
	conn := coord.Connect(t, db)
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := conn.Exec(context.Background(), "SELECT citus_remove_node('127.0.0.1', $1)", port)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "concurrently") || time.Now().After(deadline) {
			t.Fatalf("citus_remove_node: %v", err)
		}
	}
}
