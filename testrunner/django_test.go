package testrunner_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/testrunner"
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
)

const password = "commcarehq"

// Runners the fixture's settings.py takes from FIXTURE_TEST_RUNNER.
const (
	citusRunner    = "citus_testrunner.CitusDiscoverRunner"
	evidenceRunner = "evidence.EvidenceRunner" // Django's own, reporting who blocks a failed drop
)

// djangoPython finds an interpreter with Django and psycopg2. Debian's
// python3-django and python3-psycopg2 install for /usr/bin/python3, which a
// pyenv or virtualenv python3 earlier on PATH does not see.
func djangoPython(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3", "python3"}
	if p := os.Getenv("CITUSGEN_DJANGO_PYTHON"); p != "" {
		candidates = []string{p}
	}
	for _, c := range candidates {
		out, err := exec.Command(c, "-c", "import django, psycopg2; print(django.get_version())").Output()
		if err == nil {
			t.Logf("%s: Django %s", c, strings.TrimSpace(string(out)))
			return c
		}
	}
	pgtest.SkipUnavailable(t, "needs Django and psycopg2 for %s (apt-get install python3-django python3-psycopg2, or set CITUSGEN_DJANGO_PYTHON)", strings.Join(candidates, " or "))
	return ""
}

// djangoCluster is a live Citus cluster bootstrapped from a spec, and a copy
// of the fixture project whose localsettings.py holds citusgen's rendered
// fragment for that spec.
type djangoCluster struct {
	cl     *pgtest.Cluster
	top    *topology.Topology
	python string
	dir    string
	env    []string // added to manage.py's environment
}

