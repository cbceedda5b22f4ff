package generator_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
)

// A password that needs every kind of quoting on its way into pg_dist_authinfo.
const trickyPassword = `p'w "x" \ $y`

func writeScript(t *testing.T, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "script.sql")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func databaseExists(t *testing.T, s *pgtest.Server, db string) bool {
	t.Helper()
	var ok bool
	c := s.Connect(t, "postgres")
	if err := c.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", db).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// Without Citus loaded, each node's script creates the database and then
// stops at CREATE EXTENSION citus with PostgreSQL's own error; running it
// again gets exactly as far (database creation is idempotent).
func TestNodeScriptsOnPlainPostgres(t *testing.T) {
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: trickyPassword})
	top, err := topology.Parse("cluster.yaml", cl.Spec(""))
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := generator.NodeSQL(top)
	if err != nil {
		t.Fatal(err)
	}
	// Citus installed but not preloaded, or not installed at all.
	wantErr := regexp.MustCompile(`Citus can only be loaded via shared_preload_libraries|could not open extension control file ".*citus\.control"|extension "citus" is not available`)
	if ok, _ := pgtest.CitusAvailable(); ok {
		wantErr = regexp.MustCompile(`Citus can only be loaded via shared_preload_libraries`)
	}
	plans := steps.BootstrapSteps(top)
	for i, p := range plans {
		server := cl.Workers[0]
		switch p.Node.Service {
		case "worker2":
			server = cl.Workers[1]
		case "coordinator":
			server = cl.Coordinator
		}
		script := writeScript(t, scripts[i])
		for run := 1; run <= 2; run++ {
			out, err := server.Psql(t, script)
			if err == nil {
				t.Fatalf("%s run %d: the script succeeded without Citus:\n%s", p.Node.Service, run, out)
			}
			if !wantErr.MatchString(out) || !strings.Contains(out, "CREATE EXTENSION") && !strings.Contains(out, "citus") {
				t.Errorf("%s run %d: psql failed with an unexpected error:\n%s", p.Node.Service, run, out)
			}
			if strings.Contains(out, "already exists") {
				t.Errorf("%s run %d: not idempotent:\n%s", p.Node.Service, run, out)
			}
			if !databaseExists(t, server, top.ClusterDatabase()) {
				t.Errorf("%s run %d: database %s was not created", p.Node.Service, run, top.ClusterDatabase())
			}
		}
	}
}

// With Citus, the whole bootstrap.sql runs, twice, and leaves a working
// cluster: workers registered by node name, the coordinator host set, and
// distributed queries that need the inter-node credentials succeed.
func TestBootstrapScriptOnCitus(t *testing.T) {
	pgtest.RequireCitus(t)
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: trickyPassword, Citus: true})
	top, err := topology.Parse("cluster.yaml", cl.Spec(""))
	if err != nil {
		t.Fatal(err)
	}
	sql, err := generator.SQLAt(top, generator.DjangoAddress(top))
	if err != nil {
		t.Fatal(err)
	}
	script := writeScript(t, sql)
	for run := 1; run <= 2; run++ {
		if out, err := cl.Coordinator.Psql(t, script); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
	}
	// The same cluster bootstrapped again from a spec whose password comes
	// from the environment: the \getenv path builds the same authinfo.
	envTop, err := topology.Parse("cluster.yaml", cl.Spec("password_env: CLUSTER_PW\n"))
	if err != nil {
		t.Fatal(err)
	}
	envSQL, _ := generator.SQLAt(envTop, generator.DjangoAddress(envTop))
	if strings.Contains(string(envSQL), trickyPassword) {
		t.Fatal("the password_env script holds the password")
	}
	if out, err := cl.Coordinator.Psql(t, writeScript(t, envSQL), "CLUSTER_PW="+trickyPassword); err != nil {
		t.Fatalf("password_env run: %v\n%s", err, out)
	}
	// The header's command runs as printed, from the script's folder.
	envScript := filepath.Join(t.TempDir(), "bootstrap.sql")
	if err := os.WriteFile(envScript, envSQL, 0o644); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^-- Run: (.*?)   \(`).FindSubmatch(envSQL)
	if m == nil {
		t.Fatalf("no Run line:\n%s", envSQL)
	}
	cmd := exec.Command("sh", "-c", string(m[1]))
	cmd.Dir = filepath.Dir(envScript)
	cmd.Env = append(os.Environ(), "CLUSTER_PW="+trickyPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, out)
	}
	out, err := cl.Coordinator.Psql(t, writeScript(t, envSQL))
	if err == nil || !strings.Contains(out, "set CLUSTER_PW to the cluster password") {
		t.Errorf("without CLUSTER_PW the script must stop with a hint: %v\n%s", err, out)
	}

	ctx := context.Background()
	c := cl.Coordinator.Connect(t, top.ClusterDatabase())
	rows, err := c.Query(ctx, "SELECT nodename, nodeport, groupid = 0, isactive, noderole::text FROM pg_dist_node ORDER BY groupid")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, role string
		var port int
		var coord, active bool
		if err := rows.Scan(&name, &port, &coord, &active, &role); err != nil {
			t.Fatal(err)
		}
		if !active || role != "primary" {
			t.Errorf("%s:%d active=%v role=%s", name, port, active, role)
		}
		got = append(got, name+":"+itoa(port))
	}
	want := []string{"127.0.0.1:" + itoa(cl.Coordinator.Port), "127.0.0.1:" + itoa(cl.Workers[0].Port), "127.0.0.1:" + itoa(cl.Workers[1].Port)}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pg_dist_node = %v, want %v", got, want)
	}
	for _, q := range []string{
		"CREATE TABLE probe (id int PRIMARY KEY, v text)",
		"SELECT create_distributed_table('probe', 'id')",
		"INSERT INTO probe SELECT g, 'x' FROM generate_series(1, 100) g",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM probe").Scan(&n); err != nil || n != 100 {
		t.Fatalf("count = %d, %v", n, err)
	}
	var shardNodes int
	if err := c.QueryRow(ctx, "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'probe'::regclass").Scan(&shardNodes); err != nil || shardNodes != 2 {
		t.Errorf("shards on %d nodes, want 2 (%v)", shardNodes, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
