package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/testsupport/await"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// citusgenCmd is citusgen as a process of its own (the test binary under
// the name testscript.Main gives it, with main's signal handling), for
// tests that send it real signals.
func citusgenCmd(t *testing.T, dir string, stderr *await.Writer, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("citusgen")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stderr = stderr
	return cmd
}

// exitCode is how cmd ended: its exit status, or -1 when a signal killed
// it without citusgen handling it.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func temps(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

// SIGINT or SIGTERM while render settings --into writes a large file: the
// run stops with 130 or 143, saying the file is as it was, and leaves no
// temporary file (which would hold the password).
func TestSignalWhileWritingSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20 MB files in a loop (make test runs it)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "localsettings.py")
	original := largeFile("settings/comments", 20<<20)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// The signal must arrive while the temporary file exists: the
			// write may finish first, so try a few times.
			for attempt := 1; ; attempt++ {
				if err := os.WriteFile(path, original, 0o600); err != nil {
					t.Fatal(err)
				}
				stderr := await.NewWriter("\n")
				cmd := citusgenCmd(t, dir, stderr, "render", "settings", "--into", "localsettings.py")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				var err error
				signaled := false
			wait:
				for {
					select {
					case err = <-exited:
						break wait
					default:
					}
					if !signaled && len(temps(t, dir)) > 0 {
						cmd.Process.Signal(sig)
						signaled = true
					}
				}
				left := temps(t, dir)
				got, _ := os.ReadFile(path)
				if len(left) > 0 {
					t.Fatalf("temporary files left: %v\n%s", left, stderr.String())
				}
				code := exitCode(err)
				if code == 0 {
					// The write was done before the signal came.
					if !bytes.HasPrefix(got, original[:100]) || bytes.Equal(got, original) {
						t.Fatalf("exit 0 but the file is not the merged one\n%s", stderr.String())
					}
					if attempt == 5 {
						t.Fatalf("the write finished before the signal in %d attempts", attempt)
					}
					continue
				}
				if code != 128+int(sig) {
					t.Fatalf("exit %d, want %d\n%s", code, 128+int(sig), stderr.String())
				}
				if !bytes.Equal(got, original) {
					t.Errorf("the file changed (%d bytes, was %d)", len(got), len(original))
				}
				want := fmt.Sprintf("citusgen: interrupted by %s: stopped before writing localsettings.py: it is as it was, and no temporary file of citusgen's is left beside it\n", map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig])
				// The run names the spec it used (the embedded default here)
				// before it writes.
				if got := stderr.String(); !strings.HasPrefix(got, "citusgen: topology: the embedded default") || !strings.HasSuffix(got, "\n"+want) {
					t.Errorf("stderr:\n%s\nwant the topology note, then:\n%s", got, want)
				}
				t.Logf("signaled on attempt %d", attempt)
				return
			}
		})
	}
}

// A later write removes what an interrupted run left beside its file:
// citusgen's temporary-file names older than atomicfile.StaleAge, and
// nothing else.
func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("localsettings.py", []byte("DATABASES = {}\nREPORTING_DATABASES = {}\n"), 0o600)
	old := time.Now().Add(-atomicfile.StaleAge - time.Second)
	for name, mtime := range map[string]time.Time{
		".localsettings.py.tmp-2946151": old,
		".localsettings.py.tmp-777":     time.Now(),
		".localsettings.py.tmp-x1":      old,
		".notes.py.tmp-3":               old,
		"localsettings.py.bak":          old,
	} {
		os.WriteFile(name, []byte("secret"), 0o600)
		os.Chtimes(name, mtime, mtime)
	}
	code, _, errOut := runCLI(t, nil, "render", "settings", "--into", "localsettings.py")
	errOut = strings.TrimPrefix(errOut, embeddedNote)
	if code != 0 || !strings.HasPrefix(errOut, "citusgen: removed .localsettings.py.tmp-2946151, a temporary file an interrupted citusgen left (older than 10m0s)\n") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var names []string
	entries, _ := os.ReadDir(".")
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".localsettings.py.tmp-777 .localsettings.py.tmp-x1 .notes.py.tmp-3 localsettings.py localsettings.py.bak" {
		t.Errorf("left: %v", names)
	}
}

// bootstrap --wait 0 (or CITUSGEN_WAIT=0) tries each node once: with a
// node down it fails at once, naming it, instead of waiting.
func TestBootstrapWaitZero(t *testing.T) {
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: "pw"})
	spec := writeSpec(t, cl.Spec(""))
	cl.Workers[0].Stop()
	for _, c := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"-t", spec, "bootstrap", "--wait", "0"}},
		{map[string]string{"CITUSGEN_WAIT": "0"}, []string{"-t", spec, "bootstrap"}},
		{nil, []string{"-t", spec, "reset", "--yes", "--wait", "0"}},
	} {
		start := time.Now()
		code, _, errOut := runCLI(t, c.env, c.args...)
		took := time.Since(start)
		want := fmt.Sprintf("worker1: connect failed: no connection to 127.0.0.1:%d at the first try, and --wait 0 does not wait (", cl.Workers[0].Port)
		if code != 1 || took > 10*time.Second || !strings.Contains(errOut, want) || !strings.Contains(errOut, "start it (docker compose up -d worker1)") || strings.Contains(errOut, "coordinator: connect") {
			t.Errorf("%v %v: exit %d after %s\n%s", c.env, c.args, code, took.Round(time.Millisecond), errOut)
		}
	}
	t.Setenv("CITUSGEN_WAIT", "60s")
}

