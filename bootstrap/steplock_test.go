package bootstrap_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/steps"
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
)

// The bootstrap script (psql, as the compose setup service runs it) and
// citusgen bootstrap, at the same moment, both finding the citus extension
// missing on a node: each waits for the other's step lock there, then finds
// the extension created, instead of creating it a second time and failing
// with a duplicate key on pg_extension. The other side is held in the
// middle of its step (the lock taken, the extension created, not yet
// committed) by a session doing exactly what that side does.
func TestScriptAndBootstrapTakeTheStepLock(t *testing.T) {
	pgtest.RequireCitus(t)
	const pw = "steplock-pw"
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: pw, Citus: true})
	top, err := topology.Parse("cluster.yaml", cl.Spec(""))
	if err != nil {
		t.Fatal(err)
	}
	db := top.ClusterDatabase()
	worker := cl.Workers[0]
	worker.Exec(t, "postgres", "CREATE DATABASE "+db)
	opts := bootstrap.Options{Cluster: cluster.Options{Password: pw}, Wait: 60 * time.Second, PollInterval: 100 * time.Millisecond}
	run := func() (*bootstrap.Result, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var progress bytes.Buffer
		o := opts
		o.Progress = &progress
		res, err := bootstrap.Run(ctx, top, o)
		return res, progress.String(), err
	}

	// Bootstrap meets the script in the middle of the worker's extension.
	script := midStep(t, worker, db)
	done := make(chan error, 1)
	var out string
	var res *bootstrap.Result
	go func() {
		var err error
		res, out, err = run()
		done <- err
	}()
	waitForLockWaiter(t, worker, db, script, done)
	script.finish(t)
	if err := <-done; err != nil {
		t.Fatalf("bootstrap while the script created the extension: %v\n%s", err, out)
	}
	if !res.Complete() {
		t.Fatalf("bootstrap while the script created the extension:\n%s", out)
	}

	// The script meets bootstrap in the middle of the worker's extension.
	if err := bootstrap.Reset(context.Background(), top, opts); err != nil {
		t.Fatal(err)
	}
	sql, err := generator.SQLAt(top, generator.DjangoAddress(top))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "bootstrap.sql")
	if err := os.WriteFile(file, sql, 0o644); err != nil {
		t.Fatal(err)
	}
	boot := midStep(t, worker, db)
	psqlDone := make(chan error, 1)
	var psqlOut string
	go func() {
		var err error
		psqlOut, err = cl.Coordinator.Psql(t, file)
		psqlDone <- err
	}()
	waitForLockWaiter(t, worker, db, boot, psqlDone)
	boot.finish(t)
	if err := <-psqlDone; err != nil {
		t.Fatalf("the script while bootstrap created the extension: %v\n%s", err, psqlOut)
	}
	if res, out, err := run(); err != nil || !res.Complete() || !strings.Contains(out, "0 changes applied") {
		t.Fatalf("bootstrap after the script: %v\n%s", err, out)
	}
}

// stepSession is one side of the race held in the middle of its step on a
// node: the step lock taken, the extension created, uncommitted.
type stepSession struct{ conn *pgx.Conn }

func midStep(t *testing.T, s *pgtest.Server, db string) *stepSession {
	t.Helper()
	c := s.Connect(t, db)
	ctx := context.Background()
	for _, q := range []string{steps.StepLock, "BEGIN", "CREATE EXTENSION IF NOT EXISTS citus"} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return &stepSession{c}
}

// finish commits the step and ends the session, which releases the lock.
func (s *stepSession) finish(t *testing.T) {
	t.Helper()
	if _, err := s.conn.Exec(context.Background(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	s.conn.Close(context.Background())
}

// waitForLockWaiter waits until another session in db on s waits for a
// lock (the other side reached the step), or fails when the other side
// ended first.
func waitForLockWaiter(t *testing.T, s *pgtest.Server, db string, holder *stepSession, ended chan error) {
	t.Helper()
	c := s.Connect(t, "postgres")
	defer c.Close(context.Background())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		if err := c.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> $2", db, holder.conn.PgConn().PID()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case err := <-ended:
			t.Fatalf("the other side ended before it reached the node's step (%v)", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no session waited for the step within 2 minutes")
		}
	}
}
