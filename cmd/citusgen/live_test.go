package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/testsupport/await"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeSpec(t *testing.T, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// verify's exit statuses and JSON on a real cluster that fails checks; the
// password (from the environment) appears nowhere in the output.
func TestVerifyCLI(t *testing.T) {
	const pw = "cli-secret-pw"
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: pw})
	spec := writeSpec(t, cl.Spec("password_env: CLUSTER_PW\n"))

	code, out, errOut := runCLI(t, map[string]string{"CLUSTER_PW": pw}, "-t", spec, "verify", "--json", "--timeout", "20s")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	var report struct {
		OK     bool `json:"ok"`
		Failed int  `json:"failed"`
		Checks []struct {
			Name, Node, Status, Detail, Hint string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if report.OK || report.Failed == 0 {
		t.Errorf("report: %+v", report)
	}
	found := false
	for _, c := range report.Checks {
		if c.Name == "database" && c.Node == "worker1" && c.Status == "fail" && strings.Contains(c.Hint, "citusgen bootstrap") {
			found = true
		}
	}
	if !found {
		t.Errorf("no failing database check for worker1:\n%s", out)
	}
	if strings.Contains(out+errOut, pw) {
		t.Error("output leaks the password")
	}

	// The table names each check and prints hints.
	code, out, _ = runCLI(t, map[string]string{"CLUSTER_PW": pw}, "-t", spec, "verify")
	if code != 1 || !strings.Contains(out, "CHECK") || !strings.Contains(out, "hint: run citusgen bootstrap") || !strings.Contains(out, "failed") {
		t.Errorf("table (exit %d):\n%s", code, out)
	}

	// Missing password variable is bad input: exit 2 before connecting.
	code, _, errOut = runCLI(t, map[string]string{"CLUSTER_PW": ""}, "-t", spec, "verify")
	if code != 2 || !strings.Contains(errOut, "$CLUSTER_PW, which is not set") {
		t.Errorf("unset password: exit %d\n%s", code, errOut)
	}

	// plan and bootstrap without Citus loaded, before the databases exist:
	// exit 1 with each node's manual step and the fix; bootstrap creates
	// the databases and never tries the extension.
	code, out, errOut = runCLI(t, map[string]string{"CLUSTER_PW": pw}, "-t", spec, "plan")
	if code != 1 || !regexp.MustCompile(`(?m)^manual +worker1 +citus is not (in shared_preload_libraries|installed)`).MatchString(out) || !strings.Contains(out, "4 changes pending: citusgen bootstrap applies 2; 2 need a person") {
		t.Errorf("plan: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, map[string]string{"CLUSTER_PW": pw}, "-t", spec, "bootstrap", "--wait", "20s")
	if code != 1 || !strings.Contains(errOut, "  manual worker1: ") || !strings.Contains(errOut, "shared_preload_libraries") || !strings.Contains(errOut, "2 changes need a person") ||
		strings.Contains(errOut, "create extension citus") || strings.Contains(errOut, "bootstrap complete") {
		t.Errorf("bootstrap: exit %d\n%s", code, errOut)
	}
	if strings.Contains(errOut, pw) {
		t.Error("bootstrap output leaks the password")
	}
}

// The whole flow through the CLI on real Citus: bootstrap, verify (exit 0),
// bootstrap again (changes nothing).
func TestBootstrapVerifyCLIOnCitus(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: "pw", Citus: true})
	spec := writeSpec(t, cl.Spec(""))
	code, _, errOut := runCLI(t, nil, "-t", spec, "bootstrap")
	if code != 0 {
		t.Fatalf("bootstrap exit %d\n%s", code, errOut)
	}
	code, out, _ := runCLI(t, nil, "-t", spec, "verify", "--smoke")
	if code != 0 || !strings.Contains(out, "0 failed") {
		t.Fatalf("verify exit %d\n%s", code, out)
	}
	code, _, errOut = runCLI(t, nil, "-t", spec, "bootstrap")
	if code != 0 || !strings.Contains(errOut, "bootstrap complete: 3 nodes match the topology; 0 changes applied") {
		t.Errorf("second bootstrap exit %d\n%s", code, errOut)
	}

	// A cluster still coming up: verify --wait checks again until it passes,
	// saying on stderr what it waits for.
	cl.Workers[1].Stop()
	waiting := await.NewWriter("citusgen: waiting for the cluster")
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-waiting.Seen:
			cl.Workers[1].Restart()
		case <-time.After(90 * time.Second):
		}
	}()
	var stdout bytes.Buffer
	code = run([]string{"-t", spec, "verify", "--wait", "90s", "--failures"}, strings.NewReader(""), &stdout, waiting)
	<-done
	out, errOut = stdout.String(), waiting.String()
	if code != 0 || !regexp.MustCompile(`citusgen: waiting for the cluster \([0-9]+s so far, up to 1m30s\): `).MatchString(errOut) || !strings.Contains(errOut, "reachable worker2") ||
		!strings.Contains(errOut, "citusgen: the cluster matches the topology after ") || !strings.HasPrefix(out, "no check failed: ") {
		t.Errorf("verify --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	// Without --wait it would have failed at once; with a short one it
	// gives up, printing the last report.
	cl.Workers[1].Stop()
	start := time.Now()
	code, out, _ = runCLI(t, nil, "-t", spec, "verify", "--wait", "3s")
	if code != 1 || time.Since(start) > 30*time.Second || !strings.Contains(out, "cluster-health") {
		t.Errorf("verify --wait 3s with a node down: exit %d after %s\n%s", code, time.Since(start), out)
	}
}

// reset --yes through the CLI: exit 0, progress on stderr, database empty.
func TestResetCLI(t *testing.T) {
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: "pw"})
	spec := writeSpec(t, cl.Spec(""))
	for _, s := range cl.Servers() {
		s.Exec(t, "postgres", "CREATE DATABASE commcare_ucr_citus")
		s.Exec(t, "commcare_ucr_citus", "CREATE TABLE doomed (id int)")
	}
	code, out, errOut := runCLI(t, nil, "-t", spec, "reset")
	if code != 2 || !strings.Contains(out, "DROP DATABASE") {
		t.Fatalf("without --yes: exit %d\n%s%s", code, out, errOut)
	}
	cl.Coordinator.Exec(t, "commcare_ucr_citus", "SELECT 1 FROM doomed") // still there
	code, _, errOut = runCLI(t, nil, "-t", spec, "reset", "--yes")
	if code != 0 || !strings.Contains(errOut, "reset complete: database commcare_ucr_citus is empty on 2 nodes; run citusgen bootstrap next") {
		t.Fatalf("--yes: exit %d\n%s", code, errOut)
	}
}

