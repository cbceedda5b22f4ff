package testrunner_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// bootstrapSpec bootstraps the cluster for a spec of cl (cl.Spec(extra)),
// as compose's citus_setup does before anyone runs tests.
func bootstrapSpec(t *testing.T, cl *pgtest.Cluster, extra string) *topology.Topology {
	t.Helper()
	top, err := topology.Parse("cluster.yaml", cl.Spec(extra))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := bootstrap.Run(ctx, top, bootstrap.Options{Cluster: cluster.Options{Password: cl.Coordinator.Password, SSLMode: "disable"}}); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	return top
}

// newStartproject makes a project the way a Django team starts one:
// `django-admin startproject` (python3 -m django, the same command run by
// the interpreter that has Django) and `startapp reports`, whose tests.py is
// testdata/startproject/tests.py. settings.py gets what docs/django.md says to
// add: citusgen's settings block and the TEST_RUNNER, with
// citus_testrunner.py beside manage.py. Nothing routes migrations by ROLE.
func newStartproject(t *testing.T, python string, cl *pgtest.Cluster, top *topology.Topology) *djangoCluster {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{{"-m", "django", "startproject", "mysite", dir}, {filepath.Join(dir, "manage.py"), "startapp", "reports"}} {
		cmd := exec.Command(python, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", python, strings.Join(args, " "), err, out)
		}
	}
	tests, err := os.ReadFile("testdata/startproject/tests.py")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "reports", "tests.py"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, testrunner.FileName), testrunner.Module(), 0o644); err != nil {
		t.Fatal(err)
	}
	frag, err := generator.SettingsFor(top, "mysite/settings.py")
	if err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "mysite", "settings.py")
	b, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	b = fmt.Appendf(b, "\nINSTALLED_APPS += ['reports']\nTEST_RUNNER = 'citus_testrunner.CitusDiscoverRunner'\n\n%s", frag)
	// Settings as citusgen wrote them before workers got 'DEPENDENCIES': []
	// (or as a team wrote them by hand), for the runner's message about them.
	b = append(b, "\nimport os\nif os.environ.get('OLD_WORKER_SETTINGS'):\n    for db in DATABASES.values():\n        if db.get('CITUS_NODE_NAME'):\n            del db['TEST']['DEPENDENCIES']\n"...)
	if err := os.WriteFile(settings, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return &djangoCluster{cl: cl, top: top, python: python, dir: dir}
}

