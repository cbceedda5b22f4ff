package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"citusgen": main, // with main's signal handling: scripts and tests send real signals
	})
}

// The scripts under testdata/script describe the CLI's behaviour: output,
// exit statuses and files, including every failure path. Scripts that need
// live nodes start real PostgreSQL servers with the pgcluster command.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			golden, err := filepath.Abs("../../golden")
			env.Setenv("GOLDEN", golden)
			env.Values[clusterKey{}] = &scriptCluster{}
			return err
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				// root ignores file permissions, so write-failure checks skip.
				return os.Geteuid() == 0, nil
			case "postgres":
				_, err := pgtest.BinDir()
				if err != nil && pgtest.Required() {
					return false, fmt.Errorf("%v (%s=1 makes this a failure)", err, pgtest.RequireEnv)
				}
				return err == nil, nil
			case "citus":
				if testing.Short() {
					return false, nil // make quick: make test runs it
				}
				ok, why := pgtest.CitusAvailable()
				if !ok && pgtest.Required() {
					return false, fmt.Errorf("needs Citus: %s (%s=1 makes this a failure)", why, pgtest.RequireEnv)
				}
				return ok, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"pgcluster": cmdPgcluster,
			"pgstop":    cmdPgstop,
		},
	})
}

type clusterKey struct{}

type scriptCluster struct{ c *pgtest.Cluster }

// scriptTB lets pgtest report through a script.
type scriptTB struct{ ts *testscript.TestScript }

func (s scriptTB) Helper()                   {}
func (s scriptTB) Fatal(args ...any)         { s.ts.Fatalf("%s", fmt.Sprint(args...)) }
func (s scriptTB) Fatalf(f string, a ...any) { s.ts.Fatalf(f, a...) }
func (s scriptTB) Skip(args ...any)          { s.ts.Fatalf("cannot start servers: %s", fmt.Sprint(args...)) }
func (s scriptTB) Skipf(f string, a ...any)  { s.ts.Fatalf("cannot start servers: "+f, a...) }
func (s scriptTB) Cleanup(f func())          { s.ts.Defer(f) }
func (s scriptTB) FailNow()                  { s.ts.Fatalf("failed") }

// pgcluster WORKERS [citus]: start a coordinator and WORKERS workers (password
// "pw", Citus preloaded with "citus") and write their topology to cluster.yaml.
func cmdPgcluster(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: pgcluster WORKERS [citus]")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	opts := pgtest.Options{Password: "pw", Citus: len(args) == 2 && args[1] == "citus"}
	cl := pgtest.StartCluster(scriptTB{ts}, n, opts)
	ts.Value(clusterKey{}).(*scriptCluster).c = cl
	ts.Check(os.WriteFile(ts.MkAbs("cluster.yaml"), cl.Spec(""), 0o644))
}

// pgstop NODE: stop the coordinator or workerN of the script's cluster.
func cmdPgstop(ts *testscript.TestScript, neg bool, args []string) {
	cl := ts.Value(clusterKey{}).(*scriptCluster).c
	if neg || len(args) != 1 || cl == nil {
		ts.Fatalf("usage: pgstop coordinator|workerN (after pgcluster)")
	}
	if args[0] == "coordinator" {
		cl.Coordinator.Stop()
		return
	}
	i, err := strconv.Atoi(args[0][len("worker"):])
	if err != nil || i < 1 || i > len(cl.Workers) {
		ts.Fatalf("no node %s", args[0])
	}
	cl.Workers[i-1].Stop()
}