func newDjangoCluster(t *testing.T, profile string) *djangoCluster {
	t.Helper()
	python := djangoPython(t)
	pgtest.RequireCitus(t)
	// Every node gets PGPASSWORD in its environment, as the compose document
	// gives it: Citus's connections out of the test databases Django creates
	// find no pg_dist_authinfo there (bootstrap stores it in the cluster
	// database only), so libpq inside the server takes the password from it.
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: password, Citus: true, Env: []string{"PGPASSWORD=" + password}})
	top, err := topology.Parse("cluster.yaml", cl.Spec("profile: "+profile+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	// What compose's citus_setup does before anyone runs tests.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := bootstrap.Run(ctx, top, bootstrap.Options{Cluster: cluster.Options{Password: password, SSLMode: "disable"}}); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	c := &djangoCluster{cl: cl, top: top, python: python, dir: t.TempDir()}
	c.writeProject(t)
	return c
}

func (c *djangoCluster) writeProject(t *testing.T) {
	t.Helper()
	const src = "testdata/hqproject"
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(c.dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(c.dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	frag, err := generator.SettingsFor(c.top, generator.SettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	// A developer's localsettings.py: the project's own databases, then
	// citusgen's block, which updates them.
	local := "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}\nREPORTING_DATABASES = {}\n\n" + string(frag)
	if err := os.WriteFile(filepath.Join(c.dir, "localsettings.py"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, testrunner.FileName), testrunner.Module(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// manage runs manage.py with a test runner and reports how long it took.
func (c *djangoCluster) manage(t *testing.T, runner string, args ...string) (string, error) {
	t.Helper()
	return c.manageInput(t, runner, "", args...)
}

// manageInput is manage with answers to its questions on stdin.
func (c *djangoCluster) manageInput(t *testing.T, runner, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(c.python, append([]string{"manage.py"}, args...)...)
	cmd.Dir = c.dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "FIXTURE_TEST_RUNNER="+runner, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Env = append(cmd.Env, c.env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("manage.py %s with %s: %v, exit %v", strings.Join(args, " "), runner, time.Since(start).Round(10*time.Millisecond), err)
	return string(out), err
}

// testDatabases lists the test_* databases of every node, by alias.
func (c *djangoCluster) testDatabases(t *testing.T) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	aliases := []string{"coordinator", "worker1", "worker2"} // cl.Spec's aliases, in Servers() order
	for i, s := range c.cl.Servers() {
		conn := s.Connect(t, "postgres")
		rows, err := conn.Query(context.Background(), `SELECT datname FROM pg_database WHERE datname LIKE 'test\_%' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			got[aliases[i]] = append(got[aliases[i]], name)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		conn.Close(context.Background())
	}
	return got
}

// workersOf counts the workers the coordinator has registered in a database.
func (c *djangoCluster) workersOf(t *testing.T, database string) int {
	t.Helper()
	conn := c.cl.Coordinator.Connect(t, database)
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func suitePassed(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "Ran 2 tests") || !regexp.MustCompile(`(?m)^OK$`).MatchString(out) {
		t.Fatalf("the fixture's suite did not pass:\n%s", out)
	}
}

// The dev profile with citus_testrunner: Django creates the test databases
// (workers first), the fixture's migrations register the workers by
// CITUS_NODE_NAME, a distributed write lands on both workers, and teardown
// drops every test database, coordinator first; twice in a row.
func TestDevProfileSetupAndTeardownTwice(t *testing.T) {
	t.Parallel()
	c := newDjangoCluster(t, "dev")
	for run := 1; run <= 2; run++ {
		out, err := c.manage(t, citusRunner, "test", "--noinput")
		if err != nil {
			t.Fatalf("run %d: manage.py test failed: %v\n%s", run, err, out)
		}
		suitePassed(t, out)
		for _, alias := range []string{"worker1", "worker2", "coordinator"} {
			if !strings.Contains(out, "Creating test database for alias '"+alias+"'") {
				t.Fatalf("run %d: no test database created for %s:\n%s", run, alias, out)
			}
		}
		coord := strings.Index(out, "Destroying test database for alias 'coordinator'")
		for _, w := range []string{"worker1", "worker2"} {
			if i := strings.Index(out, "Destroying test database for alias '"+w+"'"); coord < 0 || i < coord {
				t.Fatalf("run %d: the coordinator's test database was not destroyed before %s's:\n%s", run, w, out)
			}
		}
		if left := c.testDatabases(t); len(left) > 0 {
			t.Fatalf("run %d left test databases behind: %v", run, left)
		}
	}
	// The developer's own cluster database is untouched.
	if n := c.workersOf(t, c.top.ClusterDatabase()); n != 2 {
		t.Errorf("%s has %d registered workers after the test runs, want 2", c.top.ClusterDatabase(), n)
	}
}

// The ci profile: no ROLE keys, the test database is the one compose (here
// bootstrap) created and registered, reused with --keepdb (CommCare HQ's
// REUSE_DB); the same suite passes twice and the database stays.
func TestCIProfileReusedDatabaseTwice(t *testing.T) {
	t.Parallel()
	c := newDjangoCluster(t, "ci")
	want := map[string][]string{}
	for _, a := range []string{"coordinator", "worker1", "worker2"} {
		want[a] = []string{c.top.ClusterDatabase()}
	}
	for run := 1; run <= 2; run++ {
		out, err := c.manage(t, citusRunner, "test", "--noinput", "--keepdb")
		if err != nil {
			t.Fatalf("run %d: manage.py test --keepdb failed: %v\n%s", run, err, out)
		}
		suitePassed(t, out)
		if !strings.Contains(out, "Using existing test database for alias 'coordinator'") {
			t.Fatalf("run %d did not reuse the coordinator's test database:\n%s", run, out)
		}
		if got := c.testDatabases(t); !equalLists(got, want) {
			t.Fatalf("run %d: test databases %v, want %v", run, got, want)
		}
	}
	if n := c.workersOf(t, c.top.ClusterDatabase()); n != 2 {
		t.Errorf("%s has %d registered workers after the test runs, want 2", c.top.ClusterDatabase(), n)
	}
}

func equalLists(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return true
}

// holder is one session in a test database when Django's drop failed, and
// the backend on another node that opened it.
type holder struct {
	node, app, backendType, origin string
}

var nodeRE = regexp.MustCompile(`(?m)^NODE .*$`)

var holderRE = regexp.MustCompile(`(?m)^HOLDER node=(\S+) db=\S+ pid=\d+ backend_type='([^']*)' application_name='([^']*)' client=\S+ origin=(.*)$`)

// Why the fix is needed, and that it recovers: Django's own runner fails to
// drop the first worker's test database. The sessions in the way are Citus's
// inter-node connections into that worker: from Django's session on the
// coordinator and from the maintenance daemons of the other nodes. The test
// databases stay behind and the next run fails at setup; citus_testrunner's
// run then replaces them and leaves none.
func TestDjangoRunnerAloneLeavesWorkerDatabases(t *testing.T) {
	t.Parallel()
	c := newDjangoCluster(t, "dev")
	const inUse = `database "test_commcare_ucr_citus" is being accessed by other users`

	out, err := c.manage(t, evidenceRunner, "test", "--noinput")
	if err == nil || !strings.Contains(out, inUse) {
		t.Logf("output:\n%s", out)
		t.Fatalf("Django's own runner: want the teardown to fail with %q, got %v (output above)", inUse, err)
	}
	suitePassed(t, out)
	if !strings.Contains(out, "Destroying test database for alias 'worker1'") || strings.Contains(out, "Destroying test database for alias 'coordinator'") {
		t.Logf("output:\n%s", out)
		t.Fatalf("want the failed drop to be the first worker's, before the coordinator's (output above)")
	}
	for _, m := range nodeRE.FindAllString(out, -1) {
		t.Logf("node id: %s", m)
	}
	var holders []holder
	for _, m := range holderRE.FindAllStringSubmatch(out, -1) {
		holders = append(holders, holder{node: m[1], backendType: m[2], app: m[3], origin: m[4]})
		t.Logf("holder: %s", m[0])
	}
	var fromDjango, fromDaemon bool
	for _, h := range holders {
		if h.node != "worker1" || !strings.HasPrefix(h.app, "citus_internal gpid=") {
			continue
		}
		fromDjango = fromDjango || strings.HasPrefix(h.origin, "coordinator ") && strings.Contains(h.origin, "backend_type='client backend' application_name=''")
		fromDaemon = fromDaemon || !strings.HasPrefix(h.origin, "worker1 ") && strings.Contains(h.origin, "backend_type='Citus Maintenance Daemon")
	}
	if !fromDjango || !fromDaemon {
		t.Logf("output:\n%s", out)
		t.Fatalf("want worker1's test database held by Django's coordinator session (%v) and by a Citus maintenance daemon of another node (%v) (output above)", fromDjango, fromDaemon)
	}
	if left := c.testDatabases(t); len(left) != 3 {
		t.Fatalf("want the test databases left on every node, got %v", left)
	}

	out, err = c.manage(t, evidenceRunner, "test", "--noinput")
	if err == nil || !strings.Contains(out, "Got an error recreating the test database: "+inUse) {
		t.Fatalf("Django's own runner after a failed teardown: want setup to fail with %q, got %v:\n%s", inUse, err, out)
	}

	// Interactive, as a developer runs it: asked once per leftover database.
	out, err = c.manageInput(t, citusRunner, "yes\nyes\nyes\n", "test")
	if err != nil {
		t.Fatalf("citus_testrunner over leftover test databases: %v\n%s", err, out)
	}
	suitePassed(t, out)
	for _, alias := range []string{"coordinator", "worker1", "worker2"} {
		asked := "Type 'yes' if you would like to try deleting the test database 'test_commcare_ucr_citus' left on " + alias
		if !strings.Contains(out, asked) || !strings.Contains(out, "Destroying old test database for alias '"+alias+"' (WITH FORCE)") {
			t.Fatalf("citus_testrunner did not replace %s's leftover test database after asking:\n%s", alias, out)
		}
	}
	if left := c.testDatabases(t); len(left) > 0 {
		t.Fatalf("citus_testrunner left test databases behind: %v", left)
	}
}