// A project from `django-admin startproject`, tests that create a
// distributed table and query it, run by `manage.py test` with citusgen's
// runner on a live Citus cluster whose nodes hold no password in their
// environment (inter-node connections authenticate only with what
// pg_dist_authinfo holds), one manage.py run per way a test can declare its
// databases, then the ci profile on the same servers.
func TestStartprojectDistributedTable(t *testing.T) {
	t.Parallel()
	python := djangoPython(t)
	pgtest.RequireCitus(t)
	// A quote and a backslash: the credentials the runner stores from the
	// settings are a libpq conninfo value, quoted.
	const secret = `s3cr'et\pw`
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: secret, Citus: true})
	workersAt := fmt.Sprintf("127.0.0.1:%d, 127.0.0.1:%d", cl.Workers[0].Port, cl.Workers[1].Port)
	registered := "Registered Citus workers " + workersAt + " in the test database for alias 'coordinator'..."
	created := func(alias string) string { return "Creating test database for alias '" + alias + "'" }
	alsoWorkers := "Also setting up the test databases of 'worker1', 'worker2': the tests use 'coordinator', and its Citus cluster (coordinator 'coordinator') needs the test database of every node."

	t.Run("dev", func(t *testing.T) {
		top := bootstrapSpec(t, cl, "profile: dev\n")
		p := newStartproject(t, python, cl, top)
		for _, c := range []struct {
			class   string
			cluster bool   // the run sets up the cluster's test databases
			says    string // what the runner says about the aliases it adds
		}{
			{"AllDatabases", true, ""},
			{"CoordinatorAndDefault", true, alsoWorkers},
			{"CoordinatorOnly", true, alsoWorkers},
			{"WholeCluster", true, ""},
			{"WorkerOnly", true, "Also setting up the test databases of 'coordinator', 'worker2': the tests use 'worker1', and its Citus cluster (coordinator 'coordinator') needs the test database of every node."},
			{"DefaultOnly", false, ""},
		} {
			out, err := p.manage(t, citusRunner, "test", "reports.tests."+c.class, "--noinput")
			if err != nil || !strings.Contains(out, "Ran 1 test") || !regexp.MustCompile(`(?m)^OK$`).MatchString(out) {
				t.Fatalf("%s: manage.py test: %v\n%s", c.class, err, out)
			}
			for _, want := range []string{created("coordinator"), created("worker1"), created("worker2"), registered} {
				if strings.Contains(out, want) != c.cluster {
					t.Errorf("%s: %q in the output is %v, want %v:\n%s", c.class, want, !c.cluster, c.cluster, out)
				}
			}
			if c.says != "" && !strings.Contains(out, c.says) {
				t.Errorf("%s: the runner does not say %q:\n%s", c.class, c.says, out)
			}
			if c.says == "" && strings.Contains(out, "Also setting up the test databases of") {
				t.Errorf("%s: the runner adds aliases it should not:\n%s", c.class, out)
			}
			if left := p.testDatabases(t); len(left) > 0 {
				t.Fatalf("%s left test databases behind: %v", c.class, left)
			}
		}

		// Settings whose workers lack TEST.DEPENDENCIES: Django makes them
		// depend on 'default', which a test naming only the coordinator
		// leaves out. The runner names that instead of Django's "Circular
		// dependency in TEST[DEPENDENCIES]", before creating anything.
		p.env = []string{"OLD_WORKER_SETTINGS=1"}
		out, err := p.manage(t, citusRunner, "test", "reports.tests.CoordinatorOnly", "--noinput")
		const msg = "django.core.exceptions.ImproperlyConfigured: The test database of 'worker1' depends on 'default' (Django makes an alias without TEST.DEPENDENCIES depend on it), and no test in this run uses 'default': add 'default' to the databases of the tests that use 'worker1' (citusgen's settings give each worker 'DEPENDENCIES': []: render them again)."
		if err == nil || !strings.Contains(out, msg) || strings.Contains(out, "Creating test database") {
			t.Errorf("old worker settings: want %q before any database is created, got %v:\n%s", msg, err, out)
		}
		p.env = nil

		if n := p.workersOf(t, top.ClusterDatabase()); n != 2 {
			t.Errorf("%s has %d registered workers after the test runs, want 2", top.ClusterDatabase(), n)
		}

		// Teardown on a machine too busy to let an ended session exit:
		// DROP DATABASE WITH (FORCE) gives up after 5 seconds ("is being
		// accessed by other users"); the runner ends the sessions and drops
		// again until it is gone.
		stopped := filepath.Join(t.TempDir(), "stopped")
		cmd := exec.Command(python, "manage.py", "test", "reports.tests.SlowSessionAtTeardown", "--noinput")
		cmd.Dir = p.dir
		cmd.Env = append(os.Environ(), "STOPPED_FILE="+stopped, "PYTHONUNBUFFERED=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		retry := regexp.MustCompile(`^Dropping "test_commcare_ucr_citus": a session it ended has not exited yet \(database "test_commcare_ucr_citus" is being accessed by other users DETAIL: There (is 1 other session|are \d+ other sessions) using the database\.\); ending the sessions and trying again\.\.\. \(alias 'worker1'\)$`)
		var log strings.Builder
		var resume func()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			log.WriteString(line + "\n")
			if m := regexp.MustCompile(`^HOLDING pid=(\d+)$`).FindStringSubmatch(line); m != nil {
				pid, _ := strconv.Atoi(m[1])
				resume = cl.Workers[0].StopBackend(t, pid)
				if err := os.WriteFile(stopped, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if retry.MatchString(line) && resume != nil {
				resume()
			}
		}
		err = cmd.Wait()
		slow := log.String()
		if err != nil || !retry.MatchString(lastMatch(retry, slow)) || !regexp.MustCompile(`(?m)^OK$`).MatchString(slow) {
			t.Fatalf("a session slow to exit at teardown: want a line matching %s and success, got %v:\n%s", retry, err, slow)
		}
		if left := p.testDatabases(t); len(left) > 0 {
			t.Fatalf("a session slow to exit at teardown: test databases left behind: %v", left)
		}
	})

	// The ci profile: the live cluster database is the test database
	// (test_ciucr, from the spec's database), which compose (here bootstrap)
	// created and registered.
	t.Run("ci", func(t *testing.T) {
		top := bootstrapSpec(t, cl, "profile: ci\ndatabase: ciucr\n")
		p := newStartproject(t, python, cl, top)
		live := map[string][]string{"coordinator": {"test_ciucr"}, "worker1": {"test_ciucr"}, "worker2": {"test_ciucr"}}
		run := func(class string, args ...string) string {
			t.Helper()
			out, err := p.manage(t, citusRunner, append([]string{"test", "reports.tests." + class, "--noinput"}, args...)...)
			if err != nil || !strings.Contains(out, "Ran 1 test") || !regexp.MustCompile(`(?m)^OK$`).MatchString(out) {
				t.Fatalf("%s %v: manage.py test: %v\n%s", class, args, err, out)
			}
			return out
		}

		// --keepdb (CommCare HQ's REUSE_DB): the live database as it is.
		out := run("AllDatabases", "--keepdb")
		if !strings.Contains(out, "Using existing test database for alias 'coordinator'") || strings.Contains(out, "Registered Citus workers") {
			t.Errorf("--keepdb: want the live database used as it is:\n%s", out)
		}
		if got := p.testDatabases(t); !equalLists(got, live) {
			t.Fatalf("--keepdb: test databases %v, want %v", got, live)
		}

		// Without --keepdb Django replaces the live database with a new one;
		// the runner read the credentials before, and teardown drops it.
		out = run("CoordinatorAndDefault")
		for _, want := range []string{"Destroying old test database for alias 'coordinator' (WITH FORCE)", alsoWorkers, registered} {
			if !strings.Contains(out, want) {
				t.Errorf("without --keepdb: no %q:\n%s", want, out)
			}
		}
		if left := p.testDatabases(t); len(left) > 0 {
			t.Fatalf("without --keepdb: test databases left behind: %v", left)
		}

		// With no live database left, --keepdb creates it, with the
		// credentials citusgen bootstrap would store, and keeps it.
		out = run("AllDatabases", "--keepdb", "-v", "2")
		for _, want := range []string{registered, "Created the citus extension in the test database for alias 'worker1' (no live cluster database with Citus on this node: 1 pg_dist_authinfo row from the settings)..."} {
			if !strings.Contains(out, want) {
				t.Errorf("--keepdb with no live database: no %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, secret) {
			t.Errorf("the output shows the password:\n%s", out)
		}
		if got := p.testDatabases(t); !equalLists(got, live) {
			t.Fatalf("--keepdb with no live database: test databases %v, want %v", got, live)
		}
		if n := p.workersOf(t, "test_ciucr"); n != 2 {
			t.Errorf("test_ciucr has %d registered workers, want 2", n)
		}
	})
}

// lastMatch is the last line of out that re matches, or "".
func lastMatch(re *regexp.Regexp, out string) string {
	found := ""
	for _, line := range strings.Split(out, "\n") {
		if re.MatchString(line) {
			found = line
		}
	}
	return found
}