// Something that is not PostgreSQL on a node's port, whether it speaks
// first (an SSH banner) or answers garbage: plan and verify cannot read the
// node and exit 3; bootstrap stops at once. All say what is there.
func TestNotPostgresCLI(t *testing.T) {
	serve := func(handle func(net.Conn)) int {
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
	ssh := serve(func(c net.Conn) {
		c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
		c.Read(make([]byte, 256))
	})
	garbage := serve(func(c net.Conn) {
		c.Read(make([]byte, 64))
		c.Write([]byte("\xbc\x6f\x39\x8a\x01\x02garbage that is no PostgreSQL message"))
		time.Sleep(time.Second)
	})
	spec := writeSpec(t, []byte(fmt.Sprintf("trust_authentication: true\ndjango: {host: 127.0.0.1}\ncoordinator: {service: c, alias: c, port: %d}\nworkers: [{service: w, alias: w, port: %d}]\n", ssh, garbage)))
	for _, cmd := range []string{"plan", "verify"} {
		code, out, errOut := runCLI(t, nil, "-t", spec, cmd, "--timeout", "20s")
		for _, port := range []int{ssh, garbage} {
			if !strings.Contains(out+errOut, fmt.Sprintf("not a PostgreSQL server at 127.0.0.1:%d", port)) {
				t.Errorf("%s does not name 127.0.0.1:%d:\n%s%s", cmd, port, out, errOut)
			}
		}
		if code != 3 || strings.Contains(out+errOut, "connection reset") || strings.Contains(out+errOut, "invalid message length") {
			t.Errorf("%s: exit %d\n%s%s", cmd, code, out, errOut)
		}
	}
	start := time.Now()
	code, _, errOut := runCLI(t, nil, "-t", spec, "bootstrap", "--wait", "30s")
	if code != 1 || !strings.Contains(errOut, "not a PostgreSQL server at 127.0.0.1:") || time.Since(start) > 15*time.Second {
		t.Errorf("bootstrap: exit %d after %s\n%s", code, time.Since(start), errOut)
	}
}

// Docker binds a published port on compose.publish_address alone. A spec
// whose django.host cannot reach that address is refused (exit 2, before
// any connection); where only the live lookup can tell (--host, a name),
// verify says the node is published elsewhere instead of calling it down.
func TestVerifyNamesThePublishAddress(t *testing.T) {
	if pgtest.Image() != "" {
		t.Skip("needs local servers that listen on one address")
	}
	opts := pgtest.Options{Password: "pw", Listen: "127.0.0.2"}
	spec := func(c, w *pgtest.Server, publish, host string) string {
		return writeSpec(t, fmt.Appendf(nil, "password: pw\nuser: commcarehq\ncompose: {publish_address: '%s'}\ndjango: {host: %s}\ncoordinator: {service: coordinator, alias: coordinator, port: %d}\nworkers: [{service: worker1, alias: worker1, port: %d}]\n", publish, host, c.Port, w.Port))
	}
	c, w := pgtest.Start(t, opts), pgtest.Start(t, opts)

	// The pair that reaches: every node answers.
	good := spec(c, w, "127.0.0.2", "127.0.0.2")
	_, out, errOut := runCLI(t, nil, "-t", good, "verify", "--timeout", "20s")
	if !regexp.MustCompile(`(?m)^authenticated +coordinator +PASS`).MatchString(out) || !regexp.MustCompile(`(?m)^authenticated +worker1 +PASS`).MatchString(out) {
		t.Fatalf("nodes on 127.0.0.2 not reached:\n%s\n%s", out, errOut)
	}

	// A pair that cannot reach is bad input, named at both fields.
	code, out, errOut := runCLI(t, nil, "-t", spec(c, w, "127.0.0.2", "127.0.0.1"), "verify", "--timeout", "20s")
	if want := ":4:16: django.host: 127.0.0.1 does not reach the nodes: compose.publish_address (line 3, column 28) publishes their ports on 127.0.0.2 only, and a connection to 127.0.0.1 never arrives there; write django.host: 127.0.0.2, or compose.publish_address: 127.0.0.1\n"; code != 2 || out != "" || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want 2 with %q\n%s\n%s", code, want, out, errOut)
	}

	// --host elsewhere: the hint names both addresses, not "start it".
	hint := func(host string) string {
		return fmt.Sprintf("hint: coordinator publishes its port on 127.0.0.2 only (compose.publish_address), while citusgen connects to %s, which does not reach that address: the node may well be up. Connect where it is published (--host 127.0.0.2), or set django.host and compose.publish_address to one address (render, then docker compose up -d coordinator); if it is down, start it (docker compose up -d coordinator)\n", host)
	}
	for host, to := range map[string]string{"127.0.0.1": "127.0.0.1", "localhost": "localhost (127.0.0.1 here)"} {
		code, out, errOut = runCLI(t, nil, "-t", good, "verify", "--timeout", "20s", "--host", host)
		if code != 3 || !strings.Contains(out, hint(to)) || strings.Contains(out, "start it (docker compose up -d coordinator); if it does not stay up") {
			t.Errorf("--host %s: exit %d, want 3 and %q\n%s\n%s", host, code, hint(to), out, errOut)
		}
	}

	// bootstrap, which waits for the nodes, says the same when it gives up.
	code, out, errOut = runCLI(t, nil, "-t", good, "bootstrap", "--wait", "1s", "--host", "127.0.0.1")
	if want := "coordinator publishes its port on 127.0.0.2 only (compose.publish_address), while citusgen connects to 127.0.0.1, which does not reach that address: the node may well be up."; code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "then run citusgen bootstrap again") {
		t.Errorf("bootstrap --host 127.0.0.1: exit %d, want 1 and %q\n%s\n%s", code, want, out, errOut)
	}

	// A node published on ::1 while localhost is 127.0.0.1 alone (as in
	// this machine's /etc/hosts): the spec cannot know; verify says it.
	six := pgtest.Options{Password: "pw", Listen: "::1"}
	c6, w6 := pgtest.Start(t, six), pgtest.Start(t, six)
	v6 := spec(c6, w6, "::1", "localhost")
	ips, err := net.LookupIP("localhost")
	if err != nil {
		t.Fatal(err)
	}
	viaV6 := false
	for _, ip := range ips {
		viaV6 = viaV6 || ip.Equal(net.IPv6loopback)
	}
	_, out, errOut = runCLI(t, nil, "-t", v6, "verify", "--timeout", "20s")
	switch reached := regexp.MustCompile(`(?m)^authenticated +coordinator +PASS`).MatchString(out); {
	case viaV6 && !reached:
		t.Errorf("localhost resolves to ::1 here, but the node on ::1 was not reached:\n%s\n%s", out, errOut)
	case !viaV6 && !strings.Contains(out, "hint: coordinator publishes its port on ::1 only (compose.publish_address), while citusgen connects to localhost (127.0.0.1 here), which does not reach that address: the node may well be up. Connect where it is published (--host ::1)"):
		t.Errorf("no hint naming ::1 and localhost:\n%s\n%s", out, errOut)
	}
	// What the hint says to do works.
	_, out, errOut = runCLI(t, nil, "-t", v6, "verify", "--timeout", "20s", "--host", "::1")
	if !regexp.MustCompile(`(?m)^authenticated +coordinator +PASS`).MatchString(out) {
		t.Errorf("--host ::1 did not reach the node:\n%s\n%s", out, errOut)
	}

	// :: is every IPv6 address, which docker (28) binds to IPv6 alone, as
	// PostgreSQL does (IPV6_V6ONLY): ::1 reaches it, 127.0.0.1 does not.
	any6 := pgtest.Options{Password: "pw", Listen: "::"}
	ca, wa := pgtest.Start(t, any6), pgtest.Start(t, any6)
	va := spec(ca, wa, "::", "localhost")
	_, out, errOut = runCLI(t, nil, "-t", va, "verify", "--timeout", "20s", "--host", "127.0.0.1")
	if want := "hint: coordinator publishes its port on :: only (compose.publish_address), while citusgen connects to 127.0.0.1, which does not reach that address: the node may well be up. Connect where it is published (--host ::1)"; !strings.Contains(out, want) {
		t.Errorf("--host 127.0.0.1 to a node on ::, want %q:\n%s\n%s", want, out, errOut)
	}
	_, out, errOut = runCLI(t, nil, "-t", va, "verify", "--timeout", "20s", "--host", "::1")
	if !regexp.MustCompile(`(?m)^authenticated +coordinator +PASS`).MatchString(out) {
		t.Errorf("--host ::1 did not reach the node on :::\n%s\n%s", out, errOut)
	}
}