// checksum is the row count and an md5 of every row of the distributed
// table.
func checksum(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s string
	if err := c.QueryRow(context.Background(), "SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM events").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Ctrl-C (SIGINT) during bootstrap --rebalance and SIGTERM during
// bootstrap --prune on a real cluster with 100,000 rows: citusgen stops
// within about 2 s with 130 or 143, saying what still runs on the server
// (the rebalance job, with how to watch, stop and resume it; the drain,
// canceled); no row changes, and a rerun converges, its summary counting
// what it did.
func TestSignalsDuringReshape(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: "pw", Citus: true})
	two := writeSpec(t, cl.Spec(""))
	one := writeSpec(t, []byte(regexp.MustCompile(`(?m)^  - \{service: worker2.*\n`).ReplaceAllString(string(cl.Spec("")), "")))
	dir := filepath.Dir(two)
	if code, _, errOut := runCLI(t, nil, "-t", one, "bootstrap"); code != 0 {
		t.Fatalf("bootstrap: exit %d\n%s", code, errOut)
	}
	c := cl.Coordinator.Connect(t, "commcare_ucr_citus")
	ctx := context.Background()
	for _, sql := range []string{
		"SET citus.shard_count = 32",
		"CREATE TABLE events (id bigint PRIMARY KEY, v text)",
		"SELECT create_distributed_table('events', 'id')",
		"INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 100000) g",
	} {
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	before := checksum(t, c)
	jobState := func(job string) string {
		var state string
		if err := c.QueryRow(ctx, "SELECT state::text FROM pg_dist_background_job WHERE job_id = $1::bigint", job).Scan(&state); err != nil {
			t.Fatal(err)
		}
		return state
	}

	// SIGINT while the rebalance job moves shards.
	stderr := await.NewWriter("rebalance: moved shard ")
	cmd := citusgenCmd(t, dir, stderr, "-t", two, "bootstrap", "--rebalance")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case <-stderr.Seen:
	case err = <-exited:
		t.Fatalf("bootstrap --rebalance ended before moving a shard: exit %d\n%s", exitCode(err), stderr.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("no shard moved within 2 minutes\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	signaled := time.Now()
	err = <-exited
	took := time.Since(signaled)
	out := stderr.String()
	m := regexp.MustCompile(`citusgen: interrupted by SIGINT: bootstrap stopped while rebalancing: stopped following rebalance job (\d+), which goes on on the coordinator \(running, (\d+) of (\d+) moves done\): watch it with SELECT \* FROM citus_rebalance_status\(\); stop it with SELECT citus_rebalance_stop\(\); or run citusgen bootstrap --rebalance again, which waits for it and resumes\n$`).FindStringSubmatch(out)
	if exitCode(err) != 130 || took > 2500*time.Millisecond || m == nil {
		t.Fatalf("after SIGINT: exit %d after %s\n%s", exitCode(err), took.Round(time.Millisecond), out)
	}
	t.Logf("SIGINT: exit 130 after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(out[strings.LastIndex(out[:len(out)-1], "\n")+1:]))
	if m[2] == m[3] {
		t.Errorf("every move was done, yet the job was running:\n%s", out)
	}
	if state := jobState(m[1]); state != "running" && state != "finished" {
		t.Errorf("job %s is %s after citusgen stopped", m[1], state)
	}
	// A rerun waits for the job and finds nothing left to move.
	code, _, errOut := runCLI(t, nil, "-t", two, "bootstrap", "--rebalance")
	if code != 0 || !strings.Contains(errOut, "rebalance: job "+m[1]+" is already running") || !regexp.MustCompile(`bootstrap complete: 3 nodes match the topology; 1 change applied \(the rebalance moved \d+ shards\), nothing pending`).MatchString(errOut) {
		t.Fatalf("rerun: exit %d\n%s", code, errOut)
	}
	if state := jobState(m[1]); state != "finished" {
		t.Errorf("job %s is %s", m[1], state)
	}
	if got := checksum(t, c); got != before {
		t.Fatalf("rows changed by the rebalance: %s -> %s", before, got)
	}

	// SIGTERM while the drain moves shards off worker2.
	stderr = await.NewWriter(" shards left (")
	cmd = citusgenCmd(t, dir, stderr, "-t", one, "bootstrap", "--prune")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait() }()
	select {
	case <-stderr.Seen:
	case err = <-exited:
		t.Fatalf("bootstrap --prune ended before draining: exit %d\n%s", exitCode(err), stderr.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("no drain within 2 minutes\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	signaled = time.Now()
	err = <-exited
	took = time.Since(signaled)
	out = stderr.String()
	w2 := fmt.Sprintf("127.0.0.1:%d", cl.Workers[1].Port)
	m = regexp.MustCompile(`citusgen: interrupted by SIGTERM: bootstrap stopped while pruning: stopped draining ` + regexp.QuoteMeta(w2) + ` \((\d+) of (\d+) shards moved off it, (\d+) left\): the drain was canceled on the coordinator and nothing moves shards now; moves already made stay: run citusgen bootstrap --prune again to finish the drain and remove it\n$`).FindStringSubmatch(out)
	if exitCode(err) != 143 || took > 2500*time.Millisecond || m == nil {
		t.Fatalf("after SIGTERM: exit %d after %s\n%s", exitCode(err), took.Round(time.Millisecond), out)
	}
	t.Logf("SIGTERM: exit 143 after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(out[strings.LastIndex(out[:len(out)-1], "\n")+1:]))
	var draining int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE '%citus_drain_node%' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&draining); err != nil || draining != 0 {
		t.Errorf("%d sessions still drain (%v)", draining, err)
	}
	if got := checksum(t, c); got != before {
		t.Fatalf("rows changed by the interrupted drain: %s -> %s", before, got)
	}
	var left int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM citus_shards WHERE nodeport = $1 AND citus_table_type = 'distributed'", cl.Workers[1].Port).Scan(&left); err != nil || fmt.Sprint(left) != m[3] || left == 0 {
		t.Fatalf("%d shards left on worker2 (%v); citusgen said %s", left, err, m[3])
	}
	// A rerun finishes the drain, and its summary counts it.
	code, _, errOut = runCLI(t, nil, "-t", one, "bootstrap", "--prune")
	summary := fmt.Sprintf("bootstrap complete: 2 nodes match the topology; 1 change applied (drained %d shards off %s and removed it), nothing pending (", left, w2)
	if code != 0 || !strings.Contains(errOut, "\n"+summary) || !strings.Contains(errOut, "prune: removed "+w2+"\n") {
		t.Fatalf("rerun: exit %d, want %q\n%s", code, summary, errOut)
	}
	if !strings.Contains(errOut, "prune: note: if "+w2+" ran from this compose file, its data volume stays: once its service is gone from the file and its container removed (docker compose up -d --remove-orphans), drop it with docker volume rm <project>_${VOLUME_PREFIX}<volume>") {
		t.Errorf("no note on the volume:\n%s", errOut)
	}
	if got := checksum(t, c); got != before {
		t.Fatalf("rows changed by the prune: %s -> %s", before, got)
	}
	if code, out, errOut := runCLI(t, nil, "-t", one, "plan"); code != 0 || !strings.HasPrefix(out, "in sync") {
		t.Errorf("plan after the rerun: exit %d\n%s%s", code, out, errOut)
	}
}

// plan and verify stop within about 2 s of a signal, even while a node
// holds their connection without answering (their --timeout is 30 s).
func TestSignalStopsPlanAndVerify(t *testing.T) {
	accepted := make(chan struct{}, 16)
	silent := func() int {
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
				t.Cleanup(func() { c.Close() }) // silent until the test ends
				accepted <- struct{}{}
			}
		}()
		return l.Addr().(*net.TCPAddr).Port
	}
	spec := writeSpec(t, []byte(fmt.Sprintf("trust_authentication: true\ndjango: {host: 127.0.0.1}\ncoordinator: {service: c, alias: c, port: %d}\nworkers: [{service: w, alias: w, port: %d}]\n", silent(), silent())))
	for _, c := range []struct{ cmd, want string }{
		{"plan", "citusgen: interrupted by SIGINT: plan stopped before its reading was complete; it changes nothing, so nothing is left running\n"},
		{"verify", "citusgen: interrupted by SIGINT: verify stopped before its report; it changes nothing, so nothing is left running\n"},
	} {
		ctx, cancel := context.WithCancelCause(context.Background())
		var stdout, stderr bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- runContext(ctx, []string{"-t", spec, c.cmd, "--timeout", "30s"}, strings.NewReader(""), &stdout, &stderr)
		}()
		select {
		case <-accepted:
		case code := <-done:
			t.Fatalf("%s ended before connecting: exit %d\n%s%s", c.cmd, code, stdout.String(), stderr.String())
		}
		cancel(interrupted{syscall.SIGINT})
		start := time.Now()
		code := <-done
		if took := time.Since(start); code != 130 || took > 2*time.Second || stderr.String() != c.want {
			t.Errorf("%s: exit %d after %s\n%s%s", c.cmd, code, took.Round(time.Millisecond), stdout.String(), stderr.String())
		}
	}
}
