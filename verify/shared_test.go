package verify_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/testsupport/pgtest"
)

// The package's Citus cluster: a coordinator and two workers with the
// password, started once by the first test that asks for it, and set back
// between tests by the product's own reset (citusgen reset: every node's
// cluster database dropped and created empty, which takes Citus's metadata
// with it). Starting one per test was most of the package's time.
var shared struct {
	once sync.Once
	tb   packageTB
	cl   *pgtest.Cluster
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.tb.cleanup()
	os.Exit(code)
}

// sharedCluster is the package's cluster with an empty cluster database on
// every node, each server running.
func sharedCluster(t *testing.T) *pgtest.Cluster {
	t.Helper()
	pgtest.RequireCitus(t)
	shared.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				shared.tb.failed = fmt.Sprint(r)
			}
		}()
		shared.cl = pgtest.StartCluster(&shared.tb, 2, pgtest.Options{Password: password, Citus: true})
	})
	if shared.cl == nil {
		t.Fatalf("the package's cluster did not start: %s", shared.tb.failed)
	}
	for _, s := range shared.cl.Servers() {
		s.Restart() // a test may have stopped it
	}
	top := spec(t, shared.cl, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bootstrap.Reset(ctx, top, bootstrap.Options{Cluster: cluster.Options{Password: password}, Wait: 30 * time.Second}); err != nil {
		t.Fatalf("resetting the package's cluster: %v", err)
	}
	return shared.cl
}

// packageTB is the testing.TB of what outlives one test: its cleanups run
// after every test, and a failure ends the start (or the test that hit it)
// with a panic that says why.
type packageTB struct {
	mu       sync.Mutex
	cleanups []func()
	failed   string
}

func (*packageTB) Helper()                   {}
func (*packageTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (*packageTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (*packageTB) Skip(args ...any)          { panic("skipped: " + fmt.Sprint(args...)) }
func (*packageTB) Skipf(f string, a ...any)  { panic("skipped: " + fmt.Sprintf(f, a...)) }
func (*packageTB) FailNow()                  { panic("failed") }

func (p *packageTB) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}

func (p *packageTB) cleanup() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
}