// database: postgres is the maintenance database reset works from, and a
// session cannot drop the database it is in: reset works from template1
// then, drops and recreates postgres on every node, and touches nothing
// else (a session on another database survives).
func TestResetMaintenanceDatabase(t *testing.T) {
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: "pw"})
	spec := writeSpec(t, cl.Spec("database: postgres\n"))
	ctx := context.Background()
	var bystanders []*pgx.Conn
	for _, s := range cl.Servers() {
		s.Exec(t, "postgres", "CREATE TABLE doomed (id int)")
		s.Exec(t, "postgres", "CREATE DATABASE bystander")
		c := s.Connect(t, "bystander")
		if _, err := c.Exec(ctx, "CREATE TABLE kept (id int)"); err != nil {
			t.Fatal(err)
		}
		bystanders = append(bystanders, c)
	}
	code, out, errOut := runCLI(t, nil, "-t", spec, "reset")
	if want := fmt.Sprintf("\\connect -reuse-previous=on 'dbname=template1 host=127.0.0.1 port=%d'\nSELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity WHERE datname = 'postgres'", cl.Coordinator.Port); code != 2 || !strings.Contains(out, want) {
		t.Fatalf("without --yes: exit %d, want 2 and %q\n%s%s", code, want, out, errOut)
	}
	code, _, errOut = runCLI(t, nil, "-t", spec, "reset", "--yes")
	if code != 0 || !strings.Contains(errOut, "reset complete: database postgres is empty on 2 nodes; run citusgen bootstrap next") {
		t.Fatalf("--yes: exit %d\n%s", code, errOut)
	}
	for i, s := range cl.Servers() {
		var doomed *string
		if err := s.Connect(t, "postgres").QueryRow(ctx, "SELECT to_regclass('doomed')::text").Scan(&doomed); err != nil || doomed != nil {
			t.Errorf("%s:%d: postgres still has doomed (%v)", s.Host, s.Port, err)
		}
		var kept string
		if err := bystanders[i].QueryRow(ctx, "SELECT to_regclass('kept')::text").Scan(&kept); err != nil || kept != "kept" {
			t.Errorf("%s:%d: the session on bystander did not survive, or lost its table: %q %v", s.Host, s.Port, kept, err)
		}
	}
}

