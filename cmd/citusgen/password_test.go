package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
)

// cancelOn is stderr that cancels the run as soon as a line matches: the
// command is stopped at that point, as by a signal, whatever comes next.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	re     *regexp.Regexp
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.re.Match(p) {
		w.cancel()
	}
	return len(p), nil
}

// logsIn reports whether password logs in to srv's database.
func logsIn(t *testing.T, srv *pgtest.Server, password string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = password
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("%s:%d: %v", srv.Host, srv.Port, err)
		}
		return false
	}
	c.Close(ctx)
	return true
}

// citusgen password on a real Citus cluster (password_env, its .env, a
// distributed table): a run stopped half-way leaves the coordinator with
// the new password and its stale credentials, the workers with the old;
// the next run finds which each has, finishes, and rewrites .env last
// (every other line kept); verify passes with the new password, the old
// one logs in nowhere, the rows are all there, and no password is in
// citusgen's output or, with log_statement = 'all', in the servers' logs.
func TestPasswordOnCitus(t *testing.T) {
	pgtest.RequireCitus(t)
	const oldPW = "old-pw-1"
	const newPW = `new pw 'q' "d" $HOME \ #x`
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: oldPW, Citus: true})
	for _, s := range cl.Servers() {
		s.Exec(t, "postgres", "ALTER SYSTEM SET log_statement = 'all'")
		s.Exec(t, "postgres", "SELECT pg_reload_conf()")
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "citusgen.yaml")
	if err := os.WriteFile(spec, cl.Spec("password_env: CITUS_PW\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var outputs strings.Builder
	cli := func(env map[string]string, args ...string) (int, string) {
		t.Helper()
		code, out, errOut := runCLI(t, env, append([]string{"-t", spec}, args...)...)
		outputs.WriteString(out + errOut)
		return code, out + errOut
	}
	withOld := map[string]string{"CITUS_PW": oldPW, topology.OldPasswordEnv: ""}
	withNew := map[string]string{"CITUS_PW": newPW, topology.OldPasswordEnv: ""}
	if code, out := cli(withOld, "bootstrap"); code != 0 {
		t.Fatalf("bootstrap: exit %d\n%s", code, out)
	}
	coord := cl.Coordinator.Connect(t, "commcare_ucr_citus")
	ctx := context.Background()
	if _, err := coord.Exec(ctx, "CREATE TABLE events (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('events', 'id'); INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 1000) g"); err != nil {
		t.Fatal(err)
	}
	coord.Close(ctx)
	settings := filepath.Join(dir, "localsettings.py")
	if code, out := cli(withOld, "render", "settings", "--into", settings); code != 0 {
		t.Fatalf("render settings: exit %d\n%s", code, out)
	}
	envFile := filepath.Join(dir, ".env")
	envBefore := "# the cluster\nOTHER=keep me\r\nexport CITUS_PW=" + oldPW + "\nLAST='x y'\n"
	if err := os.WriteFile(envFile, []byte(envBefore), 0o640); err != nil {
		t.Fatal(err)
	}

	// An old password that is not the nodes': every node is named,
	// nothing changes, the env file stays.
	wrong := filepath.Join(dir, "wrong.env")
	if err := os.WriteFile(wrong, []byte("CITUS_PW=not-it\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := cli(withNew, "password", "--env-file", wrong, "--wait", "20s")
	if code != 1 || strings.Count(out, "is refused with every password tried: "+wrong+" and $CITUS_PW (the new one)") != 3 ||
		!strings.Contains(out, "hint: give the password coordinator has now: put it in CITUSGEN_OLD_PASSWORD") || !strings.Contains(out, "no file was changed") {
		t.Fatalf("password with a wrong old one: exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(wrong); string(data) != "CITUS_PW=not-it\n" {
		t.Errorf("the env file changed although no node did: %q", data)
	}
	if !logsIn(t, cl.Coordinator, oldPW) {
		t.Fatal("the coordinator lost the old password")
	}

	// Stopped right after the coordinator's password is set: before its
	// credentials are stored and before any worker.
	for k, v := range withNew {
		t.Setenv(k, v)
	}
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOn{re: regexp.MustCompile(`(?m)^coordinator: set the new password`), cancel: cancel}
	var stdout bytes.Buffer
	code = runContext(rctx, []string{"-t", spec, "password", "--env-file", envFile, "--settings", settings}, strings.NewReader(""), &stdout, stderr)
	out = stdout.String() + stderr.buf.String()
	outputs.WriteString(out)
	if code != 1 || !strings.Contains(out, "citusgen: password change stopped while changing the password of coordinator; coordinator has the new password: run citusgen password again to finish") ||
		!strings.Contains(out, "no file was changed ("+envFile+" keeps the old password until every node has the new one)") {
		t.Fatalf("stopped password change: exit %d\n%s", code, out)
	}
	if !logsIn(t, cl.Coordinator, newPW) || logsIn(t, cl.Coordinator, oldPW) || !logsIn(t, cl.Workers[0], oldPW) || !logsIn(t, cl.Workers[1], oldPW) {
		t.Fatal("not the half-done state: the coordinator with the new password, the workers with the old")
	}
	if data, _ := os.ReadFile(envFile); string(data) != envBefore {
		t.Fatalf("the env file changed in a stopped run: %q", data)
	}

	// Again: each node says which password it had; then .env.
	code, out = cli(withNew, "password", "--env-file", envFile, "--settings", settings)
	if code != 0 {
		t.Fatalf("second password run: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"coordinator at 127.0.0.1:", ": has the new password ($CITUS_PW) already",
		"worker1 at 127.0.0.1:", ": has the old password (" + envFile + "); setting the new one",
		"worker1: set the new password (", "coordinator: store inter-node credentials: done", "worker2: store inter-node credentials: done",
		"citusgen: " + envFile + " sets CITUS_PW to the new password now",
		"citusgen: " + settings + " is up to date",
		"citusgen: password changed on every node: of 3 nodes, 2 had the old one and have the new one now, 1 had the new one already; pg_dist_authinfo holds it on 3\n",
		"citusgen: next: give citusgen and Django the new $CITUS_PW too (set -a; . " + envFile + "; set +a); then docker compose up -d --wait (recreates the nodes with the new password in their environment and runs citus_setup again); then citusgen verify\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second run does not say %q:\n%s", want, out)
		}
	}
	envAfter, _ := os.ReadFile(envFile)
	if want := "# the cluster\nOTHER=keep me\r\nexport CITUS_PW='new pw \\'q\\' \"d\" $HOME \\ #x'\nLAST='x y'\n"; string(envAfter) != want {
		t.Errorf(".env after:\n%q\nwant\n%q", envAfter, want)
	}
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf(".env mode changed: %v %v", fi.Mode(), err)
	}
	for _, s := range cl.Servers() {
		if logsIn(t, s, oldPW) || !logsIn(t, s, newPW) {
			t.Errorf("%s:%d does not have exactly the new password", s.Host, s.Port)
		}
	}
	if code, out := cli(withNew, "verify", "--timeout", "60s"); code != 0 {
		t.Fatalf("verify with the new password: exit %d\n%s", code, out)
	}
	cl.Coordinator.Password = newPW
	var n int
	if err := cl.Coordinator.Connect(t, "commcare_ucr_citus").QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 1000 {
		t.Fatalf("rows after the change: %d, %v", n, err)
	}

	// A third run has nothing to do.
	code, out = cli(withNew, "password", "--env-file", envFile)
	if code != 0 || strings.Count(out, "has the new password ($CITUS_PW) already") != 3 || !strings.Contains(out, "citusgen: nothing to change: every node has the password $CITUS_PW holds") {
		t.Errorf("third run: exit %d\n%s", code, out)
	}

	all := outputs.String()
	for _, s := range cl.Servers() {
		log, err := os.ReadFile(filepath.Join(filepath.Dir(s.Dir), "server.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "CREATE EXTENSION") {
			t.Errorf("%s:%d: log_statement = 'all' did not log", s.Host, s.Port)
		}
		all += string(log)
	}
	// `"d" $HOME` survives every quoting (SQL, conninfo, the log's).
	for _, pw := range []string{oldPW, newPW, `"d" $HOME`, "not-it"} {
		if strings.Contains(all, pw) {
			t.Errorf("the password %q is in citusgen's output or a server's log", pw)
		}
	}
}
