package bootstrap_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/citusgen/citusgen/bootstrap"
	"github.com/citusgen/citusgen/cluster"
	"github.com/citusgen/citusgen/testsupport/await"
	_ "github.com/citusgen/citusgen/testsupport/goldenfile" // -update flag
	"github.com/citusgen/citusgen/testsupport/pgtest"
	"github.com/citusgen/citusgen/topology"
)

// reset empties the cluster database on every node, even with sessions on
// it, creates it where it was missing, and never touches another database.
func TestResetDropsOnlyTheClusterDatabase(t *testing.T) {
	const pw = "reset-pw"
	cl := pgtest.StartCluster(t, 2, pgtest.Options{Password: pw})
	top, err := topology.Parse("cluster.yaml", cl.Spec(""))
	if err != nil {
		t.Fatal(err)
	}
	db := top.ClusterDatabase()
	ctx := context.Background()
	for i, s := range cl.Servers() {
		s.Exec(t, "postgres", "CREATE DATABASE keepme")
		s.Exec(t, "keepme", "CREATE TABLE precious (id int)")
		if i < 2 { // the last worker has no cluster database yet
			s.Exec(t, "postgres", "CREATE DATABASE "+db)
			s.Exec(t, db, "CREATE TABLE doomed (id int)")
		}
	}
	// A session that holds the database open, as Django or psql would.
	holder := cl.Coordinator.Connect(t, db)

	var progress bytes.Buffer
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := bootstrap.Reset(rctx, top, bootstrap.Options{Cluster: cluster.Options{Password: pw}, Wait: 30 * time.Second, Progress: &progress}); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if err := holder.Ping(ctx); err == nil {
		t.Error("the session on the database survived the reset")
	}
	for _, s := range cl.Servers() {
		var tables int
		c := s.Connect(t, db)
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil || tables != 0 {
			t.Errorf("port %d: %d tables left in %s (%v)", s.Port, tables, db, err)
		}
		k := s.Connect(t, "keepme")
		if err := k.QueryRow(ctx, "SELECT count(*) FROM precious").Scan(&tables); err != nil {
			t.Errorf("port %d: keepme was touched: %v", s.Port, err)
		}
	}
	out := progress.String()
	if !strings.Contains(out, "coordinator: drop database "+db+": done") || !strings.Contains(out, "reset complete") || strings.Contains(out, pw) {
		t.Errorf("progress:\n%s", out)
	}
}

// A session that does not exit when it is ended (its backend stopped, as
// on a machine too busy to schedule it) makes DROP DATABASE WITH (FORCE)
// give up after 5 seconds with "is being accessed by other users"; reset
// ends the sessions and drops again, within --wait, and completes once the
// session is gone.
func TestResetOutlastsASlowSession(t *testing.T) {
	cl := pgtest.StartCluster(t, 1, pgtest.Options{Password: "pw"})
	top, err := topology.Parse("cluster.yaml", cl.Spec(""))
	if err != nil {
		t.Fatal(err)
	}
	db := top.ClusterDatabase()
	ctx := context.Background()
	cl.Coordinator.Exec(t, "postgres", "CREATE DATABASE "+db)
	var pid int
	if err := cl.Coordinator.Connect(t, db).QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	resume := cl.Coordinator.StopBackend(t, pid)

	progress := await.NewWriter("; ending the sessions and trying again")
	done := make(chan error, 1)
	go func() {
		done <- bootstrap.Reset(ctx, top, bootstrap.Options{Cluster: cluster.Options{Password: "pw"}, Wait: 2 * time.Minute, Progress: progress})
	}()
	select {
	case <-progress.Seen:
	case err := <-done:
		t.Fatalf("reset ended while a session it ended was stopped: %v\n%s", err, progress.String())
	}
	resume()
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	out := progress.String()
	want := "coordinator: drop database " + db + `: a session it ended has not exited yet (There is 1 other session using the database.); ending the sessions and trying again`
	if !strings.Contains(out, want) || !strings.Contains(out, "coordinator: drop database "+db+": done") || !strings.Contains(out, "reset complete") {
		t.Errorf("progress, want %q:\n%s", want, out)
	}
}