// A worker whose volume fills up during a rebalance: the copy of a shard
// onto it writes WAL until the server PANICs (No space left on device), and
// it cannot start again without space; or, as timing goes, a backend's
// ERROR creating a WAL segment reaches the coordinator first (seen once),
// and the worker stays up. Citus retries the move for ever;
// bootstrap stops waiting at once, naming the worker and the cause, instead
// of waiting out --wait with "0 of 2 moves done".
func TestRebalanceOntoAFullWorker(t *testing.T) {
	pgtest.RequireCitus(t)
	if pgtest.Image() != "" {
		t.Skip("needs a local server on a small tmpfs")
	}
	opts := pgtest.Options{Password: "pw", Citus: true}
	cl := pgtest.StartCluster(t, 1, opts)
	small := opts
	small.DataSize = "90m" // initdb and the extension take about 40 MB of it
	full := pgtest.Start(t, small)
	if code, _, errOut := runCLI(t, nil, "-t", writeSpec(t, cl.Spec("")), "bootstrap"); code != 0 {
		t.Fatalf("bootstrap: exit %d\n%s", code, errOut)
	}
	// About 120 MB in 4 shards on worker1: two of them move to the new worker.
	cl.Coordinator.Exec(t, "commcare_ucr_citus", "CREATE TABLE big (id bigint, v text); SELECT create_distributed_table('big', 'id', shard_count := 4); INSERT INTO big SELECT i, repeat('x', 1000) FROM generate_series(1, 120000) i")
	cl.Workers = append(cl.Workers, full)
	start := time.Now()
	code, _, errOut := runCLI(t, nil, "-t", writeSpec(t, cl.Spec("")), "bootstrap", "--rebalance", "--wait", "5m")
	took := time.Since(start)
	want := regexp.MustCompile(`citusgen: bootstrap failed: rebalance failed: the rebalance cannot move shard [0-9]+ to worker2 \(127\.0\.0\.1:` + fmt.Sprint(full.Port) + `\): (the node stopped under the move and the coordinator cannot connect to it \(Citus: .*\)\. A server whose volume fills up stops so \(its log: PANIC: could not write to file "pg_wal/\.\.\.": No space left on device\) and does not start again until there is space; docker compose logs worker2 says why\. Free space on its volume or grow it, start it, then run|it ran out of disk space \(ERROR: could not write to file "pg_wal/[^"]+": No space left on device\); free space on its volume or grow it, then run) citusgen bootstrap --rebalance again\. Citus retries the move in the background meanwhile \(job [0-9]+; SELECT citus_rebalance_stop\(\) stops it\)`)
	if code != 1 || !want.MatchString(errOut) || took > 2*time.Minute {
		t.Fatalf("exit %d after %s, want 1 well within --wait and a message matching %s\n%s", code, took.Round(time.Second), want, errOut)
	}
	t.Logf("after %s:\n%s", took.Round(time.Second), errOut)
	// What the message says of the worker is so: its log has the cause.
	log, err := os.ReadFile(filepath.Join(filepath.Dir(full.Dir), "server.log"))
	if err != nil || !strings.Contains(string(log), "No space left on device") {
		t.Errorf("worker2's log does not say No space left on device (%v)", err)
	}
}

// A worker with almost no space left: bootstrap's statement there fails
// with disk_full (53100), and the message says so, names the node and
// what to do (any retry would fail the same way).
func TestBootstrapOntoAFullWorker(t *testing.T) {
	pgtest.RequireCitus(t)
	if pgtest.Image() != "" {
		t.Skip("needs a local server on a small tmpfs")
	}
	opts := pgtest.Options{Password: "pw", Citus: true}
	small := opts
	small.DataSize = "41m" // initdb leaves about 3 MB of it
	cl := &pgtest.Cluster{Coordinator: pgtest.Start(t, opts), Workers: []*pgtest.Server{pgtest.Start(t, small)}}
	code, _, errOut := runCLI(t, nil, "-t", writeSpec(t, cl.Spec("")), "bootstrap", "--wait", "30s")
	want := regexp.MustCompile(`(?m)^citusgen: bootstrap failed: worker1: (create database commcare_ucr_citus|create extension citus) failed: [^\n]*No space left on device \(the node ran out of disk space\)\n  hint: free space on the volume of worker1 or grow it \(docker compose exec worker1 sh -c 'df -h "\$PGDATA"' shows it\), then run citusgen bootstrap again: every step is guarded, so what was done stays done$`)
	if code != 1 || !want.MatchString(errOut) {
		t.Fatalf("exit %d, want 1 and %s\n%s", code, want, errOut)
	}
}

// upgrade on servers outside compose prints each node's commands, from
// what the nodes say; the Citus release's commands run as printed.
func TestUpgradeManualCLI(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: "pw", Citus: true})
	spec := writeSpec(t, cl.Spec("image: none\n"))
	if code, _, errOut := runCLI(t, nil, "-t", spec, "bootstrap"); code != 0 {
		t.Fatalf("bootstrap exit %d\n%s", code, errOut)
	}
	code, out, errOut := runCLI(t, nil, "-t", spec, "upgrade", "--postgres", "17")
	if code != 0 {
		t.Fatalf("upgrade: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"coordinator: PostgreSQL 15, Citus 13.2",
		"citus_prepare_pg_upgrade()",
		"/usr/lib/postgresql/17/bin/pg_upgrade --check -b /usr/lib/postgresql/15/bin -B /usr/lib/postgresql/17/bin",
		"-E UTF8",
		"citus_finish_pg_upgrade()",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the steps do not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw") {
		t.Errorf("the steps show the password:\n%s", out)
	}
	t.Logf("the steps:\n%s", out)
	// The release's commands, as a user pastes them (the password from
	// PGPASSWORD).
	section := out[strings.Index(out, "A new Citus release"):strings.Index(out, "PostgreSQL 15 to 17")]
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "psql ") {
			continue
		}
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = append(os.Environ(), "PGPASSWORD=pw")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", line, err, b)
		}
	}
	if code, _, errOut := runCLI(t, nil, "-t", spec, "upgrade", "--apply"); code != 2 || !strings.Contains(errOut, "prints the commands to run on each node") {
		t.Errorf("upgrade --apply with image: none: exit %d\n%s", code, errOut)
	}
}
